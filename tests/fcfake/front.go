package fcfake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aliyun/fc-runtime-go-sdk/events"
)

// maxRequestBody is the front door's request body limit.
const maxRequestBody = 6 << 20

// X-Fc-Error-Type values, as FC's HTTP trigger sends them.
const (
	errTypeUnhandled = "UnhandledInvocationError"
	errTypeCommon    = "FcCommonError"
)

// isHopHeader reports headers not copied from the function's response: net/http computes
// them itself, and a wrong Content-Length would break the connection.
func isHopHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Connection", "Content-Length", "Keep-Alive", "Transfer-Encoding":
		return true
	}
	return false
}

// trigger is an HTTP-trigger front door for a go1 function: it turns a real HTTP request into
// an FC 3.0 HTTP trigger event, has invoke run it on an instance and writes the function's
// HTTPTriggerResponse as the HTTP response. A Runtime invokes its one instance; a Pool picks one.
type trigger struct {
	accountID string
	timeout   time.Duration
	now       func() time.Time
	log       *slog.Logger
	invoke    func(ctx context.Context, payload []byte, id string) (Result, error)
}

func (r *Runtime) trigger() *trigger {
	return &trigger{accountID: r.opts.AccountID, timeout: r.opts.Timeout, now: r.now, log: r.log,
		invoke: func(ctx context.Context, payload []byte, id string) (Result, error) {
			return r.invoke(ctx, payload, funcTypeInvoke, id)
		}}
}

func (tr *trigger) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxRequestBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeFCError(w, http.StatusRequestEntityTooLarge, errTypeCommon, map[string]string{
				"errorCode":    "EntityTooLarge",
				"errorMessage": fmt.Sprintf("payload size exceeds maximum allowed size (%d bytes)", maxRequestBody),
			})
			return
		}
		writeFCError(w, http.StatusBadRequest, errTypeCommon, map[string]string{
			"errorCode": "InvalidArgument", "errorMessage": "reading the request body failed",
		})
		return
	}

	now := tr.now()
	id := newRequestID(now)
	payload, err := json.Marshal(buildEvent(req, body, id, tr.accountID, now))
	if err != nil {
		writeFCError(w, http.StatusInternalServerError, errTypeCommon, map[string]string{
			"errorCode": "InternalServerError", "errorMessage": "encoding the event failed",
		})
		return
	}
	w.Header().Set("X-Fc-Request-Id", id)

	res, err := tr.invoke(req.Context(), payload, id)
	switch {
	case errors.Is(err, ErrThrottled):
		writeThrottled(w)
		return
	case errors.Is(err, ErrTimeout):
		timeout := (tr.timeout + time.Second - 1) / time.Second
		writeFCError(w, http.StatusBadGateway, errTypeUnhandled, map[string]string{
			"errorMessage": fmt.Sprintf("Function time out after %d seconds", timeout),
			"errorType":    "FunctionTimeout",
		})
		return
	case errors.Is(err, ErrResultTooLarge):
		writeFCError(w, http.StatusBadGateway, errTypeUnhandled, map[string]string{
			"errorMessage": "function response exceeds the size limit",
		})
		return
	case req.Context().Err() != nil:
		return // the client is gone; nobody reads an answer
	case err != nil:
		writeFCError(w, http.StatusServiceUnavailable, errTypeCommon, map[string]string{
			"errorCode": "ServiceUnavailable", "errorMessage": "the function runtime is not available",
		})
		return
	case res.Error != nil:
		// Like FC: the function's error document, verbatim.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Fc-Error-Type", errTypeUnhandled)
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write(res.Body)
		return
	}

	resp, respBody, err := decodeResponse(res.Body)
	if err != nil {
		tr.log.Warn("fcfake: invalid function response", "requestId", id, "err", err)
		writeFCError(w, http.StatusBadGateway, errTypeUnhandled, map[string]string{
			"errorMessage": err.Error(),
			"errorType":    "InvalidFunctionResponse",
		})
		return
	}
	h := w.Header()
	for k, v := range resp.Headers {
		if !isHopHeader(k) {
			h.Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// buildEvent builds the HTTP trigger event as FC 3.0 does for built-in runtimes (notes §1.3).
// The body is sent as text unless it is not valid UTF-8; then it is base64 with
// isBase64Encoded true. FC's own sample event (devsapp/fc3 __tests__/e2e/trigger/http/evt.json)
// carries an application/octet-stream text body unencoded, so the choice follows the bytes,
// not the content type. Header names are canonical (as in that sample); Host is not a header
// but requestContext.domainName.
func buildEvent(req *http.Request, body []byte, id, accountID string, now time.Time) events.HTTPTriggerEvent {
	bodyText, isBase64 := string(body), false
	if !utf8.Valid(body) {
		bodyText, isBase64 = base64.StdEncoding.EncodeToString(body), true
	}
	headers := make(map[string]string, len(req.Header))
	for k, vs := range req.Header {
		headers[k] = strings.Join(vs, ",")
	}
	query := make(map[string]string)
	for k, vs := range req.URL.Query() {
		query[k] = strings.Join(vs, ",")
	}
	host := req.Host
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	prefix, _, _ := strings.Cut(hostname, ".")
	sourceIP := req.RemoteAddr
	if h, _, err := net.SplitHostPort(sourceIP); err == nil {
		sourceIP = h
	}

	ev := events.HTTPTriggerEvent{
		Version:         new("v1"),
		RawPath:         new(req.URL.EscapedPath()),
		Body:            &bodyText,
		IsBase64Encoded: &isBase64,
		Headers:         &headers,
		QueryParameters: &query,
	}
	tc := &ev.TriggerContext
	tc.AccountId = new(accountID)
	tc.DomainName = new(host)
	tc.DomainPrefix = new(prefix)
	tc.Http.Method = new(req.Method)
	tc.Http.Path = new(req.URL.Path)
	tc.Http.Protocol = new("HTTP/1.1")
	tc.Http.SourceIp = new(sourceIP)
	tc.Http.UserAgent = new(req.UserAgent())
	tc.RequestId = new(id)
	tc.Time = new(now.UTC().Format(time.RFC3339))
	tc.TimeEpoch = new(strconv.FormatInt(now.UnixMilli(), 10))
	return ev
}

// decodeResponse parses the function's HTTPTriggerResponse. A missing or impossible
// statusCode is reported rather than guessed at: what FC infers then is not documented.
func decodeResponse(b []byte) (events.HTTPTriggerResponse, []byte, error) {
	var resp events.HTTPTriggerResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return resp, nil, fmt.Errorf("function response is not an HTTPTriggerResponse: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 599 {
		return resp, nil, fmt.Errorf("function response has statusCode %d", resp.StatusCode)
	}
	if !resp.IsBase64Encoded {
		return resp, []byte(resp.Body), nil
	}
	body, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		return resp, nil, fmt.Errorf("function response body is not valid base64: %w", err)
	}
	return resp, body, nil
}

// writeFCError writes an error the platform itself produces, with FC's X-Fc-Error-Type header.
func writeFCError(w http.ResponseWriter, status int, errType string, doc map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Fc-Error-Type", errType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

// writeThrottled is FC's answer when a function has as many instances as it may
// ("Limits and rules of instance scaling": HTTP 429, a throttling error).
func writeThrottled(w http.ResponseWriter) {
	writeFCError(w, http.StatusTooManyRequests, errTypeCommon, map[string]string{
		"errorCode": "ResourceExhausted", "errorMessage": "the function's instances are all busy and at their limit",
	})
}
