// Package fcfake is a loopback fake of Alibaba Cloud Function Compute 3.0 for black-box tests of a
// function built with fc-runtime-go-sdk.
//
// A Runtime is one instance's side of FC: the runtime API the SDK polls (FC_RUNTIME_API) and an
// HTTP-trigger front door that turns real HTTP requests into FC 3.0 HTTP trigger events and the
// function's answers back into HTTP responses. Start the fake before the function binary and kill
// the binary before Close: the SDK retries without backoff when the runtime API is gone.
//
// A Pool is FC's scaling: one front door over many instances, each its own process, started as
// requests find every instance busy, in the go1 runtime (a Runtime per instance, one request at a
// time) or the custom runtime (an HTTP server per instance, several requests at a time).
//
// The protocol and its quirks are described in docs/fc3-runtime.md (the HTTP-trigger event and the
// runtime API); the custom runtime's headers and FC's answer at the instance limit follow Alibaba
// Cloud's FC 3.0 pages "Context and log format" (custom runtime) and "Limits and rules of instance
// scaling".
package fcfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the Options fields left empty.
const (
	DefaultTimeout      = 3 * time.Second // FC's default function timeout
	DefaultFunctionName = "dms-export-link"
	DefaultRegion       = "cn-hangzhou"
	DefaultAccountID    = "1234567890"
	DefaultHandler      = "main"
	DefaultMemory       = 128
)

// deadlineGrace is how long after an invocation's deadline the fake still waits for an answer
// before it gives up, so a function that returns right at its deadline is not reported as timed out.
const deadlineGrace = 500 * time.Millisecond

// maxResultBody caps what the function may post to /response or /error (FC's synchronous
// invocation limit).
const maxResultBody = 32 << 20

const apiPrefix = "/2020-11-11/runtime/invocation/"

// Function types sent in x-fc-function-type.
const (
	funcTypeInvoke      = 0
	funcTypeInitializer = 1
)

// Errors returned by Invoke and Initialize.
var (
	// ErrTimeout means no answer arrived by the invocation's deadline plus a grace period,
	// either because no function polled for it or because the function was too slow.
	ErrTimeout = errors.New("fcfake: function timed out")
	// ErrClosed means the Runtime was closed before the invocation was answered.
	ErrClosed = errors.New("fcfake: runtime closed")
	// ErrResultTooLarge means the function posted a result larger than 32 MB.
	ErrResultTooLarge = errors.New("fcfake: function result too large")
)

// Credentials are the STS credentials handed to every invocation, as FC does for the
// function's RAM role.
type Credentials struct {
	AccessKeyID, AccessKeySecret, SecurityToken string
}

// Options configure a Runtime. Zero values take the defaults above.
type Options struct {
	// Timeout is the function timeout: each invocation's deadline is its start plus Timeout
	// (x-fc-function-deadline in epoch ms; x-fc-function-timeout in whole seconds, rounded up).
	// The fake waits until the deadline plus 500 ms for an answer, then reports a timeout.
	Timeout     time.Duration
	Credentials Credentials // sent as x-fc-access-key-id, -secret, x-fc-security-token
	// FunctionName, Region, AccountID and Handler are sent as x-fc-function-name, x-fc-region,
	// x-fc-account-id and x-fc-function-handler.
	FunctionName, Region, AccountID, Handler string
	Memory                                   int          // x-fc-function-memory in MB
	Logger                                   *slog.Logger // nil discards
}

// Result is the function's answer to one invocation.
type Result struct {
	RequestID string
	// Body is the body the function posted, to /response or, when Error is set, to /error.
	Body []byte
	// Error is set when the function posted to /error (a returned error, a panic, bad input).
	Error *InvocationError
	// Elapsed is the time from the call to the answer (zero when there was none).
	Elapsed time.Duration
}

// InvocationError is the error document the SDK posts to /error.
type InvocationError struct {
	ErrorMessage string          `json:"errorMessage"`
	ErrorType    string          `json:"errorType"`
	StackTrace   json.RawMessage `json:"stackTrace,omitempty"`
}

// Error implements error.
func (e *InvocationError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.ErrorType, e.ErrorMessage)
}

// Runtime is a running fake: the runtime API and the front door, each on its own loopback
// listener. It is safe for concurrent use.
type Runtime struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	api   *http.Server
	front *http.Server

	apiAddr  string
	frontURL string

	jobs        chan *call    // unbuffered: an invocation is handed straight to a waiting /next
	done        chan struct{} // closed by Close
	closeOnce   sync.Once
	closeErr    error
	serving     sync.WaitGroup
	invocations atomic.Int64
	polls       atomic.Int64 // /next requests being served, for tests

	mu      sync.Mutex
	pending map[string]*call
}

// call is one invocation waiting for the function's answer.
type call struct {
	id       string
	payload  []byte
	funcType int
	deadline time.Time
	result   chan outcome // buffered 1: delivery never blocks the runtime API handler
}

type outcome struct {
	body    []byte
	isError bool
	err     error
}

// Start listens on two loopback ports and serves the runtime API and the front door until Close.
func Start(opts Options) (*Runtime, error) {
	opts = opts.withDefaults()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fcfake: runtime API listener: %w", err)
	}
	frontLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		apiLn.Close()
		return nil, fmt.Errorf("fcfake: front door listener: %w", err)
	}

	r := &Runtime{
		opts:     opts,
		log:      logger,
		now:      time.Now,
		apiAddr:  apiLn.Addr().String(),
		frontURL: "http://" + frontLn.Addr().String(),
		jobs:     make(chan *call),
		done:     make(chan struct{}),
		pending:  make(map[string]*call),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"next", r.handleNext)
	mux.HandleFunc("POST "+apiPrefix+"{id}/response", r.resultHandler(false))
	mux.HandleFunc("POST "+apiPrefix+"{id}/error", r.resultHandler(true))
	r.api = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.front = &http.Server{Handler: r.trigger(), ReadHeaderTimeout: 10 * time.Second}

	r.serve(r.api, apiLn)
	r.serve(r.front, frontLn)
	return r, nil
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	o.FunctionName = orDefault(o.FunctionName, DefaultFunctionName)
	o.Region = orDefault(o.Region, DefaultRegion)
	o.AccountID = orDefault(o.AccountID, DefaultAccountID)
	o.Handler = orDefault(o.Handler, DefaultHandler)
	if o.Memory <= 0 {
		o.Memory = DefaultMemory
	}
	return o
}

// setContextHeaders sets the x-fc-* headers FC sends with every invocation, in both runtimes:
// the role's STS credentials and the function's metadata.
func (o Options) setContextHeaders(h http.Header) {
	h.Set("x-fc-access-key-id", o.Credentials.AccessKeyID)
	h.Set("x-fc-access-key-secret", o.Credentials.AccessKeySecret)
	h.Set("x-fc-security-token", o.Credentials.SecurityToken)
	h.Set("x-fc-function-name", o.FunctionName)
	h.Set("x-fc-function-handler", o.Handler)
	h.Set("x-fc-function-memory", strconv.Itoa(o.Memory))
	h.Set("x-fc-region", o.Region)
	h.Set("x-fc-account-id", o.AccountID)
}

func (r *Runtime) serve(srv *http.Server, ln net.Listener) {
	r.serving.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("fcfake: server stopped", "addr", ln.Addr().String(), "err", err)
		}
	})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// APIAddr is the host:port of the runtime API, the value for FC_RUNTIME_API.
func (r *Runtime) APIAddr() string { return r.apiAddr }

// FrontURL is the base URL ("http://127.0.0.1:port") of the HTTP-trigger front door.
func (r *Runtime) FrontURL() string { return r.frontURL }

// Invocations is how many invocations (initializers included) the function has received via /next.
func (r *Runtime) Invocations() int { return int(r.invocations.Load()) }

// Initialize runs the initializer hook (x-fc-function-type 1) and waits for its answer.
// It returns the *InvocationError the function posted, ErrTimeout, ErrClosed or ctx's error.
func (r *Runtime) Initialize(ctx context.Context) error {
	res, err := r.invoke(ctx, nil, funcTypeInitializer, newRequestID(r.now()))
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	return nil
}

// Invoke sends payload as a raw event invocation and waits for the function's answer.
// A function error is reported in Result.Error, not as an error; the error is ErrTimeout,
// ErrClosed, ErrResultTooLarge or ctx's error.
func (r *Runtime) Invoke(ctx context.Context, payload []byte) (Result, error) {
	return r.invoke(ctx, payload, funcTypeInvoke, newRequestID(r.now()))
}

func (r *Runtime) invoke(ctx context.Context, payload []byte, funcType int, id string) (Result, error) {
	start := r.now()
	c := &call{
		id:       id,
		payload:  payload,
		funcType: funcType,
		deadline: start.Add(r.opts.Timeout),
		result:   make(chan outcome, 1),
	}
	res := Result{RequestID: id}
	if err := r.register(c); err != nil {
		return res, err
	}
	defer r.unregister(id)

	timer := time.NewTimer(c.deadline.Add(deadlineGrace).Sub(start))
	defer timer.Stop()
	log := r.log.With("requestId", id, "functionType", funcType)

	select {
	case r.jobs <- c:
	case <-timer.C:
		log.Warn("fcfake: no function polled for the invocation")
		return res, ErrTimeout
	case <-ctx.Done():
		return res, ctx.Err()
	case <-r.done:
		return res, ErrClosed
	}

	select {
	case o := <-c.result:
		res.Elapsed = r.now().Sub(start)
		if o.err != nil {
			return res, o.err
		}
		res.Body = o.body
		if o.isError {
			res.Error = decodeInvocationError(o.body)
		}
		log.Debug("fcfake: invocation answered", "error", o.isError, "elapsed", res.Elapsed)
		return res, nil
	case <-timer.C:
		log.Warn("fcfake: invocation timed out")
		return res, ErrTimeout
	case <-ctx.Done():
		return res, ctx.Err()
	case <-r.done:
		return res, ErrClosed
	}
}

// decodeInvocationError parses an /error body leniently: whatever the function posted is an
// error, even when it is not the SDK's JSON.
func decodeInvocationError(body []byte) *InvocationError {
	var e InvocationError
	if err := json.Unmarshal(body, &e); err != nil {
		return &InvocationError{ErrorMessage: "unparseable error document", ErrorType: "InvalidErrorDocument"}
	}
	return &e
}

func (r *Runtime) register(c *call) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return ErrClosed
	default:
	}
	r.pending[c.id] = c
	return nil
}

func (r *Runtime) unregister(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, id)
}

// take removes and returns the pending call with id, so that each invocation is answered once.
func (r *Runtime) take(id string) (*call, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.pending[id]
	if ok {
		delete(r.pending, id)
	}
	return c, ok
}

// handleNext is the SDK's long poll: it blocks until an invocation exists, the client goes
// away or the Runtime closes.
//
// An invocation handed to a poll whose client vanished a moment earlier is lost and its caller
// times out, as on FC when an instance dies; the SDK never abandons a poll.
func (r *Runtime) handleNext(w http.ResponseWriter, req *http.Request) {
	r.polls.Add(1)
	defer r.polls.Add(-1)
	var c *call
	select {
	case c = <-r.jobs:
	case <-req.Context().Done():
		return
	case <-r.done:
		http.Error(w, "runtime closed", http.StatusServiceUnavailable)
		return
	}
	r.invocations.Add(1)
	o := r.opts
	h := w.Header()
	h.Set("x-fc-request-id", c.id)
	h.Set("x-fc-function-deadline", strconv.FormatInt(c.deadline.UnixMilli(), 10))
	h.Set("x-fc-function-timeout", strconv.FormatInt(int64((o.Timeout+time.Second-1)/time.Second), 10))
	if c.funcType != funcTypeInvoke {
		h.Set("x-fc-function-type", strconv.Itoa(c.funcType))
	}
	o.setContextHeaders(h)
	h.Set("x-fc-retry-count", "0")
	h.Set("Content-Length", strconv.Itoa(len(c.payload)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(c.payload); err != nil {
		// The invocation is lost; its caller times out, as on FC when an instance dies.
		r.log.Warn("fcfake: writing the invocation failed", "requestId", c.id, "err", err)
	}
}

// resultHandler delivers a POST to /{id}/response or /{id}/error to the waiting caller.
func (r *Runtime) resultHandler(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		r.deliver(w, req, isError)
	}
}

func (r *Runtime) deliver(w http.ResponseWriter, req *http.Request, isError bool) {
	c, ok := r.take(req.PathValue("id"))
	if !ok {
		http.Error(w, "unknown request id", http.StatusNotFound)
		return
	}
	o := outcome{isError: isError}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxResultBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		o.err = ErrResultTooLarge
		http.Error(w, "result too large", http.StatusRequestEntityTooLarge)
	case err != nil:
		o.err = fmt.Errorf("fcfake: reading the function result: %w", err)
	default:
		o.body = body
	}
	c.result <- o
}

// Close stops both servers. Pending invocations fail with ErrClosed, long polls end, and all
// of the fake's goroutines have returned when Close does.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		close(r.done)
		r.mu.Unlock()
		// Handlers return promptly once done is closed, so Shutdown only waits for them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.closeErr = errors.Join(shutdown(ctx, r.api), shutdown(ctx, r.front))
		r.serving.Wait()
	})
	return r.closeErr
}

func shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("fcfake: shutdown: %w", err), srv.Close())
	}
	return nil
}

// newRequestID makes an id shaped like FC's ("1-<epoch seconds hex>-<random hex>").
func newRequestID(now time.Time) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("1-%08x-%s", now.Unix(), hex.EncodeToString(b[:]))
}
