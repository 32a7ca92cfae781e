package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/notify"
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
// answer, apologies included, is a 200 reply: DingTalk shows nothing else.
func (a *API) handleDingTalkCommand(c *call) (*problem, error) {
	body, p := readBody(c)
	if p != nil {
		return p, nil
	}
	text, _, err := notify.ParseDingTalkMessage(body)
	var ie *notify.InputError
	if errors.As(err, &ie) && ie.Field == "msgtype" {
		text, err = "", nil // a picture or a file: answer with the usage hint
	}
	if err != nil {
		return inputProblem(err), nil
	}
	ans := a.answerCommand(c, text)
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
	text, _, err := notify.ParseSlackCommand(body)
	if err != nil {
		return inputProblem(err), nil
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), slackBudget)
	defer cancel()
	c.r = c.r.WithContext(ctx)
	ans := a.answerCommand(c, text)
	reply := notify.SlackReply(notify.EscapeSlack(ans.text))
	if ans.msg != nil {
		reply = notify.SlackMessageReply(*ans.msg)
	}
	writeReply(c.w, reply)
	return nil, nil
}

// answerCommand reads "export 5461234" (or just the number), asks DMS, and
// mints a fresh link when the export has a file.
func (a *API) answerCommand(c *call, text string) commandAnswer {
	id, ok := notify.ParseCommand(text)
	if !ok {
		c.outcome = "command_usage"
		return commandAnswer{text: `Send "export 5461234" (or just the ticket id) to get a download link for a DMS data export.`}
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
