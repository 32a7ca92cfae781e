package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// revokeLinks withdraws every link of a ticket: links already sent answer
// 410 link_withdrawn (a page in a browser, also for HEAD and previewers), no
// new link is minted for it, its announcements stop, and other tickets are
// untouched.
func TestRevokeWithdrawsEveryLink(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	sent := n.link(orderReady, n.week())
	other := n.link(orderNotYet, n.week())
	auth := http.Header{"Authorization": {"Bearer " + n.token}}
	res := n.do(http.MethodPost, "/exports/5461234/revocation", nil, auth)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.StatusCode, res.body)
	}
	var rv revocation
	if err := json.Unmarshal(res.body, &rv); err != nil || rv.OrderID != orderReady || rv.Tid != tenant {
		t.Fatalf("revoke answer %s: %v", res.body, err)
	}
	if d := time.Until(rv.WithdrawnUntil); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour+time.Minute {
		t.Errorf("withdrawn for %v, want LINK_MAX_TTL", d)
	}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
	}{
		{"click", http.MethodGet, nil},
		{"browser", http.MethodGet, http.Header{"Accept": {"text/html"}}},
		{"HEAD", http.MethodHead, nil},
		{"previewer", http.MethodGet, http.Header{"User-Agent": {previewers[0]}}},
	} {
		res := n.do(tc.method, sent, nil, tc.header)
		if res.StatusCode != http.StatusGone {
			t.Errorf("%s: %d, want 410", tc.name, res.StatusCode)
			continue
		}
		switch tc.name {
		case "browser":
			if !strings.Contains(string(res.body), "This link has been withdrawn") {
				t.Errorf("browser page lacks its title:\n%s", res.body)
			}
		case "click":
			if p := res.problem(t); p.Code != "link_withdrawn" {
				t.Errorf("click: code %s, want link_withdrawn", p.Code)
			}
		}
	}
	for _, tc := range []struct{ method, target, body string }{
		{http.MethodPost, "/links", `{"orderId":5461234}`},
		{http.MethodGet, "/exports/5461234", ""},
	} {
		res := n.do(tc.method, tc.target, strings.NewReader(tc.body), http.Header{"Authorization": auth["Authorization"], "Content-Type": {"application/json"}})
		if p := res.problem(t); res.StatusCode != http.StatusGone || p.Code != "link_withdrawn" {
			t.Errorf("%s %s: %d %s, want 410 link_withdrawn", tc.method, tc.target, res.StatusCode, p.Code)
		}
	}
	_, l := commandText(t, "dingtalk", n.dingTalk(dingTalkBody("export 5461234"), n.dingSecret, time.Now()))
	if l != "" {
		t.Error("a command minted a link for a withdrawn ticket")
	}
	res = n.webhook(dmsEvent(orderReady))
	if out := res.webhookResult(t); res.StatusCode != http.StatusAccepted || out.Outcome != "withdrawn" {
		t.Errorf("webhook: %d %+v, want 202 withdrawn", res.StatusCode, out)
	}
	n.wantMessages(0)
	if res := n.get(other, nil); res.StatusCode != http.StatusConflict {
		t.Errorf("another ticket's link: %d, want its usual 409", res.StatusCode)
	}
}

// "revoke N" from an allowed conversation withdraws the links; from anywhere
// else it is refused and the links keep working.
func TestRevokeCommand(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{})
	sent := n.link(orderReady, n.week())
	text, _ := commandText(t, "dingtalk", n.dingTalk(dingTalkBodyFrom("revoke 5461234", "cidElsewhere==", "x"), n.dingSecret, time.Now()))
	if !strings.Contains(text, "may not ask") {
		t.Errorf("revoke from elsewhere: %q, want a refusal", text)
	}
	if res := n.get(sent, nil); res.StatusCode != http.StatusFound {
		t.Fatalf("after a refused revoke the link answered %d", res.StatusCode)
	}
	body := slackBody("revoke 5461234")
	text, _ = commandText(t, "slack", n.slack(body, body, n.slackSecret, time.Now()))
	if !strings.Contains(text, "withdrawn until") {
		t.Errorf("revoke reply %q", text)
	}
	if res := n.get(sent, nil); res.StatusCode != http.StatusGone {
		t.Errorf("after revoke the link answered %d, want 410", res.StatusCode)
	}
}

// Without shared state (go1 without REDIS_URL) a revocation would reach one
// instance only: it is refused, naming REDIS_URL, and changes nothing.
func TestRevokeRefusedWithoutSharedState(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.StateShared = false }})
	sent := n.link(orderReady, n.week())
	res := n.do(http.MethodPost, "/exports/5461234/revocation", nil, http.Header{"Authorization": {"Bearer " + n.token}})
	if p := res.problem(t); res.StatusCode != http.StatusServiceUnavailable || p.Code != "revocation_not_shared" || !strings.Contains(p.Detail, "REDIS_URL") {
		t.Errorf("got %d %+v, want 503 revocation_not_shared naming REDIS_URL", res.StatusCode, p)
	}
	text, _ := commandText(t, "dingtalk", n.dingTalk(dingTalkBody("revoke 5461234"), n.dingSecret, time.Now()))
	if !strings.Contains(text, "REDIS\\_URL") {
		t.Errorf("revoke command reply %q does not name REDIS_URL", text)
	}
	if res := n.get(sent, nil); res.StatusCode != http.StatusFound {
		t.Errorf("the link answered %d after refused revocations, want 302", res.StatusCode)
	}
}
