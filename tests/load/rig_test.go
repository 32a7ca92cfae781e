package load

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
)

const tenant = 3000

// rig is the function's own binary serving locally, configured through its
// environment as in production, against the DMS emulator and fake OSS.
type rig struct {
	env    *dmsfake.Env
	base   string // http://127.0.0.1:port of the function
	signer *links.Signer
	tally  *tally
	nextID int64 // next fresh ticket id
	sent   int64 // requests answered so far, each of which logs one line
}

// startRig starts the emulator with every DMS call delayed by dmsLatency,
// then the function with extra environment variables on top of the rig's.
func startRig(tb testing.TB, dmsLatency time.Duration, extra map[string]string) *rig {
	tb.Helper()
	ak, secret, token := "LTAI"+randText(8), randText(24), "CAIS"+randText(32)
	env, err := dmsfake.Start(dmsfake.Options{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: token, DefaultTid: tenant},
		dmsfake.OSSOptions{Bucket: "dms-idb-load", AccessKeyID: "LTAIoss" + randText(6), AccessKeySecret: randText(20)})
	if err != nil {
		tb.Fatalf("start emulator: %v", err)
	}
	tb.Cleanup(env.Close)
	env.Gateway.SetFault(dmsfake.Fault{Latency: dmsLatency})

	key := links.Key{ID: "k1", Secret: []byte(randText(32))}
	vars := map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     ak,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    token,
		"DMS_ENDPOINT":                    env.DMSHost,
		"DMS_SCHEME":                      "http",
		"DMS_TID":                         strconv.Itoa(tenant),
		"LINK_KEYS":                       key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
	}
	for k, v := range extra {
		vars[k] = v
	}
	cmd := exec.Command(functionBinary, "-addr", "127.0.0.1:0")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start the function: %v", err)
	}
	r := &rig{env: env, signer: &links.Signer{Keys: []links.Key{key}, MaxTTL: 30 * 24 * time.Hour},
		tally: &tally{}, nextID: 9_000_000}
	addr := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		r.tally.read(stdout, addr)
	}()
	tb.Cleanup(func() {
		// SIGINT is the function's graceful shutdown; the reader ends at EOF.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-readDone:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-readDone
		}
		if err := cmd.Wait(); err != nil {
			tb.Errorf("the function exited with %v", err)
		}
	})
	select {
	case a := <-addr:
		r.base = "http://" + a
	case <-readDone:
		tb.Fatalf("the function exited before listening")
	case <-time.After(30 * time.Second):
		tb.Fatalf("the function did not log its address within 30s")
	}
	r.waitHealthy(tb)
	return r
}

// waitHealthy polls /healthz until it answers 200.
func (r *rig) waitHealthy(tb testing.TB) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := client.Get(r.base + "/healthz")
		if err == nil {
			r.sent++
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the function is not healthy after 30s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tickets puts n ready tickets never asked for before, so their first
// requests meet a cold cache, and returns a signed link to each.
func (r *rig) tickets(tb testing.TB, n int) []vegeta.Target {
	tb.Helper()
	targets := make([]vegeta.Target, n)
	for i := range targets {
		r.nextID++
		id := r.nextID
		r.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: id, State: dmsfake.StateReady, File: []byte("id\n1\n")})
		q, err := r.signer.Sign(links.Claims{OrderID: id, Expires: time.Now().Add(24 * time.Hour)})
		if err != nil {
			tb.Fatalf("sign: %v", err)
		}
		targets[i] = vegeta.Target{Method: http.MethodGet, URL: r.base + "/exports/" + strconv.FormatInt(id, 10) + "/download?" + q.Encode()}
	}
	return targets
}

// warm asks once for each target, so the function caches every URL.
func (r *rig) warm(tb testing.TB, targets []vegeta.Target) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	for _, t := range targets {
		res, err := client.Get(t.URL)
		if err != nil {
			tb.Fatalf("warm-up: %v", err)
		}
		r.sent++
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusFound {
			tb.Fatalf("warm-up: status %d", res.StatusCode)
		}
	}
}

// outcome is one attack's result.
type outcome struct {
	metrics  vegeta.Metrics
	dmsCalls int
	cache    map[string]int64 // the request log's cache field, per value
}

// callsPer1000 is DMS calls per 1000 requests.
func (o outcome) callsPer1000() float64 {
	if o.metrics.Requests == 0 {
		return 0
	}
	return float64(o.dmsCalls) * 1000 / float64(o.metrics.Requests)
}

// attack runs one vegeta attack at pace for dur, round-robin over targets
// (a zero pace means as fast as workers allow), and waits for the
// function's log line of every request.
func (r *rig) attack(tb testing.TB, targets []vegeta.Target, pace vegeta.Rate, dur time.Duration, workers uint64) outcome {
	tb.Helper()
	transport := &http.Transport{MaxIdleConnsPerHost: 10000}
	defer transport.CloseIdleConnections()
	opts := []func(*vegeta.Attacker){
		vegeta.Client(&http.Client{Transport: transport, Timeout: 30 * time.Second}),
		vegeta.Redirects(vegeta.NoFollow),
	}
	if pace.Freq == 0 {
		// As fast as possible needs a bounded number of workers.
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers))
	}
	atk := vegeta.NewAttacker(opts...)
	r.settle(tb)
	callsBefore, logsBefore := r.env.Gateway.Calls(), r.tally.snapshot()
	var m vegeta.Metrics
	for res := range atk.Attack(vegeta.NewStaticTargeter(targets...), pace, dur, "load") {
		m.Add(res)
		if res.Code != 0 {
			r.sent++
		}
	}
	m.Close()
	r.settle(tb)
	return outcome{metrics: m, dmsCalls: r.env.Gateway.Calls() - callsBefore, cache: r.tally.snapshot().minus(logsBefore)}
}

// settle waits until the function has logged a line for every request
// answered so far, so a tally belongs to one attack.
func (r *rig) settle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.tally.snapshot()["requests"] < r.sent {
		if time.Now().After(deadline) {
			tb.Fatalf("the function logged %d request lines, want %d", r.tally.snapshot()["requests"], r.sent)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tally counts the function's request log lines by cache field, with a
// substring test per line so reading keeps up with the server.
type tally struct {
	mu     sync.Mutex
	counts counts
}

type counts map[string]int64

func (c counts) minus(before counts) counts {
	out := counts{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}

var cacheValues = []string{"hit", "miss", "shared"}

func (t *tally) read(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	listening := false
	for sc.Scan() {
		line := sc.Bytes()
		if !listening && bytes.Contains(line, []byte(`"msg":"listening"`)) {
			var l struct{ Addr string }
			if json.Unmarshal(line, &l) == nil && l.Addr != "" {
				listening = true
				addr <- l.Addr
			}
			continue
		}
		if !bytes.Contains(line, []byte(`"msg":"request"`)) {
			continue
		}
		t.mu.Lock()
		if t.counts == nil {
			t.counts = counts{}
		}
		t.counts["requests"]++
		for _, v := range cacheValues {
			if bytes.Contains(line, []byte(`"cache":"`+v+`"`)) {
				t.counts[v]++
			}
		}
		t.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (t *tally) snapshot() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := counts{}
	for k, v := range t.counts {
		out[k] = v
	}
	return out
}

// report is one line for the benchmark log and docs/performance.md.
func (o outcome) report() string {
	m := o.metrics
	return fmt.Sprintf("requests=%d rate=%.0f/s throughput=%.0f/s p50=%v p99=%v max=%v success=%.1f%% dms-calls=%d (%.2f per 1000) cache=%v codes=%v errors=%v",
		m.Requests, m.Rate, m.Throughput, m.Latencies.P50.Round(10*time.Microsecond), m.Latencies.P99.Round(10*time.Microsecond),
		m.Latencies.Max.Round(time.Millisecond), m.Success*100, o.dmsCalls, o.callsPer1000(), map[string]int64(o.cache), m.StatusCodes, m.Errors[:min(len(m.Errors), 3)])
}

func randText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
