package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

// A group clicks one link at once: the real SDK reaches the emulator once,
// and every click gets the same redirect. Not parallel: parkedInResolve
// counts goroutines process-wide.
func TestBurstOfClicksSharesOneDMSCall(t *testing.T) {
	const clicks = 200
	g := newGate()
	h := newHarness(t, harnessOptions{wrapClient: g.wrap})
	var wg sync.WaitGroup
	defer wg.Wait() // after the gate opens, even when the test stops early
	defer g.open()
	link := h.link(orderReady, h.week())

	res := make([]*response, clicks)
	errs := make([]error, clicks)
	for i := range clicks {
		wg.Go(func() { res[i], errs[i] = h.send(context.Background(), http.MethodGet, link, nil, nil) })
	}
	// The DMS call is held until every click waits for it, so each one
	// either leads the call or shares it; none can be a cache hit.
	testwait.For(t, "every click to wait for one DMS call", func() bool { return parkedInResolve() == clicks })
	g.open()
	wg.Wait()

	location := ""
	for i := range clicks {
		if errs[i] != nil {
			t.Fatalf("click %d: %v", i, errs[i])
		}
		if res[i].StatusCode != http.StatusFound {
			t.Fatalf("click %d: status %d: %s", i, res[i].StatusCode, res[i].body)
		}
		loc := res[i].Header.Get("Location")
		if location == "" {
			location = loc
		}
		if loc != location {
			t.Fatalf("click %d went to %q, click 0 to %q", i, loc, location)
		}
	}
	if got, want := h.env.Gateway.CallsFor(orderReady), 1; got != want {
		t.Errorf("DMS calls = %d, want %d", got, want)
	}
	testwait.For(t, "every request log line", func() bool { return len(h.requestLogs()) == clicks })
	counts := h.cacheCounts()
	if counts["miss"] != 1 || counts["shared"] != clicks-1 {
		t.Errorf("cache fields %v, want 1 miss and %d shared", counts, clicks-1)
	}
}

// Clicks reuse the OSS URL until ExpiryMargin before it expires, or for
// FallbackTTL when its expiry cannot be read; the exports clock moves, the
// emulator mints real URLs.
func TestCachedURLLifetime(t *testing.T) {
	t.Parallel()
	const (
		urlTTL   = 10 * time.Minute
		margin   = 2 * time.Minute
		fallback = 30 * time.Second
		minted   = 8001 // a ticket whose URLs carry Expires
		bare     = 8002 // a ticket whose URL has no expiry at all
	)
	type step struct {
		at        func(first, expires time.Time) time.Time // the exports clock for this click
		wantCache string
		wantCalls int
	}
	first := func(first, _ time.Time) time.Time { return first }
	after := func(d time.Duration) func(first, expires time.Time) time.Time {
		return func(first, _ time.Time) time.Time { return first.Add(d) }
	}
	beforeExpiry := func(d time.Duration) func(first, expires time.Time) time.Time {
		return func(_, expires time.Time) time.Time { return expires.Add(-d) }
	}
	cases := []struct {
		name  string
		order int64
		steps []step
	}{
		{"sequential clicks within the URL's life", minted, []step{
			{first, "miss", 1},
			{after(time.Second), "hit", 1},
			{after(time.Minute), "hit", 1},
			{beforeExpiry(margin + time.Second), "hit", 1},
		}},
		{"fresh call at the margin before expiry", minted, []step{
			{first, "miss", 1},
			{beforeExpiry(margin + time.Nanosecond), "hit", 1},
			{beforeExpiry(margin), "miss", 2},
		}},
		{"unreadable expiry lives FallbackTTL", bare, []step{
			{first, "miss", 1},
			{after(fallback - time.Nanosecond), "hit", 1},
			{after(fallback), "miss", 2},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &testClock{t: time.Now()}
			h := newHarness(t, harnessOptions{exportsOpt: func(o *exports.Options) {
				o.Now, o.ExpiryMargin, o.FallbackTTL = clock.Now, margin, fallback
			}})
			h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: minted, State: dmsfake.StateReady, File: readyFile, URLTTL: urlTTL})
			h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: bare, State: dmsfake.StateReady, URL: h.env.OSSURL + "/export_8002.csv"})
			link := h.link(tc.order, h.week())
			start := time.Now()
			var expires time.Time
			for i, s := range tc.steps {
				clock.Set(s.at(start, expires))
				res := h.get(link, nil)
				if res.StatusCode != http.StatusFound {
					t.Fatalf("click %d: status %d: %s", i, res.StatusCode, res.body)
				}
				if i == 0 && tc.order == minted {
					expires = expiresParam(t, res.Header.Get("Location"))
					if d := expires.Sub(start); d < urlTTL-2*time.Second || d > urlTTL+10*time.Second {
						t.Fatalf("the emulator's URL expires %v after the first click, want about %v", d, urlTTL)
					}
				}
				if got := h.logOf(res)["cache"]; got != s.wantCache {
					t.Errorf("click %d: cache = %v, want %s", i, got, s.wantCache)
				}
				if got := h.env.Gateway.CallsFor(tc.order); got != s.wantCalls {
					t.Errorf("click %d: DMS calls = %d, want %d", i, got, s.wantCalls)
				}
			}
		})
	}
}

// expiresParam reads the OSS V1 Expires parameter of a redirect, on its own
// rather than with exports.ParseExpiry, which is under test.
func expiresParam(t *testing.T, location string) time.Time {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	secs, err := strconv.ParseInt(u.Query().Get("Expires"), 10, 64)
	if err != nil {
		t.Fatalf("Location has no Expires: %v", err)
	}
	return time.Unix(secs, 0)
}

// Throttling is retried within the request's deadline; when it outlasts the
// tries, the answer is 503 with Retry-After after exactly MaxAttempts calls.
func TestThrottledDMS(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		throttle    int // calls DMS throttles first; -1 = all
		maxAttempts int
		status      int
		calls       int
	}{
		{"throttled once", 1, 4, http.StatusFound, 2},
		{"throttled one try short of the bound", 3, 4, http.StatusFound, 4},
		{"throttled as often as the bound", 4, 4, http.StatusServiceUnavailable, 4},
		{"throttled forever", -1, 3, http.StatusServiceUnavailable, 3},
		{"throttled forever, a single try", -1, 1, http.StatusServiceUnavailable, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{
				deadline:   5 * time.Second,
				exportsOpt: func(o *exports.Options) { o.MaxAttempts = tc.maxAttempts },
			})
			h.env.Gateway.SetFault(dmsfake.Fault{Throttle: tc.throttle})
			res := h.get(h.link(orderReady, h.week()), nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, res.body)
			}
			if tc.status == http.StatusServiceUnavailable {
				if p := res.problem(t); p.Code != "dms_throttled" {
					t.Errorf("code = %s, want dms_throttled", p.Code)
				}
				if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("Retry-After = %q, want whole seconds", res.Header.Get("Retry-After"))
				}
			}
			if got := h.env.Gateway.CallsFor(orderReady); got != tc.calls {
				t.Errorf("DMS calls = %d, want %d", got, tc.calls)
			}
			line := h.logOf(res)
			if line["cache"] != "miss" || line["dmsAttempts"] != float64(tc.calls) {
				t.Errorf("log cache=%v dmsAttempts=%v, want miss and %d", line["cache"], line["dmsAttempts"], tc.calls)
			}
		})
	}
}

// A DMS slower than the invocation gets a 504 before the deadline (the
// harness fails late answers), and the abandoned call does not linger.
func TestSlowDMSAnswers504BeforeTheDeadline(t *testing.T) {
	t.Parallel()
	const reserve = 300 * time.Millisecond
	cases := []struct {
		name     string
		deadline time.Duration
		calls    int
	}{
		{"DMS slower than the deadline", time.Second, 1},
		{"deadline inside the reserve", reserve / 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Only the deadline bounds the call: a call that outlived it
			// would not be recorded before waitFor gives up.
			h := newHarness(t, harnessOptions{
				deadline:   tc.deadline,
				dmsTimeout: time.Minute,
				exportsOpt: func(o *exports.Options) { o.Reserve = reserve },
			})
			h.env.Gateway.SetFault(dmsfake.Fault{Latency: time.Minute})
			res := h.get(h.link(orderReady, h.week()), nil)
			if p := res.problem(t); res.StatusCode != http.StatusGatewayTimeout || p.Code != "dms_timeout" {
				t.Fatalf("got %d %s, want 504 dms_timeout", res.StatusCode, p.Code)
			}
			// The emulator records the call once the SDK gave it up.
			testwait.For(t, "the DMS call to be recorded", func() bool { return h.env.Gateway.Calls() == tc.calls })
			for _, c := range h.env.Gateway.LastCalls() {
				if c.Code != "ClientGone" {
					t.Errorf("the DMS call ended %q, want ClientGone (abandoned by the SDK)", c.Code)
				}
			}
			if got := h.logOf(res)["cache"]; got != "miss" {
				t.Errorf("cache = %v, want miss", got)
			}
		})
	}
}

// Whoever goes away, the leader of the shared call or a waiter, the call
// goes on for the other: one DMS call, answered in full. Not parallel:
// parkedInResolve counts goroutines process-wide.
func TestClientGoneDoesNotCancelTheSharedCall(t *testing.T) {
	cases := []struct {
		name         string
		leaderLeaves bool
		leaverCache  string
		stayerCache  string
	}{
		{name: "the leader leaves", leaderLeaves: true, leaverCache: "miss", stayerCache: "shared"},
		{name: "a waiter leaves", leaderLeaves: false, leaverCache: "shared", stayerCache: "miss"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGate()
			h := newHarness(t, harnessOptions{wrapClient: g.wrap})
			var wg sync.WaitGroup
			defer wg.Wait() // after the gate opens, even when the test stops early
			defer g.open()
			link := h.link(orderReady, h.week())

			type result struct {
				res *response
				err error
			}
			click := func(ctx context.Context) <-chan result {
				ch := make(chan result, 1)
				wg.Go(func() {
					res, err := h.send(ctx, http.MethodGet, link, nil, nil)
					ch <- result{res, err}
				})
				return ch
			}
			leaderCtx, cancelLeader := context.WithCancel(context.Background())
			defer cancelLeader()
			waiterCtx, cancelWaiter := context.WithCancel(context.Background())
			defer cancelWaiter()

			leader := click(leaderCtx)
			testwait.For(t, "the leader's DMS call", func() bool {
				select {
				case <-g.entered:
					return true
				default:
					return false
				}
			})
			waiter := click(waiterCtx)
			testwait.For(t, "the waiter to join the call", func() bool { return parkedInResolve() == 2 })

			leaver, stayer, leave := waiter, leader, cancelWaiter
			if tc.leaderLeaves {
				leaver, stayer, leave = leader, waiter, cancelLeader
			}
			leave()
			if r := <-leaver; !errors.Is(r.err, context.Canceled) {
				t.Fatalf("the leaving client got %v, want context.Canceled", r.err)
			}
			// The server notices the closed connection and logs the leaver
			// as gone (not as DMS timing out) before the call ends.
			testwait.For(t, "the leaver's request log line", func() bool { return len(h.requestLogs()) > 0 })
			gone := h.requestLogs()[0]
			if gone["status"] != float64(statusClientGone) || gone["outcome"] != "client_gone" || gone["cache"] != tc.leaverCache {
				t.Errorf("the leaver's log: status %v outcome %v cache %v, want 499 client_gone and %s", gone["status"], gone["outcome"], gone["cache"], tc.leaverCache)
			}

			g.open()
			r := <-stayer
			if r.err != nil {
				t.Fatalf("the staying client: %v", r.err)
			}
			if r.res.StatusCode != http.StatusFound || r.res.Header.Get("Location") == "" {
				t.Fatalf("the staying client got %d: %s", r.res.StatusCode, r.res.body)
			}
			if got := h.logOf(r.res)["cache"]; got != tc.stayerCache {
				t.Errorf("the stayer's cache = %v, want %s", got, tc.stayerCache)
			}
			calls := h.env.Gateway.LastCalls()
			if len(calls) != 1 || calls[0].Status != http.StatusOK || calls[0].Code != "" {
				t.Fatalf("DMS calls %+v, want one that answered 200", calls)
			}
			// The shared call filled the cache for the next click.
			if got := h.logOf(h.get(link, nil))["cache"]; got != "hit" {
				t.Errorf("the next click: cache = %v, want hit", got)
			}
		})
	}
}
