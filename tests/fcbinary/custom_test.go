package fcbinary

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"github.com/dms-export-link/dms-export-link/tests/fcfake"
)

// customTemplate is what s.custom.yaml tells FC to run.
// customTemplate is s.custom.yaml's customRuntimeConfig.
type customTemplate struct {
	command []string
	args    []string
	port    int
}

// readCustomTemplate parses s.custom.yaml's customRuntimeConfig.
func readCustomTemplate(tb testing.TB) customTemplate {
	tb.Helper()
	c, err := fcfake.ReadCustomRuntimeConfig(filepath.Join("..", "..", "s.custom.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return customTemplate{command: c.Command, args: c.Args, port: c.Port}
}

// argv is the template's command line with the code directory (/code, where
// FC mounts ./target) mapped to the binary make build wrote, and the port of
// -addr replaced by 0, so the kernel picks a free one. It fails if the
// template's command is not the built executable or -addr is not the
// 0.0.0.0:<port> FC requires.
func (c customTemplate) argv(tb testing.TB) []string {
	tb.Helper()
	if len(c.command) != 1 || c.command[0] != "/code/"+filepath.Base(binary) {
		tb.Fatalf("s.custom.yaml command %q, want [/code/%s], the executable make build writes into ./target", c.command, filepath.Base(binary))
	}
	argv := []string{binary}
	found := false
	for i := 0; i < len(c.args); i++ {
		a := c.args[i]
		if a == "-addr" && i+1 < len(c.args) {
			if want := "0.0.0.0:" + strconv.Itoa(c.port); c.args[i+1] != want {
				tb.Fatalf("s.custom.yaml -addr %q, want %q (FC needs 0.0.0.0 and the configured port)", c.args[i+1], want)
			}
			argv = append(argv, a, "0.0.0.0:0")
			i++
			found = true
			continue
		}
		argv = append(argv, a)
	}
	if !found {
		tb.Fatalf("s.custom.yaml args %q do not set -addr", c.args)
	}
	return argv
}

// customStack is the built function started as FC's custom runtime starts
// it, with the DMS emulator behind it. Requests go straight to its port, as
// FC sends them, with FC's headers added by fcHeaders.
type customStack struct {
	tb      testing.TB
	closers []func()
	stopped sync.Once
	env     *dmsfake.Env
	cmd     *exec.Cmd
	exited  chan error // the process's exit, once
	logPath string
	base    string // http://127.0.0.1:<port>
	signer  *links.Signer
	creds   fcfake.Credentials // the role's: the emulator accepts them
	client  *http.Client
	secrets []string
	started time.Time // just before the process started
}

// startCustom starts the emulator and the binary, as s.custom.yaml says if
// args is nil, and waits until it listens.
func startCustom(tb testing.TB, args []string) *customStack {
	tb.Helper()
	s := &customStack{tb: tb, logPath: filepath.Join(tb.TempDir(), "function.log"), exited: make(chan error, 1)}
	tb.Cleanup(s.stop)
	s.creds, s.env = startEmulator(tb)
	s.closers = append(s.closers, s.env.Close)
	env := s.env
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderReady, State: dmsfake.StateReady, FileName: "export_5461234.csv", File: readyFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderSlow, State: dmsfake.StateReady, File: readyFile})
	env.Gateway.SetTicketFault(orderSlow, dmsfake.Fault{Latency: time.Second})

	key := links.Key{ID: "k1", Secret: []byte(secrettest.Random(40))}
	s.signer = &links.Signer{Keys: []links.Key{key}, MaxTTL: 30 * 24 * time.Hour}
	s.secrets = append(s.secrets, s.creds.AccessKeySecret, s.creds.SecurityToken, string(key.Secret), base64.StdEncoding.EncodeToString(key.Secret))

	logFile, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatalf("function log: %v", err)
	}
	s.closers = append(s.closers, func() { logFile.Close() })
	tr := env.OSSTransport()
	tr.MaxIdleConnsPerHost = 256
	s.client = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.closers = append(s.closers, tr.CloseIdleConnections)

	if args == nil {
		args = readCustomTemplate(tb).argv(tb)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	// No ALIBABA_CLOUD_* fallback: DMS credentials can only come from FC's
	// headers. The download host policy keeps its production defaults.
	s.cmd.Env = []string{
		"DMS_ENDPOINT=" + env.DMSHost,
		"DMS_SCHEME=http",
		"DMS_TID=" + strconv.Itoa(tenant),
		"LINK_KEYS=" + key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
	}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting the function: %v", err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	s.closers = append(s.closers, func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.exited <- nil
		s.checkOutput()
	})
	s.base = "http://" + s.listenAddr()
	return s
}

var listening = regexp.MustCompile(`"msg":"listening","addr":"[^"]*:(\d+)"`)

// listenAddr waits for the function's "listening" log line and returns the
// loopback address of the port it names.
func (s *customStack) listenAddr() string {
	s.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(s.output()); m != nil {
			return net.JoinHostPort("127.0.0.1", m[1])
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			s.tb.Fatalf("the function exited before listening: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	s.tb.Fatal("the function did not listen within 20s")
	return ""
}

func (s *customStack) stop() {
	s.stopped.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
}

func (s *customStack) output() string { return functionOutput(s.tb, s.logPath) }

func (s *customStack) checkOutput() { checkFunctionOutput(s.tb, s.output(), s.secrets) }

func (s *customStack) link(tb testing.TB, order int64) string {
	tb.Helper()
	q, err := s.signer.Sign(links.Claims{OrderID: order, Expires: week()})
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	s.secrets = append(s.secrets, q.Get(links.ParamSig))
	return "/exports/" + strconv.FormatInt(order, 10) + "/download?" + q.Encode()
}

// fcHeaders are the headers FC adds to a request for a custom runtime.
func fcHeaders(requestID string, c fcfake.Credentials) http.Header {
	return http.Header{
		"X-Fc-Request-Id":        {requestID},
		"X-Fc-Access-Key-Id":     {c.AccessKeyID},
		"X-Fc-Access-Key-Secret": {c.AccessKeySecret},
		"X-Fc-Security-Token":    {c.SecurityToken},
		"X-Fc-Function-Handler":  {"main"},
		"X-Fc-Function-Memory":   {"128"},
		"X-Fc-Region":            {"cn-hangzhou"},
		"X-Fc-Account-Id":        {"1234567890"},
		"X-Fc-Qualifier":         {"LATEST"},
	}
}

// send makes one request to the function's port, without following
// redirects.
func (s *customStack) send(tb testing.TB, method, target string, header http.Header) (*http.Request, *response) {
	tb.Helper()
	return send(tb, s.client, method, s.base+target, header, nil)
}

// do is send for the API's own paths: the answer is checked against openapi.yaml.
func (s *customStack) do(tb testing.TB, method, target string, header http.Header) *response {
	tb.Helper()
	req, res := s.send(tb, method, target, header)
	validate(tb, req, nil, res.Response, res.body)
	return res
}

// lifecycle sends one of FC's lifecycle calls. They are FC's protocol with
// the instance, not operations of openapi.yaml, so only their status counts.
func (s *customStack) lifecycle(tb testing.TB, method, path, requestID string) int {
	tb.Helper()
	_, res := s.send(tb, method, path, http.Header{"X-Fc-Request-Id": {requestID}})
	if len(res.body) != 0 && res.StatusCode < 300 {
		tb.Errorf("%s %s answered a body: %q", method, path, res.body)
	}
	return res.StatusCode
}

// TestCustomRuntimeBurst is the profile's promise: one initialized instance
// answers 200 concurrent clicks on one link with one DMS call, signed with
// the credentials FC sent in the request headers, and 200 identical 302s.
func TestCustomRuntimeBurst(t *testing.T) {
	t.Parallel()
	s := startCustom(t, nil)
	if got := s.lifecycle(t, http.MethodPost, "/initialize", "init-1"); got != http.StatusNoContent {
		t.Fatalf("initializer answered %d, want 204", got)
	}
	// FC's health check comes without FC's headers.
	if r := s.do(t, http.MethodGet, "/healthz", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("health check answered %d: %s", r.StatusCode, r.body)
	}

	const clicks = 200
	link := s.link(t, orderReady)
	results := make([]*response, clicks)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.do(t, http.MethodGet, link, fcHeaders(fmt.Sprintf("click-%03d", i), s.creds))
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	location := results[0].Header.Get("Location")
	if !strings.HasPrefix(location, s.env.OSSURL+"/export_5461234.csv?") {
		t.Fatalf("Location %q is not the ticket's file on the fake OSS", location)
	}
	for i, r := range results {
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != location {
			t.Errorf("click %d: %d to %q, want 302 to the first click's %q", i, r.StatusCode, r.Header.Get("Location"), location)
		}
		if got, want := r.Header.Get("X-Request-Id"), fmt.Sprintf("click-%03d", i); got != want {
			t.Errorf("click %d: X-Request-Id %q, want FC's %q", i, got, want)
		}
	}
	if got := s.env.Gateway.Calls(); got != 1 {
		t.Errorf("DMS calls = %d, want 1", got)
	}
	for _, c := range s.env.Gateway.LastCalls() {
		if c.AccessKeyID != s.creds.AccessKeyID || c.SecurityToken != s.creds.SecurityToken || c.Code != "" {
			t.Errorf("DMS saw AccessKeyId %q (token match %v, code %q), want the header credentials accepted",
				c.AccessKeyID, c.SecurityToken == s.creds.SecurityToken, c.Code)
		}
	}
	if out := s.output(); !strings.Contains(out, `"requestId":"click-199"`) {
		t.Error("the request log does not carry FC's request id")
	}
}

// TestCustomRuntimeUsesTheHeaderCredentials: credentials DMS does not know,
// sent by FC in the headers, are the ones the function signs with.
func TestCustomRuntimeUsesTheHeaderCredentials(t *testing.T) {
	t.Parallel()
	s := startCustom(t, nil)
	other := fcfake.Credentials{AccessKeyID: "STS." + secrettest.Random(12), AccessKeySecret: secrettest.Random(30), SecurityToken: "CAIS" + secrettest.Random(60)}
	s.secrets = append(s.secrets, other.AccessKeySecret, other.SecurityToken)
	r := s.do(t, http.MethodGet, s.link(t, orderReady), fcHeaders("wrong-creds-1", other))
	if r.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502 (DMS refuses the credentials): %s", r.StatusCode, r.body)
	}
	if p := r.problem(t); p.RequestID != "wrong-creds-1" {
		t.Errorf("problem requestId %q, want FC's", p.RequestID)
	}
	calls := s.env.Gateway.LastCalls()
	if len(calls) == 0 || calls[len(calls)-1].AccessKeyID != other.AccessKeyID {
		t.Errorf("DMS calls %+v, want one signed with the header's AccessKey id", calls)
	}
}

// TestCustomRuntimeBadFCHeaders: requests without FC's headers, or with
// broken ones, are 400 problems naming the header, and never reach DMS.
func TestCustomRuntimeBadFCHeaders(t *testing.T) {
	t.Parallel()
	s := startCustom(t, nil)
	link := s.link(t, orderReady)
	full := func() http.Header { return fcHeaders("bad-1", s.creds) }
	tests := []struct {
		name   string
		header http.Header
		names  string // the header the problem must name
	}{
		{"no FC headers", nil, "X-Fc-Request-Id"},
		{"no request id", func() http.Header { h := full(); h.Del("X-Fc-Request-Id"); return h }(), "X-Fc-Request-Id"},
		{"request id too long", func() http.Header { h := full(); h.Set("X-Fc-Request-Id", strings.Repeat("r", 200)); return h }(), "X-Fc-Request-Id"},
		{"secret missing", func() http.Header { h := full(); h.Del("X-Fc-Access-Key-Secret"); return h }(), "X-Fc-Access-Key-Secret"},
		{"key id missing", func() http.Header { h := full(); h.Del("X-Fc-Access-Key-Id"); return h }(), "X-Fc-Access-Key-Id"},
		{"retry count not a number", func() http.Header { h := full(); h.Set("X-Fc-Retry-Count", "x"); return h }(), "X-Fc-Retry-Count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, http.MethodGet, link, tt.header)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.StatusCode, r.body)
			}
			p := r.problem(t)
			if p.Code != "bad_fc_request" || !bytes.Contains(r.body, []byte(tt.names)) || p.RequestID == "" {
				t.Errorf("problem %s, want code bad_fc_request naming %s, with a request id", r.body, tt.names)
			}
			if bytes.Contains(r.body, []byte(s.creds.AccessKeySecret)) || bytes.Contains(r.body, []byte(s.creds.SecurityToken)) {
				t.Error("the problem shows a credential")
			}
		})
	}
	if got := s.env.Gateway.Calls(); got != 0 {
		t.Errorf("DMS calls = %d, want 0", got)
	}
}

// TestCustomRuntimeLifecycle: the initializer builds once, however often it
// is called, and fails nothing; pre-stop answers; SIGTERM lets a click in
// flight finish and the process exits cleanly.
func TestCustomRuntimeLifecycle(t *testing.T) {
	t.Parallel()
	s := startCustom(t, nil)
	for i := range 2 {
		if got := s.lifecycle(t, http.MethodPost, "/initialize", "init-"+strconv.Itoa(i)); got != http.StatusNoContent {
			t.Fatalf("initializer call %d answered %d, want 204", i, got)
		}
	}
	if n := strings.Count(s.output(), `"msg":"initialized"`); n != 1 {
		t.Errorf("built %d times, want once", n)
	}
	// The lifecycle paths answer FC's methods only; others are the API's 404/405.
	if r := s.do(t, http.MethodGet, "/initialize", fcHeaders("get-init", s.creds)); r.StatusCode/100 != 4 {
		t.Errorf("GET /initialize answered %d, want the API's 4xx", r.StatusCode)
	}
	if got := s.lifecycle(t, http.MethodGet, "/pre-stop", "stop-1"); got != http.StatusNoContent {
		t.Fatalf("pre-stop answered %d, want 204", got)
	}
	if !strings.Contains(s.output(), `"msg":"pre-stop","requestId":"stop-1"`) {
		t.Error("pre-stop is not logged with FC's request id")
	}

	// A click whose DMS call takes a second, then SIGTERM while it runs.
	inFlight := make(chan *response, 1)
	go func() { inFlight <- s.do(t, http.MethodGet, s.link(t, orderSlow), fcHeaders("slow-1", s.creds)) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.env.Gateway.CallsFor(orderSlow) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the click never reached DMS")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if r := <-inFlight; r.StatusCode != http.StatusFound {
		t.Errorf("the click in flight at SIGTERM got %d, want its 302", r.StatusCode)
	}
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the function did not exit after SIGTERM")
	}
	if !strings.Contains(s.output(), `"msg":"stopped"`) {
		t.Error("no stopped line")
	}
}

// TestLocalServerIgnoresFCHeaders: without -fc-custom-runtime a client
// cannot hand the function credentials or a request id in FC's headers.
func TestLocalServerIgnoresFCHeaders(t *testing.T) {
	t.Parallel()
	s := startCustom(t, []string{binary, "-addr", "127.0.0.1:0"})
	r := s.do(t, http.MethodGet, s.link(t, orderReady), fcHeaders("injected-id", s.creds))
	if r.StatusCode == http.StatusFound {
		t.Fatal("the local server used credentials a client sent in x-fc-* headers")
	}
	p := r.problem(t)
	if p.Code != "dms_no_credentials" {
		t.Errorf("problem code %q, want dms_no_credentials", p.Code)
	}
	if p.RequestID == "injected-id" || r.Header.Get("X-Request-Id") == "injected-id" {
		t.Error("the local server took the request id from x-fc-request-id")
	}
	if strings.Contains(s.output(), "injected-id") {
		t.Error("the injected request id reached the log")
	}
	if got := s.env.Gateway.Calls(); got != 0 {
		t.Errorf("DMS calls = %d, want 0", got)
	}
}
