package notify

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// ParseCommand reads a chat command asking for a ticket's export link:
// "export 5461234", "5461234", "@bot export #5461234", "导出 5461234",
// "导出5461234". Mentions (words starting with @) are ignored; the verb
// ("export", "导出", "download", "下载") is optional; the number may start with
// "#" and end with punctuation; full-width digits count. Any other word, more
// than one number, zero, a sign or a value beyond int64 makes ok false, so that
// "delete 5461234" or "export 1 2" export nothing.
func ParseCommand(text string) (orderID int64, ok bool) {
	text = strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, text)
	var number string
	for _, word := range strings.FieldsFunc(text, unicode.IsSpace) {
		if strings.HasPrefix(word, "@") || strings.HasPrefix(word, "＠") {
			continue
		}
		lower := strings.ToLower(word)
		if isExportVerb(lower) {
			continue
		}
		for _, verb := range []string{"导出", "下载"} {
			lower = strings.TrimPrefix(lower, verb)
		}
		lower = strings.TrimLeft(lower, "#＃")
		lower = strings.TrimRight(lower, ".,;:!?。，；：！？")
		if !allDigits(lower) || number != "" {
			return 0, false
		}
		number = lower
	}
	if number == "" {
		return 0, false
	}
	id, err := strconv.ParseInt(number, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

func isExportVerb(word string) bool {
	switch word {
	case "export", "download", "/export", "导出", "下载":
		return true
	}
	return false
}

// DingTalkMessage is what the function reads of a DingTalk outgoing-robot
// callback: the text and who sent it from where.
type DingTalkMessage struct {
	Text             string // the message, trimmed; "" for other message types
	SenderNick       string // display name (untrusted)
	SenderStaffID    string // the sender's user id in their organisation; "" for outsiders
	SenderID         string // DingTalk's id of the sender, set for everyone
	SenderCorpID     string // the sender's organisation
	ConversationID   string // the group or one-to-one chat ("cid...")
	ConversationType string // "1" one-to-one, "2" group
}

// Asker is who sent the message, for budgets and logs: the staff id, else
// DingTalk's sender id.
func (m DingTalkMessage) Asker() string {
	if m.SenderStaffID != "" {
		return m.SenderStaffID
	}
	return m.SenderID
}

// ParseDingTalkMessage reads a DingTalk outgoing-robot callback body
// ({"msgtype":"text","text":{"content":"..."},"senderNick":"...",
// "senderStaffId":"...","conversationId":"cid...",...}). Fields it does not
// use are ignored: DingTalk sends many and adds more. A message other than
// text is returned with its sender and conversation and an *InputError on
// "msgtype"; every other error is an *InputError too.
func ParseDingTalkMessage(body []byte) (DingTalkMessage, error) {
	var msg struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		SenderNick       string `json:"senderNick"`
		SenderStaffID    string `json:"senderStaffId"`
		SenderID         string `json:"senderId"`
		SenderCorpID     string `json:"senderCorpId"`
		ConversationID   string `json:"conversationId"`
		ConversationType string `json:"conversationType"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return DingTalkMessage{}, jsonInputError(err)
	}
	m := DingTalkMessage{
		SenderNick: msg.SenderNick, SenderStaffID: msg.SenderStaffID, SenderID: msg.SenderID, SenderCorpID: msg.SenderCorpID,
		ConversationID: msg.ConversationID, ConversationType: msg.ConversationType,
	}
	if msg.MsgType != "text" {
		return m, &InputError{Field: "msgtype", Reason: "only text messages are understood"}
	}
	if msg.Text == nil {
		return DingTalkMessage{}, &InputError{Field: "text.content", Reason: "missing"}
	}
	m.Text = strings.TrimSpace(msg.Text.Content)
	return m, nil
}

// SlackCommand is what the function reads of a slash command.
type SlackCommand struct {
	Text      string // after the command, trimmed
	UserName  string // display name (untrusted)
	UserID    string
	TeamID    string // the workspace
	ChannelID string
}

// ParseSlackCommand reads a Slack slash-command body
// (application/x-www-form-urlencoded: command, text, user_name, user_id,
// team_id, channel_id, response_url, ...). Verify the request with
// [VerifySlack] on the same raw body first. Errors are *InputError.
func ParseSlackCommand(body []byte) (SlackCommand, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return SlackCommand{}, &InputError{Reason: "malformed form"}
	}
	if form.Get("command") == "" {
		return SlackCommand{}, &InputError{Field: "command", Reason: "missing"}
	}
	return SlackCommand{
		Text: strings.TrimSpace(form.Get("text")), UserName: form.Get("user_name"), UserID: form.Get("user_id"),
		TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"),
	}, nil
}

// ParseRevoke reads "revoke 5461234" (also "withdraw", "撤回"; mentions
// ignored, the verb required) and returns the ticket whose links are to be
// withdrawn.
func ParseRevoke(text string) (orderID int64, ok bool) {
	words := strings.FieldsFunc(text, unicode.IsSpace)
	for len(words) > 0 && (strings.HasPrefix(words[0], "@") || strings.HasPrefix(words[0], "＠")) {
		words = words[1:]
	}
	if len(words) < 2 {
		return 0, false
	}
	switch strings.ToLower(words[0]) {
	case "revoke", "withdraw", "撤回":
	default:
		return 0, false
	}
	rest := strings.Join(words[1:], " ")
	if w := strings.FieldsFunc(rest, unicode.IsSpace); len(w) != 1 {
		return 0, false
	}
	return ParseCommand(rest)
}

// Allowlist is where chat commands may come from: entries "*" (anywhere),
// "id" (that conversation or channel in any organisation), "scope:id" (that
// one in organisation or workspace scope) and "scope:*" (all of scope's).
// The zero Allowlist allows nothing.
type Allowlist struct {
	entries map[string]bool
}

// NewAllowlist builds an Allowlist from entries already validated by the
// configuration.
func NewAllowlist(entries []string) Allowlist {
	l := Allowlist{entries: make(map[string]bool, len(entries))}
	for _, e := range entries {
		l.entries[e] = true
	}
	return l
}

// Empty reports whether the list allows nothing at all.
func (l Allowlist) Empty() bool { return len(l.entries) == 0 }

// Allows reports whether a command from conversation id in scope (a DingTalk
// corp id, a Slack team id) may be answered. An empty id is never allowed,
// except by "*".
func (l Allowlist) Allows(scope, id string) bool {
	if l.entries["*"] {
		return true
	}
	if id == "" {
		return false
	}
	return l.entries[id] || scope != "" && (l.entries[scope+":"+id] || l.entries[scope+":*"])
}

// DingTalkReply is the JSON an outgoing robot answers with to post a markdown
// message back into the conversation. Escape untrusted text in markdownText
// with [EscapeMarkdown].
func DingTalkReply(markdownTitle, markdownText string) []byte {
	b, _ := json.Marshal(map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"title": markdownTitle, "text": markdownText},
	})
	return b
}

// SlackReply is the JSON a slash command answers with to show text to the
// requesting user only ("ephemeral"). Escape untrusted text with
// [EscapeSlack].
func SlackReply(text string) []byte {
	b, _ := json.Marshal(map[string]string{"response_type": "ephemeral", "text": text})
	return b
}

// DingTalkMessageReply is the outgoing-robot reply that posts m as the
// DingTalk custom robot would: the same markdown, DMS-supplied text escaped,
// the link opening in the system browser.
func DingTalkMessageReply(m Message) []byte {
	return DingTalkReply(m.title(), m.markdown(dingTalkLink(m.Link)))
}

// SlackMessageReply is the ephemeral slash-command reply carrying m: a bold
// title, the message's facts, and the link as <link|Download>, all escaped for
// Slack's mrkdwn (Slack unescapes &amp; inside the link).
func SlackMessageReply(m Message) []byte {
	lines := []string{"*" + EscapeSlack(m.title()) + "*"}
	for _, l := range m.plainLines() {
		lines = append(lines, EscapeSlack(l))
	}
	lines = append(lines, "<"+EscapeSlack(m.Link)+"|Download>")
	return SlackReply(strings.Join(lines, "\n"))
}

// IsLinkPreviewer reports whether userAgent belongs to a bot that fetches
// links to draw previews in chat and social apps (Slack, DingTalk, Lark/Feishu,
// Telegram, Discord, Microsoft Teams/Skype, WhatsApp, Twitter/X, Facebook,
// LinkedIn). Matching is by case-insensitive substring.
//
// The in-app browsers of DingTalk, Lark/Feishu and WeCom carry the app's name
// in their user agent when a person clicks, so only the bots' own tokens
// ("DingTalkBot", "LarkBot", "FeishuBot") are matched, never the bare app name.
// Mail scanners that pose as browsers are not recognised.
func IsLinkPreviewer(userAgent string) bool {
	ua := strings.ToLower(userAgent)
	for _, token := range []string{
		"slackbot", // Slackbot-LinkExpanding 1.0, Slackbot 1.0
		"slack-imgproxy",
		"dingtalkbot", // DingTalkBot-LinkService/1.0
		"larkbot",
		"feishubot",
		"telegrambot",
		"discordbot",
		"skypeuripreview", // Microsoft Teams and Skype
		"teamsbot",
		"whatsapp/",
		"twitterbot",
		"facebookexternalhit",
		"facebookcatalog",
		"linkedinbot",
	} {
		if strings.Contains(ua, token) {
			return true
		}
	}
	return false
}
