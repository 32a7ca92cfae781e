package scaling

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var benchClicks = flag.Int("scaling.clicks", 200, "concurrent clicks of each burst in BenchmarkBurst")

// burstCase is one row of the burst table.
type burstCase struct {
	custom  bool // s.custom.yaml's runtime (50 requests per instance) instead of go1
	limit   int  // FC's instance limit for the function
	tickets int  // the clicks go round-robin over this many links
	state   string
}

func (c burstCase) String() string {
	runtime := "go1"
	if c.custom {
		runtime = "custom"
	}
	return fmt.Sprintf("%s/instances<=%d/tickets=%d/state=%s", runtime, c.limit, c.tickets, c.state)
}

// BenchmarkBurst sends -scaling.clicks clicks at once to a function FC has not started yet,
// as go1 (one request per instance) or as the custom runtime (50 per instance), with each
// instance's memory or Redis as the state, and reports, per burst: instances started, DMS calls, and the clicks' p50 and p99 latency
// from the burst's start (cold starts and waits for a free instance included). DMS answers
// every call in 50 ms. One op is one whole burst on fresh instances and tickets: run it with
// -benchtime=1x.
func BenchmarkBurst(b *testing.B) {
	var cases []burstCase
	for _, limit := range []int{20, 100} {
		for _, tickets := range []int{1, 100} {
			for _, state := range states {
				cases = append(cases, burstCase{limit: limit, tickets: tickets, state: state})
			}
		}
	}
	for _, tickets := range []int{1, 100} {
		for _, state := range states {
			cases = append(cases, burstCase{custom: true, limit: 20, tickets: tickets, state: state})
		}
	}
	for _, c := range cases {
		b.Run(c.String(), func(b *testing.B) {
			var instances, calls, p50, p99 float64
			for range b.N {
				r := newRig(b)
				p := r.pool(b, poolOptions{custom: c.custom, maxInstances: c.limit, env: stateEnv(b, c.state)})
				o := burst(b, r, p, r.tickets(b, c.tickets), *benchClicks)
				for _, cl := range o.clicks {
					if cl.status != 302 {
						b.Fatalf("a click answered %d, want 302", cl.status)
					}
				}
				instances += float64(o.instances)
				calls += float64(o.dmsCalls)
				p50 += float64(o.percentile(0.5)) / float64(time.Millisecond)
				p99 += float64(o.percentile(0.99)) / float64(time.Millisecond)
				if err := p.Close(); err != nil {
					b.Errorf("closing the pool: %v", err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op") // one op is one whole burst: not a useful number
			b.ReportMetric(instances/n, "instances")
			b.ReportMetric(calls/n, "dms-calls")
			b.ReportMetric(p50/n, "p50-ms")
			b.ReportMetric(p99/n, "p99-ms")
		})
	}
}
