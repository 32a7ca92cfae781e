package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A DingTalk (timestamp, sign) pair covers no body, so it is accepted once:
// the same headers with another body, or the same request again, are 401
// signature_replayed and reach neither DMS nor a link. A flood of made-up
// tickets under one captured pair costs one DMS call.
func TestDingTalkSignatureAcceptedOnce(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	header := n.dingTalkHeader(n.dingSecret, time.Now())
	first := n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dingTalkBody("export 5461234")), header)
	if _, l := commandText(t, "dingtalk", first); l == "" {
		t.Fatalf("the first use got no link: %s", first.body)
	}
	for i := range 20 {
		body := dingTalkBody(fmt.Sprintf("export %d", 9000000+i))
		if i == 0 {
			body = dingTalkBody("export 5461234")
		}
		res := n.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(body), header)
		if p := res.problem(t); res.StatusCode != http.StatusUnauthorized || p.Code != "signature_replayed" {
			t.Fatalf("replay %d: %d %s, want 401 signature_replayed", i, res.StatusCode, p.Code)
		}
	}
	if got := n.env.Gateway.Calls(); got != 1 {
		t.Errorf("DMS calls = %d, want 1: replays must not reach DMS", got)
	}
}

// A Slack signature covers the body, and it is accepted once too.
func TestSlackSignatureAcceptedOnce(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	body, now := slackBody("5461234"), time.Now()
	if _, l := commandText(t, "slack", n.slack(body, body, n.slackSecret, now)); l == "" {
		t.Fatal("the first use got no link")
	}
	res := n.slack(body, body, n.slackSecret, now)
	if p := res.problem(t); res.StatusCode != http.StatusUnauthorized || p.Code != "signature_replayed" {
		t.Fatalf("replay: %d %s, want 401 signature_replayed", res.StatusCode, p.Code)
	}
	if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Signature ") {
		t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
	}
	if got := n.env.Gateway.Calls(); got != 1 {
		t.Errorf("DMS calls = %d, want 1", got)
	}
}

// DINGTALK_SIGNATURE_WINDOW narrows DingTalk's hour.
func TestDingTalkWindowConfigurable(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.DingTalkWindow = 20 * time.Minute }})
	if _, l := commandText(t, "dingtalk", n.dingTalk(dingTalkBody("5461234"), n.dingSecret, time.Now().Add(-15*time.Minute))); l == "" {
		t.Error("a 15-minute-old message inside a 20-minute window got no link")
	}
	res := n.dingTalk(dingTalkBody("5461234"), n.dingSecret, time.Now().Add(-25*time.Minute))
	if p := res.problem(t); p.Code != "signature_stale" {
		t.Errorf("a 25-minute-old message: %d %s, want signature_stale", res.StatusCode, p.Code)
	}
}
