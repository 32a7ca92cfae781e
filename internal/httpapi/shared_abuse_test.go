package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// twoInstances is one deployment served by two instances sharing one real
// redis-server, as FC runs go1 with REDIS_URL. Redis operations may take up
// to 5 s, so a loaded test machine does not turn them into the fallback to
// memory this test is not about.
func twoInstances(t *testing.T) (a, b *notifyHarness) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	a = newNotifyHarness(t, notifyOptions{harnessOptions: harnessOptions{redis: srv, redisTimeout: 5 * time.Second}})
	b = newNotifyHarness(t, notifyOptions{harnessOptions: harnessOptions{redis: srv, redisTimeout: 5 * time.Second}, twin: a})
	return a, b
}

// A DingTalk request replayed to the other instance is refused, and so is a
// Slack one; neither reaches DMS there.
func TestReplayToAnotherInstanceRefused(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	header := a.dingTalkHeader(a.dingSecret, time.Now())
	first := a.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dingTalkBody("export 5461234")), header)
	if _, l := commandText(t, "dingtalk", first); l == "" {
		t.Fatalf("the first use got no link: %s", first.body)
	}
	res := b.do(http.MethodPost, "/bots/dingtalk", strings.NewReader(dingTalkBody("export 5461236")), header)
	if p := res.problem(t); res.StatusCode != http.StatusUnauthorized || p.Code != "signature_replayed" {
		t.Errorf("DingTalk replay on the other instance: %d %s, want 401 signature_replayed", res.StatusCode, p.Code)
	}
	body, now := slackBody("5461234"), time.Now()
	if _, l := commandText(t, "slack", a.slack(body, body, a.slackSecret, now)); l == "" {
		t.Fatal("the Slack command got no link")
	}
	res = b.slack(body, body, b.slackSecret, now)
	if p := res.problem(t); res.StatusCode != http.StatusUnauthorized || p.Code != "signature_replayed" {
		t.Errorf("Slack replay on the other instance: %d %s, want 401 signature_replayed", res.StatusCode, p.Code)
	}
	if n := b.env.Gateway.Calls(); n != 0 {
		t.Errorf("replays made %d DMS calls on the other instance", n)
	}
}

// One DMS event delivered to both instances announces once per robot; the
// announcement budget and a person's command budget are shared too.
func TestWebhookToBothInstancesAnnouncesOnce(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	if res := a.webhook(dmsEvent(orderReady)); res.StatusCode != http.StatusOK {
		t.Fatalf("first instance: %d %s", res.StatusCode, res.body)
	}
	res := b.webhook(dmsEvent(orderReady))
	if out := res.webhookResult(t); res.StatusCode != http.StatusAccepted || out.Outcome != "duplicate" {
		t.Errorf("second instance: %d %+v, want 202 duplicate", res.StatusCode, out)
	}
	a.wantMessages(1)
}

// Budgets are counted across instances: a person over COMMAND_RATE_LIMIT on
// one instance is refused on the other.
func TestCommandBudgetAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	budget := func(d *Deps) { d.CommandRate = 2 }
	a := newNotifyHarness(t, notifyOptions{harnessOptions: harnessOptions{redis: srv, redisTimeout: 5 * time.Second}, deps: budget})
	b := newNotifyHarness(t, notifyOptions{harnessOptions: harnessOptions{redis: srv, redisTimeout: 5 * time.Second}, deps: budget, twin: a})
	for _, n := range []*notifyHarness{a, b} {
		if _, l := commandText(t, "dingtalk", n.dingTalk(dingTalkBody("export 5461234"), n.dingSecret, time.Now())); l == "" {
			t.Fatal("a command within budget got no link")
		}
	}
	text, l := commandText(t, "dingtalk", a.dingTalk(dingTalkBody("export 5461234"), a.dingSecret, time.Now()))
	if l != "" || !strings.Contains(text, "try again in") {
		t.Errorf("the third command over both instances: %q, want a refusal", text)
	}
}

// A revocation made on one instance is seen by the other: its links, minted
// with its own key, answer 410 there.
func TestRevocationSeenByAnotherInstance(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t)
	onB := b.link(orderReady, b.week())
	if res := b.get(onB, nil); res.StatusCode != http.StatusFound {
		t.Fatalf("before the revocation: %d", res.StatusCode)
	}
	if res := a.do(http.MethodPost, "/exports/5461234/revocation", nil, http.Header{"Authorization": {"Bearer " + a.token}}); res.StatusCode != http.StatusOK {
		t.Fatalf("revoke on the first instance: %d %s", res.StatusCode, res.body)
	}
	if res := b.get(onB, nil); res.StatusCode != http.StatusGone {
		t.Errorf("the other instance's link after the revocation: %d, want 410", res.StatusCode)
	}
}
