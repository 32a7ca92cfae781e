// Package robotfake runs loopback fakes of the DingTalk, Lark/Feishu, WeCom and
// Slack custom-robot webhooks for tests and the function's -demo mode
// ([Start]). Each fake checks a request the way
// the platform does (URL credential, signature, timestamp window), answers in
// the platform's format, records the messages it accepted, and can be told to
// fail the next requests.
//
//	f := robotfake.NewDingTalk(t, "SECsecret")
//	robot := notify.NewDingTalk(f.URL(), "SECsecret", nil, nil)
//	err := robot.Send(ctx, msg)
//	got := f.Messages()
package robotfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Recorded is one message a fake accepted.
type Recorded struct {
	Platform string     // "dingtalk", "lark", "wecom" or "slack", as the robots' Name
	Body     []byte     // the raw request body
	Query    url.Values // the request's query parameters
	Header   http.Header
}

// Text is what a reader sees of the message: the markdown of DingTalk and
// WeCom, the plain-text lines of Lark and Slack cards; "" if the body is not
// the platform's format.
func (r Recorded) Text() string {
	var m struct {
		Text     string `json:"text"`
		Markdown struct {
			Text    string `json:"text"`
			Content string `json:"content"`
		} `json:"markdown"`
		Card struct {
			Elements []struct {
				Text struct {
					Content string `json:"content"`
				} `json:"text"`
			} `json:"elements"`
		} `json:"card"`
		Blocks []struct {
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
		} `json:"blocks"`
	}
	if r.Decode(&m) != nil {
		return ""
	}
	var lines []string
	switch r.Platform {
	case "dingtalk":
		return m.Markdown.Text
	case "wecom":
		return m.Markdown.Content
	case "lark":
		for _, e := range m.Card.Elements {
			if e.Text.Content != "" {
				lines = append(lines, e.Text.Content)
			}
		}
	case "slack":
		lines = append(lines, m.Text)
		for _, b := range m.Blocks {
			for _, f := range b.Fields {
				lines = append(lines, f.Text)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// markdownLink finds the target of the message's [Download](...) link.
var markdownLink = regexp.MustCompile(`\[Download\]\(([^)\s]+)\)`)

// Link is the download link the message points a reader to: the target of
// the markdown link of DingTalk (unwrapped from its dingtalk://...&url= form)
// and WeCom, or the button URL of Lark and Slack cards; "" if there is none.
func (r Recorded) Link() string {
	switch r.Platform {
	case "dingtalk", "wecom":
		m := markdownLink.FindStringSubmatch(r.Text())
		if m == nil {
			return ""
		}
		target := m[1]
		if u, err := url.Parse(target); err == nil && u.Scheme == "dingtalk" {
			return u.Query().Get("url")
		}
		return target
	}
	var card struct {
		Card struct {
			Elements []struct {
				Actions []struct {
					URL string `json:"url"`
				} `json:"actions"`
			} `json:"elements"`
		} `json:"card"`
		Blocks []struct {
			Elements []struct {
				URL string `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if r.Decode(&card) != nil {
		return ""
	}
	for _, e := range card.Card.Elements {
		for _, a := range e.Actions {
			if a.URL != "" {
				return a.URL
			}
		}
	}
	for _, b := range card.Blocks {
		for _, e := range b.Elements {
			if e.URL != "" {
				return e.URL
			}
		}
	}
	return ""
}

// Decode unmarshals the recorded body into v.
func (r Recorded) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Fake is one fake robot endpoint. Its methods are safe for concurrent use.
type Fake struct {
	srv      *httptest.Server
	platform platform
	token    string // the URL credential: access_token, hook id, key or Slack path
	secret   string // the signing secret, DingTalk and Lark only

	mu        sync.Mutex
	now       func() time.Time
	onMessage func(Recorded)
	messages  []Recorded
	requests  int
	rejected  int
	failLeft  int
	failWith  failure
}

type platform int

const (
	dingTalk platform = iota
	lark
	weCom
	slack
)

// failure is what FailNext and FailNextCode make the fake answer.
type failure struct {
	status int // HTTP status
	code   int // platform error code on a 200, when status is 200
}

// NewDingTalk starts a fake DingTalk custom robot at /robot/send?access_token=.
// With a non-empty secret it requires the timestamp and sign query parameters
// (HMAC-SHA256 of timestamp+"\n"+secret, base64), with the timestamp within
// one hour of its clock, and answers errcode 310000 otherwise. A wrong
// access_token gets errcode 300001. The server stops at tb's cleanup.
func NewDingTalk(tb testing.TB, secret string) *Fake {
	return start(tb, dingTalk, secret)
}

// NewLark starts a fake Lark/Feishu custom robot at /open-apis/bot/v2/hook/<id>.
// With a non-empty secret it requires body fields timestamp (Unix s, a JSON
// string or number: Lark takes either) and sign (base64 HMAC-SHA256 with key
// timestamp+"\n"+secret over an empty message), within one hour, and answers code 19021 otherwise. A wrong hook id
// gets code 19001. The server stops at tb's cleanup.
func NewLark(tb testing.TB, secret string) *Fake {
	return start(tb, lark, secret)
}

// NewWeCom starts a fake WeCom group robot at /cgi-bin/webhook/send?key=.
// A wrong key gets errcode 93000. The server stops at tb's cleanup.
func NewWeCom(tb testing.TB) *Fake {
	return start(tb, weCom, "")
}

// NewSlack starts a fake Slack incoming webhook at /services/T…/B…/<secret>.
// A wrong path gets 404 "no_service", a body that is not a JSON object with
// "text" or "blocks" gets 400 "invalid_payload"; success is 200 "ok". The
// server stops at tb's cleanup.
func NewSlack(tb testing.TB) *Fake {
	return start(tb, slack, "")
}

func start(tb testing.TB, p platform, secret string) *Fake {
	tb.Helper()
	f := &Fake{platform: p, secret: secret, token: randomToken(), now: time.Now}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

// Start runs a fake of platform ("dingtalk", "lark", "wecom" or "slack", as
// the robots' Name) outside a test, for the function's -demo mode. It checks
// and answers exactly like the New* fakes; secret applies to DingTalk and
// Lark. Stop it with Close.
func Start(platformName, secret string) (*Fake, error) {
	p, ok := map[string]platform{"dingtalk": dingTalk, "lark": lark, "wecom": weCom, "slack": slack}[platformName]
	if !ok {
		return nil, fmt.Errorf("robotfake: unknown platform %q", platformName)
	}
	f := &Fake{platform: p, secret: secret, token: randomToken(), now: time.Now}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

func (p platform) String() string {
	return [...]string{dingTalk: "dingtalk", lark: "lark", weCom: "wecom", slack: "slack"}[p]
}

// OnMessage makes the fake call fn with every message it accepts, outside
// its lock, before the platform's answer reaches the robot.
func (f *Fake) OnMessage(fn func(Recorded)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onMessage = fn
}

// URL is the robot's webhook URL, credential included, as the platform would
// hand it out.
func (f *Fake) URL() string {
	switch f.platform {
	case dingTalk:
		return f.srv.URL + "/robot/send?access_token=" + f.token
	case lark:
		return f.srv.URL + "/open-apis/bot/v2/hook/" + f.token
	case weCom:
		return f.srv.URL + "/cgi-bin/webhook/send?key=" + f.token
	default:
		return f.srv.URL + "/services/T0FAKE/B0FAKE/" + f.token
	}
}

// Platform is the fake's platform, as the robots' Name.
func (f *Fake) Platform() string { return f.platform.String() }

// Token is the credential part of URL (access_token, hook id, key or the
// last Slack path segment), for tests that check it never leaks.
func (f *Fake) Token() string { return f.token }

// Close stops the server. It is safe to call more than once.
func (f *Fake) Close() { f.srv.Close() }

// SetNow replaces the clock the fake checks timestamps against (time.Now by
// default).
func (f *Fake) SetNow(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// FailNext makes the next n requests fail with HTTP status (e.g. 500) before
// any check, as an overloaded platform would.
func (f *Fake) FailNext(n, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failLeft, f.failWith = n, failure{status: status}
}

// FailNextCode makes the next n requests answer HTTP 200 with platform error
// code (errcode for DingTalk/WeCom, code for Lark). Slack has no numeric
// codes: there code is used as the HTTP status of a "rollup_error" answer.
func (f *Fake) FailNextCode(n, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.platform == slack {
		f.failLeft, f.failWith = n, failure{status: code}
		return
	}
	f.failLeft, f.failWith = n, failure{status: http.StatusOK, code: code}
}

// Messages returns copies of the messages accepted so far, in arrival order.
func (f *Fake) Messages() []Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Recorded, len(f.messages))
	copy(out, f.messages)
	return out
}

// Requests is how many requests arrived, accepted or not.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Rejected is how many requests failed the platform's checks (credential,
// signature, timestamp, body); injected failures are not counted.
func (f *Fake) Rejected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rejected
}

// maxBody is the platforms' order of magnitude for message size (20 KB for
// DingTalk/Lark); the fake allows some slack.
const maxBody = 64 << 10

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	rec, fn := f.handle(w, r)
	if rec != nil && fn != nil {
		fn(*rec)
	}
}

// handle answers r and returns the message it accepted, if any, with the
// OnMessage callback to give it to.
func (f *Fake) handle(w http.ResponseWriter, r *http.Request) (*Recorded, func(Recorded)) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.failLeft > 0 {
		f.failLeft--
		f.answerFailure(w)
		return nil, nil
	}
	if err != nil || len(body) > maxBody || r.Method != http.MethodPost {
		f.reject(w, http.StatusBadRequest, 40000, "bad request")
		return nil, nil
	}
	if status, code, msg := f.check(r, body); status != 0 {
		f.reject(w, status, code, msg)
		return nil, nil
	}
	rec := Recorded{Platform: f.platform.String(), Body: body, Query: r.URL.Query(), Header: r.Header.Clone()}
	f.messages = append(f.messages, rec)
	switch f.platform {
	case dingTalk, weCom:
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok"})
	case lark:
		writeJSON(w, http.StatusOK, map[string]any{"code": 0, "msg": "success", "data": map[string]any{}})
	default:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "ok")
	}
	return &rec, f.onMessage
}

// check applies the platform's checks and returns a non-zero status (and the
// platform code and message) for a request the platform would refuse.
func (f *Fake) check(r *http.Request, body []byte) (status, code int, msg string) {
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(body, &payload); err != nil {
		return http.StatusBadRequest, 40035, "invalid JSON"
	}
	switch f.platform {
	case dingTalk:
		q := r.URL.Query()
		if r.URL.Path != "/robot/send" || q.Get("access_token") != f.token {
			return http.StatusOK, 300001, "token is not exist"
		}
		if f.secret != "" && !f.signedWithin(q.Get("timestamp"), q.Get("sign"), f.secret, q.Get("timestamp")+"\n"+f.secret, time.Millisecond) {
			return http.StatusOK, 310000, "sign not match"
		}
		if !hasString(payload, "msgtype") {
			return http.StatusOK, 40035, "missing msgtype"
		}
	case lark:
		if r.URL.Path != "/open-apis/bot/v2/hook/"+f.token {
			return http.StatusOK, 19001, "param invalid: incoming webhook access token invalid"
		}
		if f.secret != "" {
			var sign string
			ts := jsonInteger(payload["timestamp"])
			json.Unmarshal(payload["sign"], &sign)
			if !f.signedWithin(ts, sign, ts+"\n"+f.secret, "", time.Second) {
				return http.StatusOK, 19021, "sign match fail or timestamp is not within one hour from current time"
			}
		}
		if !hasString(payload, "msg_type") {
			return http.StatusOK, 19002, "params error, msg_type need"
		}
	case weCom:
		if r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != f.token {
			return http.StatusOK, 93000, "invalid webhook url"
		}
		if !hasString(payload, "msgtype") {
			return http.StatusOK, 40008, "invalid message type"
		}
	case slack:
		if r.URL.Path != "/services/T0FAKE/B0FAKE/"+f.token {
			return http.StatusNotFound, 0, "no_service"
		}
		if payload["text"] == nil && payload["blocks"] == nil {
			return http.StatusBadRequest, 0, "invalid_payload"
		}
	}
	return 0, 0, ""
}

// signedWithin checks sign = base64 HMAC-SHA256(key, msg) in constant time and
// that ts (in units of unit since the epoch) is within an hour of the fake's
// clock, as DingTalk and Lark both do.
func (f *Fake) signedWithin(ts, sign, key, msg string, unit time.Duration) bool {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(msg))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return false
	}
	at := time.Unix(0, 0).Add(time.Duration(n) * unit)
	diff := f.now().Sub(at)
	return diff <= time.Hour && diff >= -time.Hour
}

// jsonInteger is the decimal digits of raw, a JSON string or an integral
// JSON number; "" for anything else.
func jsonInteger(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return strconv.FormatInt(i, 10)
		}
	}
	return ""
}

func hasString(payload map[string]json.RawMessage, key string) bool {
	var s string
	return json.Unmarshal(payload[key], &s) == nil && s != ""
}

func (f *Fake) reject(w http.ResponseWriter, status, code int, msg string) {
	f.rejected++
	f.answer(w, status, code, msg)
}

func (f *Fake) answerFailure(w http.ResponseWriter) {
	if f.failWith.status != http.StatusOK {
		f.answer(w, f.failWith.status, 0, "injected failure")
		return
	}
	f.answer(w, http.StatusOK, f.failWith.code, "injected failure")
}

// answer writes an error in the platform's shape.
func (f *Fake) answer(w http.ResponseWriter, status, code int, msg string) {
	switch f.platform {
	case dingTalk, weCom:
		writeJSON(w, status, map[string]any{"errcode": code, "errmsg": msg})
	case lark:
		writeJSON(w, status, map[string]any{"code": code, "msg": msg, "data": map[string]any{}})
	default:
		if status == http.StatusOK {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		if msg == "injected failure" {
			msg = "rollup_error"
		}
		fmt.Fprint(w, msg)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
