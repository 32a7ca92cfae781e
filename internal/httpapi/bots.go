package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/notify"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// slackBudget is how long a Slack command may wait for DMS: Slack gives up on
// a slash command after three seconds.
const slackBudget = 2500 * time.Millisecond

// commandAnswer is a chat command's reply before the platform's formatting:
// a message with a fresh link, or plain text saying why there is none.
type commandAnswer struct {
	msg  *notify.Message
	text string
}

// handleDingTalkCommand answers a DingTalk outgoing-robot message. Every
// answer, apologies and refusals included, is a 200 reply: DingTalk shows
// nothing else.
func (a *API) handleDingTalkCommand(c *call) (*problem, error) {
	body, p := readBody(c)
	if p != nil {
		return p, nil
	}
	m, err := notify.ParseDingTalkMessage(body)
	var ie *notify.InputError
	if errors.As(err, &ie) && ie.Field == "msgtype" {
		err = nil // a picture or a file: answer with the usage hint
	}
	if err != nil {
		return inputProblem(err), nil
	}
	c.asker = []any{"platform", "dingtalk", "senderStaffId", m.SenderStaffID, "senderNick", m.SenderNick,
		"conversationId", m.ConversationID, "senderCorpId", m.SenderCorpID}
	ans := a.answerCommand(c, chatCommand{
		text:     m.Text,
		allowed:  a.deps.DingTalkAllowed.Allows(m.SenderCorpID, m.ConversationID),
		off:      a.deps.DingTalkAllowed.Empty(),
		variable: "DINGTALK_ALLOWED_CONVERSATIONS",
		where:    "conversation " + m.ConversationID,
		asker:    "dingtalk:" + m.SenderCorpID + ":" + m.Asker(),
	})
	reply := notify.DingTalkReply("DMS export", notify.EscapeMarkdown(ans.text))
	if ans.msg != nil {
		reply = notify.DingTalkMessageReply(*ans.msg)
	}
	writeReply(c.w, reply)
	return nil, nil
}

// handleSlackCommand answers a Slack slash command with an ephemeral reply.
func (a *API) handleSlackCommand(c *call) (*problem, error) {
	body, p := readBody(c)
	if p != nil {
		return p, nil
	}
	cmd, err := notify.ParseSlackCommand(body)
	if err != nil {
		return inputProblem(err), nil
	}
	c.asker = []any{"platform", "slack", "user_id", cmd.UserID, "team_id", cmd.TeamID, "channel_id", cmd.ChannelID}
	ctx, cancel := context.WithTimeout(c.r.Context(), slackBudget)
	defer cancel()
	c.r = c.r.WithContext(ctx)
	ans := a.answerCommand(c, chatCommand{
		text:     cmd.Text,
		allowed:  a.deps.SlackAllowed.Allows(cmd.TeamID, cmd.ChannelID),
		off:      a.deps.SlackAllowed.Empty(),
		variable: "SLACK_ALLOWED_CHANNELS",
		where:    "channel " + cmd.TeamID + ":" + cmd.ChannelID,
		asker:    "slack:" + cmd.TeamID + ":" + cmd.UserID,
	})
	reply := notify.SlackReply(notify.EscapeSlack(ans.text))
	if ans.msg != nil {
		reply = notify.SlackMessageReply(*ans.msg)
	}
	writeReply(c.w, reply)
	return nil, nil
}

// chatCommand is a verified command and where it came from.
type chatCommand struct {
	text     string
	allowed  bool   // its conversation is on the platform's allow-list
	off      bool   // the allow-list is empty: commands are off
	variable string // the allow-list's setting
	where    string // the conversation, as an administrator adds it to the list
	asker    string // the person, for the per-asker budget
}

// commandBudget is the per-asker budget's period.
const commandBudget = time.Minute

// admit decides whether a command is answered at all: its conversation must be
// allowed and its asker within budget. A refusal names no ticket.
func (a *API) admit(c *call, cmd chatCommand) (refusal string, ok bool) {
	switch {
	case cmd.off:
		c.outcome = "command_off"
		return "Chat commands are turned off. An administrator enables them with " + cmd.variable +
			" (the conversations that may ask, or * for everyone).", false
	case !cmd.allowed:
		c.outcome = "command_refused"
		return "Sorry, this conversation may not ask for DMS export links. An administrator can allow it by adding " +
			cmd.where + " to " + cmd.variable + ".", false
	}
	if a.deps.CommandRate <= 0 {
		return "", true
	}
	d, err := a.deps.State.Allow(c.r.Context(), "budget:command:"+cmd.asker,
		state.Limit{Events: a.deps.CommandRate, Per: commandBudget, Burst: a.deps.CommandRate})
	if err != nil {
		a.log.Warn("command budget unavailable", "requestId", c.id, "err", err.Error())
		return "", true
	}
	if !d.Allowed {
		c.outcome = "command_rate_limited"
		return fmt.Sprintf("You have sent more than %d commands in a minute; try again in %d seconds.",
			a.deps.CommandRate, retryAfterSeconds(d.RetryAfter)), false
	}
	return "", true
}

// answerCommand reads "export 5461234" (or just the number), asks DMS, and
// mints a fresh link when the export has a file.
func (a *API) answerCommand(c *call, cmd chatCommand) commandAnswer {
	id, ok := notify.ParseCommand(cmd.text)
	revokeID, revoking := notify.ParseRevoke(cmd.text)
	if revoking {
		id = revokeID
	}
	if ok || revoking {
		c.orderID, c.tid = id, a.tidOf(0) // logged even when refused
	}
	if refusal, admitted := a.admit(c, cmd); !admitted {
		return commandAnswer{text: refusal}
	}
	if revoking {
		until, p := a.revoke(c, id, 0)
		if p != nil {
			return a.apology(c, id, p)
		}
		c.outcome = "command_withdrawn"
		return commandAnswer{text: fmt.Sprintf("Every link to ticket %d is withdrawn until %s. Nobody can download it through this service until then.", id, notify.FormatExpiry(until))}
	}
	if !ok {
		c.outcome = "command_usage"
		return commandAnswer{text: `Send "export 5461234" (or just the ticket id) to get a download link for a DMS data export, or "revoke 5461234" to withdraw every link to it.`}
	}
	res, err := a.resolve(c, a.dmsRequest(c, id, 0))
	if err != nil {
		return a.apology(c, id, a.failure(c, err))
	}
	if !res.Ready {
		c.outcome = "command_not_ready"
		tip := res.TipMessage
		if tip == "" {
			tip = "DMS has no file for this ticket yet."
		}
		return commandAnswer{text: fmt.Sprintf("Ticket %d has no file yet: %s", id, tip)}
	}
	l, p := a.mintLink(c, id, 0, 0)
	if p != nil {
		return a.apology(c, id, p)
	}
	c.outcome = "command_link"
	return commandAnswer{msg: &notify.Message{OrderID: id, Link: l.URL, ExpiresAt: l.ExpiresAt}}
}

// apology tells the person in the chat what went wrong and the request id
// an administrator finds the log line by.
func (a *API) apology(c *call, id int64, p *problem) commandAnswer {
	c.outcome = p.Code
	text := fmt.Sprintf("Sorry, no link for ticket %d. %s.", id, p.Title)
	if p.Detail != "" {
		text += " " + p.Detail
	}
	return commandAnswer{text: text + " (request id " + c.id + ")"}
}

// writeReply sends a platform's JSON reply.
func writeReply(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
