package fcbinary

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/tests/fcfake"
)

// Sample tickets every stack holds.
const (
	tenant      = 3000
	orderReady  = 5461234
	orderReady2 = 5461240 // a second file, so a second download is not a cache hit
	orderNotYet = 5461235
	orderSlow   = 5461238 // DMS answers after slowLatency
	slowLatency = 5 * time.Second
)

var readyFile = []byte("id,name\n1,Alice\n2,Bob\n")

// Built once by TestMain.
var (
	workDir  string                // temporary, removed after the run
	binary   string                // the function, built by `make build`
	contract *contracttest.Checker // openapi.yaml
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fcbinary-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fcbinary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	workDir = dir
	if binary, err = build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "fcbinary:", err)
		return 1
	}
	if contract, err = contracttest.New(); err != nil {
		fmt.Fprintln(os.Stderr, "fcbinary:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "fcbinary: leaked goroutines:", err)
			return 1
		}
	}
	return code
}

// build runs the one build recipe, `make build`, into dir, exactly as
// s.yaml's pre-deploy action does into ./target.
func build(dir string) (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("make", "-C", root, "--no-print-directory", "build", "TARGET="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make build: %v\n%s", err, out)
	}
	return filepath.Join(dir, "main"), nil
}

// stack is the built function under the fake FC runtime, with the DMS
// emulator and fake OSS behind it, all on loopback.
type stack struct {
	tb      testing.TB
	closers []func() // run last-in first-out by stop
	stopped sync.Once
	rt      *fcfake.Runtime
	env     *dmsfake.Env
	cmd     *exec.Cmd
	logPath string // the function's stdout and stderr
	signer  *links.Signer
	token   string
	creds   fcfake.Credentials // the role's: the emulator accepts them, FC sends them unless fcCreds is set
	client  *http.Client       // does not follow redirects
	secrets []string           // must never reach the function's output
	started time.Time          // just before the process started
}

type stackOptions struct {
	binary  string        // default: the function built by TestMain
	timeout time.Duration // the function timeout FC applies; default 10s
	// fcCreds, if set, are the invocation credentials instead of the ones
	// the emulator accepts.
	fcCreds *fcfake.Credentials
	// initialize runs FC's initializer (function type 1) before returning.
	initialize bool
	env        []string // more NAME=value settings for the function
}

// startEmulator starts the DMS emulator and fake OSS for one function
// process, with fresh STS credentials the gateway accepts (FC hands them to
// the function per request).
func startEmulator(tb testing.TB) (fcfake.Credentials, *dmsfake.Env) {
	tb.Helper()
	creds := fcfake.Credentials{AccessKeyID: "STS." + secrettest.Random(12), AccessKeySecret: secrettest.Random(30), SecurityToken: "CAIS" + secrettest.Random(60)}
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID: creds.AccessKeyID, AccessKeySecret: creds.AccessKeySecret, SecurityToken: creds.SecurityToken,
		DefaultTid: tenant,
	}, dmsfake.OSSOptions{Bucket: "dms-idb-test", AccessKeyID: "LTAIoss" + secrettest.Random(8), AccessKeySecret: secrettest.Random(24)})
	if err != nil {
		tb.Fatalf("dmsfake.Start: %v", err)
	}
	return creds, env
}

// startStack starts the emulator, the fake runtime and the binary, in that
// order; stop, run at the end of the test, kills the binary first, since the
// SDK busy-spins once the runtime API is gone.
func startStack(tb testing.TB, o stackOptions) *stack {
	tb.Helper()
	// The temporary directory first: its removal must run after stop.
	s := &stack{tb: tb, token: "tok-" + secrettest.Random(24), logPath: filepath.Join(tb.TempDir(), "function.log")}
	tb.Cleanup(s.stop)
	s.creds, s.env = startEmulator(tb)
	s.closers = append(s.closers, s.env.Close)
	env := s.env
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderReady, State: dmsfake.StateReady, FileName: "export_5461234.csv", File: readyFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderReady2, State: dmsfake.StateReady, FileName: "export_5461240.csv", File: readyFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderNotYet, State: dmsfake.StateNotReady, Tip: "The export is still running."})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderSlow, State: dmsfake.StateReady, File: readyFile})
	env.Gateway.SetTicketFault(orderSlow, dmsfake.Fault{Latency: slowLatency})

	timeout := o.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	fcCreds := s.creds
	if o.fcCreds != nil {
		fcCreds = *o.fcCreds
	}
	rt, err := fcfake.Start(fcfake.Options{Timeout: timeout, Credentials: fcCreds})
	if err != nil {
		tb.Fatalf("fcfake.Start: %v", err)
	}
	s.closers = append(s.closers, func() {
		if err := rt.Close(); err != nil {
			tb.Errorf("fcfake Close: %v", err)
		}
	})
	s.rt = rt

	key := links.Key{ID: "k1", Secret: []byte(secrettest.Random(40))}
	s.signer = &links.Signer{Keys: []links.Key{key}, MaxTTL: 30 * 24 * time.Hour}
	s.secrets = append(s.secrets, s.creds.AccessKeySecret, s.creds.SecurityToken, fcCreds.AccessKeySecret, fcCreds.SecurityToken,
		s.token, string(key.Secret), base64.StdEncoding.EncodeToString(key.Secret))

	// Only these variables: no ALIBABA_CLOUD_* fallback, so DMS credentials
	// can only come from the invocation; ALLOWED_DOWNLOAD_HOSTS and the
	// loopback allowance keep their production defaults, which the fake
	// OSS's https://<bucket>.oss-cn-hangzhou.aliyuncs.com URLs pass.
	vars := []string{
		"FC_RUNTIME_API=" + rt.APIAddr(),
		"DMS_ENDPOINT=" + env.DMSHost,
		"DMS_SCHEME=http",
		"DMS_TID=" + strconv.Itoa(tenant),
		"LINK_KEYS=" + key.ID + ":" + base64.StdEncoding.EncodeToString(key.Secret),
		"API_TOKENS=" + s.token,
		"PUBLIC_BASE_URL=" + rt.FrontURL(),
	}
	vars = append(vars, o.env...)
	logFile, err := os.Create(s.logPath)
	if err != nil {
		tb.Fatalf("function log: %v", err)
	}
	s.closers = append(s.closers, func() { logFile.Close() })
	tr := env.OSSTransport() // the function's loopback address, and OSS by its host name
	s.client = &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s.closers = append(s.closers, tr.CloseIdleConnections)

	bin := o.binary
	if bin == "" {
		bin = binary
	}
	s.cmd = exec.Command(bin)
	s.cmd.Env = vars
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("starting the function: %v", err)
	}
	s.closers = append(s.closers, func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.checkOutput()
	})

	if o.initialize {
		s.initialize()
	}
	return s
}

// stop kills the function, then closes the fake runtime and the emulator.
// It runs at the end of the test; benchmarks call it earlier.
func (s *stack) stop() {
	s.stopped.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
}

// initialize runs FC's initializer and fails the test if it fails.
func (s *stack) initialize() {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.rt.Initialize(ctx); err != nil {
		s.tb.Fatalf("initializer: %v", err)
	}
}

// output is what the function has written to stdout and stderr so far.
func (s *stack) output() string {
	s.tb.Helper()
	return functionOutput(s.tb, s.logPath)
}

// functionOutput reads the file a function process writes its output to.
func functionOutput(tb testing.TB, logPath string) string {
	tb.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		tb.Fatalf("function log: %v", err)
	}
	return string(b)
}

// checkOutput fails the test if a secret reached the function's output, and
// shows the output of a failed test.
func (s *stack) checkOutput() { checkFunctionOutput(s.tb, s.output(), s.secrets) }

// checkFunctionOutput fails tb if one of secrets is in out, and shows out when
// tb has failed.
func checkFunctionOutput(tb testing.TB, out string, secrets []string) {
	tb.Helper()
	for _, leak := range secrettest.Leaks(out, secrets) {
		tb.Errorf("the function's output: %s", leak)
	}
	if tb.Failed() {
		tb.Logf("function output:\n%s", out)
	}
}

// link mints the path and query of a signed download link.
func (s *stack) link(tb testing.TB, signer *links.Signer, order int64, exp time.Time) string {
	tb.Helper()
	q, err := signer.Sign(links.Claims{OrderID: order, Expires: exp})
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	s.secrets = append(s.secrets, q.Get(links.ParamSig))
	return "/exports/" + strconv.FormatInt(order, 10) + "/download?" + q.Encode()
}

func week() time.Time { return time.Now().Add(7 * 24 * time.Hour) }

// response is one exchange through the front door, body read.
type response struct {
	*http.Response
	body    []byte
	elapsed time.Duration // from sending the request to the end of the body
	done    time.Time     // when the body was read
}

// problemDoc is the part of a problem+json body the tests read.
type problemDoc struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	RequestID string `json:"requestId"`
	Errors    []struct {
		In   string `json:"in"`
		Name string `json:"name"`
	} `json:"errors"`
}

func (r *response) problem(tb testing.TB) problemDoc {
	tb.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		tb.Fatalf("Content-Type = %q, want application/problem+json (status %d: %s)", ct, r.StatusCode, r.body)
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		tb.Fatalf("problem body: %v: %s", err, r.body)
	}
	return p
}

// do sends a real HTTP request to the front door, without following
// redirects, and validates the answer against openapi.yaml. Failures are
// reported to tb, the test or subtest making the request.
func (s *stack) do(tb testing.TB, method, target string, header http.Header, body []byte) *response {
	tb.Helper()
	req, res := s.send(tb, method, target, header, body)
	validate(tb, req, body, res.Response, res.body)
	return res
}

// send is do without the validation, for functions other than ours.
func (s *stack) send(tb testing.TB, method, target string, header http.Header, body []byte) (*http.Request, *response) {
	tb.Helper()
	return send(tb, s.client, method, s.rt.FrontURL()+target, header, body)
}

// send makes one request with client, without following redirects, and
// reads the whole answer.
func send(tb testing.TB, client *http.Client, method, url string, header http.Header, body []byte) (*http.Request, *response) {
	tb.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("request: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	done := time.Now()
	if err != nil {
		tb.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return req, &response{Response: res, body: got, elapsed: done.Sub(t0), done: done}
}

func (s *stack) get(tb testing.TB, target string, header http.Header) *response {
	tb.Helper()
	return s.do(tb, http.MethodGet, target, header, nil)
}

// validate checks an answer of the function against the operation it
// belongs to (undocumented statuses fail), and any other answer against the
// Problem schema. An answer made by FC itself (X-Fc-Error-Type) fails: every
// request here must be answered by the function.
func validate(tb testing.TB, req *http.Request, reqBody []byte, res *http.Response, body []byte) {
	tb.Helper()
	if et := res.Header.Get("X-Fc-Error-Type"); et != "" {
		tb.Errorf("%s %s: answered by FC (%s, status %d), not the function: %s", req.Method, req.URL.Path, et, res.StatusCode, body)
		return
	}
	if err := contract.Check(req, reqBody, res, body); err != nil {
		tb.Error(err)
	}
}
