package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

// Sample tickets every harness holds.
const (
	tenant      = 3000
	orderReady  = 5461234
	orderNotYet = 5461235
	orderFailed = 5461236
	orderDenied = 5461237
)

var readyFile = []byte("id,name\n1,Alice\n2,Bob\n")

// harness is the whole stack on loopback: the real SDK calling the DMS
// emulator, the exports service, and the handler behind a real HTTP server.
// Every response it sees is validated against openapi.yaml, and its logs are
// checked for secrets when the test ends.
type harness struct {
	t        testing.TB
	env      *dmsfake.Env
	api      *API
	srv      *httptest.Server
	base     *url.URL     // the server's address, the handler's PUBLIC_BASE_URL
	client   *http.Client // real HTTP to srv, its own transport, closed at cleanup
	signer   *links.Signer
	token    string
	creds    dms.Credentials
	logs     *secrettest.Buffer
	secrets  []string              // must never reach a log line
	contract *contracttest.Checker // openapi.yaml
	allow500 bool
	late     atomic.Int32 // answers written after the invocation deadline
	// oss reaches the fake OSS as a browser reaches OSS: its public host
	// name over TLS (the emulator's dialer mapping and test CA).
	oss *http.Client
}

type harnessOptions struct {
	noKeys     bool
	getenv     func(string) string // overrides the credentials environment
	dmsTimeout time.Duration
	exportsOpt func(*exports.Options)
	deps       func(*Deps)
	gatewayNow func() time.Time // the emulator's clock; nil = time.Now
	allow500   bool             // the test provokes an internal error on purpose
	// wrapClient wraps the real DMS client the exports service calls, to
	// hold or observe calls; the SDK still makes every call.
	wrapClient func(exports.Client) exports.Client
	// deadline gives each request a context deadline, as an FC invocation
	// has; the harness then fails the test if an answer comes after it.
	deadline time.Duration
	// quiet sends the logs to io.Discard (benchmarks); no log is checked.
	quiet bool
	// redis shares the exports state on this server, as REDIS_URL does,
	// with the fallback to memory and answers sealed under the link keys.
	redis *redistest.Server
	// redisTimeout bounds each Redis operation (0 = 1s); tests that must
	// not fall back on a loaded machine raise it.
	redisTimeout time.Duration
	// plainOSS serves the fake OSS over plain http on loopback, minting
	// http://127.0.0.1 URLs that pass only under AllowHTTPLoopback (which
	// it turns on): the demo's set-up. Without it the harness runs the
	// production policy: https and ALLOWED_DOWNLOAD_HOSTS' default.
	plainOSS bool
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, logs: &secrettest.Buffer{}, allow500: o.allow500}
	h.creds = dms.Credentials{AccessKeyID: "LTAI" + secrettest.Random(8), AccessKeySecret: secrettest.Random(24), SecurityToken: "CAIS" + secrettest.Random(40)}
	var logOut io.Writer = h.logs
	if o.quiet {
		logOut = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env, err := dmsfake.Start(dmsfake.Options{
		AccessKeyID: h.creds.AccessKeyID, AccessKeySecret: h.creds.AccessKeySecret, SecurityToken: h.creds.SecurityToken,
		Logger: logger, DefaultTid: tenant, Now: o.gatewayNow,
	}, dmsfake.OSSOptions{Bucket: "dms-idb-test", AccessKeyID: "LTAIoss" + secrettest.Random(6), AccessKeySecret: secrettest.Random(20), PlainHTTP: o.plainOSS})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(env.Close)
	h.env = env
	ossTransport := env.OSSTransport()
	t.Cleanup(ossTransport.CloseIdleConnections)
	h.oss = &http.Client{Transport: ossTransport, Timeout: 10 * time.Second}
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderReady, State: dmsfake.StateReady, FileName: "export_5461234.csv", File: readyFile})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderNotYet, State: dmsfake.StateNotReady, Tip: "The export is still running."})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderFailed, State: dmsfake.StateFailed, ErrorCode: "UnknownError", ErrorMessage: "The export task failed."})
	env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: orderDenied, State: dmsfake.StateForbidden})

	getenv := o.getenv
	if getenv == nil {
		vars := map[string]string{
			"ALIBABA_CLOUD_ACCESS_KEY_ID":     h.creds.AccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": h.creds.AccessKeySecret,
			"ALIBABA_CLOUD_SECURITY_TOKEN":    h.creds.SecurityToken,
		}
		getenv = func(k string) string { return vars[k] }
	}
	timeout := o.dmsTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	client, err := dms.New(dms.Options{Region: "cn-hangzhou", Endpoint: env.DMSHost, Scheme: "http", Timeout: timeout, Getenv: getenv})
	if err != nil {
		t.Fatalf("dms client: %v", err)
	}
	t.Cleanup(client.CloseIdleConnections)
	var dmsClient exports.Client = client
	if o.wrapClient != nil {
		dmsClient = o.wrapClient(client)
	}
	eo := exports.Options{
		AllowedHosts: []string{"*.aliyuncs.com"}, // ALLOWED_DOWNLOAD_HOSTS' default
		MaxAttempts:  3, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
		CallTimeout: timeout,
	}
	if o.plainOSS {
		eo.AllowedHosts, eo.AllowHTTPLoopback = []string{"127.0.0.1"}, true
	}
	if o.exportsOpt != nil {
		o.exportsOpt(&eo)
	}
	var keys []links.Key
	if !o.noKeys {
		keys = []links.Key{{ID: "k1", Secret: []byte(secrettest.Random(32))}}
	}
	stateLabel := ""
	if o.redis != nil {
		eo.Store, eo.Sealer = redisState(t, o.redis, logger, o.redisTimeout)
		stateLabel = state.LabelRedis
		h.secrets = append(h.secrets, o.redis.Password)
	}
	h.signer = &links.Signer{Keys: keys, MaxTTL: 30 * 24 * time.Hour}
	h.token = "tok-" + secrettest.Random(20)
	// The server's address is known before the handler exists, so minted
	// links can carry it as PUBLIC_BASE_URL.
	h.srv = httptest.NewUnstartedServer(nil)
	t.Cleanup(h.srv.Close)
	h.base = &url.URL{Scheme: "http", Host: h.srv.Listener.Addr().String()}
	deps := Deps{
		Resolver:      exports.New(dmsClient, eo),
		Signer:        h.signer,
		APITokens:     [][]byte{[]byte(h.token)},
		DefaultTid:    tenant,
		Region:        "cn-hangzhou",
		PublicBaseURL: h.base,
		StateShared:   true, // one process: its memory is all the state there is
		LinkTTL:       7 * 24 * time.Hour,
		NotReadyRetry: 5 * time.Second,
		Logger:        logger,
		StateLabel:    stateLabel,
		State:         eo.Store, // nil without redis: the handler's own memory
	}
	if o.deps != nil {
		o.deps(&deps)
	}
	h.api, err = New(deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var handler http.Handler = h.api
	if o.deadline > 0 {
		handler = h.withDeadline(o.deadline)
		t.Cleanup(func() {
			if n := h.late.Load(); n > 0 {
				t.Errorf("%d answers came after the invocation deadline of %v", n, o.deadline)
			}
		})
	}
	h.srv.Config.Handler = handler
	h.srv.Start()
	transport := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(transport.CloseIdleConnections)
	h.client = &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	if h.contract, err = contracttest.New(); err != nil {
		t.Fatal(err)
	}
	h.secrets = append(h.secrets, h.creds.AccessKeySecret, h.creds.SecurityToken, h.token)
	for _, k := range keys {
		h.secrets = append(h.secrets, string(k.Secret), base64.StdEncoding.EncodeToString(k.Secret))
	}
	if !o.quiet {
		t.Cleanup(h.checkLogs)
	}
	return h
}

// redisState is what main builds for REDIS_URL: Redis with a fallback to
// this instance's memory, answers sealed under a key of the ring. Every
// harness on one server seals with the same key, as instances of one
// deployment do.
func redisState(t testing.TB, srv *redistest.Server, logger *slog.Logger, timeout time.Duration) (state.Store, *exports.Sealer) {
	t.Helper()
	if timeout <= 0 {
		timeout = time.Second
	}
	r, err := state.NewRedis(state.RedisOptions{URL: srv.URL, Prefix: "dms-export-link:", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	sealer, err := exports.NewSealer([]exports.SealKey{{ID: "k1", Secret: []byte(srv.Addr + "-shared-secret-of-the-deployment")}})
	if err != nil {
		t.Fatal(err)
	}
	return state.NewFallback(r, state.NewMemory(0, nil), logger), sealer
}

// withDeadline serves h.api under a context deadline d after the request
// arrives, as FC bounds an invocation, and counts answers that ended after it.
func (h *harness) withDeadline(d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.api.ServeHTTP(w, r.WithContext(ctx))
		// Canceled means the client left, which is not lateness.
		if ctx.Err() == context.DeadlineExceeded {
			h.late.Add(1)
		}
	})
}

// link mints a signed link path+query for order with the harness's key.
func (h *harness) link(order int64, exp time.Time) string {
	h.t.Helper()
	q, err := h.signer.Sign(links.Claims{OrderID: order, Expires: exp})
	if err != nil {
		h.t.Fatalf("sign: %v", err)
	}
	h.secrets = append(h.secrets, q.Get("sig"))
	return "/exports/" + itoa(order) + "/download?" + q.Encode()
}

// wantReadyFile follows an OSS URL as a browser would and fails the test
// unless it serves the ready ticket's file.
func (h *harness) wantReadyFile(loc string) {
	h.t.Helper()
	file, err := h.oss.Get(loc)
	if err != nil {
		h.t.Fatalf("follow Location: %v", err)
	}
	defer file.Body.Close()
	got, _ := io.ReadAll(file.Body)
	if file.StatusCode != http.StatusOK || string(got) != string(readyFile) {
		h.t.Fatalf("OSS answered %d %q, want the ticket's file", file.StatusCode, got)
	}
}

func (h *harness) week() time.Time { return time.Now().Add(7 * 24 * time.Hour) }

// response is a finished exchange with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r *response) problem(t *testing.T) problem {
	t.Helper()
	var p problem
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.StatusCode, r.body)
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, r.body)
	}
	return p
}

// do sends a request over real HTTP without following redirects and
// validates the exchange against openapi.yaml.
func (h *harness) do(method, target string, body io.Reader, header http.Header) *response {
	h.t.Helper()
	var buf []byte
	if body != nil {
		buf, _ = io.ReadAll(body)
	}
	res, err := h.send(context.Background(), method, target, buf, header)
	if err != nil {
		h.t.Fatalf("%v", err)
	}
	return res
}

// send is do for any goroutine: it returns transport errors instead of
// stopping the test, and still validates the exchange.
func (h *harness) send(ctx context.Context, method, target string, body []byte, header http.Header) (*response, error) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	h.validate(req, body, res, got)
	return &response{Response: res, body: got}, nil
}

func (h *harness) get(target string, header http.Header) *response {
	h.t.Helper()
	return h.do(http.MethodGet, target, nil, header)
}

// validate checks an exchange against openapi.yaml (contracttest), fails on
// any 5xx other than DMS's 502/503/504 (and a 500 the test provokes), and
// checks every problem page a browser would get.
func (h *harness) validate(req *http.Request, reqBody []byte, res *http.Response, body []byte) {
	h.t.Helper()
	if res.StatusCode >= 500 && !(h.allow500 && res.StatusCode == 500) && res.StatusCode != 502 && res.StatusCode != 503 && res.StatusCode != 504 {
		h.t.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	if err := h.contract.Check(req, reqBody, res, body); err != nil {
		h.t.Error(err)
	}
	if isHTML(res.Header.Get("Content-Type")) && res.StatusCode >= 400 {
		checkProblemPage(h.t, res, body)
	}
}

// checkLogs fails the test if any secret the harness knows reached a log line.
func (h *harness) checkLogs() {
	for _, leak := range secrettest.Leaks(h.logs.String(), h.secrets) {
		h.t.Errorf("logs: %s", leak)
	}
}
