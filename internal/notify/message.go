// Package notify talks to chat platforms and receives webhooks.
//
// Outbound, [Robot] implementations post an "export ready" message to the
// custom group robots of DingTalk, Lark/Feishu, WeCom and Slack, each signed and
// shaped exactly as that platform verifies it, and [Announcer] sends one
// message per ticket to every configured robot with retries and de-duplication.
//
// Inbound, it parses DMS "Message Hook" webhooks, DingTalk outgoing-robot
// messages and Slack slash commands, verifies the platforms' signatures in
// constant time, and recognises link-preview bots.
//
// The signature schemes are summarised, with their sources, in
// docs/robot-signatures.md. Robot secrets and the secret
// parts of robot URLs never appear in errors or logs (see [SendError]).
//
// This package does not import the DMS client or the SDK; callers pass ticket
// data in as plain values.
package notify

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message is one "your export is ready" announcement.
type Message struct {
	OrderID   int64     // the DMS data-export ticket id
	TaskName  string    // the ticket's name, as DMS reported it (untrusted text)
	Submitter string    // who asked for the export, as DMS reported it (untrusted text)
	Link      string    // the signed download link to this function
	ExpiresAt time.Time // when Link stops working; zero means "not shown"
}

// maxFieldRunes caps DMS-supplied text in messages: names are short, and a
// huge name must not push the link out of the platforms' size limits.
const maxFieldRunes = 200

// shanghai is China Standard Time. A fixed zone, because China has had no
// daylight saving since 1991 and FC images may lack tzdata.
func shanghai() *time.Location { return time.FixedZone("CST", 8*60*60) }

// FormatExpiry renders t in Asia/Shanghai time and UTC, the two clocks the
// readers of these messages use.
func FormatExpiry(t time.Time) string {
	return t.In(shanghai()).Format("2006-01-02 15:04 MST") + " (Asia/Shanghai) / " +
		t.UTC().Format("2006-01-02 15:04 MST")
}

// title is the one-line summary shared by every platform.
func (m Message) title() string {
	return fmt.Sprintf("DMS export ready: ticket %d", m.OrderID)
}

// plainLines are the message's facts as unformatted "label: value" lines, for
// formats with a plain-text element (Lark cards, Slack blocks).
func (m Message) plainLines() []string {
	lines := []string{fmt.Sprintf("Ticket: %d", m.OrderID)}
	if name := dmsText(m.TaskName); name != "" {
		lines[0] += " " + name
	}
	if who := dmsText(m.Submitter); who != "" {
		lines = append(lines, "Requested by: "+who)
	}
	if !m.ExpiresAt.IsZero() {
		lines = append(lines, "Link expires: "+FormatExpiry(m.ExpiresAt))
	}
	return lines
}

// markdown renders the message in the markdown subset DingTalk and WeCom share
// (headings, bold, lists, links), with DMS-supplied text escaped and link used
// as the download target.
func (m Message) markdown(link string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### DMS export ready\n\n- **Ticket:** %d", m.OrderID)
	if name := dmsText(m.TaskName); name != "" {
		b.WriteString(" " + EscapeMarkdown(name))
	}
	if who := dmsText(m.Submitter); who != "" {
		b.WriteString("\n- **Requested by:** " + EscapeMarkdown(who))
	}
	if !m.ExpiresAt.IsZero() {
		b.WriteString("\n- **Link expires:** " + FormatExpiry(m.ExpiresAt))
	}
	b.WriteString("\n\n[Download](" + markdownURL(link) + ")")
	return b.String()
}

// clean makes untrusted single-line text safe to embed: control characters
// (newlines would start new markdown blocks) become spaces, Unicode format
// characters (bidi overrides that reorder what a reader sees, zero-width
// characters that hide inside words) are dropped, and it is capped at
// maxFieldRunes runes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxFieldRunes {
		s = string([]rune(s)[:maxFieldRunes]) + "…"
	}
	return s
}

// dmsText is DMS-provided text (ticket and user names) as messages show it:
// cleaned, and with anything a chat app would turn into a link written so it
// stays plain text.
func dmsText(s string) string { return clean(plainURLs(s)) }

// urlScheme finds "scheme://"; domainName finds dotted names ending in a
// letters-only label (example.com, www.evil.example, file.xlsx). Compiled on
// first use: most instances only serve clicks, and compiling domainName's
// Unicode classes was the largest package init of ours (0.2 ms per cold
// start).
var (
	urlScheme  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]{0,31}):/+`) })
	domainName = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:[\p{L}0-9][\p{L}0-9-]{0,62}\.)+\p{L}{2,63}`)
	})
)

// plainURLs defangs links the way incident reports do ("https[:]//evil[.]example"):
// chat apps link "https://..." and bare domains on their own, so a ticket named
// after a phishing page would otherwise become a clickable link next to the
// function's real one.
func plainURLs(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = urlScheme().ReplaceAllString(s, "$1[:]//")
	return domainName().ReplaceAllStringFunc(s, func(m string) string { return strings.ReplaceAll(m, ".", "[.]") })
}

// markdownSpecial are the characters that start formatting, links, HTML or
// tables in the markdown dialects of DingTalk and WeCom.
const markdownSpecial = "\\`*_{}[]()#<>|~!"

// EscapeMarkdown backslash-escapes every markdown-significant character in s,
// so untrusted text (ticket names, user names) renders literally in DingTalk
// and WeCom markdown messages. It does not remove newlines.
func EscapeMarkdown(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// EscapeSlack escapes the three characters Slack's mrkdwn gives meaning to
// (&, <, >), as Slack documents, so text cannot form links or mentions.
func EscapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// markdownURL percent-encodes the characters that would end a markdown link
// target early.
func markdownURL(u string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(u)
}
