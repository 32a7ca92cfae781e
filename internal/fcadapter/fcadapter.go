// Package fcadapter converts Function Compute 3.0 HTTP-trigger events to
// *http.Request and recorded responses back to events.HTTPTriggerResponse, so
// one http.Handler serves both FC and a local net/http server.
//
// FC 3.0 delivers HTTP requests to built-in runtimes as JSON events; the
// SDK's StartHttp does not work there. Event and response semantics are in
// docs/fc3-runtime.md: headers and query parameters are
// single-valued maps (repeated values arrive joined with ","), rawPath is
// still percent-encoded, binary bodies are base64 with isBase64Encoded.
package fcadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// EventError says the event cannot be turned into a request. Callers answer
// 400; Reason is safe to show (it never holds event data).
type EventError struct {
	Reason string
	Err    error // the underlying parse error, if any
}

func (e *EventError) Error() string {
	return "fcadapter: bad event: " + e.Reason
}

func (e *EventError) Unwrap() error { return e.Err }

func badEvent(reason string, err error) *EventError {
	return &EventError{Reason: reason, Err: err}
}

// NewRequest builds the server-side request an http.Server would have built
// for the event. maxBody bounds the decoded body in bytes; maxBody <= 0 means
// no bound. The request carries ctx (nil means context.Background). Query values joined by FC with "," stay
// one value, because commas inside a value cannot be told apart from a join.
// Errors are *EventError.
func NewRequest(ctx context.Context, ev *events.HTTPTriggerEvent, maxBody int64) (*http.Request, error) {
	if ev == nil {
		return nil, badEvent("no event", nil)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	hc := ev.TriggerContext.Http

	method := deref(hc.Method)
	if method == "" {
		return nil, badEvent("no method", nil)
	}
	if !isToken(method) {
		return nil, badEvent("invalid method", nil)
	}

	u, err := parsePath(ev)
	if err != nil {
		return nil, err
	}
	if ev.QueryParameters != nil && len(*ev.QueryParameters) > 0 {
		q := make(url.Values, len(*ev.QueryParameters))
		for k, v := range *ev.QueryParameters {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}

	body, err := decodeBody(ev, maxBody)
	if err != nil {
		return nil, err
	}

	header := make(http.Header)
	if ev.Headers != nil {
		for k, v := range *ev.Headers {
			if !isToken(k) {
				return nil, badEvent("invalid header name", nil)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, badEvent("invalid header value", nil)
			}
			header.Set(k, v)
		}
	}
	// As in net/http, Host moves from the header map to Request.Host.
	host := header.Get("Host")
	header.Del("Host")
	if host == "" {
		host = deref(ev.TriggerContext.DomainName)
	}

	proto := deref(hc.Protocol)
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		proto, major, minor = "HTTP/1.1", 1, 1
	}

	r := &http.Request{
		Method:     method,
		URL:        u,
		Proto:      proto,
		ProtoMajor: major,
		ProtoMinor: minor,
		Header:     header,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: u.RequestURI(),
	}
	if len(body) > 0 {
		r.Body = readCloser{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
	}
	// The source IP is informational; a malformed one is dropped rather than
	// failing the request. Like algnhsa, RemoteAddr holds the bare address.
	if ip, err := netip.ParseAddr(deref(hc.SourceIp)); err == nil {
		r.RemoteAddr = ip.String()
	}
	return r.WithContext(ctx), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// parsePath prefers rawPath (still encoded, so /exports/12%2F3/download keeps
// its %2F in URL.RawPath) and falls back to the decoded requestContext.http.path.
func parsePath(ev *events.HTTPTriggerEvent) (*url.URL, error) {
	raw := deref(ev.RawPath)
	if raw == "" {
		if p := deref(ev.TriggerContext.Http.Path); p != "" {
			raw = (&url.URL{Path: p}).EscapedPath()
		}
	}
	if raw == "" {
		return nil, badEvent("no path", nil)
	}
	if raw[0] != '/' || strings.ContainsAny(raw, "?#") {
		return nil, badEvent("invalid path", nil)
	}
	// ParseRequestURI is what net/http uses: it unescapes, rejects control
	// characters and bad escapes, and sets RawPath only when it differs from
	// the default encoding of Path.
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return nil, badEvent("invalid path", err)
	}
	return u, nil
}

func decodeBody(ev *events.HTTPTriggerEvent, maxBody int64) ([]byte, error) {
	s := deref(ev.Body)
	if s == "" {
		return nil, nil
	}
	if ev.IsBase64Encoded == nil || !*ev.IsBase64Encoded {
		if maxBody > 0 && int64(len(s)) > maxBody {
			return nil, badEvent("body too large", nil)
		}
		return []byte(s), nil
	}
	// Reject on the encoded size first so an oversized body is never decoded.
	if maxBody > 0 && int64(base64.StdEncoding.DecodedLen(len(s))) > maxBody+2 {
		return nil, badEvent("body too large", nil)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badEvent("body is not valid base64", err)
	}
	if maxBody > 0 && int64(len(b)) > maxBody {
		return nil, badEvent("body too large", nil)
	}
	return b, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// isToken reports whether s is an RFC 9110 token (method or header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// ResponseRecorder is a buffered http.ResponseWriter for one FC invocation.
// FC 3.0 cannot stream, so everything is kept until Result. Its zero value
// is ready to use. Like net/http, header changes after WriteHeader (or the
// first Write) are not sent.
type ResponseRecorder struct {
	header      http.Header
	sent        http.Header // snapshot taken at WriteHeader
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

// Header returns the header map that WriteHeader will send.
func (r *ResponseRecorder) Header() http.Header {
	if r.header == nil {
		r.header = make(http.Header)
	}
	return r.header
}

// WriteHeader records the status once. Informational (1xx) statuses are
// ignored, as FC has no way to send them; an out-of-range status becomes 500
// instead of net/http's panic.
func (r *ResponseRecorder) WriteHeader(code int) {
	if r.wroteHeader {
		return
	}
	if code >= 100 && code <= 199 {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	r.status = code
	r.wroteHeader = true
	r.sent = r.Header().Clone()
}

// Write buffers b, sending a 200 header first if none was written.
func (r *ResponseRecorder) Write(b []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(b)
}

// Result converts what was recorded: status 200 when nothing was written,
// repeated header values joined with ", " (FC headers are single-valued, so
// several Set-Cookie lines cannot be expressed), a Content-Type sniffed as
// net/http does when the handler set none, and the body base64-encoded when
// it is not valid UTF-8.
func (r *ResponseRecorder) Result() *events.HTTPTriggerResponse {
	status, h := r.status, r.sent
	if !r.wroteHeader {
		status, h = http.StatusOK, r.header
	}
	res := &events.HTTPTriggerResponse{StatusCode: status, Headers: make(map[string]string, len(h)+1)}
	for k, v := range h {
		if len(v) > 0 {
			res.Headers[k] = strings.Join(v, ", ")
		}
	}
	body := r.body.Bytes()
	// A key present with no values means "send no Content-Type", as in net/http.
	if _, ok := h["Content-Type"]; !ok && len(body) > 0 && bodyAllowed(status) {
		res.Headers["Content-Type"] = http.DetectContentType(body)
	}
	if utf8.Valid(body) {
		res.Body = string(body)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(body)
		res.IsBase64Encoded = true
	}
	return res
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// Handler adapts h to fc.Start. It never returns an error, because FC turns
// a returned error into an UnhandledInvocationError answer whose status and
// body the function cannot shape (docs/fc3-runtime.md): an event that is not a valid
// request gets a 400 problem with code "bad_event", and a panic in h gets a
// 500 problem without any detail. maxBody is passed to NewRequest. HEAD
// responses lose their body, as with net/http.
func Handler(h http.Handler, maxBody int64) func(context.Context, events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
	return func(ctx context.Context, ev events.HTTPTriggerEvent) (*events.HTTPTriggerResponse, error) {
		requestID := deref(ev.TriggerContext.RequestId)
		if requestID == "" {
			// The invocation's id, which FC always sends: problems promise one.
			if fc, ok := fccontext.FromContext(ctx); ok {
				requestID = fc.RequestID
			}
		}
		req, err := NewRequest(ctx, &ev, maxBody)
		if err != nil {
			reason := "the event is not a valid HTTP request"
			if e, ok := err.(*EventError); ok {
				reason = e.Reason
			}
			return problem(http.StatusBadRequest, "bad_event", "The request could not be read", reason, requestID), nil
		}
		rec := &ResponseRecorder{}
		if !serve(h, rec, req) {
			return problem(http.StatusInternalServerError, "internal", "Something went wrong inside the function", "", requestID), nil
		}
		res := rec.Result()
		if req.Method == http.MethodHead {
			res.Body, res.IsBase64Encoded = "", false
		}
		return res, nil
	}
}

// serve runs h and reports whether it returned without panicking.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	h.ServeHTTP(w, r)
	return true
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	RequestID string `json:"requestId,omitempty"`
}

// problem builds an RFC 9457 answer shaped like httpapi's problems.
func problem(status int, code, title, detail, requestID string) *events.HTTPTriggerResponse {
	b, err := json.Marshal(problemBody{
		Type:      "urn:dms-export-link:problem:" + code,
		Title:     title,
		Status:    status,
		Detail:    detail,
		Code:      code,
		RequestID: requestID,
	})
	if err != nil {
		b = []byte(fmt.Sprintf(`{"status":%d,"code":%q}`, status, code))
	}
	return &events.HTTPTriggerResponse{
		StatusCode: status,
		Headers: map[string]string{
			"Content-Type":           "application/problem+json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
			"X-Request-Id":           requestID, // as on every answer of the handler
		},
		Body: string(b),
	}
}
