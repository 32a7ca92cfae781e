package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

// partial sends a request announcing a body of declared bytes but sending
// only sent of them, and reads the answer without sending the rest. The
// answer must come within wait.
func (h *harness) partial(target string, header http.Header, declared int, sent string, wait time.Duration) *response {
	h.t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", target, h.srv.Listener.Addr())
	_ = header.Write(&b)
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", declared, sent)
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(sent))
	req.Header = header
	return h.exchange(b.Bytes(), req, sent, wait)
}

// A caller without credentials is refused before its body is read, however
// slowly the body comes; one with credentials whose body stalls gets 408.
func TestSlowBodies(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.BodyTimeout = 300 * time.Millisecond }})
	json := http.Header{"Content-Type": {"application/json"}}
	withHeader := func(k, v string) http.Header { h := json.Clone(); h.Set(k, v); return h }
	ms := time.Now().UnixMilli()
	for _, tc := range []struct {
		name   string
		target string
		header http.Header
		status int
		code   string
	}{
		{"webhook without token", "/webhooks/dms", json, 401, "webhook_unauthorized"},
		{"webhook with a wrong token", "/webhooks/dms?token=wrong-token-0123456789", json, 401, "webhook_unauthorized"},
		{"createLink without bearer", "/links", json, 401, "unauthorized"},
		{"dingtalk unsigned", "/bots/dingtalk", withHeader("Timestamp", fmt.Sprint(ms)), 401, "signature_invalid"},
		{"webhook with token, body stalls", "/webhooks/dms", withHeader("X-Webhook-Token", n.webhookToken), 408, "body_timeout"},
		{"createLink with bearer, body stalls", "/links", withHeader("Authorization", "Bearer "+n.token), 408, "body_timeout"},
	} {
		res := n.partial(tc.target, tc.header, 500, `{"messageEvent":{"taskId":`, 5*time.Second)
		if p := res.problem(t); res.StatusCode != tc.status || p.Code != tc.code {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, res.StatusCode, p.Code, tc.status, tc.code)
		}
	}
	n.wantMessages(0)
}

// A client that leaves while DMS is being asked is logged as client_gone
// (status 499), not as DMS timing out.
func TestClientGoneIsItsOwnOutcome(t *testing.T) {
	t.Parallel()
	g := newGate()
	h := newHarness(t, harnessOptions{wrapClient: g.wrap})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.send(ctx, http.MethodGet, h.link(orderReady, h.week()), nil, nil)
		done <- err
	}()
	<-g.entered
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request finished although the client left")
	}
	testwait.For(t, "the download's log line", func() bool { return len(h.requestLines(t, "downloadExport")) == 1 })
	line := h.requestLines(t, "downloadExport")[0]
	if line["outcome"] != "client_gone" || line["status"] != float64(statusClientGone) {
		t.Errorf("log line %v, want outcome client_gone, status 499", line)
	}
	g.open()
}
