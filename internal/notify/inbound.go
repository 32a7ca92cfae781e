package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrBadSignature means a request's signature is missing, malformed or wrong,
// or the verifier has no secret configured. Callers answer 401 and say no more.
var ErrBadSignature = errors.New("notify: bad signature")

// ErrStale means a request's signature is right but its timestamp is outside
// the platform's replay window.
var ErrStale = errors.New("notify: stale request timestamp")

// InputError is a request body that cannot be used: malformed, or a field
// missing or invalid. Its text names the field, never echoes secrets, and is
// safe to return to the caller.
type InputError struct {
	Field  string // JSON field or form key, "" for the body as a whole
	Reason string
}

func (e *InputError) Error() string {
	if e.Field == "" {
		return "notify: invalid body: " + e.Reason
	}
	return "notify: invalid " + e.Field + ": " + e.Reason
}

// DMSEventHeader is the header DMS sets on custom-webhook calls, with the
// value DMSEventValue.
const (
	DMSEventHeader = "DMS-Event"
	DMSEventValue  = "Message Hook"
)

// MaxDMSWebhookBytes is the largest DMS webhook body ParseDMSWebhook accepts.
const MaxDMSWebhookBytes = 1 << 20

// DMSEvent is the part of a DMS notification this function acts on. Category,
// Module and Event are DMS's display strings, localised (e.g. "数据导出",
// "执行成功"), so treat the event as a hint and ask DMS about the ticket.
type DMSEvent struct {
	TaskID          int64     // the ticket (or task flow) id; always > 0
	TaskName        string    // untrusted display text
	SubmitterUID    string    // DMS user id of the submitter
	SubmitterName   string    // untrusted display text
	Module          string    // e.g. data export, data change
	Event           string    // e.g. pending approval, succeeded, failed
	Category        string    // e.g. Tickets, Task Orchestration
	EventTime       time.Time // zero when DMS sent none
	SignatureMethod string    // "None" or "HMAC_SHA1"; the HMAC's input is undocumented, so it is not verified here
}

// dmsWebhook is the documented body: the event inside "messageEvent" (current
// docs) or, in the older sample, the event fields at the top level. These are
// all the fields DMS is documented to send; anything else is refused, so a
// format change shows up as an error rather than as silently missing data.
type dmsWebhook struct {
	dmsMessageEvent
	MessageEvent    *dmsMessageEvent `json:"messageEvent"`
	SignatureMethod string           `json:"signatureMethod"`
	SignatureText   string           `json:"signatureText"`
}

type dmsMessageEvent struct {
	SubmitterUID  flexString      `json:"submitterUid"`
	SubmitterName string          `json:"submitterName"`
	Category      string          `json:"category"`
	Module        string          `json:"module"`
	Event         string          `json:"event"`
	TaskID        json.RawMessage `json:"taskId"`
	TaskName      string          `json:"taskName"`
	EventTime     json.RawMessage `json:"eventTime"`
	Message       string          `json:"message"`
	TargetUsers   []dmsUser       `json:"targetUsers"`
	Receivers     []dmsUser       `json:"receivers"`
}

type dmsUser struct {
	UID  flexString `json:"uid"`
	Name string     `json:"name"`
}

// flexString accepts a JSON string or number (DMS user ids appear as both).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("want a string or a number")
	}
	*f = flexString(n)
	return nil
}

// ParseDMSWebhook parses a DMS custom-webhook body:
//
//	{"messageEvent":{"submitterUid","submitterName","category","module","event",
//	  "taskId","taskName","eventTime","message","targetUsers":[{"uid","name"}],
//	  "receivers":[{"uid","name"}]},"signatureMethod","signatureText"}
//
// The event fields may also stand at the top level (DMS's older sample).
// taskId must be a positive int64, as a JSON number or a numeric string.
// eventTime may be epoch milliseconds (number or string), epoch seconds (a
// value below 1e11), RFC 3339, or "2006-01-02 15:04:05" in Asia/Shanghai time.
// Fields other than those listed are refused. Every error is an *InputError.
func ParseDMSWebhook(body []byte) (DMSEvent, error) {
	if len(body) > MaxDMSWebhookBytes {
		return DMSEvent{}, &InputError{Reason: "body too large"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var w dmsWebhook
	if err := dec.Decode(&w); err != nil {
		return DMSEvent{}, jsonInputError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return DMSEvent{}, &InputError{Reason: "data after the JSON object"}
	}
	ev := w.dmsMessageEvent
	if w.MessageEvent != nil {
		if len(ev.TaskID) != 0 {
			return DMSEvent{}, &InputError{Field: "taskId", Reason: "given both inside and outside messageEvent"}
		}
		ev = *w.MessageEvent
	}
	id, err := parseTaskID(ev.TaskID)
	if err != nil {
		return DMSEvent{}, err
	}
	at, err := parseEventTime(ev.EventTime)
	if err != nil {
		return DMSEvent{}, err
	}
	return DMSEvent{
		TaskID:          id,
		TaskName:        ev.TaskName,
		SubmitterUID:    string(ev.SubmitterUID),
		SubmitterName:   ev.SubmitterName,
		Module:          ev.Module,
		Event:           ev.Event,
		Category:        ev.Category,
		EventTime:       at,
		SignatureMethod: w.SignatureMethod,
	}, nil
}

// jsonInputError turns a decoding error into an *InputError naming the field
// when encoding/json knows it.
func jsonInputError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &InputError{Field: te.Field, Reason: "wrong type " + te.Value}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &InputError{Field: clean(strings.Trim(name, `"`)), Reason: "unknown field"}
	}
	return &InputError{Reason: "malformed JSON"}
}

// parseTaskID accepts a positive int64 as a JSON number or a string of digits.
func parseTaskID(raw json.RawMessage) (int64, error) {
	s, err := numericText(raw)
	if err != nil || s == "" {
		return 0, &InputError{Field: "taskId", Reason: "missing"}
	}
	if !allDigits(s) {
		return 0, &InputError{Field: "taskId", Reason: "not a positive integer"}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, &InputError{Field: "taskId", Reason: "not a positive int64"}
	}
	return id, nil
}

// numericText returns the text of a JSON number or string; "" for absent or
// null.
func numericText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		// JSON's own whitespace only, the set openapi.yaml's pattern allows.
		return strings.Trim(s, " \t\n\r"), err
	}
	return string(raw), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// secondsLimit separates epoch seconds from epoch milliseconds: 1e11 seconds
// is the year 5138, 1e11 milliseconds is 1973.
const secondsLimit = 1e11

// parseEventTime reads DMS's eventTime in any of the forms ParseDMSWebhook
// documents.
func parseEventTime(raw json.RawMessage) (time.Time, error) {
	s, err := numericText(raw)
	bad := &InputError{Field: "eventTime", Reason: "not a time"}
	switch {
	case err != nil:
		return time.Time{}, bad
	case s == "":
		return time.Time{}, nil
	case allDigits(s):
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, bad
		}
		if n < secondsLimit {
			return time.Unix(n, 0).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateTime, s, shanghai()); err == nil {
		return t, nil
	}
	return time.Time{}, bad
}

// VerifyToken reports whether got equals want, in time independent of where
// they differ and of their lengths. An empty want never verifies, so an unset
// secret locks the endpoint instead of opening it.
func VerifyToken(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Replay windows: how far a request's timestamp may be from now.
// DingTalkMaxWindow is DingTalk's own limit; the function's window is
// configurable up to it and defaults to DefaultDingTalkWindow, because
// DingTalk's sign covers only the timestamp: a captured pair of headers works
// with any body for as long as the window lasts. Delivery takes seconds and
// both clocks are NTP-synchronised, so minutes are plenty.
const (
	DingTalkMaxWindow     = time.Hour
	DefaultDingTalkWindow = 5 * time.Minute
	SlackWindow           = 5 * time.Minute
)

// VerifyDingTalk checks a DingTalk outgoing-robot (HTTP mode) request: header
// "timestamp" (Unix ms) and header "sign" = base64 HMAC-SHA256(key=appSecret,
// msg=timestamp+"\n"+appSecret), compared in constant time; then the timestamp
// must be within window of now (window <= 0 or above [DingTalkMaxWindow]
// means DingTalkMaxWindow). It returns nil, ErrBadSignature (also for an empty
// appSecret or missing headers) or ErrStale. The signature does not cover the
// body: remember accepted (timestamp, sign) pairs for 2*window to refuse
// replays.
func VerifyDingTalk(h http.Header, appSecret string, now time.Time, window time.Duration) error {
	if window <= 0 || window > DingTalkMaxWindow {
		window = DingTalkMaxWindow
	}
	ts, sign := h.Get("timestamp"), h.Get("sign")
	if appSecret == "" || ts == "" || sign == "" || !allDigits(ts) || len(ts) > 19 {
		return ErrBadSignature
	}
	got, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(ts + "\n" + appSecret))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || !within(time.UnixMilli(ms), now, window) {
		return ErrStale
	}
	return nil
}

// VerifySlack checks a Slack request (slash command, event, interaction):
// X-Slack-Signature = "v0=" + hex HMAC-SHA256(signingSecret,
// "v0:"+X-Slack-Request-Timestamp+":"+body) over the raw body, compared in
// constant time; then the timestamp (Unix s) must be within [SlackWindow] of
// now. It returns nil, ErrBadSignature (also for an empty secret or missing
// headers) or ErrStale. Remember accepted signatures for 2*[SlackWindow] to
// refuse replays.
func VerifySlack(h http.Header, body []byte, signingSecret string, now time.Time) error {
	ts, sig := h.Get("X-Slack-Request-Timestamp"), h.Get("X-Slack-Signature")
	if signingSecret == "" || !allDigits(ts) || len(ts) > 19 {
		return ErrBadSignature
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec > 1<<40 || !within(time.Unix(sec, 0), now, SlackWindow) {
		return ErrStale
	}
	return nil
}

// within reports whether |now-t| <= d.
func within(t, now time.Time, d time.Duration) bool {
	diff := now.Sub(t)
	return diff <= d && diff >= -d
}
