package fcadapter

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// The headers FC 3.0 adds to every request it sends to a custom runtime
// (docs/deploy.md lists them with their source). Clients cannot set x-fc-*
// headers through an HTTP trigger, so in a custom runtime they come from FC.
const (
	HeaderRequestID       = "X-Fc-Request-Id"
	HeaderAccessKeyID     = "X-Fc-Access-Key-Id"
	HeaderAccessKeySecret = "X-Fc-Access-Key-Secret"
	HeaderSecurityToken   = "X-Fc-Security-Token"
	HeaderFunctionName    = "X-Fc-Function-Name"
	HeaderFunctionHandler = "X-Fc-Function-Handler"
	HeaderFunctionMemory  = "X-Fc-Function-Memory"
	HeaderFunctionTimeout = "X-Fc-Function-Timeout"
	HeaderRegion          = "X-Fc-Region"
	HeaderAccountID       = "X-Fc-Account-Id"
	HeaderQualifier       = "X-Fc-Qualifier"
	HeaderVersionID       = "X-Fc-Version-Id"
	HeaderRetryCount      = "X-Fc-Retry-Count"
	HeaderSpanContext     = "X-Fc-Tracing-Opentracing-Span-Context"
	HeaderSpanBaggages    = "X-Fc-Tracing-Opentracing-Span-Baggages"
	HeaderJaegerEndpoint  = "X-Fc-Tracing-Jaeger-Endpoint"
)

// maxRequestID bounds x-fc-request-id; FC's ids are about 40 characters.
const maxRequestID = 128

// HeaderError says FC's headers on a custom-runtime request are missing or
// malformed. Header names the header; the text never holds its value.
type HeaderError struct {
	Header string
	Reason string
}

func (e *HeaderError) Error() string {
	return "fcadapter: header " + e.Header + ": " + e.Reason
}

// ContextFromHeaders reads the invocation context FC sends to a custom
// runtime in x-fc-* headers, the same fields the go1 runtime's SDK reads from
// its runtime API. x-fc-request-id is required. The credentials come as a
// whole: an AccessKey id with its secret, and a security token only with
// them; a request without any carries no credentials (a function without a
// role). Errors are *HeaderError.
func ContextFromHeaders(h http.Header) (*fccontext.FcContext, error) {
	id := h.Get(HeaderRequestID)
	if id == "" {
		return nil, &HeaderError{HeaderRequestID, "missing"}
	}
	if !validRequestID(id) {
		return nil, &HeaderError{HeaderRequestID, "must be 1 to 128 visible ASCII characters"}
	}
	fc := &fccontext.FcContext{
		RequestID: id,
		Credentials: fccontext.Credentials{
			AccessKeyId:     h.Get(HeaderAccessKeyID),
			AccessKeySecret: h.Get(HeaderAccessKeySecret),
			SecurityToken:   h.Get(HeaderSecurityToken),
		},
		Function: fccontext.Function{
			Name:    h.Get(HeaderFunctionName),
			Handler: h.Get(HeaderFunctionHandler),
			Memory:  h.Get(HeaderFunctionMemory),
		},
		Service: fccontext.Service{
			Qualifier: h.Get(HeaderQualifier),
			VersionId: h.Get(HeaderVersionID),
		},
		Region:    h.Get(HeaderRegion),
		AccountId: h.Get(HeaderAccountID),
		Tracing: fccontext.Tracing{
			OpenTracingSpanContext: h.Get(HeaderSpanContext),
			JaegerEndpoint:         h.Get(HeaderJaegerEndpoint),
		},
	}
	c := fc.Credentials
	switch {
	case c.AccessKeyId != "" && c.AccessKeySecret == "":
		return nil, &HeaderError{HeaderAccessKeySecret, "missing while " + HeaderAccessKeyID + " is set"}
	case c.AccessKeyId == "" && c.AccessKeySecret != "":
		return nil, &HeaderError{HeaderAccessKeyID, "missing while " + HeaderAccessKeySecret + " is set"}
	case c.AccessKeyId == "" && c.SecurityToken != "":
		return nil, &HeaderError{HeaderAccessKeyID, "missing while " + HeaderSecurityToken + " is set"}
	}
	var err error
	if fc.RetryCount, err = optionalInt(h, HeaderRetryCount); err != nil {
		return nil, err
	}
	if fc.Function.Timeout, err = optionalInt(h, HeaderFunctionTimeout); err != nil {
		return nil, err
	}
	if b := h.Get(HeaderSpanBaggages); b != "" {
		raw, err := base64.StdEncoding.DecodeString(b)
		if err == nil {
			err = json.Unmarshal(raw, &fc.Tracing.OpenTracingSpanBaggages)
		}
		if err != nil {
			return nil, &HeaderError{HeaderSpanBaggages, "must be a base64-encoded JSON object of strings"}
		}
	}
	return fc, nil
}

func optionalInt(h http.Header, name string) (int, error) {
	v := h.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &HeaderError{name, "must be a non-negative integer"}
	}
	return n, nil
}

func validRequestID(s string) bool {
	if len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// credentialHeaders are removed from the request once read, so nothing
// downstream can log or forward them.
var credentialHeaders = [...]string{HeaderAccessKeyID, HeaderAccessKeySecret, HeaderSecurityToken}

// CustomRuntime serves h as an FC custom runtime: each request's x-fc-*
// headers become its fccontext.FcContext (credentials, request id and the
// rest, as fc.Start gives the go1 runtime), kept in that request's context
// only, and the credential headers are removed from the request. A request
// whose FC headers are missing or malformed is answered with a 400 problem
// "bad_fc_request" naming the header, unless bare(r) lets it through without
// an FC context (FC's health check carries none). Use it only behind FC: on
// any other server a client could choose these headers.
func CustomRuntime(h http.Handler, bare func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, err := ContextFromHeaders(r.Header)
		if err != nil {
			he := err.(*HeaderError)
			if he.Header == HeaderRequestID && r.Header.Get(HeaderRequestID) == "" && bare != nil && bare(r) {
				h.ServeHTTP(w, r)
				return
			}
			id := r.Header.Get(HeaderRequestID)
			if !validRequestID(id) {
				id = ""
			}
			WriteProblem(w, http.StatusBadRequest, "bad_fc_request",
				"The request did not come through Function Compute as expected", he.Header+": "+he.Reason, id)
			return
		}
		r2 := r.WithContext(fccontext.NewContext(r.Context(), fc))
		r2.Header = r.Header.Clone()
		for _, k := range credentialHeaders {
			r2.Header.Del(k)
		}
		h.ServeHTTP(w, r2)
	})
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// WriteProblem answers with the same problem+json the FC event path gives
// (see Handler); requestID "" means a random one.
func WriteProblem(w http.ResponseWriter, status int, code, title, detail, requestID string) {
	if requestID == "" {
		requestID = randomID()
	}
	res := problem(status, code, title, detail, requestID)
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.WriteString(w, res.Body)
}
