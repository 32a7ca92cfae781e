// Package dmsfake emulates, on loopback, the two Alibaba Cloud services the
// function talks to: the DMS OpenAPI gateway answering GetDataExportDownloadURL
// (signature, credentials, timestamps and nonces checked as the real gateway
// does, docs/dms-sdk.md, "Wire format") and an OSS bucket serving V1 and V4 presigned
// URLs over TLS under its public host name (docs/oss-urls.md). Tests drive
// it with the real alibaba-cloud-sdk-go; -demo runs on it.
package dmsfake

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

const (
	apiVersion = "2018-11-01"
	apiAction  = "GetDataExportDownloadURL"
	// timestampWindow is the gateway's tolerance for clock skew.
	timestampWindow = 15 * time.Minute
	// maxCallRecord bounds LastCalls.
	maxCallRecord = 1024
	defaultURLTTL = time.Hour
)

// Options configure a Gateway.
type Options struct {
	// AccessKeyID, AccessKeySecret and SecurityToken are the only credentials
	// the gateway accepts. SecurityToken "" means a plain AccessKey: then a
	// request carrying a token is rejected too.
	AccessKeyID, AccessKeySecret, SecurityToken string
	// Now is the gateway's clock (timestamp window, URL expiry); default time.Now.
	Now func() time.Time
	// Logger gets one Info line per API call; nil is silent. Signatures,
	// tokens and OSS URL queries are never logged.
	Logger *slog.Logger
	// OSS serves the files of ready tickets; required for ready tickets
	// without a Ticket.URL (without it they answer 500 InternalError).
	OSS *OSS
	// URLTTL is the lifetime of the OSS URLs the gateway mints; default 1h.
	URLTTL time.Duration
	// DefaultTid is the tenant of a request that carries no Tid.
	DefaultTid int64
}

// State is what DMS knows about an export ticket.
type State int

const (
	// StateReady has a file: Success, HasResult and an OSS URL.
	StateReady State = iota
	// StateNotReady has no file yet: Success, HasResult=false, TipMessage.
	StateNotReady
	// StateFailed is DMS refusing the ticket: HTTP 200, Success=false.
	StateFailed
	// StateForbidden is the caller's RAM role lacking permission: HTTP 403 Forbidden.RAM.
	StateForbidden
)

// Ticket is one data-export ticket of one tenant.
type Ticket struct {
	Tid, OrderID int64
	State        State
	FileName     string        // ready: object name; default "export_<OrderID>.zip"
	File         []byte        // ready: the bytes OSS serves
	Tip          string        // not ready: TipMessage
	ErrorCode    string        // failed: ErrorCode (default "UnknownError")
	ErrorMessage string        // failed: ErrorMessage (default ErrorCode)
	URL          string        // if set, returned verbatim instead of a minted OSS URL
	URLTTL       time.Duration // if >0, lifetime of this ticket's minted URLs
	Signing      Signing       // how the minted URL is signed; default SignV1
	URLQuery     url.Values    // parameters signed into the minted URL, e.g. response-content-disposition
}

func (t Ticket) fileName() string {
	if t.FileName != "" {
		return t.FileName
	}
	return fmt.Sprintf("export_%d.zip", t.OrderID)
}

// Fault makes the gateway misbehave. A ticket's fault is consulted before
// the global one; Latency of both adds up. Faults apply only to requests
// that passed every gateway check, so a faulted test still proves the
// request was well formed.
type Fault struct {
	Latency       time.Duration // wait before answering; ends early when the client goes away
	Throttle      int           // the next N calls get 400 Throttling.User; -1 = every call
	ServerErrors  int           // the next N calls get 503 ServiceUnavailable; -1 = every call
	Malformed     bool          // HTTP 200 with a body that is neither JSON nor XML
	Drop          bool          // close the connection without answering
	Status        int           // with Code: any other gateway error, e.g. 403 "Forbidden.RAM"
	Code, Message string
}

// Call is one API call as the gateway saw it. SecurityToken is kept for
// credential assertions in tests; it is never logged. Code is the gateway or
// business code, "" on success, or one of the emulator's own markers for an
// answer without a code: "Dropped", "Malformed", "ClientGone" (Status 0 when
// nothing was written).
type Call struct {
	Action, AccessKeyID, SecurityToken, RegionID string
	Tid, OrderID                                 int64
	Status                                       int
	Code                                         string
	Format                                       string
	Method                                       string
}

type ticketKey struct{ tid, orderID int64 }

// Gateway is an http.Handler emulating the DMS OpenAPI gateway for
// GetDataExportDownloadURL. It is safe for concurrent use.
type Gateway struct {
	opts Options

	mu           sync.Mutex
	tickets      map[ticketKey]Ticket
	fault        Fault
	ticketFaults map[int64]*Fault
	nonces       nonceCache
	calls        int
	callsFor     map[int64]int
	record       []Call
}

// NewGateway returns a gateway with no tickets and no faults.
func NewGateway(opts Options) *Gateway {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.URLTTL <= 0 {
		opts.URLTTL = defaultURLTTL
	}
	return &Gateway{
		opts:         opts,
		tickets:      make(map[ticketKey]Ticket),
		ticketFaults: make(map[int64]*Fault),
		callsFor:     make(map[int64]int),
	}
}

// PutTicket adds or replaces a ticket; a ready ticket's file is put into the OSS.
func (g *Gateway) PutTicket(t Ticket) {
	if t.State == StateReady && t.URL == "" && g.opts.OSS != nil {
		g.opts.OSS.Put(t.fileName(), t.File)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tickets[ticketKey{t.Tid, t.OrderID}] = t
}

// SetFault sets the fault applied to every call; Fault{} clears it.
func (g *Gateway) SetFault(f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fault = f
}

// SetTicketFault sets the fault applied to calls for orderID; Fault{} clears it.
func (g *Gateway) SetTicketFault(orderID int64, f Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ticketFaults[orderID] = &f
}

// Calls is the number of API calls received: requests that carried an Action.
func (g *Gateway) Calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls
}

// CallsFor is the number of API calls whose OrderId was orderID.
func (g *Gateway) CallsFor(orderID int64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.callsFor[orderID]
}

// LastCalls returns a copy of the most recent calls (up to 1024), oldest first.
func (g *Gateway) LastCalls() []Call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Call(nil), g.record...)
}

// outcome is how one call ended, for the record and the log line.
type outcome struct {
	status int
	code   string
	kind   string // "ready", "not_ready", "error"
}

// ServeHTTP answers one OpenAPI request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	// ParseForm merges the query and a form body, as the gateway signs both.
	parseErr := r.ParseForm()
	p := make(map[string]string, len(r.Form))
	for k, v := range r.Form {
		p[k] = v[0]
	}
	call := Call{
		Action:        p["Action"],
		AccessKeyID:   p["AccessKeyId"],
		SecurityToken: p["SecurityToken"],
		RegionID:      p["RegionId"],
		Format:        p["Format"],
		Method:        r.Method,
	}
	call.OrderID, _ = strconv.ParseInt(p["OrderId"], 10, 64)
	call.Tid, _ = strconv.ParseInt(p["Tid"], 10, 64)
	if _, ok := p["Tid"]; !ok {
		call.Tid = g.opts.DefaultTid
	}

	// Counted on arrival, so a test that sees its answer (even one cut short
	// by the caller's deadline) sees the call counted.
	if call.Action != "" {
		g.mu.Lock()
		g.calls++
		if call.OrderID != 0 {
			g.callsFor[call.OrderID]++
		}
		g.mu.Unlock()
	}
	var out outcome
	if parseErr != nil {
		out = g.fail(w, r, call.Format, requestID, invalidParameter("body"))
	} else {
		out = g.serve(w, r, p, call, requestID)
	}
	if call.Action == "" {
		return
	}
	call.Status, call.Code = out.status, out.code

	g.mu.Lock()
	if len(g.record) == maxCallRecord {
		g.record = append(g.record[:0], g.record[1:]...)
	}
	g.record = append(g.record, call)
	g.mu.Unlock()

	if g.opts.Logger != nil {
		g.opts.Logger.LogAttrs(r.Context(), slog.LevelInfo, "dms call",
			slog.String("action", call.Action),
			slog.Int64("orderId", call.OrderID),
			slog.Int64("tid", call.Tid),
			slog.String("regionId", call.RegionID),
			slog.Int("status", out.status),
			slog.String("code", out.code),
			slog.String("outcome", out.kind),
			slog.String("requestId", requestID),
			slog.Duration("latency", time.Since(start)))
	}
}

func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, format, requestID string, e *gwError) outcome {
	writeError(w, r, format, requestID, e)
	return outcome{status: e.status, code: e.code, kind: "error"}
}

// serve runs the gateway's checks in its order, then faults, then DMS.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, p map[string]string, call Call, requestID string) outcome {
	format := call.Format
	if e := g.check(r, p); e != nil {
		return g.fail(w, r, format, requestID, e)
	}
	orderID, tid := call.OrderID, call.Tid

	ticketFault, globalFault := g.faults(orderID)
	if d := ticketFault.Latency + globalFault.Latency; d > 0 {
		if !wait(r.Context(), d) {
			return outcome{kind: "error", code: "ClientGone"}
		}
	}
	switch act := g.takeFault(orderID); {
	case act.drop:
		drop(w)
		return outcome{kind: "error", code: "Dropped"}
	case act.malformed:
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = fmt.Fprintf(w, `{"RequestId":"%s","Success":tr`, requestID)
		return outcome{status: http.StatusOK, kind: "error", code: "Malformed"}
	case act.err != nil:
		return g.fail(w, r, format, requestID, act.err)
	}

	g.mu.Lock()
	t, ok := g.tickets[ticketKey{tid, orderID}]
	g.mu.Unlock()
	body := successBody{RequestID: requestID}
	switch {
	case !ok:
		// Assumption: DMS answers an unknown ticket (or another tenant's) as a
		// business failure; no documented code exists (docs/dms-sdk.md, "Answers and errors").
		body.ErrorCode, body.ErrorMessage = "InvalidOrderId", "The order does not exist."
	case t.State == StateForbidden:
		return g.fail(w, r, format, requestID, &errForbidden)
	case t.State == StateFailed:
		body.ErrorCode, body.ErrorMessage = t.ErrorCode, t.ErrorMessage
		if body.ErrorCode == "" {
			body.ErrorCode = "UnknownError"
		}
		if body.ErrorMessage == "" {
			body.ErrorMessage = body.ErrorCode
		}
	case t.State == StateNotReady:
		body.Success = true
		body.DownloadURLResult = &urlResult{TipMessage: t.Tip}
	default:
		u, e := g.downloadURL(t)
		if e != nil {
			return g.fail(w, r, format, requestID, e)
		}
		body.Success = true
		body.DownloadURLResult = &urlResult{HasResult: true, URL: u}
	}
	writeBody(w, format, requestID, http.StatusOK, body)
	switch {
	case !body.Success:
		return outcome{status: http.StatusOK, code: body.ErrorCode, kind: "error"}
	case body.DownloadURLResult.HasResult:
		return outcome{status: http.StatusOK, kind: "ready"}
	}
	return outcome{status: http.StatusOK, kind: "not_ready"}
}

func (g *Gateway) downloadURL(t Ticket) (string, *gwError) {
	if t.URL != "" {
		return t.URL, nil
	}
	if g.opts.OSS == nil {
		return "", &gwError{http.StatusInternalServerError, "InternalError", "The request processing has failed due to some unknown error."}
	}
	ttl := g.opts.URLTTL
	if t.URLTTL > 0 {
		ttl = t.URLTTL
	}
	return g.opts.OSS.Presign(t.fileName(), g.opts.Now().Add(ttl), t.Signing, t.URLQuery), nil
}

// requiredParams are the common RPC parameters, in the order checked.
var requiredParams = [...]string{"Action", "Version", "AccessKeyId", "Signature",
	"SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"}

// check is the gateway's validation of a request, in the gateway's order.
func (g *Gateway) check(r *http.Request, p map[string]string) *gwError {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return &errNoAPI
	}
	for _, name := range requiredParams {
		if p[name] == "" {
			return missing(name)
		}
	}
	if p["Version"] != apiVersion {
		return &errVersion
	}
	if p["Action"] != apiAction || r.URL.Path != "/" {
		return &errNoAPI
	}
	if p["SignatureMethod"] != "HMAC-SHA1" {
		return invalidParameter("SignatureMethod")
	}
	if p["SignatureVersion"] != "1.0" {
		return invalidParameter("SignatureVersion")
	}
	ts, ok := parseTimestamp(p["Timestamp"])
	if !ok {
		return &gwError{http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."}
	}
	now := g.opts.Now()
	if d := now.Sub(ts); d > timestampWindow || d < -timestampWindow {
		return &gwError{http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."}
	}
	if p["AccessKeyId"] != g.opts.AccessKeyID {
		return &gwError{http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found."}
	}
	token, hasToken := p["SecurityToken"]
	switch {
	case g.opts.SecurityToken != "" && !hasToken:
		return &gwError{http.StatusBadRequest, "MissingSecurityToken", "SecurityToken is mandatory for this action."}
	case hasToken && subtle.ConstantTimeCompare([]byte(token), []byte(g.opts.SecurityToken)) != 1:
		return &gwError{http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey", "Specified SecurityToken mismatch with the AccessKey."}
	}
	sts := rpcStringToSign(r.Method, p)
	want := rpcSignature(g.opts.AccessKeySecret, sts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["Signature"])) != 1 {
		// The real gateway echoes its string-to-sign; the SDK compares it with
		// its own to tell a wrong secret from a canonicalisation bug.
		return &gwError{http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:" + sts}
	}
	g.mu.Lock()
	fresh := g.nonces.use(p["SignatureNonce"], now, ts.Add(timestampWindow))
	g.mu.Unlock()
	if !fresh {
		return &gwError{http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already."}
	}
	if _, ok := p["OrderId"]; !ok {
		return missing("OrderId")
	}
	if id, err := strconv.ParseInt(p["OrderId"], 10, 64); err != nil || id <= 0 {
		return invalidParameter("OrderId")
	}
	if v, ok := p["Tid"]; ok {
		if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
			return invalidParameter("Tid")
		}
	}
	return nil
}

// timestampLayout is the only Timestamp form the gateway documents
// (YYYY-MM-DDThh:mm:ssZ, UTC).
const timestampLayout = "2006-01-02T15:04:05Z"

// parseTimestamp accepts exactly timestampLayout. time.Parse alone would
// also take fractional seconds after the seconds field, which the gateway
// refuses.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) != len(timestampLayout) {
		return time.Time{}, false
	}
	ts, err := time.Parse(timestampLayout, s)
	return ts, err == nil
}

func (g *Gateway) faults(orderID int64) (ticket, global Fault) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.ticketFaults[orderID]; f != nil {
		ticket = *f
	}
	return ticket, g.fault
}

type faultAction struct {
	drop, malformed bool
	err             *gwError
}

// takeFault decides the fault for one call, consuming a counted one.
func (g *Gateway) takeFault(orderID int64) faultAction {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.ticketFaults[orderID]; f != nil {
		if a, ok := consume(f); ok {
			return a
		}
	}
	a, _ := consume(&g.fault)
	return a
}

func consume(f *Fault) (faultAction, bool) {
	switch {
	case f.Drop:
		return faultAction{drop: true}, true
	case f.Throttle != 0:
		if f.Throttle > 0 {
			f.Throttle--
		}
		return faultAction{err: &errThrottled}, true
	case f.ServerErrors != 0:
		if f.ServerErrors > 0 {
			f.ServerErrors--
		}
		return faultAction{err: &errUnavail}, true
	case f.Status != 0 || f.Code != "":
		e := &gwError{f.Status, f.Code, f.Message}
		if e.status == 0 {
			e.status = http.StatusBadRequest
		}
		if e.code == "" {
			e.code = "InternalError"
		}
		return faultAction{err: e}, true
	case f.Malformed:
		return faultAction{malformed: true}, true
	}
	return faultAction{}, false
}

// wait sleeps d unless ctx ends first; it reports whether d elapsed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, recorders): the server aborts the stream.
	panic(http.ErrAbortHandler)
}
