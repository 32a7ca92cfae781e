package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// The fuzz targets drive the handler in process (no emulator: a fuzzer wants
// thousands of inputs a second) and validate every answer against
// openapi.yaml like the harness does. Nothing may panic or answer 500.

const fuzzToken = "fuzz-webhook-token-0123456789"

var fuzzNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// readyResolver says every ticket is ready, without DMS.
type readyResolver struct{}

func (readyResolver) Resolve(context.Context, dms.Request) (exports.Resolution, error) {
	return exports.Resolution{Result: dms.Result{Ready: true, URL: "https://dms-idb-test.oss-cn-hangzhou.aliyuncs.com/x.csv?Expires=1"}}, nil
}

// acceptingRobot takes every message.
type acceptingRobot struct{}

func (acceptingRobot) Name() string                               { return "slack" }
func (acceptingRobot) Send(context.Context, notify.Message) error { return nil }

// fuzzTarget is the handler and a validator that reports to each input's t.
type fuzzTarget struct {
	api      *API
	contract *contracttest.Checker
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	f.Helper()
	api, err := New(Deps{
		Resolver:           readyResolver{},
		Signer:             &links.Signer{Keys: []links.Key{{ID: "k1", Secret: bytes.Repeat([]byte("k"), 32)}}, MaxTTL: 24 * time.Hour, Now: func() time.Time { return fuzzNow }},
		LinkTTL:            time.Hour,
		Now:                func() time.Time { return fuzzNow },
		Announcer:          &notify.Announcer{Robots: []notify.Robot{acceptingRobot{}}, Capacity: 100},
		WebhookToken:       fuzzToken,
		DingTalkAppSecret:  "dingtalk-app-secret",
		SlackSigningSecret: "slack-signing-secret",
		PublicBaseURL:      &url.URL{Scheme: "https", Host: "exports.example.com"},
		DingTalkAllowed:    notify.NewAllowlist([]string{"*"}),
		SlackAllowed:       notify.NewAllowlist([]string{"*"}),
	})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	contract, err := contracttest.New()
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzTarget{api: api, contract: contract}
}

// serve sends req with body through the handler and validates the answer.
func (ft *fuzzTarget) serve(t *testing.T, req *http.Request, body []byte) int {
	t.Helper()
	rec := httptest.NewRecorder()
	ft.api.ServeHTTP(rec, req)
	h := &harness{t: t, contract: ft.contract}
	h.validate(req, body, rec.Result(), rec.Body.Bytes())
	return rec.Code
}

func FuzzWebhookHTTP(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, seed := range []string{
		dmsEvent(5461234),
		`{"submitterName":"x","taskId":"42"}`,
		`{"messageEvent":{"taskId":1,"eventTime":"2025-01-02 08:00:00","receivers":[{"uid":null,"name":"x"}]}}`,
		`{"messageEvent":{"taskId":9223372036854775808}}`,
		`{"messageEvent":{"taskId":1},"taskId":2}`,
		`{"messageEvent":{"taskId":`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/dms?token="+fuzzToken, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		switch code := ft.serve(t, req, body); code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", code, body)
		}
	})
}

func FuzzCommandHTTP(f *testing.F) {
	ft := newFuzzTarget(f)
	for _, seed := range []struct {
		slack bool
		body  string
	}{
		{false, dingTalkBody("export 5461234")},
		{false, `{"msgtype":"text","text":{"content":"导出＃５４６１２３４"}}`},
		{false, `{"msgtype":"text"}`},
		{false, `{"msgtype":"text","text":{"content":null}}`},
		{true, slackBody("5461234")},
		{true, "command=%2Fexport&text=export+1+2"},
		{true, "command=&text=%zz"},
	} {
		f.Add(seed.slack, []byte(seed.body))
	}
	var sent atomic.Int64 // each DingTalk message at its own millisecond: a repeat is a replay
	f.Fuzz(func(t *testing.T, slack bool, body []byte) {
		ts := fuzzNow.Add(-time.Minute + time.Duration(sent.Add(1)%100000)*time.Millisecond)
		var req *http.Request
		if slack {
			req = httptest.NewRequest(http.MethodPost, "/bots/slack", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(ts.Unix()))
			req.Header.Set("X-Slack-Signature", slackSign("slack-signing-secret", ts.Unix(), string(body)))
		} else {
			req = httptest.NewRequest(http.MethodPost, "/bots/dingtalk", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Timestamp", fmt.Sprint(ts.UnixMilli()))
			req.Header.Set("Sign", dingTalkSign("dingtalk-app-secret", ts.UnixMilli()))
		}
		switch code := ft.serve(t, req, body); code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		case http.StatusUnauthorized: // Slack signs body and second: the fuzzer repeating an input replays it
			if !slack {
				t.Fatalf("status %d for %q", code, body)
			}
		default:
			t.Fatalf("status %d for %q", code, body)
		}
	})
}
