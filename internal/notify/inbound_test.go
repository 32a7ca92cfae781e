package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const dmsSample = `{"messageEvent":{"submitterUid":"2712345678","submitterName":"张三","category":"工单",
"module":"数据导出","event":"执行成功","taskId":5461234,"taskName":"orders Q4","eventTime":1735776000000,
"message":"尊敬的DMS用户：...","targetUsers":[{"uid":"27001","name":"李四"}],"receivers":[{"uid":27002,"name":"王五"}]},
"signatureMethod":"None","signatureText":""}`

func TestParseDMSWebhook(t *testing.T) {
	withEvent := func(fields string) string {
		return `{"messageEvent":{` + fields + `},"signatureMethod":"HMAC_SHA1","signatureText":"4mOdwflN1Cg="}`
	}
	tests := []struct {
		name      string
		body      string
		wantID    int64
		wantTime  time.Time
		wantField string // non-empty: want an *InputError for this field
		wantErr   bool
	}{
		{name: "documented sample", body: dmsSample, wantID: 5461234, wantTime: time.UnixMilli(1735776000000)},
		{name: "taskId as string", body: withEvent(`"taskId":"42"`), wantID: 42},
		{name: "max int64", body: withEvent(`"taskId":9223372036854775807`), wantID: 9223372036854775807},
		{name: "older flat form", body: `{"submitterName":"x","category":"Tickets","event":"Succeeded","taskId":7}`, wantID: 7},
		{name: "eventTime ms string", body: withEvent(`"taskId":1,"eventTime":"1735776000000"`), wantID: 1, wantTime: time.UnixMilli(1735776000000)},
		{name: "eventTime seconds", body: withEvent(`"taskId":1,"eventTime":1735776000`), wantID: 1, wantTime: time.Unix(1735776000, 0)},
		{name: "eventTime datetime in Shanghai", body: withEvent(`"taskId":1,"eventTime":"2025-01-02 08:00:00"`), wantID: 1, wantTime: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)},
		{name: "eventTime RFC 3339", body: withEvent(`"taskId":1,"eventTime":"2025-01-02T00:00:00Z"`), wantID: 1, wantTime: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)},
		{name: "eventTime null", body: withEvent(`"taskId":1,"eventTime":null`), wantID: 1},

		{name: "malformed", body: `{"messageEvent":`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
		{name: "not an object", body: `[1]`, wantErr: true},
		{name: "trailing data", body: withEvent(`"taskId":1`) + `{}`, wantErr: true},
		{name: "missing taskId", body: withEvent(`"taskName":"x"`), wantField: "taskId"},
		{name: "null taskId", body: withEvent(`"taskId":null`), wantField: "taskId"},
		{name: "zero", body: withEvent(`"taskId":0`), wantField: "taskId"},
		{name: "negative", body: withEvent(`"taskId":-5`), wantField: "taskId"},
		{name: "negative string", body: withEvent(`"taskId":"-5"`), wantField: "taskId"},
		{name: "plus sign", body: withEvent(`"taskId":"+5"`), wantField: "taskId"},
		{name: "fraction", body: withEvent(`"taskId":1.5`), wantField: "taskId"},
		{name: "exponent", body: withEvent(`"taskId":1e3`), wantField: "taskId"},
		{name: "overflow", body: withEvent(`"taskId":9223372036854775808`), wantField: "taskId"},
		{name: "bool", body: withEvent(`"taskId":true`), wantField: "taskId"},
		{name: "non-numeric string", body: withEvent(`"taskId":"abc"`), wantField: "taskId"},
		{name: "bad eventTime", body: withEvent(`"taskId":1,"eventTime":"yesterday"`), wantField: "eventTime"},
		{name: "unknown top-level field", body: `{"messageEvent":{"taskId":1},"extra":1}`, wantField: "extra"},
		{name: "unknown event field", body: withEvent(`"taskId":1,"surprise":true`), wantField: "surprise"},
		{name: "unknown user field", body: withEvent(`"taskId":1,"receivers":[{"uid":"1","name":"a","mobile":"138"}]`), wantErr: true},
		{name: "taskId inside and outside", body: `{"taskId":1,"messageEvent":{"taskId":2}}`, wantField: "taskId"},
		{name: "wrong type for name", body: withEvent(`"taskId":1,"taskName":5`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseDMSWebhook([]byte(tt.body))
			if tt.wantErr || tt.wantField != "" {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("ParseDMSWebhook error = %v, want *InputError", err)
				}
				if tt.wantField != "" && !strings.HasSuffix(ie.Field, tt.wantField) {
					t.Errorf("InputError.Field = %q, want %q", ie.Field, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDMSWebhook: %v", err)
			}
			if got, want := ev.TaskID, tt.wantID; got != want {
				t.Errorf("TaskID = %d, want %d", got, want)
			}
			if got, want := ev.EventTime, tt.wantTime; !got.Equal(want) {
				t.Errorf("EventTime = %v, want %v", got, want)
			}
		})
	}
}

func TestParseDMSWebhookFields(t *testing.T) {
	ev, err := ParseDMSWebhook([]byte(dmsSample))
	if err != nil {
		t.Fatal(err)
	}
	want := DMSEvent{TaskID: 5461234, TaskName: "orders Q4", SubmitterUID: "2712345678", SubmitterName: "张三",
		Module: "数据导出", Event: "执行成功", Category: "工单", EventTime: time.UnixMilli(1735776000000).UTC(), SignatureMethod: "None"}
	if ev != want {
		t.Errorf("ParseDMSWebhook =\n%+v\nwant\n%+v", ev, want)
	}
}

func TestParseDMSWebhookTooLarge(t *testing.T) {
	body := `{"messageEvent":{"taskId":1,"message":"` + strings.Repeat("a", MaxDMSWebhookBytes) + `"}}`
	var ie *InputError
	if _, err := ParseDMSWebhook([]byte(body)); !errors.As(err, &ie) {
		t.Errorf("oversized body: error %v, want *InputError", err)
	}
}

func TestVerifyToken(t *testing.T) {
	tests := []struct {
		got, want string
		ok        bool
	}{
		{"s3cret-token", "s3cret-token", true},
		{"s3cret-tokem", "s3cret-token", false},
		{"s3cret", "s3cret-token", false},
		{"", "s3cret-token", false},
		{"", "", false},
		{"anything", "", false},
	}
	for _, tt := range tests {
		if got := VerifyToken(tt.got, tt.want); got != tt.ok {
			t.Errorf("VerifyToken(%q, %q) = %v, want %v", tt.got, tt.want, got, tt.ok)
		}
	}
}

// dingTalkHeaders signs as DingTalk's outgoing robot does.
func dingTalkHeaders(secret string, at time.Time) http.Header {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	h := http.Header{}
	h.Set("timestamp", ts)
	h.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

func TestVerifyDingTalk(t *testing.T) {
	const secret = "app-secret-0123"
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	without := func(h http.Header, key string) http.Header { h.Del(key); return h }
	tests := []struct {
		name   string
		header http.Header
		secret string
		want   error
		window time.Duration
	}{
		{"valid", dingTalkHeaders(secret, now), secret, nil, 0},
		{"valid, 59 min old", dingTalkHeaders(secret, now.Add(-59*time.Minute)), secret, nil, 0},
		{"valid, 4 min old, 5 min window", dingTalkHeaders(secret, now.Add(-4*time.Minute)), secret, nil, 5 * time.Minute},
		{"stale, 6 min old, 5 min window", dingTalkHeaders(secret, now.Add(-6*time.Minute)), secret, ErrStale, 5 * time.Minute},
		{"stale, 6 min ahead, 5 min window", dingTalkHeaders(secret, now.Add(6*time.Minute)), secret, ErrStale, 5 * time.Minute},
		{"window capped at an hour", dingTalkHeaders(secret, now.Add(-61*time.Minute)), secret, ErrStale, 2 * time.Hour},
		{"wrong secret", dingTalkHeaders("other-secret", now), secret, ErrBadSignature, 0},
		{"stale", dingTalkHeaders(secret, now.Add(-61*time.Minute)), secret, ErrStale, 0},
		{"future", dingTalkHeaders(secret, now.Add(61*time.Minute)), secret, ErrStale, 0},
		{"missing sign", without(dingTalkHeaders(secret, now), "sign"), secret, ErrBadSignature, 0},
		{"missing timestamp", without(dingTalkHeaders(secret, now), "timestamp"), secret, ErrBadSignature, 0},
		{"no headers", http.Header{}, secret, ErrBadSignature, 0},
		{"empty secret", dingTalkHeaders("", now), "", ErrBadSignature, 0},
		{"sign not base64", http.Header{"Timestamp": {"1"}, "Sign": {"%%%"}}, secret, ErrBadSignature, 0},
		{"timestamp not a number", http.Header{"Timestamp": {"12a"}, "Sign": {"AAAA"}}, secret, ErrBadSignature, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyDingTalk(tt.header, tt.secret, now, tt.window)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyDingTalk = %v, want %v", err, tt.want)
			}
			if err != nil {
				assertNoSecret(t, err.Error(), secret, tt.header.Get("sign"))
			}
		})
	}
}

// slackHeaders signs body as Slack does.
func slackHeaders(secret string, at time.Time, body []byte) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestVerifySlackKnownAnswer(t *testing.T) {
	// The worked example from Slack's "Verifying requests from Slack" guide.
	body := []byte("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	if err := VerifySlack(h, body, "8f742231b10e8888abcd99yyyzzz85a5", time.Unix(1531420618, 0)); err != nil {
		t.Errorf("VerifySlack(Slack's example) = %v, want nil", err)
	}
}

func TestVerifySlack(t *testing.T) {
	const secret = "signing-secret-0123"
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	body := []byte("command=%2Fexport&text=5461234&user_name=alice")
	without := func(h http.Header, key string) http.Header { h.Del(key); return h }
	tests := []struct {
		name   string
		header http.Header
		body   []byte
		secret string
		want   error
	}{
		{"valid", slackHeaders(secret, now, body), body, secret, nil},
		{"valid, 5 min old", slackHeaders(secret, now.Add(-5*time.Minute), body), body, secret, nil},
		{"wrong secret", slackHeaders("other", now, body), body, secret, ErrBadSignature},
		{"altered body", slackHeaders(secret, now, body), []byte("command=%2Fexport&text=5461235&user_name=alice"), secret, ErrBadSignature},
		{"stale", slackHeaders(secret, now.Add(-301*time.Second), body), body, secret, ErrStale},
		{"future", slackHeaders(secret, now.Add(301*time.Second), body), body, secret, ErrStale},
		{"missing signature", without(slackHeaders(secret, now, body), "X-Slack-Signature"), body, secret, ErrBadSignature},
		{"missing timestamp", without(slackHeaders(secret, now, body), "X-Slack-Request-Timestamp"), body, secret, ErrBadSignature},
		{"empty secret", slackHeaders("", now, body), body, "", ErrBadSignature},
		{"no v0 prefix", http.Header{"X-Slack-Request-Timestamp": {"1"}, "X-Slack-Signature": {"abcd"}}, body, secret, ErrBadSignature},
		{"not hex", http.Header{"X-Slack-Request-Timestamp": {"1"}, "X-Slack-Signature": {"v0=zz"}}, body, secret, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySlack(tt.header, tt.body, tt.secret, now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifySlack = %v, want %v", err, tt.want)
			}
			if err != nil {
				assertNoSecret(t, err.Error(), secret, tt.header.Get("X-Slack-Signature"))
			}
		})
	}
}

func FuzzParseDMSWebhook(f *testing.F) {
	f.Add([]byte(dmsSample))
	f.Add([]byte(`{"messageEvent":{"taskId":"42","eventTime":"2025-01-02 08:00:00"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseDMSWebhook(body)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InputError", err, err)
			}
			return
		}
		if ev.TaskID <= 0 {
			t.Fatalf("accepted TaskID %d", ev.TaskID)
		}
	})
}

func FuzzVerifySlack(f *testing.F) {
	f.Add([]byte("command=%2Fexport&text=1"), "secret", int64(0))
	f.Add([]byte(""), "s", int64(-301))
	f.Add([]byte("{}"), "", int64(299))
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, secret string, skew int64) {
		skew %= 1 << 30
		h := slackHeaders(secret, now.Add(time.Duration(skew)*time.Second), body)
		err := VerifySlack(h, body, secret, now)
		switch {
		case secret == "":
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("empty secret: %v, want ErrBadSignature", err)
			}
			return
		case skew >= -300 && skew <= 300:
			if err != nil {
				t.Fatalf("correctly signed, skew %ds: %v", skew, err)
			}
		default:
			if !errors.Is(err, ErrStale) {
				t.Fatalf("correctly signed, skew %ds: %v, want ErrStale", skew, err)
			}
		}
		altered := append([]byte{'x'}, body...)
		if err := VerifySlack(h, altered, secret, now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("altered body: %v, want ErrBadSignature", err)
		}
		if err := VerifySlack(h, body, secret+"x", now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("wrong secret: %v, want ErrBadSignature", err)
		}
	})
}
