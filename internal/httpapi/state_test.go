package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// requestStates returns the state field of every request log line.
func (h *harness) requestStates() []string {
	var out []string
	for _, line := range strings.Split(h.logs.String(), "\n") {
		var rec struct{ Msg, State string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" {
			out = append(out, rec.State)
		}
	}
	return out
}

// TestTwoInstancesShareAnswers: an answer one instance got from DMS serves
// the other one's click, and both log state "redis".
func TestTwoInstancesShareAnswers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{Password: "pw-" + strings.Repeat("x", 20)})
	a := newHarness(t, harnessOptions{redis: srv})
	b := newHarness(t, harnessOptions{redis: srv})
	first := a.get(a.link(orderReady, a.week()), nil)
	if first.StatusCode != http.StatusFound {
		t.Fatalf("first click: %d %s", first.StatusCode, first.body)
	}
	second := b.get(b.link(orderReady, b.week()), nil)
	if second.StatusCode != http.StatusFound || second.Header.Get("Location") != first.Header.Get("Location") {
		t.Fatalf("click on the other instance: %d, Location %q; want the same redirect", second.StatusCode, second.Header.Get("Location"))
	}
	if n := b.env.Gateway.CallsFor(orderReady); n != 0 {
		t.Errorf("the second instance asked DMS %d times, want 0", n)
	}
	for _, h := range []*harness{a, b} {
		if got := h.requestStates(); len(got) != 1 || got[0] != "redis" {
			t.Errorf("request log states %v, want [redis]", got)
		}
	}
}

// TestClickSurvivesRedisFailures: Redis killed or frozen, a click still gets
// its redirect within the invocation's deadline, logged "degraded"; a ticket
// the instance already holds is answered from its memory without a DMS call.
func TestClickSurvivesRedisFailures(t *testing.T) {
	t.Parallel()
	for name, breakIt := range map[string]func(*redistest.Server){
		"killed": (*redistest.Server).Kill,
		"frozen": (*redistest.Server).Stop,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Options{})
			h := newHarness(t, harnessOptions{redis: srv, deadline: 5 * time.Second})
			const other = orderReady + 100
			h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: other, State: dmsfake.StateReady, FileName: "other.csv", File: readyFile})
			seen, unseen := h.link(orderReady, h.week()), h.link(other, h.week())
			if res := h.get(seen, nil); res.StatusCode != http.StatusFound {
				t.Fatalf("click with Redis up: %d", res.StatusCode)
			}
			breakIt(srv)
			for i, link := range []string{unseen, seen, unseen} {
				if res := h.get(link, nil); res.StatusCode != http.StatusFound {
					t.Fatalf("click %d with Redis %s: %d %s", i+1, name, res.StatusCode, res.body)
				}
			}
			states := h.requestStates()
			// Every click asks the shared state whether its ticket's links
			// were withdrawn, so with Redis gone each one is degraded.
			if want := []string{"redis", "degraded", "degraded", "degraded"}; strings.Join(states, ",") != strings.Join(want, ",") {
				t.Errorf("request log states %v, want %v", states, want)
			}
			if n := h.env.Gateway.CallsFor(other); n != 1 {
				t.Errorf("DMS calls for the unseen ticket = %d, want 1", n)
			}
			if n := strings.Count(h.logs.String(), "shared state unavailable"); n != 1 {
				t.Errorf("%d warnings about Redis, want 1", n)
			}
		})
	}
}

// TestFailedTicketClickedInALoop: DMS's "export failed" is reused for
// ERROR_CACHE_TTL, so a loop of clicks costs one DMS call.
func TestFailedTicketClickedInALoop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	link := h.link(orderFailed, h.week())
	for i := range 20 {
		if res := h.get(link, nil); res.StatusCode != http.StatusBadGateway {
			t.Fatalf("click %d: %d %s, want 502", i+1, res.StatusCode, res.body)
		}
	}
	if n := h.env.Gateway.CallsFor(orderFailed); n != 1 {
		t.Errorf("DMS calls = %d, want 1", n)
	}
	if got := h.requestStates(); len(got) != 20 || got[0] != "memory" {
		t.Errorf("request log states %v, want memory", got)
	}
}
