// Package scaling runs the binary `make build` produces as Function Compute 3.0 scales it
// (tests/fcfake's Pool: every go1 instance its own process, one request at a time, a new
// instance when all are busy) against the DMS emulator, and counts what a burst of clicks
// costs: instances started, DMS calls, latencies. The tests assert what must hold whatever
// the machine's speed; BenchmarkBurst measures (docs/performance.md has the command and the
// numbers).
package scaling

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
)

// Built once by TestMain.
var (
	binary   string                // the function, built by `make build`
	contract *contracttest.Checker // openapi.yaml
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "scaling-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		return 1
	}
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "build", "TARGET="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "scaling: make build: %v\n%s", err, out)
		return 1
	}
	binary = filepath.Join(dir, "main")
	if contract, err = contracttest.New(); err != nil {
		fmt.Fprintln(os.Stderr, "scaling:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "scaling: leaked goroutines:", err)
			return 1
		}
	}
	return code
}

func errFC(errType string, status int, body []byte) error {
	return fmt.Errorf("answered by FC (%s, status %d), not the function: %s", errType, status, body)
}

// requestLines counts the instances' request log lines, and those with the given fragment.
func requestLines(out, fragment string) (lines, with int) {
	for line := range strings.Lines(out) {
		if strings.Contains(line, `"msg":"request"`) {
			lines++
			if strings.Contains(line, fragment) {
				with++
			}
		}
	}
	return lines, with
}

// TestBurstInMemory is today's deployment: no shared state. 200 clicks on one link at once,
// over up to 20 and up to 100 instances: every click is redirected, and every instance asks
// DMS once, since each starts with an empty cache.
func TestBurstInMemory(t *testing.T) {
	for _, limit := range []int{20, 100} {
		t.Run(fmt.Sprintf("instances<=%d", limit), func(t *testing.T) {
			r := newRig(t)
			p := r.pool(t, poolOptions{maxInstances: limit})
			o := burst(t, r, p, r.tickets(t, 1), 200)
			for _, c := range o.clicks {
				if c.status != 302 || c.location == "" {
					t.Fatalf("a click answered %d (Location %q), want a 302", c.status, c.location)
				}
			}
			if o.instances < 1 || o.instances > limit {
				t.Errorf("instances started = %d, want 1..%d", o.instances, limit)
			}
			if o.dmsCalls != o.instances {
				t.Errorf("DMS calls = %d, want one per instance (%d): each instance's first click misses its own cache", o.dmsCalls, o.instances)
			}
			if lines, _ := requestLines(output(t, p), ""); lines != 200 {
				t.Errorf("request log lines = %d, want 200", lines)
			}
			t.Logf("200 clicks, 1 ticket, instances<=%d, memory: instances %d, DMS calls %d, distinct Locations %d, p50 %v, p99 %v",
				limit, o.instances, o.dmsCalls, len(o.locations()), o.percentile(0.5), o.percentile(0.99))
		})
	}
}

// states are the state backends a burst is measured with.
var states = []string{"memory"}

// stateEnv is the function's environment for a state backend.
func stateEnv(tb testing.TB, state string) []string {
	tb.Helper()
	switch state {
	case "memory":
		return nil
	}
	tb.Fatalf("unknown state %q", state)
	return nil
}
