package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Robot posts messages to one chat group through a platform's custom robot
// (incoming webhook).
type Robot interface {
	// Name is the platform's name ("dingtalk", "lark", "wecom", "slack"), for
	// logs and [Delivery].
	Name() string
	// Send posts m once. Errors are *SendError and never contain the robot's
	// secret or the secret parts of its URL.
	Send(ctx context.Context, m Message) error
}

// SendError is a failed [Robot.Send]. Its text names the robot, the redacted
// URL and what went wrong; never the secret, the signature or a token.
type SendError struct {
	Robot     string // the robot's Name
	URL       string // the robot URL with its secret parts replaced by REDACTED
	Status    int    // HTTP status, 0 if no response arrived
	Code      string // the platform's error code (errcode, code, or Slack's error text), if any
	Detail    string // the platform's message, or what was wrong locally
	Permanent bool   // retrying the same request cannot succeed (bad token, bad signature, bad request)
	Err       error  // the underlying transport error, redacted, if any
}

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "notify: %s robot %s", e.Robot, e.URL)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": code %s", e.Code)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the transport error, so callers can test for
// context.DeadlineExceeded and friends.
func (e *SendError) Unwrap() error { return e.Err }

// maxResponseBytes caps how much of a platform's answer is read: they answer
// with a few dozen bytes, and a misbehaving endpoint must not cost memory.
const maxResponseBytes = 64 << 10

// NewDingTalk returns a robot for a DingTalk custom group robot.
//
// webhookURL is "https://oapi.dingtalk.com/robot/send?access_token=...".
// When secret (the "SEC..." signing secret) is not empty, every request gets
// the query parameters timestamp (Unix ms from now) and sign = URL-escaped
// base64 HMAC-SHA256(key=secret, msg=timestamp+"\n"+secret); DingTalk refuses
// timestamps more than an hour off. Links are wrapped in DingTalk's
// "dingtalk://dingtalkclient/page/link?pc_slide=false&url=..." form so that the
// desktop client opens them in the browser, not in its side panel.
// hc nil means http.DefaultClient; now nil means time.Now.
func NewDingTalk(webhookURL, secret string, hc *http.Client, now func() time.Time) Robot {
	return &dingTalk{base: newBase("dingtalk", webhookURL, hc), secret: secret, now: orNow(now)}
}

// NewLark returns a robot for a Lark/Feishu custom group robot.
//
// webhookURL is "https://open.feishu.cn/open-apis/bot/v2/hook/<id>" (or the
// open.larksuite.com equivalent). When secret is not empty, the body carries
// "timestamp" (Unix seconds from now, as a string) and "sign" = base64
// HMAC-SHA256 with key = timestamp+"\n"+secret over an empty message (the key
// and message roles are the reverse of DingTalk's). The message is an
// interactive card whose DMS-supplied text is plain_text, so it needs no
// escaping. hc nil means http.DefaultClient; now nil means time.Now.
func NewLark(webhookURL, secret string, hc *http.Client, now func() time.Time) Robot {
	return &lark{base: newBase("lark", webhookURL, hc), secret: secret, now: orNow(now)}
}

// NewWeCom returns a robot for a WeCom (企业微信) group robot,
// "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...". The key in the
// URL is its only credential. hc nil means http.DefaultClient.
func NewWeCom(webhookURL string, hc *http.Client) Robot {
	return &weCom{base: newBase("wecom", webhookURL, hc)}
}

// NewSlack returns a robot for a Slack incoming webhook,
// "https://hooks.slack.com/services/T.../B.../...", whose path is its only
// credential. Messages are Block Kit with a plain-text fallback and
// unfurl_links/unfurl_media false, so Slack does not fetch the download link
// for a preview. hc nil means http.DefaultClient.
func NewSlack(webhookURL string, hc *http.Client) Robot {
	return &slack{base: newBase("slack", webhookURL, hc)}
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// base is what every robot shares: its name, URL and HTTP client.
type base struct {
	name string
	url  string
	hc   *http.Client
}

func newBase(name, webhookURL string, hc *http.Client) base {
	if hc == nil {
		hc = http.DefaultClient
	}
	return base{name: name, url: webhookURL, hc: hc}
}

func (b base) Name() string { return b.name }

// fail builds a SendError for this robot.
func (b base) fail(status int, code, detail string, permanent bool, err error) *SendError {
	return &SendError{Robot: b.name, URL: redactURL(b.url), Status: status, Code: code,
		Detail: detail, Permanent: permanent, Err: err}
}

// post sends body as JSON to target and returns a 2xx answer's body. Any
// other outcome is a *SendError: non-2xx statuses are permanent unless they are
// 408, 429 or 5xx.
func (b base) post(ctx context.Context, target string, body any) ([]byte, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, b.fail(0, "", "encoding message: "+err.Error(), true, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		// The parse error quotes the URL, so only say that it is bad.
		return nil, b.fail(0, "", "invalid robot URL", true, nil)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, b.fail(0, "", "", false, redactErr(err))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, b.fail(resp.StatusCode, "", "reading response", false, redactErr(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		s := resp.StatusCode
		permanent := s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
		return nil, b.fail(s, "", snippet(answer), permanent, nil)
	}
	return answer, nil
}

// snippet is a short, printable excerpt of a platform answer for an error
// message. Platforms do not echo tokens in their answers.
func snippet(b []byte) string {
	return clean(string(b))
}

// redactErr rewrites the URL inside a *url.Error (which net/http fills with
// the full request URL, token included) and keeps the rest of the chain.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return err
}

// longSegment is the length from which any path segment is treated as a
// token: no path segment in a robot URL's fixed part is this long.
const longSegment = 24

// redactURL returns raw with everything that may be a credential replaced by
// REDACTED: every query value (access_token, key, sign, timestamp) and any
// query key without a value or of 24 bytes or more, every path
// segment after "services", "hook" or "hooks", any path segment of 24 bytes or
// more, user info and the fragment. Scheme, host and query keys stay, so the
// result still says which robot failed. An unparseable URL is redacted whole.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "REDACTED"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.Opaque = ""
	if u.RawQuery != "" {
		var parts []string
		for part := range strings.SplitSeq(u.RawQuery, "&") {
			key, _, hasValue := strings.Cut(part, "=")
			if !hasValue || len(key) >= longSegment {
				key = "REDACTED" // a bare word or a long key may itself be the token
			}
			if hasValue {
				key += "=REDACTED"
			}
			parts = append(parts, key)
		}
		slices.Sort(parts)
		u.RawQuery = strings.Join(slices.Compact(parts), "&")
		u.ForceQuery = false
	}
	segs := strings.Split(u.EscapedPath(), "/")
	secret := false
	for i, s := range segs {
		switch {
		case secret || len(s) >= longSegment:
			segs[i] = "REDACTED"
		case isSecretPathMarker(s):
			secret = true
		}
	}
	u.RawPath = ""
	u.Path = strings.Join(segs, "/")
	return u.String()
}

// isSecretPathMarker reports whether seg is a path segment after which robot
// URLs carry their credential: Slack's /services/T/B/secret, Lark's
// /bot/v2/hook/<id>.
func isSecretPathMarker(seg string) bool {
	switch strings.ToLower(seg) {
	case "services", "hook", "hooks":
		return true
	}
	return false
}

// codedAnswer decodes an answer of the {"errcode":0,"errmsg":"ok"} family
// (DingTalk, WeCom) or Lark's {"code":0,"msg":"success"} and its older
// {"StatusCode":0,"StatusMessage":"success"}.
type codedAnswer struct {
	ErrCode       *int   `json:"errcode"`
	ErrMsg        string `json:"errmsg"`
	Code          *int   `json:"code"`
	Msg           string `json:"msg"`
	StatusCode    *int   `json:"StatusCode"`
	StatusMessage string `json:"StatusMessage"`
}

// check turns a platform's JSON answer into nil or a *SendError. A missing
// code counts as failure: a 200 from something that is not the platform (a
// captive portal, a proxy page) must not pass for delivery. permanent lists the
// codes that retrying cannot fix.
func (b base) check(answer []byte, permanent func(code int) bool) error {
	var a codedAnswer
	if err := json.Unmarshal(answer, &a); err != nil {
		return b.fail(http.StatusOK, "", "unexpected answer: "+snippet(answer), false, nil)
	}
	code, msg := a.ErrCode, a.ErrMsg
	if code == nil {
		code, msg = a.Code, a.Msg
	}
	if code == nil {
		code, msg = a.StatusCode, a.StatusMessage
	}
	switch {
	case code == nil:
		return b.fail(http.StatusOK, "", "answer has no error code: "+snippet(answer), false, nil)
	case *code != 0:
		return b.fail(http.StatusOK, strconv.Itoa(*code), clean(msg), permanent(*code), nil)
	}
	return nil
}

// signHMAC is base64(HMAC-SHA256(key, msg)), the primitive behind DingTalk's
// and Lark's robot signatures.
func signHMAC(key, msg string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type dingTalk struct {
	base
	secret string
	now    func() time.Time
}

// dingTalkPermanent: 300001 token invalid, 310000 signature/keyword/IP check
// failed, 400101/400102 robot disabled or removed.
func dingTalkPermanent(code int) bool {
	switch code {
	case 300001, 310000, 400101, 400102:
		return true
	}
	return false
}

func (d *dingTalk) Send(ctx context.Context, m Message) error {
	target := d.url
	if d.secret != "" {
		u, err := url.Parse(d.url)
		if err != nil {
			return d.fail(0, "", "invalid robot URL", true, nil)
		}
		ts := strconv.FormatInt(d.now().UnixMilli(), 10)
		q := u.Query()
		q.Set("timestamp", ts)
		q.Set("sign", signHMAC(d.secret, ts+"\n"+d.secret))
		u.RawQuery = q.Encode()
		target = u.String()
	}
	body := map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"title": m.title(), "text": m.markdown(dingTalkLink(m.Link))},
	}
	answer, err := d.post(ctx, target, body)
	if err != nil {
		return err
	}
	return d.check(answer, dingTalkPermanent)
}

// dingTalkLink makes DingTalk open link in the system browser instead of its
// side panel, where downloads do not work well.
func dingTalkLink(link string) string {
	return "dingtalk://dingtalkclient/page/link?pc_slide=false&url=" + url.QueryEscape(link)
}

type lark struct {
	base
	secret string
	now    func() time.Time
}

// larkPermanent: 19001 bad hook or body, 19021 bad signature or timestamp,
// 19022 IP not allowed, 19024 keyword missing.
func larkPermanent(code int) bool {
	switch code {
	case 19001, 19021, 19022, 19024:
		return true
	}
	return false
}

func (l *lark) Send(ctx context.Context, m Message) error {
	elements := []any{
		map[string]any{"tag": "div", "text": map[string]string{"tag": "plain_text", "content": strings.Join(m.plainLines(), "\n")}},
		map[string]any{"tag": "action", "actions": []any{map[string]any{
			"tag":  "button",
			"text": map[string]string{"tag": "plain_text", "content": "Download"},
			"type": "primary",
			"url":  m.Link,
		}}},
	}
	body := map[string]any{
		"msg_type": "interactive",
		"card": map[string]any{
			"config":   map[string]bool{"wide_screen_mode": true},
			"header":   map[string]any{"template": "blue", "title": map[string]string{"tag": "plain_text", "content": m.title()}},
			"elements": elements,
		},
	}
	if l.secret != "" {
		ts := strconv.FormatInt(l.now().Unix(), 10)
		body["timestamp"] = ts
		body["sign"] = signHMAC(ts+"\n"+l.secret, "")
	}
	answer, err := l.post(ctx, l.url, body)
	if err != nil {
		return err
	}
	return l.check(answer, larkPermanent)
}

type weCom struct{ base }

// weComPermanent: 93000 invalid webhook URL, 40008 invalid message type,
// 40058 invalid parameter.
func weComPermanent(code int) bool {
	switch code {
	case 93000, 40008, 40058:
		return true
	}
	return false
}

func (w *weCom) Send(ctx context.Context, m Message) error {
	body := map[string]any{
		"msgtype":  "markdown",
		"markdown": map[string]string{"content": m.markdown(m.Link)},
	}
	answer, err := w.post(ctx, w.url, body)
	if err != nil {
		return err
	}
	return w.check(answer, weComPermanent)
}

type slack struct{ base }

func (s *slack) Send(ctx context.Context, m Message) error {
	fields := make([]any, 0, 3)
	for _, line := range m.plainLines() {
		fields = append(fields, map[string]any{"type": "plain_text", "text": line, "emoji": false})
	}
	fallback := EscapeSlack(m.title())
	if name := dmsText(m.TaskName); name != "" {
		fallback += " (" + EscapeSlack(name) + ")"
	}
	body := map[string]any{
		"text":         fallback,
		"unfurl_links": false,
		"unfurl_media": false,
		"blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": m.title()}},
			map[string]any{"type": "section", "fields": fields},
			map[string]any{"type": "actions", "elements": []any{map[string]any{
				"type":  "button",
				"style": "primary",
				"text":  map[string]any{"type": "plain_text", "text": "Download"},
				"url":   m.Link,
			}}},
		},
	}
	answer, err := s.post(ctx, s.url, body)
	if err != nil {
		return err
	}
	// Slack answers a bare "ok"; anything else on a 200 is not Slack.
	if got := strings.TrimSpace(string(answer)); got != "ok" {
		return s.fail(http.StatusOK, "", "unexpected answer: "+snippet(answer), false, nil)
	}
	return nil
}
