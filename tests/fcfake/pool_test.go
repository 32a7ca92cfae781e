package fcfake

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// customEcho mirrors testdata/customfn's answer.
type customEcho struct {
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	FCHeaders   map[string]string `json:"fcHeaders"`
	Initialized bool              `json:"initialized"`
}

// startPool starts a pool closed at the end of the test; a failed test shows every
// instance's output.
func startPool(t *testing.T, o PoolOptions) *Pool {
	t.Helper()
	o.LogDir = t.TempDir()
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	o.Credentials = testCredentials
	p, err := StartPool(o)
	if err != nil {
		t.Fatalf("StartPool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			for _, in := range p.Stats().Instances {
				out, _ := os.ReadFile(in.LogPath)
				t.Logf("instance %d output:\n%s", in.ID, out)
			}
		}
	})
	return p
}

// active is how many requests the pool's instances hold.
func active(p *Pool) int {
	n := 0
	for _, in := range p.Stats().Instances {
		n += in.Active
	}
	return n
}

// waitActive polls until the pool's instances hold n requests.
func waitActive(t *testing.T, p *Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); active(p) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("instances hold %d requests, want %d", active(p), n)
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

// hold sends GET target in the background and returns once an instance holds it; wait
// returns its answer.
func hold(t *testing.T, p *Pool, c *http.Client, target string) (wait func() reply) {
	t.Helper()
	before := active(p)
	done := make(chan reply, 1)
	errc := make(chan error, 1)
	go func() {
		res, err := c.Get(p.FrontURL() + target)
		if err != nil {
			errc <- err
			return
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			errc <- err
			return
		}
		done <- reply{status: res.StatusCode, header: res.Header, body: body}
	}()
	waitActive(t, p, before+1)
	return func() reply {
		t.Helper()
		select {
		case r := <-done:
			return r
		case err := <-errc:
			t.Fatalf("GET %s: %v", target, err)
			return reply{}
		}
	}
}

func requests(s Stats) []int {
	var n []int
	for _, in := range s.Instances {
		n = append(n, in.Requests)
	}
	return n
}

func TestPoolGo1OneRequestPerInstance(t *testing.T) {
	t.Parallel()
	p := startPool(t, PoolOptions{Command: []string{echoBinary}, MaxInstances: 3, Initializer: true})
	client := newClient(t)

	slow := hold(t, p, client, "/sleep?ms=2000")
	// Instance 1 is busy, so this request starts instance 2, whose initializer runs first.
	e := decodeEcho(t, get(t, client, p.FrontURL()+"/second"))
	if !e.Initialized {
		t.Error("the new instance served a request before its initializer")
	}
	if got, want := str(e.Event.TriggerContext.Http.Path), "/second"; got != want {
		t.Errorf("event path = %q, want %q", got, want)
	}
	if got := len(p.Stats().Instances); got != 2 {
		t.Errorf("instances = %d while one was busy, want 2", got)
	}
	if r := slow(); r.status != http.StatusOK {
		t.Fatalf("slow request: status %d: %s", r.status, r.body)
	}
	waitActive(t, p, 0)

	// Idle instances are reused: no third instance.
	decodeEcho(t, get(t, client, p.FrontURL()+"/third"))
	s := p.Stats()
	if got, want := requests(s), []int{2, 1}; !slices.Equal(got, want) {
		t.Errorf("requests per instance = %v, want %v", got, want)
	}
	if got, want := len(s.Latencies), 3; got != want {
		t.Errorf("latencies recorded = %d, want %d", got, want)
	}

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, in := range s.Instances {
		if err := syscall.Kill(in.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("instance %d (pid %d) after Close: kill -0 = %v, want ESRCH", in.ID, in.Pid, err)
		}
	}
}

func TestPoolAtLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		throttle bool
	}{{"throttle", true}, {"queue", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startPool(t, PoolOptions{Command: []string{echoBinary}, MaxInstances: 1, Throttle: tc.throttle})
			client := newClient(t)
			slow := hold(t, p, client, "/sleep?ms=1500")
			r := get(t, client, p.FrontURL()+"/next")
			if tc.throttle {
				var doc struct{ ErrorCode string }
				_ = json.Unmarshal(r.body, &doc)
				if r.status != http.StatusTooManyRequests || r.header.Get("X-Fc-Error-Type") == "" || doc.ErrorCode != "ResourceExhausted" {
					t.Errorf("at the limit: status %d, X-Fc-Error-Type %q, body %s; want FC's 429 ResourceExhausted",
						r.status, r.header.Get("X-Fc-Error-Type"), r.body)
				}
			} else if r.status != http.StatusOK {
				t.Errorf("queued request: status %d: %s", r.status, r.body)
			}
			if r := slow(); r.status != http.StatusOK {
				t.Errorf("slow request: status %d", r.status)
			}
			s := p.Stats()
			wantRequests, wantThrottled := []int{2}, 0
			if tc.throttle {
				wantRequests, wantThrottled = []int{1}, 1
			}
			if got := requests(s); !slices.Equal(got, wantRequests) || s.Throttled != wantThrottled {
				t.Errorf("requests per instance %v, throttled %d; want %v, %d", got, s.Throttled, wantRequests, wantThrottled)
			}
		})
	}
}

func TestPoolProvisioned(t *testing.T) {
	t.Parallel()
	p := startPool(t, PoolOptions{Command: []string{echoBinary}, MaxInstances: 2, Provisioned: 2, Initializer: true})
	if got := len(p.Stats().Instances); got != 2 {
		t.Fatalf("instances before any request = %d, want 2", got)
	}
	client := newClient(t)
	for range 2 {
		if e := decodeEcho(t, get(t, client, p.FrontURL()+"/")); !e.Initialized {
			t.Error("a provisioned instance served a request before its initializer")
		}
	}
	// Idle instances take turns, so two requests in a row reach both.
	if got, want := requests(p.Stats()), []int{1, 1}; !slices.Equal(got, want) {
		t.Errorf("requests per instance = %v, want %v", got, want)
	}
}

func TestPoolCustomRuntime(t *testing.T) {
	t.Parallel()
	p := startPool(t, PoolOptions{
		Kind: Custom, Command: []string{customBinary, "-addr", "0.0.0.0:{port}"},
		MaxInstances: 2, InstanceConcurrency: 2, Initializer: true,
	})
	client := newClient(t)
	first := hold(t, p, client, "/sleep?ms=2000")
	second := hold(t, p, client, "/sleep?ms=2000")
	if got := len(p.Stats().Instances); got != 1 {
		t.Errorf("instances for two requests at instance concurrency 2 = %d, want 1", got)
	}

	req, err := http.NewRequest(http.MethodGet, p.FrontURL()+"/third?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Fc-Access-Key-Id", "injected-by-the-client")
	req.Header.Set("X-Fc-Request-Id", "injected-by-the-client")
	r := do(t, client, req)
	if r.status != http.StatusOK {
		t.Fatalf("third request: status %d: %s", r.status, r.body)
	}
	var e customEcho
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decoding the echo: %v: %s", err, r.body)
	}
	if !e.Initialized || e.Path != "/third" {
		t.Errorf("echo = %+v, want an initialized instance serving /third", e)
	}
	want := map[string]string{
		"x-fc-request-id":        r.header.Get("X-Fc-Request-Id"),
		"x-fc-access-key-id":     testCredentials.AccessKeyID,
		"x-fc-access-key-secret": testCredentials.AccessKeySecret,
		"x-fc-security-token":    testCredentials.SecurityToken,
		"x-fc-function-name":     DefaultFunctionName,
		"x-fc-region":            DefaultRegion,
		"x-fc-account-id":        DefaultAccountID,
		"x-fc-control-path":      "/http-invoke",
	}
	for k, v := range want {
		if got := e.FCHeaders[k]; got != v || v == "" || v == "injected-by-the-client" {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, wait := range []func() reply{first, second} {
		if r := wait(); r.status != http.StatusOK {
			t.Errorf("slow request: status %d", r.status)
		}
	}
	if got, want := requests(p.Stats()), []int{2, 1}; !slices.Equal(got, want) {
		t.Errorf("requests per instance = %v, want %v", got, want)
	}
}

func TestPoolCustomRuntimeOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	p := startPool(t, PoolOptions{Kind: Custom, Command: []string{customBinary, "-addr", "127.0.0.1:{port}"}})
	r := get(t, newClient(t), p.FrontURL()+"/")
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Fc-Error-Type") == "" {
		t.Errorf("status %d, X-Fc-Error-Type %q; want FC's 503", r.status, r.header.Get("X-Fc-Error-Type"))
	}
	if s := p.Stats(); len(s.Instances) != 1 || !s.Instances[0].Failed {
		t.Errorf("instances = %+v, want one that failed to start", s.Instances)
	}
}

func TestStartPoolNeedsCommand(t *testing.T) {
	t.Parallel()
	if _, err := StartPool(PoolOptions{LogDir: t.TempDir()}); err == nil {
		t.Error("StartPool without a Command: no error")
	}
}
