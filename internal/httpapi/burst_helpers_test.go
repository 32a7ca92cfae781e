package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/testwait"
)

// gate holds every DMS call until it is opened, so a test decides when the
// shared call ends; the real client then makes the call.
type gate struct {
	entered   chan struct{} // closed when the first call reaches the gate
	opened    chan struct{}
	enterOnce sync.Once
	openOnce  sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), opened: make(chan struct{})}
}

func (g *gate) open() { g.openOnce.Do(func() { close(g.opened) }) }

// wrap is a harnessOptions.wrapClient.
func (g *gate) wrap(c exports.Client) exports.Client { return gatedClient{g: g, next: c} }

type gatedClient struct {
	g    *gate
	next exports.Client
}

func (c gatedClient) DownloadURL(ctx context.Context, req dms.Request) (dms.Result, error) {
	c.g.enterOnce.Do(func() { close(c.g.entered) })
	select {
	case <-c.g.opened:
		return c.next.DownloadURL(ctx, req)
	case <-ctx.Done():
		return dms.Result{}, &dms.Error{Kind: dms.KindTimeout, Message: "held at the test's gate", Err: ctx.Err()}
	}
}

// parkedInResolve counts the goroutines waiting in exports.Service.Resolve
// for a shared DMS call: a request that has joined the call, as the leader
// or a waiter. Resolve blocks in no other select, and the shared call itself
// runs in a goroutine whose frames are Resolve.func1, not Resolve. It counts
// process-wide, so tests using it must not run in parallel.
func parkedInResolve() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(header, []byte("[select")) && bytes.Contains(g, []byte("internal/exports.(*Service).Resolve(")) {
			count++
		}
	}
	return count
}

// requestLogs returns the handler's "request" log lines, oldest first.
func (h *harness) requestLogs() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for line := range strings.Lines(h.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			h.t.Errorf("log line is not JSON: %v: %q", err, line)
			continue
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// logOf waits for the request log line of a response, found by its
// X-Request-Id.
func (h *harness) logOf(res *response) map[string]any {
	h.t.Helper()
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		h.t.Fatalf("response %d has no X-Request-Id", res.StatusCode)
	}
	var line map[string]any
	testwait.For(h.t, "the request log line of "+id, func() bool {
		for _, m := range h.requestLogs() {
			if m["requestId"] == id {
				line = m
				return true
			}
		}
		return false
	})
	return line
}

// cacheCounts tallies the cache field of every request log line.
func (h *harness) cacheCounts() map[string]int {
	h.t.Helper()
	counts := map[string]int{}
	for _, m := range h.requestLogs() {
		c, _ := m["cache"].(string)
		counts[c]++
	}
	return counts
}

// testClock is a settable clock for the exports cache and the Announcer.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
