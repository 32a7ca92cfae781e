// Package load drives the function's own binary, serving locally as
// function/main.go builds it, with the vegeta load generator against the DMS
// emulator answering every call in 50 ms. TestLoadSmoke is short and checks
// only what does not depend on the machine's speed; BenchmarkLoad measures
// (docs/performance.md has the command and the numbers).
package load

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.uber.org/goleak"
)

var (
	benchRate     = flag.Int("load.rate", 1000, "requests per second of each paced attack in BenchmarkLoad")
	benchDuration = flag.Duration("load.duration", 5*time.Second, "length of each attack in BenchmarkLoad")
	benchWorkers  = flag.Uint64("load.workers", 16, "workers (connections) of the as-fast-as-possible attack in BenchmarkLoad")
)

// dmsLatency is how long the emulator takes to answer each DMS call.
const dmsLatency = 50 * time.Millisecond

// functionBinary is the function built once for the package's tests.
var functionBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "load-function-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "load test:", err)
		os.Exit(1)
	}
	functionBinary = filepath.Join(dir, "main")
	build := exec.Command("go", "build", "-o", functionBinary, "github.com/dms-export-link/dms-export-link/function")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "load test: building the function: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// scenario is one attack: how many distinct tickets its requests go to,
// round-robin, and whether their URLs are cached before it starts.
type scenario struct {
	name      string
	tickets   int
	warm      bool
	fastest   bool // as fast as the workers go instead of a fixed rate
	unlimited bool // DMS_RATE_LIMIT=0 instead of the default
}

var scenarios = []scenario{
	{name: "tickets=1/cold", tickets: 1},
	{name: "tickets=1/warm", tickets: 1, warm: true},
	{name: "tickets=100/cold", tickets: 100},
	{name: "tickets=100/cold/rate-limit=off", tickets: 100, unlimited: true},
	{name: "tickets=100/warm", tickets: 100, warm: true},
	{name: "tickets=1/warm/fastest", tickets: 1, warm: true, fastest: true},
}

// rigs starts one function per DMS_RATE_LIMIT setting on first use, and
// stops them when the test or benchmark that owns them ends.
type rigs struct {
	owner testing.TB
	by    map[bool]*rig
}

func (rs *rigs) get(unlimited bool) *rig {
	rs.owner.Helper()
	if r := rs.by[unlimited]; r != nil {
		return r
	}
	var extra map[string]string
	if unlimited {
		extra = map[string]string{"DMS_RATE_LIMIT": "0"}
	}
	if rs.by == nil {
		rs.by = map[bool]*rig{}
	}
	rs.by[unlimited] = startRig(rs.owner, dmsLatency, extra)
	return rs.by[unlimited]
}

// check fails tb unless every request was redirected, DMS was asked once
// per ticket on a cold cache and never on a warm one, and the request log
// accounts for every request with the matching cache field.
func check(tb testing.TB, sc scenario, o outcome) {
	tb.Helper()
	m := o.metrics
	if m.Requests == 0 || m.StatusCodes[strconv.Itoa(http.StatusFound)] != int(m.Requests) {
		tb.Errorf("not every request was redirected: %s", o.report())
	}
	wantCalls := min(sc.tickets, int(m.Requests))
	if sc.warm {
		wantCalls = 0
	}
	if o.dmsCalls != wantCalls || o.cache["miss"] != int64(wantCalls) {
		tb.Errorf("DMS calls %d, cache misses %d, want %d each: %s", o.dmsCalls, o.cache["miss"], wantCalls, o.report())
	}
	if got := o.cache["hit"] + o.cache["miss"] + o.cache["shared"]; got != int64(m.Requests) || o.cache["requests"] != int64(m.Requests) {
		tb.Errorf("request log lines %d, with a cache field %d, want %d each: %s", o.cache["requests"], got, m.Requests, o.report())
	}
}

// run prepares the scenario's tickets and attacks them.
func run(tb testing.TB, r *rig, sc scenario, pace vegeta.Rate, dur time.Duration, workers uint64) outcome {
	tb.Helper()
	targets := r.tickets(tb, sc.tickets)
	if sc.warm {
		r.warm(tb, targets)
	}
	if sc.fastest {
		pace = vegeta.Rate{}
	}
	return r.attack(tb, targets, pace, dur, workers)
}

// TestLoadSmoke runs every scenario for one second at 200 requests per
// second; CI runs it, and it asserts counts, never times.
func TestLoadSmoke(t *testing.T) {
	rs := rigs{owner: t}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			o := run(t, rs.get(sc.unlimited), sc, vegeta.Rate{Freq: 200, Per: time.Second}, time.Second, 4)
			check(t, sc, o)
			t.Log(o.report())
		})
	}
}

// BenchmarkLoad attacks each scenario for -load.duration at -load.rate
// requests per second (the fastest one with -load.workers connections) and
// reports throughput, p50 and p99 latency, and DMS calls per 1000 requests.
// Each iteration is one whole attack on fresh tickets: run it with
// -benchtime=1x and -count for several samples.
func BenchmarkLoad(b *testing.B) {
	rs := rigs{owner: b}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			r := rs.get(sc.unlimited)
			var throughput, p50, p99, calls float64
			for range b.N {
				o := run(b, r, sc, vegeta.Rate{Freq: *benchRate, Per: time.Second}, *benchDuration, *benchWorkers)
				check(b, sc, o)
				b.Log(o.report())
				throughput += o.metrics.Throughput
				p50 += float64(o.metrics.Latencies.P50) / float64(time.Millisecond)
				p99 += float64(o.metrics.Latencies.P99) / float64(time.Millisecond)
				calls += o.callsPer1000()
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op") // one op is one whole attack: not a useful number
			b.ReportMetric(throughput/n, "req/s")
			b.ReportMetric(p50/n, "p50-ms")
			b.ReportMetric(p99/n, "p99-ms")
			b.ReportMetric(calls/n, "dms-calls/1000req")
		})
	}
}
