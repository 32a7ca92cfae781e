// Package scaling runs the binary `make build` produces as Function Compute 3.0 scales it
// (tests/fcfake's Pool: every go1 instance its own process, one request at a time, a new
// instance when all are busy) against the DMS emulator, and counts what a burst of clicks
// costs: instances started, DMS calls, latencies. The tests assert what must hold whatever
// the machine's speed; BenchmarkBurst measures (docs/performance.md has the command and the
// numbers).
package scaling

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/notify/robotfake"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"github.com/dms-export-link/dms-export-link/tests/fcfake"
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

// TestBurstInMemory is the deployment without shared state: 200 clicks on one link at once
// over up to 20 and 100 go1 instances, and over up to 20 custom-runtime instances serving 50
// requests each. Every click is redirected, and every instance asks DMS once, since each
// starts with an empty cache.
func TestBurstInMemory(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    poolOptions
	}{
		{"go1/instances<=20", poolOptions{maxInstances: 20}},
		{"go1/instances<=100", poolOptions{maxInstances: 100}},
		{"custom/instances<=20", poolOptions{maxInstances: 20, custom: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			p := r.pool(t, tc.o)
			o := burst(t, r, p, r.tickets(t, 1), 200)
			wantRedirects(t, o)
			if o.instances < 1 || o.instances > tc.o.maxInstances {
				t.Errorf("instances started = %d, want 1..%d", o.instances, tc.o.maxInstances)
			}
			if o.dmsCalls != o.instances {
				t.Errorf("DMS calls = %d, want one per instance (%d): each instance's first click misses its own cache", o.dmsCalls, o.instances)
			}
			if lines, memory := requestLines(output(t, p), `"state":"memory"`); lines != 200 || memory != 200 {
				t.Errorf("request log lines = %d, %d of them with state memory; want 200 each", lines, memory)
			}
			t.Logf("200 clicks, 1 ticket, %s, memory: instances %d, DMS calls %d, distinct Locations %d, p50 %v, p99 %v",
				tc.name, o.instances, o.dmsCalls, len(o.locations()), o.percentile(0.5), o.percentile(0.99))
		})
	}
}

// wantRedirects fails the test unless every click was redirected.
func wantRedirects(t *testing.T, o outcome) {
	t.Helper()
	for _, c := range o.clicks {
		if c.status != 302 || c.location == "" {
			t.Fatalf("a click answered %d (Location %q), want a 302", c.status, c.location)
		}
	}
}

// TestBurstSharedState: with Redis, 200 clicks on one link over up to 20 instances reach DMS
// once and all get the same URL; a second swarm of fresh instances does not reach DMS at all.
func TestBurstSharedState(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newRig(t)
	env := redisEnv(srv, sharedTimeout)
	targets := r.tickets(t, 1)

	var first string
	for swarm, wantCalls := range []int{1, 0} {
		p := r.pool(t, poolOptions{maxInstances: 20, env: env})
		o := burst(t, r, p, targets, 200)
		wantRedirects(t, o)
		locations := o.locations()
		if first == "" {
			for l := range locations {
				first = l
			}
		}
		if o.dmsCalls != wantCalls || len(locations) != 1 || locations[first] != 200 {
			t.Errorf("swarm %d over %d new instances: DMS calls %d, Locations %d (%d the first swarm's); want %d call, 1 Location, 200 the first swarm's",
				swarm+1, o.instances, o.dmsCalls, len(locations), locations[first], wantCalls)
		}
		if lines, redis := requestLines(output(t, p), `"state":"redis"`); lines != 200 || redis != 200 {
			t.Errorf("swarm %d: request log lines = %d, %d of them with state redis; want 200 each", swarm+1, lines, redis)
		}
		t.Logf("swarm %d: 200 clicks, 1 ticket, instances<=20, redis: instances %d, DMS calls %d, p50 %v, p99 %v",
			swarm+1, o.instances, o.dmsCalls, o.percentile(0.5), o.percentile(0.99))
		if err := p.Close(); err != nil {
			t.Fatalf("closing swarm %d: %v", swarm+1, err)
		}
	}
}

// TestWebhookOnTwoInstances delivers one DMS webhook twice, FC retrying it on another
// instance: with Redis the robot gets one message, with each instance's memory two.
func TestWebhookOnTwoInstances(t *testing.T) {
	for _, tc := range []struct {
		state        string
		wantMessages int
	}{{"redis", 1}, {"memory", 2}} {
		t.Run("state="+tc.state, func(t *testing.T) {
			r := newRig(t)
			robotSecret, webhookToken := "SEC"+secrettest.Random(40), "hook-"+secrettest.Random(24)
			robot := robotfake.NewDingTalk(t, robotSecret)
			r.secrets = append(r.secrets, robotSecret, webhookToken, robot.Token())
			env := []string{"DINGTALK_ROBOT_URL=" + robot.URL(), "DINGTALK_ROBOT_SECRET=" + robotSecret, "DMS_WEBHOOK_TOKEN=" + webhookToken,
				"ALLOW_HTTP_LOOPBACK_DOWNLOADS=true",          // the robot fake is plain http on loopback
				"PUBLIC_BASE_URL=https://exports.example.com"} // announcements mint links
			if tc.state == "redis" {
				env = append(env, redisEnv(redistest.Start(t, redistest.Options{}), sharedTimeout)...)
			}
			r.tickets(t, 1)
			order := r.nextID
			// Two idle instances take turns, so the two deliveries reach both.
			p := r.pool(t, poolOptions{maxInstances: 2, provisioned: 2, env: env})
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for range 2 {
				body := dmsEvent(order)
				req, err := http.NewRequest(http.MethodPost, p.FrontURL()+"/webhooks/dms?token="+webhookToken, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("webhook: %v", err)
				}
				got, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Fatalf("webhook: %v", err)
				}
				if err := contract.Check(req, []byte(body), res, got); err != nil || res.StatusCode >= 300 {
					t.Errorf("webhook answered %d: %s (%v)", res.StatusCode, got, err)
				}
			}
			if got := requestsPerInstance(p); !slices.Equal(got, []int{1, 1}) {
				t.Fatalf("deliveries per instance = %v, want [1 1]", got)
			}
			if got := len(robot.Messages()); got != tc.wantMessages {
				t.Errorf("robot messages = %d, want %d", got, tc.wantMessages)
			}
		})
	}
}

func requestsPerInstance(p *fcfake.Pool) []int {
	var n []int
	for _, in := range p.Stats().Instances {
		n = append(n, in.Requests)
	}
	return n
}

// dmsEvent is a DMS Message Hook notification that an export finished.
func dmsEvent(order int64) string {
	return fmt.Sprintf(`{"messageEvent":{"submitterUid":"2712345678","submitterName":"Zhang San","category":"Tickets",`+
		`"module":"Data Export","event":"Succeeded","taskId":%d,"taskName":"orders Q4","eventTime":%d,`+
		`"message":"Dear DMS user","targetUsers":[{"uid":"27001","name":"Li Si"}],"receivers":[{"uid":27002,"name":"Wang Wu"}]},`+
		`"signatureMethod":"None","signatureText":""}`, order, time.Now().UnixMilli()) // fresh: older events are stale
}

// TestRedisFailsMidBurst kills Redis, or freezes it (SIGSTOP), while a burst waits for DMS:
// every click still gets its 302 from the function (not FC's timeout), and the clicks that
// met the failure are logged degraded.
func TestRedisFailsMidBurst(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(*redistest.Server)
	}{
		{"killed", (*redistest.Server).Kill},
		{"frozen", (*redistest.Server).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{})
			r := newRig(t)
			// A slow DMS keeps the burst in flight while Redis fails.
			r.env.Gateway.SetFault(dmsfake.Fault{Latency: time.Second})
			targets := r.tickets(t, 1)
			p := r.pool(t, poolOptions{maxInstances: 20, env: redisEnv(srv, "")})
			done := make(chan outcome, 1)
			go func() { done <- burst(t, r, p, targets, 200) }()
			for deadline := time.Now().Add(time.Minute); r.env.Gateway.Calls() == 0; {
				if time.Now().After(deadline) {
					t.Fatal("no DMS call within a minute of the burst's start")
				}
				time.Sleep(time.Millisecond) // polling interval
			}
			tc.fail(srv)
			o := <-done
			wantRedirects(t, o)
			lines, degraded := requestLines(output(t, p), `"state":"degraded"`)
			if lines != 200 || degraded == 0 {
				t.Errorf("request log lines = %d, %d of them degraded; want 200, some degraded", lines, degraded)
			}
			t.Logf("Redis %s mid-burst: instances %d, DMS calls %d, degraded %d, p50 %v, p99 %v",
				tc.name, o.instances, o.dmsCalls, degraded, o.percentile(0.5), o.percentile(0.99))
		})
	}
}

// sharedTimeout is the REDIS_TIMEOUT of the tests that count DMS calls with Redis. With the
// default 50ms, a cold instance's first Redis operation (which dials the server) can miss
// its deadline when 20 processes start at once on a loaded 2-core machine; that instance
// then falls back to its memory and asks DMS itself, as it should.
const sharedTimeout = "1s"

// redisEnv points the function at srv; timeout "" keeps the default REDIS_TIMEOUT.
func redisEnv(srv *redistest.Server, timeout string) []string {
	env := []string{"REDIS_URL=" + srv.URL}
	if timeout != "" {
		env = append(env, "REDIS_TIMEOUT="+timeout)
	}
	return env
}

// states are the state backends a burst is measured with: each instance's memory, Redis
// with REDIS_TIMEOUT=1s, and Redis with the default 50ms.
var states = []string{"memory", "redis", "redis-50ms"}

// stateEnv is the function's environment for a state backend.
func stateEnv(tb testing.TB, state string) []string {
	tb.Helper()
	switch state {
	case "memory":
		return nil
	case "redis":
		return redisEnv(redistest.Start(tb, redistest.Options{}), sharedTimeout)
	case "redis-50ms":
		return redisEnv(redistest.Start(tb, redistest.Options{}), "")
	}
	tb.Fatalf("unknown state %q", state)
	return nil
}
