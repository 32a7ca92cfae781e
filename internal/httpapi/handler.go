// Package httpapi is the function's http.Handler: every request is routed and
// validated by kin-openapi against openapi.yaml, then handled by one function
// per operationId. Errors are RFC 9457 problems with a stable code.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/links"
	"github.com/dms-export-link/dms-export-link/internal/notify"
	"github.com/dms-export-link/dms-export-link/internal/state"
)

const (
	// maxBody bounds every request body; our bodies are a few hundred bytes.
	maxBody = 64 << 10
	// maxQuery bounds the query string before any parsing (FC allows 4 KB for path and query).
	maxQuery = 4 << 10
)

// Resolver finds the download URL of a ticket (internal/exports in production).
type Resolver interface {
	Resolve(ctx context.Context, req dms.Request) (exports.Resolution, error)
}

// Deps is everything the handler needs; main builds it from the configuration.
type Deps struct {
	Resolver      Resolver
	Signer        *links.Signer // nil or without keys: download links are refused, naming LINK_KEYS
	APITokens     [][]byte      // bearer tokens for getExport and createLink
	DefaultTid    int64         // DMS_TID, for links without tid
	Region        string        // DMS region sent with every call
	PublicBaseURL *url.URL      // base of every minted link; nil = links are not minted, naming PUBLIC_BASE_URL
	LinkTTL       time.Duration // default lifetime of minted links
	NotReadyRetry time.Duration // Retry-After for "not ready yet"
	Logger        *slog.Logger
	Now           func() time.Time

	// StateLabel names the configured shared state for the request log
	// (state.LabelRedis or state.LabelMemory, the default); a request whose
	// state operations fell back is logged state.LabelDegraded.
	StateLabel string

	Announcer          *notify.Announcer // posts "export ready" to the chat robots; nil or no robots = the DMS webhook announces nothing
	WebhookToken       string            // DMS_WEBHOOK_TOKEN; "" = receiveDmsWebhook is refused
	DingTalkAppSecret  string            // DINGTALK_APP_SECRET; "" = dingtalkCommand is refused
	SlackSigningSecret string            // SLACK_SIGNING_SECRET; "" = slackCommand is refused
	DingTalkWindow     time.Duration     // DINGTALK_SIGNATURE_WINDOW; 0 = notify.DefaultDingTalkWindow
	BodyTimeout        time.Duration     // how long a request body may take to arrive; 0 = 10s
	DingTalkAllowed    notify.Allowlist  // DINGTALK_ALLOWED_CONVERSATIONS; empty = commands are refused, naming it
	SlackAllowed       notify.Allowlist  // SLACK_ALLOWED_CHANNELS; empty = commands are refused, naming it
	CommandRate        int               // COMMAND_RATE_LIMIT: commands per minute per asker; 0 = unlimited
	WebhookMaxAge      time.Duration     // WEBHOOK_MAX_EVENT_AGE: older events are answered "stale"; 0 = no limit
	AnnounceRate       int               // ANNOUNCE_RATE_LIMIT: announcements per minute, all instances together; 0 = unlimited

	// State is what FC instances share: replay memory, budgets, revocations.
	// nil = a private in-process Memory.
	State state.Store
	// StateShared says State reaches every instance that may serve a request
	// (Redis, or one local process): only then is a revocation honoured
	// everywhere. main sets it from the configuration.
	StateShared bool
}

// API is the function's HTTP handler.
type API struct {
	deps     Deps
	log      *slog.Logger
	now      func() time.Time
	contract *contract // routes and validates requests
	ops      map[string]func(*call) (*problem, error)

	tokenSums [][sha256.Size]byte // SHA-256 of each of APITokens
}

// New builds the handler: the router is built once here, never per request,
// over the routes of the request side of the contract
// (dmsexportlink.RequestSpec); each operation's schemas are read on its first
// request, but the download's here, the operation links lead to and most
// often a new instance's first request. Nothing is validated here: the view
// is embedded, so tests check the very bytes every build carries, and the
// check would cost every cold start about as much as building the router.
func New(d Deps) (*API, error) {
	ct, err := loadContract(dmsexportlink.RequestSpec)
	if err != nil {
		return nil, fmt.Errorf("httpapi: openapi.requests.yaml: %w", err)
	}
	if _, err := ct.route(operationDownload); err != nil {
		return nil, err
	}
	a := &API{deps: d, log: d.Logger, now: d.Now, contract: ct}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.deps.State == nil {
		a.deps.State = state.NewMemory(0, a.now)
	}
	if a.deps.DingTalkWindow <= 0 {
		a.deps.DingTalkWindow = notify.DefaultDingTalkWindow
	}
	if a.deps.StateLabel == "" {
		a.deps.StateLabel = state.LabelMemory
	}
	if a.deps.NotReadyRetry <= 0 {
		a.deps.NotReadyRetry = 5 * time.Second
	}
	for _, t := range d.APITokens {
		a.tokenSums = append(a.tokenSums, sha256.Sum256(t))
	}
	a.ops = a.routes()
	for id, op := range ct.ops {
		if _, ok := a.ops[id]; !ok {
			return nil, fmt.Errorf("httpapi: %s %s: operation %q has no handler", op.method, op.path, id)
		}
	}
	return a, nil
}

// call is one request on its way through the handler.
type call struct {
	w          http.ResponseWriter
	r          *http.Request
	id         string
	route      *routers.Route
	params     map[string]string
	query      url.Values // parsed once, for kin-openapi and the link check
	claims     links.Claims
	orderID    int64
	tid        int64
	dmsReqID   string
	cache      exports.CacheStatus
	attempts   int
	outcome    string
	previewBot bool
	asker      []any  // who sent a chat command, from where
	caller     string // fingerprint of the bearer token used
	usage      *state.Usage
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := a.now()
	sw := &statusWriter{ResponseWriter: w}
	ctx, usage := state.WithUsage(r.Context())
	r = r.WithContext(ctx)
	c := &call{w: sw, r: r, id: requestID(r), usage: usage}
	sw.Header().Set("X-Request-Id", c.id)
	p := a.serve(c)
	switch {
	case p != nil && p.Code != "body_timeout" && errors.Is(r.Context().Err(), context.Canceled):
		// The client left (its connection closed); what went wrong after that,
		// typically a DMS call cut short, is not DMS's or the caller's fault.
		// (A body read deadline that passed cancels the context too.)
		c.outcome, sw.status = "client_gone", statusClientGone
	case p != nil:
		if c.outcome == "" {
			c.outcome = p.Code
		}
		a.writeProblem(c, p)
	}
	a.logRequest(c, sw.status, start)
}

func (a *API) serve(c *call) (p *problem) {
	defer func() {
		if v := recover(); v != nil {
			a.log.Error("panic", "requestId", c.id, "panic", fmt.Sprint(v))
			p = newProblem("internal", "")
		}
	}()
	r := c.r
	if len(r.URL.RawQuery) > maxQuery {
		return newProblem("bad_request", fmt.Sprintf("The query string is longer than %d bytes.", maxQuery))
	}
	// NoBody stays NoBody: kin-openapi would otherwise read and replace it.
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(c.w, r.Body, maxBody)
	}
	route, params, err := a.contract.router.FindRoute(r)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed):
		p := newProblem("method_not_allowed", "")
		p.allow = a.allowed(r)
		return p
	case err != nil:
		return newProblem("not_found", "")
	}
	if route, err = a.contract.route(route.Operation.OperationID); err != nil {
		a.log.Error("contract", "requestId", c.id, "err", err.Error())
		return newProblem("internal", "")
	}
	for k, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[k] = u
		}
	}
	c.route, c.params, c.query = route, params, r.URL.Query()
	state := &authState{}
	authenticate := func(_ context.Context, ai *openapi3filter.AuthenticationInput) error {
		return a.authenticate(ai, state)
	}
	if p := a.authenticateFirst(c, authenticate, state); p != nil {
		// Do not let net/http wait for the unread body before answering.
		c.w.Header().Set("Connection", "close")
		return p
	}
	if r.Body != nil && r.Body != http.NoBody {
		if p := a.bufferBody(c); p != nil {
			return p
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:     r,
		PathParams:  params,
		QueryParams: c.query,
		Route:       route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true, // the signed query must reach the verifier unchanged
			AuthenticationFunc:  authenticate,
		},
	}
	err = openapi3filter.ValidateRequest(r.Context(), in)
	c.caller = state.caller
	if err != nil {
		if state.refused != nil {
			return state.refused
		}
		return validationProblem(err)
	}
	if state.replay != nil {
		if p := a.firstUse(c, state.replay); p != nil {
			return p
		}
	}
	if state.linkPending {
		if p := a.verifyLink(c); p != nil {
			return p
		}
		if p := a.withdrawn(c, c.claims.OrderID, c.claims.Tid); p != nil {
			c.orderID, c.tid = c.claims.OrderID, a.tidOf(c.claims.Tid)
			return p
		}
	}
	p, err = a.ops[route.Operation.OperationID](c)
	if err != nil {
		return a.failure(c, err)
	}
	return p
}

// authenticateFirst checks credentials that travel outside the body (bearer
// tokens, the webhook token, DingTalk's signature) before the body is read,
// so a caller without them is refused at once however slowly it sends.
// kin-openapi reads the body before its AuthenticationFunc, so this runs the
// operation's security requirements on a copy of the request without one.
// Slack signs the body, so its check waits for it.
func (a *API) authenticateFirst(c *call, f openapi3filter.AuthenticationFunc, st *authState) *problem {
	sec := c.route.Operation.Security
	if sec == nil || len(*sec) == 0 {
		return nil
	}
	for _, req := range *sec {
		if _, signsBody := req["slackSignature"]; signsBody {
			return nil
		}
	}
	probe := *c.r
	probe.Body = http.NoBody
	in := &openapi3filter.RequestValidationInput{Request: &probe, PathParams: c.params, QueryParams: c.query, Route: c.route,
		Options: &openapi3filter.Options{AuthenticationFunc: f}}
	if err := openapi3filter.ValidateSecurityRequirements(c.r.Context(), in, *sec); err != nil && st.refused != nil {
		return st.refused
	}
	return nil
}

// defaultBodyTimeout is how long a request body may take to arrive.
const defaultBodyTimeout = 10 * time.Second

// bufferBody reads the request body within the body timeout and keeps it for
// validation and the handler. Under FC the body is in the event already; the
// local server's connection gets a read deadline.
func (a *API) bufferBody(c *call) *problem {
	rc := http.NewResponseController(c.w)
	timeout := a.deps.BodyTimeout
	if timeout <= 0 {
		timeout = defaultBodyTimeout
	}
	if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	b, err := io.ReadAll(c.r.Body)
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case err == nil:
	case errors.As(err, &mbe):
		return newProblem("body_too_large", "")
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		c.w.Header().Set("Connection", "close")
		return newProblem("body_timeout", fmt.Sprintf("The request body did not arrive within %s.", timeout))
	default:
		return newProblem("bad_request", "The request body could not be read.")
	}
	c.r.Body = io.NopCloser(bytes.NewReader(b))
	c.r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}

// statusClientGone is logged for a request whose client left before the
// answer (nginx's 499); nothing is written.
const statusClientGone = 499

// failure logs an unexpected error and turns any error into a problem.
func (a *API) failure(c *call, err error) *problem {
	p := problemFor(err)
	if p.Code == "internal" {
		a.log.Error("unexpected error", "requestId", c.id, "err", err.Error())
	}
	return p
}

// authenticate is kin-openapi's AuthenticationFunc. Bearer tokens, webhook
// tokens and platform signatures are checked now; signed links after the
// parameters are known to be well-formed.
func (a *API) authenticate(ai *openapi3filter.AuthenticationInput, st *authState) error {
	switch ai.SecuritySchemeName {
	case "signedLink":
		st.linkPending = true
		return nil
	case "bearerToken":
		if p := a.checkBearer(ai.RequestValidationInput.Request, st); p != nil {
			st.refused = p
			return ai.NewError(errors.New(p.Code))
		}
		return nil
	}
	return a.authenticatePlatform(ai, st)
}

func (a *API) checkBearer(r *http.Request, st *authState) *problem {
	if len(a.deps.APITokens) == 0 {
		return newProblem("api_tokens_missing", "Set API_TOKENS to enable the bearer-token operations.")
	}
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return newProblem("unauthorized", "Send Authorization: Bearer <token>.")
	}
	// Hashes have one length, so the comparison takes the same time whatever
	// the length of the token sent, and every configured token is compared.
	got := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	ok := 0
	for _, want := range a.tokenSums {
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	if ok != 1 {
		return newProblem("unauthorized", "The bearer token is not one of API_TOKENS.")
	}
	st.caller = tokenFingerprint(got)
	return nil
}

// tokenFingerprint names a bearer token in logs without revealing it: the
// first 8 hex digits of its SHA-256 (printf %s "$token" | sha256sum | cut -c1-8).
func tokenFingerprint(sum [sha256.Size]byte) string {
	return hex.EncodeToString(sum[:4])
}

// verifyLink checks the signed link of a download request.
func (a *API) verifyLink(c *call) *problem {
	if a.deps.Signer == nil || len(a.deps.Signer.Keys) == 0 {
		return problemFor(links.ErrNoKeys)
	}
	claims, err := a.deps.Signer.Verify(c.params["orderId"], c.query)
	if err != nil {
		return problemFor(err)
	}
	c.claims = claims
	return nil
}

// allowed lists the methods the path answers to, for a 405's Allow header.
func (a *API) allowed(r *http.Request) string {
	var ms []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, _, err := a.contract.router.FindRoute(probe); err == nil {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}

// requestID is FC's request id when running under FC, else a random one.
func requestID(r *http.Request) string {
	if fc, ok := fccontext.FromContext(r.Context()); ok && fc.RequestID != "" {
		return fc.RequestID
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (a *API) logRequest(c *call, status int, start time.Time) {
	op := ""
	if c.route != nil {
		op = c.route.Operation.OperationID
	}
	attrs := append(make([]slog.Attr, 0, 12),
		slog.String("requestId", c.id),
		slog.String("method", c.r.Method),
		slog.String("path", c.r.URL.EscapedPath()),
		slog.String("operationId", op),
		slog.Int("status", status),
		slog.String("outcome", c.outcome),
		slog.Float64("latencyMs", float64(a.now().Sub(start).Microseconds())/1000),
		slog.String("state", c.usage.Label(a.deps.StateLabel)),
	)
	if c.orderID != 0 {
		attrs = append(attrs, slog.Int64("orderId", c.orderID))
	}
	if c.tid != 0 {
		attrs = append(attrs, slog.Int64("tid", c.tid))
	}
	if c.dmsReqID != "" {
		attrs = append(attrs, slog.String("dmsRequestId", c.dmsReqID))
	}
	if c.cache != "" {
		attrs = append(attrs, slog.String("cache", string(c.cache)), slog.Int("dmsAttempts", c.attempts))
	}
	if c.previewBot {
		attrs = append(attrs, slog.Bool("previewBot", true))
	}
	if c.caller != "" {
		attrs = append(attrs, slog.String("caller", c.caller))
	}
	if c.asker != nil {
		attrs = append(attrs, slog.Group("asker", c.asker...))
	}
	a.log.LogAttrs(c.r.Context(), slog.LevelInfo, "request", attrs...)
}

// statusWriter remembers the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
