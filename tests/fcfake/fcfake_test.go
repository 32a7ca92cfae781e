package fcfake

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"go.uber.org/goleak"
)

// echoBinary and customBinary are testdata/echofn and testdata/customfn, built once by
// TestMain before any test runs.
var echoBinary, customBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fcfake-testfns-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fcfake test: temp dir:", err)
		os.Exit(1)
	}
	for _, fn := range []struct {
		name string
		bin  *string
	}{{"echofn", &echoBinary}, {"customfn", &customBinary}} {
		*fn.bin = filepath.Join(dir, fn.name)
		build := exec.Command("go", "build", "-o", *fn.bin, "./testdata/"+fn.name)
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "fcfake test: building %s: %v\n%s", fn.name, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// binaryBody mirrors testdata/echofn's /binary answer.
var binaryBody = []byte{0x00, 0xff, 0xfe, 'o', 'k'}

// echoReply mirrors testdata/echofn's answer.
type echoReply struct {
	Event       events.HTTPTriggerEvent `json:"event"`
	RequestID   string                  `json:"requestId"`
	Credentials fccontext.Credentials   `json:"credentials"`
	Function    fccontext.Function      `json:"function"`
	Region      string                  `json:"region"`
	AccountID   string                  `json:"accountId"`
	RetryCount  int                     `json:"retryCount"`
	DeadlineMS  int64                   `json:"deadlineMs"`
	Initialized bool                    `json:"initialized"`
}

var testCredentials = Credentials{
	AccessKeyID:     "STS.test-key-id",
	AccessKeySecret: "test-key-secret",
	SecurityToken:   "test-security-token",
}

// startFake starts a Runtime closed at the end of the test (after the function is killed,
// since cleanups run last-in first-out).
func startFake(t *testing.T, opts Options) *Runtime {
	t.Helper()
	rt, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rt
}

// startEcho runs testdata/echofn against rt and kills it at the end of the test.
func startEcho(t *testing.T, rt *Runtime) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "echofn.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating the function log: %v", err)
	}
	cmd := exec.Command(echoBinary)
	cmd.Env = []string{"FC_RUNTIME_API=" + rt.APIAddr()}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting echofn: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("echofn output:\n%s", out)
		}
	})
}

// setup starts a fake with opts (default test credentials) and the echo function under it.
func setup(t *testing.T, opts Options) (*Runtime, *http.Client) {
	t.Helper()
	if opts.Credentials == (Credentials{}) {
		opts.Credentials = testCredentials
	}
	rt := startFake(t, opts)
	startEcho(t, rt)
	return rt, newClient(t)
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

func get(t *testing.T, c *http.Client, url string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	return do(t, c, req)
}

func decodeEcho(t *testing.T, r reply) echoReply {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	var e echoReply
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decoding the echo: %v; body %s", err, r.body)
	}
	return e
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestFrontDoorEvent(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{AccountID: "acct-42"})
	front, err := url.Parse(rt.FrontURL())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		method      string
		target      string // path and query, sent verbatim
		header      http.Header
		body        []byte
		wantRawPath string
		wantPath    string
		wantBody    string
		wantBase64  bool
		wantHeaders map[string]string // a subset of the event's headers
		wantQuery   map[string]string // all of the event's query parameters
	}{
		{
			name:        "text body, repeated headers and query, encoded path",
			method:      http.MethodPost,
			target:      "/exports/a%2Fb/c%20d?x=1&x=2&y=z%26w",
			header:      http.Header{"X-Multi": {"a", "b"}, "Content-Type": {"text/plain; charset=utf-8"}, "User-Agent": {"fcfake-test/1"}},
			body:        []byte("héllo, wörld"),
			wantRawPath: "/exports/a%2Fb/c%20d",
			wantPath:    "/exports/a/b/c d",
			wantBody:    "héllo, wörld",
			wantHeaders: map[string]string{"X-Multi": "a,b", "Content-Type": "text/plain; charset=utf-8", "User-Agent": "fcfake-test/1"},
			wantQuery:   map[string]string{"x": "1,2", "y": "z&w"},
		},
		{
			name:        "binary body is base64",
			method:      http.MethodPut,
			target:      "/upload",
			header:      http.Header{"Content-Type": {"application/octet-stream"}, "User-Agent": {"fcfake-test/2"}},
			body:        []byte{0xff, 0x00, 0x80, 'x'},
			wantRawPath: "/upload",
			wantPath:    "/upload",
			wantBody:    base64.StdEncoding.EncodeToString([]byte{0xff, 0x00, 0x80, 'x'}),
			wantBase64:  true,
			wantHeaders: map[string]string{"Content-Type": "application/octet-stream"},
			wantQuery:   map[string]string{},
		},
		{
			name:        "text in a binary content type stays text",
			method:      http.MethodPost,
			target:      "/raw",
			header:      http.Header{"Content-Type": {"application/octet-stream"}, "User-Agent": {"fcfake-test/3"}},
			body:        []byte("haha"),
			wantRawPath: "/raw",
			wantPath:    "/raw",
			wantBody:    "haha",
			wantQuery:   map[string]string{},
		},
		{
			name:        "empty GET",
			method:      http.MethodGet,
			target:      "/",
			header:      http.Header{"User-Agent": {"fcfake-test/4"}},
			wantRawPath: "/",
			wantPath:    "/",
			wantBody:    "",
			wantQuery:   map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, rt.FrontURL()+tt.target, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tt.header
			before := time.Now()
			r := do(t, client, req)
			after := time.Now()
			e := decodeEcho(t, r)
			ev := e.Event
			tc := ev.TriggerContext

			if got, want := r.header.Get("X-Echo"), "1"; got != want {
				t.Errorf("response X-Echo = %q, want %q (function headers copied)", got, want)
			}
			if got, want := r.header.Get("Content-Type"), "application/json"; got != want {
				t.Errorf("response Content-Type = %q, want %q", got, want)
			}
			if got, want := str(ev.Version), "v1"; got != want {
				t.Errorf("version = %q, want %q", got, want)
			}
			if got, want := str(ev.RawPath), tt.wantRawPath; got != want {
				t.Errorf("rawPath = %q, want %q", got, want)
			}
			if got, want := str(tc.Http.Path), tt.wantPath; got != want {
				t.Errorf("http.path = %q, want %q", got, want)
			}
			if got, want := str(ev.Body), tt.wantBody; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if ev.IsBase64Encoded == nil || *ev.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantBase64)
			}
			if ev.Headers == nil {
				t.Fatal("headers = null")
			}
			for k, want := range tt.wantHeaders {
				if got := (*ev.Headers)[k]; got != want {
					t.Errorf("headers[%q] = %q, want %q", k, got, want)
				}
			}
			if ev.QueryParameters == nil {
				t.Fatal("queryParameters = null")
			}
			if got, want := *ev.QueryParameters, tt.wantQuery; !equalMaps(got, want) {
				t.Errorf("queryParameters = %v, want %v", got, want)
			}
			if got, want := str(tc.Http.Method), tt.method; got != want {
				t.Errorf("http.method = %q, want %q", got, want)
			}
			if got, want := str(tc.Http.UserAgent), tt.header.Get("User-Agent"); got != want {
				t.Errorf("http.userAgent = %q, want %q", got, want)
			}
			if got, want := str(tc.Http.Protocol), "HTTP/1.1"; got != want {
				t.Errorf("http.protocol = %q, want %q", got, want)
			}
			if got, want := str(tc.Http.SourceIp), "127.0.0.1"; got != want {
				t.Errorf("http.sourceIp = %q, want %q", got, want)
			}
			if got, want := str(tc.AccountId), "acct-42"; got != want {
				t.Errorf("accountId = %q, want %q", got, want)
			}
			if got, want := str(tc.DomainName), front.Host; got != want {
				t.Errorf("domainName = %q, want %q", got, want)
			}
			if got, want := str(tc.DomainPrefix), "127"; got != want {
				t.Errorf("domainPrefix = %q, want %q", got, want)
			}
			id := r.header.Get("X-Fc-Request-Id")
			if id == "" || str(tc.RequestId) != id || e.RequestID != id {
				t.Errorf("request ids: header %q, requestContext %q, fccontext %q; want all equal and set", id, str(tc.RequestId), e.RequestID)
			}
			ts, err := time.Parse(time.RFC3339, str(tc.Time))
			if err != nil || ts.Before(before.Truncate(time.Second)) || ts.After(after) {
				t.Errorf("time = %q (%v), want RFC3339 within [%v, %v]", str(tc.Time), err, before, after)
			}
			if got := str(tc.TimeEpoch); !within(got, before.UnixMilli(), after.UnixMilli()) {
				t.Errorf("timeEpoch = %q, want within [%d, %d]", got, before.UnixMilli(), after.UnixMilli())
			}
		})
	}
}

// within reports whether the decimal s is in [lo, hi].
func within(s string, lo, hi int64) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n >= lo && n <= hi
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFrontDoorContext(t *testing.T) {
	t.Parallel()
	const timeout = 2500 * time.Millisecond
	rt, client := setup(t, Options{
		Timeout:      timeout,
		FunctionName: "fn-under-test",
		Region:       "cn-shanghai",
		AccountID:    "999",
		Handler:      "bootstrap",
		Memory:       256,
	})
	before := time.Now()
	e := decodeEcho(t, get(t, client, rt.FrontURL()+"/ctx"))
	after := time.Now()

	if got, want := e.Credentials, (fccontext.Credentials{
		AccessKeyId:     testCredentials.AccessKeyID,
		AccessKeySecret: testCredentials.AccessKeySecret,
		SecurityToken:   testCredentials.SecurityToken,
	}); got != want {
		t.Errorf("fccontext credentials = %+v, want %+v", got, want)
	}
	if got, want := e.Function, (fccontext.Function{Name: "fn-under-test", Handler: "bootstrap", Memory: "256", Timeout: 3}); got != want {
		t.Errorf("fccontext function = %+v, want %+v", got, want)
	}
	if e.Region != "cn-shanghai" || e.AccountID != "999" || e.RetryCount != 0 {
		t.Errorf("region, account, retry = %q, %q, %d; want cn-shanghai, 999, 0", e.Region, e.AccountID, e.RetryCount)
	}
	lo, hi := before.Add(timeout).UnixMilli(), after.Add(timeout).UnixMilli()
	if e.DeadlineMS < lo || e.DeadlineMS > hi {
		t.Errorf("ctx deadline = %d ms, want within [%d, %d]", e.DeadlineMS, lo, hi)
	}
}

func TestFrontDoorDefaults(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{})
	before := time.Now()
	e := decodeEcho(t, get(t, client, rt.FrontURL()+"/"))
	after := time.Now()
	if got, want := e.Function, (fccontext.Function{Name: DefaultFunctionName, Handler: DefaultHandler, Memory: "128", Timeout: 3}); got != want {
		t.Errorf("fccontext function = %+v, want %+v", got, want)
	}
	if e.Region != DefaultRegion || e.AccountID != DefaultAccountID {
		t.Errorf("region, account = %q, %q; want %q, %q", e.Region, e.AccountID, DefaultRegion, DefaultAccountID)
	}
	lo, hi := before.Add(DefaultTimeout).UnixMilli(), after.Add(DefaultTimeout).UnixMilli()
	if e.DeadlineMS < lo || e.DeadlineMS > hi {
		t.Errorf("ctx deadline = %d ms, want within [%d, %d]", e.DeadlineMS, lo, hi)
	}
}

func TestInitializer(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{})
	if e := decodeEcho(t, get(t, client, rt.FrontURL()+"/")); e.Initialized {
		t.Fatal("initialized before Initialize")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Initialize(ctx); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	if e := decodeEcho(t, get(t, client, rt.FrontURL()+"/")); !e.Initialized {
		t.Error("initializer did not run")
	}
	if got, want := rt.Invocations(), 3; got != want {
		t.Errorf("Invocations = %d, want %d", got, want)
	}
}

func TestFrontDoorFunctionFailures(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{})
	tests := []struct {
		name        string
		path        string
		wantStatus  int
		wantErrType string // X-Fc-Error-Type
		wantDoc     map[string]string
		wantStack   bool
	}{
		{
			name: "panic", path: "/panic", wantStatus: http.StatusBadGateway, wantErrType: "UnhandledInvocationError",
			wantDoc: map[string]string{"errorMessage": "echofn: asked to panic"}, wantStack: true,
		},
		{
			name: "after a panic the function still answers", path: "/", wantStatus: http.StatusOK,
		},
		{
			name: "returned error", path: "/error", wantStatus: http.StatusBadGateway, wantErrType: "UnhandledInvocationError",
			wantDoc: map[string]string{"errorMessage": "echofn: asked to fail", "errorType": "errorString"},
		},
		{
			name: "no status code", path: "/status?code=0", wantStatus: http.StatusBadGateway, wantErrType: "UnhandledInvocationError",
			wantDoc: map[string]string{"errorType": "InvalidFunctionResponse"},
		},
		{
			name: "status passed through", path: "/status?code=418", wantStatus: http.StatusTeapot,
		},
	}
	for _, tt := range tests {
		r := get(t, client, rt.FrontURL()+tt.path)
		if got, want := r.status, tt.wantStatus; got != want {
			t.Errorf("%s: status = %d, want %d; body %s", tt.name, got, want, r.body)
			continue
		}
		if got, want := r.header.Get("X-Fc-Error-Type"), tt.wantErrType; got != want {
			t.Errorf("%s: X-Fc-Error-Type = %q, want %q", tt.name, got, want)
		}
		if tt.wantDoc == nil {
			continue
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &doc); err != nil {
			t.Errorf("%s: error body is not JSON: %v; %s", tt.name, err, r.body)
			continue
		}
		for k, want := range tt.wantDoc {
			var got string
			_ = json.Unmarshal(doc[k], &got)
			if got != want {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, want)
			}
		}
		if got := len(doc["stackTrace"]) > 2; got != tt.wantStack {
			t.Errorf("%s: has stackTrace = %v, want %v", tt.name, got, tt.wantStack)
		}
	}
}

func TestFrontDoorBase64Response(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{})
	r := get(t, client, rt.FrontURL()+"/binary")
	if r.status != http.StatusOK || !bytes.Equal(r.body, binaryBody) {
		t.Errorf("got %d %x, want 200 %x", r.status, r.body, binaryBody)
	}
	if got, want := r.header.Get("Content-Type"), "application/octet-stream"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
}

func TestFrontDoorTimeout(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	rt, client := setup(t, Options{Timeout: timeout})
	start := time.Now()
	r := get(t, client, rt.FrontURL()+"/sleep?ms=10000")
	elapsed := time.Since(start)

	if got, want := r.status, http.StatusBadGateway; got != want {
		t.Fatalf("status = %d, want %d; body %s", got, want, r.body)
	}
	if got, want := r.header.Get("X-Fc-Error-Type"), "UnhandledInvocationError"; got != want {
		t.Errorf("X-Fc-Error-Type = %q, want %q", got, want)
	}
	var doc struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.ErrorType != "FunctionTimeout" || doc.ErrorMessage != "Function time out after 1 seconds" {
		t.Errorf("error body = %s (%v), want a FunctionTimeout document", r.body, err)
	}
	if lo, hi := timeout+deadlineGrace, timeout+deadlineGrace+3*time.Second; elapsed < lo || elapsed > hi {
		t.Errorf("answered after %v, want within [%v, %v]", elapsed, lo, hi)
	}
	// The instance is still usable while the slow invocation sleeps on.
	decodeEcho(t, get(t, client, rt.FrontURL()+"/"))
}

func TestFrontDoorConcurrent(t *testing.T) {
	t.Parallel()
	const (
		n     = 8
		sleep = 400 * time.Millisecond
	)
	rt, client := setup(t, Options{Timeout: 20 * time.Second})
	replies := make([]reply, n)
	errs := make([]error, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			target := fmt.Sprintf("%s/sleep?ms=%d&i=%d", rt.FrontURL(), sleep.Milliseconds(), i)
			resp, err := client.Get(target)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			replies[i], errs[i] = reply{status: resp.StatusCode, header: resp.Header, body: body}, err
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	ids := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		e := decodeEcho(t, replies[i])
		if got, want := (*e.Event.QueryParameters)["i"], fmt.Sprint(i); got != want {
			t.Errorf("request %d got the answer for i=%s", i, got)
		}
		if id := replies[i].header.Get("X-Fc-Request-Id"); id != e.RequestID || ids[id] {
			t.Errorf("request %d: request id %q (fccontext %q) not unique or not matching", i, id, e.RequestID)
		}
		ids[e.RequestID] = true
	}
	if limit := n * sleep; elapsed >= limit {
		t.Errorf("%d concurrent requests of %v took %v, want < %v (they ran one by one)", n, sleep, elapsed, limit)
	}
	if got, want := rt.Invocations(), n; got != want {
		t.Errorf("Invocations = %d, want %d", got, want)
	}
}

func TestFrontDoorBodyLimit(t *testing.T) {
	t.Parallel()
	rt, client := setup(t, Options{Timeout: 20 * time.Second})
	tests := []struct {
		name        string
		size        int
		wantStatus  int
		wantErrType string
	}{
		{name: "at the limit", size: maxRequestBody, wantStatus: http.StatusOK},
		{name: "one byte over", size: maxRequestBody + 1, wantStatus: http.StatusRequestEntityTooLarge, wantErrType: "FcCommonError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("a"), tt.size)
			req, err := http.NewRequest(http.MethodPost, rt.FrontURL()+"/size", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, client, req)
			if got, want := r.status, tt.wantStatus; got != want {
				t.Fatalf("status = %d, want %d", got, want)
			}
			if got, want := r.header.Get("X-Fc-Error-Type"), tt.wantErrType; got != want {
				t.Errorf("X-Fc-Error-Type = %q, want %q", got, want)
			}
			if r.status == http.StatusOK {
				if got, want := string(r.body), strconv.Itoa(tt.size); got != want {
					t.Errorf("the event body has %s bytes, want %s", got, want)
				}
			}
		})
	}
	if got, want := rt.Invocations(), 1; got != want {
		t.Errorf("Invocations = %d, want %d (an oversized request must not reach the function)", got, want)
	}
}

func TestInvokeRawEvent(t *testing.T) {
	t.Parallel()
	rt, _ := setup(t, Options{})
	tests := []struct {
		name         string
		payload      string
		wantErrType  string // "" means success
		wantBodyPart string
	}{
		{name: "event", payload: `{"version":"v1","rawPath":"/raw","requestContext":{"http":{"path":"/raw"}}}`, wantBodyPart: `\"rawPath\":\"/raw\"`},
		{name: "bad JSON", payload: `not json`, wantErrType: "SyntaxError"},
		{name: "handler error", payload: `{"requestContext":{"http":{"path":"/error"}}}`, wantErrType: "errorString"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := rt.Invoke(ctx, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if res.RequestID == "" {
				t.Error("no request id")
			}
			if tt.wantErrType == "" {
				if res.Error != nil {
					t.Fatalf("function error %v", res.Error)
				}
				if !strings.Contains(string(res.Body), tt.wantBodyPart) {
					t.Errorf("body %s does not contain %s", res.Body, tt.wantBodyPart)
				}
				return
			}
			if res.Error == nil || res.Error.ErrorType != tt.wantErrType {
				t.Errorf("Error = %v, want type %q", res.Error, tt.wantErrType)
			}
		})
	}
}

// poll is one GET /next by the test playing the function.
func poll(t *testing.T, ctx context.Context, rt *Runtime) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rt.APIAddr()+apiPrefix+"next", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := newClient(t).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func post(t *testing.T, rt *Runtime, id, kind, body string) int {
	t.Helper()
	resp, err := newClient(t).Post("http://"+rt.APIAddr()+apiPrefix+id+"/"+kind, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", kind, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type invokeResult struct {
	res Result
	err error
}

func TestRuntimeAPIProtocol(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	errDoc := `{"errorMessage":"m","errorType":"T","stackTrace":[{"path":"p","line":1,"label":"l"}]}`
	tests := []struct {
		name     string
		initial  bool // Initialize instead of Invoke
		payload  string
		kind     string // response or error
		answer   string
		wantType string // x-fc-function-type
		wantErr  *InvocationError
	}{
		{name: "invoke answered", payload: `{"a":1}`, kind: "response", answer: `"ok"`},
		{name: "invoke failed", payload: `{}`, kind: "error", answer: errDoc,
			wantErr: &InvocationError{ErrorMessage: "m", ErrorType: "T", StackTrace: json.RawMessage(`[{"path":"p","line":1,"label":"l"}]`)}},
		{name: "initializer answered", initial: true, kind: "response", answer: "", wantType: "1"},
		{name: "initializer failed", initial: true, kind: "error", answer: errDoc, wantType: "1",
			wantErr: &InvocationError{ErrorMessage: "m", ErrorType: "T", StackTrace: json.RawMessage(`[{"path":"p","line":1,"label":"l"}]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt := startFake(t, Options{Timeout: timeout, Credentials: testCredentials, Memory: 512})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan invokeResult, 1)
			start := time.Now()
			go func() {
				if tt.initial {
					done <- invokeResult{err: rt.Initialize(ctx)}
					return
				}
				res, err := rt.Invoke(ctx, []byte(tt.payload))
				done <- invokeResult{res, err}
			}()

			resp, payload, err := poll(t, ctx, rt)
			if err != nil {
				t.Fatalf("GET next: %v", err)
			}
			h := resp.Header
			id := h.Get("x-fc-request-id")
			wantHeaders := map[string]string{
				"x-fc-function-timeout":  "2",
				"x-fc-function-type":     tt.wantType,
				"x-fc-access-key-id":     testCredentials.AccessKeyID,
				"x-fc-access-key-secret": testCredentials.AccessKeySecret,
				"x-fc-security-token":    testCredentials.SecurityToken,
				"x-fc-function-name":     DefaultFunctionName,
				"x-fc-function-handler":  DefaultHandler,
				"x-fc-function-memory":   "512",
				"x-fc-region":            DefaultRegion,
				"x-fc-account-id":        DefaultAccountID,
				"x-fc-retry-count":       "0",
			}
			for k, want := range wantHeaders {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if !strings.HasPrefix(id, "1-") {
				t.Errorf("x-fc-request-id = %q, want an FC-shaped id", id)
			}
			lo, hi := start.Add(timeout).UnixMilli(), time.Now().Add(timeout).UnixMilli()
			if got := h.Get("x-fc-function-deadline"); !within(got, lo, hi) {
				t.Errorf("x-fc-function-deadline = %s, want within [%d, %d]", got, lo, hi)
			}
			if got, want := string(payload), tt.payload; got != want {
				t.Errorf("payload = %q, want %q", got, want)
			}
			if got, want := post(t, rt, "1-00000000-unknown", tt.kind, tt.answer), http.StatusNotFound; got != want {
				t.Errorf("POST for an unknown id: status %d, want %d", got, want)
			}
			if got, want := post(t, rt, id, tt.kind, tt.answer), http.StatusOK; got != want {
				t.Fatalf("POST %s: status %d, want %d", tt.kind, got, want)
			}
			r := <-done
			if got, want := post(t, rt, id, tt.kind, tt.answer), http.StatusNotFound; got != want {
				t.Errorf("second POST for one id: status %d, want %d", got, want)
			}
			var gotErr *InvocationError
			if tt.initial {
				if r.err != nil && !errors.As(r.err, &gotErr) {
					t.Fatalf("Initialize: %v", r.err)
				}
			} else {
				if r.err != nil {
					t.Fatalf("Invoke: %v", r.err)
				}
				gotErr = r.res.Error
				if got, want := r.res.RequestID, id; got != want {
					t.Errorf("Result.RequestID = %q, want %q", got, want)
				}
				if got, want := string(r.res.Body), tt.answer; got != want {
					t.Errorf("Result.Body = %q, want %q", got, want)
				}
			}
			if (gotErr == nil) != (tt.wantErr == nil) || gotErr != nil &&
				(gotErr.ErrorMessage != tt.wantErr.ErrorMessage || gotErr.ErrorType != tt.wantErr.ErrorType || !bytes.Equal(gotErr.StackTrace, tt.wantErr.StackTrace)) {
				t.Errorf("error = %+v, want %+v", gotErr, tt.wantErr)
			}
			if got, want := rt.Invocations(), 1; got != want {
				t.Errorf("Invocations = %d, want %d", got, want)
			}
		})
	}
}

func TestAbandonedPoll(t *testing.T) {
	t.Parallel()
	rt := startFake(t, Options{Timeout: 10 * time.Second})
	pollCtx, cancelPoll := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelPoll()
	if _, _, err := poll(t, pollCtx, rt); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET next with nothing to do: err = %v, want the client's deadline", err)
	}
	// The server notices the client leaving asynchronously.
	for wait := time.Now().Add(5 * time.Second); rt.polls.Load() != 0; {
		if time.Now().After(wait) {
			t.Fatal("the abandoned long poll is still being served")
		}
		time.Sleep(time.Millisecond) // polling interval
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan invokeResult, 1)
	go func() {
		res, err := rt.Invoke(ctx, []byte("job"))
		done <- invokeResult{res, err}
	}()
	resp, payload, err := poll(t, ctx, rt)
	if err != nil || string(payload) != "job" {
		t.Fatalf("GET next: %q, %v; want the job", payload, err)
	}
	post(t, rt, resp.Header.Get("x-fc-request-id"), "response", "done")
	if r := <-done; r.err != nil || string(r.res.Body) != "done" {
		t.Errorf("Invoke = %q, %v; want done", r.res.Body, r.err)
	}
}

func TestInvokeWithoutFunction(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	rt := startFake(t, Options{Timeout: timeout})

	start := time.Now()
	_, err := rt.Invoke(context.Background(), []byte("{}"))
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("Invoke with nobody polling: err = %v, want ErrTimeout", err)
	}
	if lo, hi := timeout+deadlineGrace, timeout+deadlineGrace+3*time.Second; elapsed < lo || elapsed > hi {
		t.Errorf("gave up after %v, want within [%v, %v]", elapsed, lo, hi)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rt.Invoke(ctx, []byte("{}")); !errors.Is(err, context.Canceled) {
		t.Errorf("Invoke with a cancelled context: err = %v, want context.Canceled", err)
	}
	if got, want := rt.Invocations(), 0; got != want {
		t.Errorf("Invocations = %d, want %d", got, want)
	}
}

func TestCloseFailsPendingInvocations(t *testing.T) {
	t.Parallel()
	rt, err := Start(Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan invokeResult, 1)
	go func() {
		res, err := rt.Invoke(ctx, []byte("job"))
		done <- invokeResult{res, err}
	}()
	if _, _, err := poll(t, ctx, rt); err != nil { // the invocation is in flight
		t.Fatalf("GET next: %v", err)
	}

	start := time.Now()
	if err := rt.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Close took %v", elapsed)
	}
	if r := <-done; !errors.Is(r.err, ErrClosed) {
		t.Errorf("pending Invoke: err = %v, want ErrClosed", r.err)
	}
	if _, err := rt.Invoke(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: err = %v, want ErrClosed", err)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
