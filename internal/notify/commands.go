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

// ParseDingTalkMessage reads a DingTalk outgoing-robot callback body
// ({"msgtype":"text","text":{"content":"..."},"senderNick":"...",...}) and
// returns the message text and the sender's nickname. Fields it does not use
// are ignored: DingTalk sends many and adds more. Errors are *InputError.
func ParseDingTalkMessage(body []byte) (text, senderNick string, err error) {
	var msg struct {
		MsgType string `json:"msgtype"`
		Text    *struct {
			Content string `json:"content"`
		} `json:"text"`
		SenderNick string `json:"senderNick"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return "", "", jsonInputError(err)
	}
	if msg.MsgType != "text" {
		return "", "", &InputError{Field: "msgtype", Reason: "only text messages are understood"}
	}
	if msg.Text == nil {
		return "", "", &InputError{Field: "text.content", Reason: "missing"}
	}
	return strings.TrimSpace(msg.Text.Content), msg.SenderNick, nil
}

// ParseSlackCommand reads a Slack slash-command body
// (application/x-www-form-urlencoded: command, text, user_name, user_id,
// response_url, ...) and returns the text after the command and the user's
// name. Verify the request with [VerifySlack] on the same raw body first.
// Errors are *InputError.
func ParseSlackCommand(body []byte) (text, userName string, err error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", "", &InputError{Reason: "malformed form"}
	}
	if form.Get("command") == "" {
		return "", "", &InputError{Field: "command", Reason: "missing"}
	}
	return strings.TrimSpace(form.Get("text")), form.Get("user_name"), nil
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
