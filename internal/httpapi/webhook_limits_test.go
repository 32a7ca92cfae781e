package httpapi

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
)

// dmsEventAt is dmsEvent with eventTime at.
func dmsEventAt(order int64, at time.Time) string {
	return eventTime.ReplaceAllString(dmsEvent(order), fmt.Sprintf(`"eventTime":%d`, at.UnixMilli()))
}

var eventTime = regexp.MustCompile(`"eventTime":[0-9]+`)

// An event older than WEBHOOK_MAX_EVENT_AGE, or far ahead of the clock, is
// answered 202 stale before any DMS call and announces nothing; the same
// event fresh is announced.
func TestWebhookRefusesStaleEvents(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.WebhookMaxAge = time.Hour }})
	for _, tc := range []struct {
		name string
		at   time.Time
		tip  string
	}{
		{"two hours old", time.Now().Add(-2 * time.Hour), "WEBHOOK_MAX_EVENT_AGE"},
		{"a day old, as text", time.Now().Add(-24 * time.Hour), "WEBHOOK_MAX_EVENT_AGE"},
		{"an hour ahead", time.Now().Add(time.Hour), "ahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := dmsEventAt(orderReady, tc.at)
			if strings.HasSuffix(tc.name, "as text") {
				body = strings.Replace(body, fmt.Sprintf(`"eventTime":%d`, tc.at.UnixMilli()),
					`"eventTime":"`+tc.at.In(time.FixedZone("CST", 8*3600)).Format(time.DateTime)+`"`, 1)
			}
			res := n.webhook(body)
			if res.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", res.StatusCode, res.body)
			}
			if out := res.webhookResult(t); out.Outcome != "stale" || !strings.Contains(out.TipMessage, tc.tip) {
				t.Errorf("result %+v, want stale naming %q", out, tc.tip)
			}
		})
	}
	n.wantMessages(0)
	if got := n.env.Gateway.Calls(); got != 0 {
		t.Errorf("stale events made %d DMS calls", got)
	}
	if res := n.webhook(dmsEventAt(orderReady, time.Now().Add(-10*time.Minute))); res.StatusCode != http.StatusOK {
		t.Fatalf("a 10-minute-old event: %d %s", res.StatusCode, res.body)
	}
	n.wantMessages(1)
}

// ANNOUNCE_RATE_LIMIT bounds announcements per minute whatever the tickets:
// cycling ticket ids with the token gets 429 with Retry-After, and nothing
// more is sent.
func TestWebhookAnnouncementRate(t *testing.T) {
	t.Parallel()
	n := newNotifyHarness(t, notifyOptions{deps: func(d *Deps) { d.AnnounceRate = 2 }})
	for id := int64(7000001); id <= 7000003; id++ {
		n.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: id, State: dmsfake.StateReady, FileName: "x.csv", File: readyFile})
	}
	for id := int64(7000001); id <= 7000002; id++ {
		if res := n.webhook(dmsEvent(id)); res.StatusCode != http.StatusOK {
			t.Fatalf("ticket %d within the rate: %d %s", id, res.StatusCode, res.body)
		}
	}
	res := n.webhook(dmsEvent(7000003))
	p := res.problem(t)
	if res.StatusCode != http.StatusTooManyRequests || p.Code != "announce_rate_limited" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third ticket: %d %s Retry-After %q, want 429 announce_rate_limited with Retry-After", res.StatusCode, p.Code, res.Header.Get("Retry-After"))
	}
	n.wantMessages(2)
}
