package dms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// maxMessage caps messages copied from DMS, which end up in logs.
const maxMessage = 300

// classify turns an error of the SDK call into an *Error. status is the HTTP
// status the SDK saw, 0 when no answer arrived.
func (c *Client) classify(err error, creds Credentials, status int) *Error {
	var se *sdkerrors.ServerError
	if errors.As(err, &se) {
		return c.serverError(se, creds)
	}
	var ce *sdkerrors.ClientError
	if errors.As(err, &ce) {
		switch ce.ErrorCode() {
		case sdkerrors.JsonUnmarshalErrorCode:
			// The parser's message may quote the body, and with it the OSS URL.
			return &Error{Kind: KindMalformed, Code: ce.ErrorCode(), HTTPStatus: status, Message: "reply is not valid JSON"}
		case sdkerrors.TimeoutErrorCode:
			return &Error{Kind: KindTimeout, Code: ce.ErrorCode(), Err: scrub(ce.OriginError(), creds)}
		}
		return &Error{Kind: KindUnknown, Code: ce.ErrorCode(), Message: redactText(ce.Message(), creds)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The URL holds the signed query (SecurityToken, Signature): keep only
		// scheme://host/, and keep a *url.Error so errors.Is still works.
		red := &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: scrub(ue.Err, creds)}
		return &Error{Kind: transportKind(ue), Err: red}
	}
	return &Error{Kind: transportKind(err), Err: scrub(err, creds)}
}

// contextError reports a call that ended before it started.
func contextError(err error) *Error {
	return &Error{Kind: transportKind(err), Err: err}
}

// transportKind separates running out of time from other failures to get an
// answer, including the caller cancelling.
func transportKind(err error) Kind {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return KindTimeout
	}
	return KindTransport
}

func (c *Client) serverError(se *sdkerrors.ServerError, creds Credentials) *Error {
	code, status := se.ErrorCode(), se.HttpStatus()
	e := &Error{Kind: gatewayKind(code, status), Code: code, RequestID: se.RequestId(), HTTPStatus: status}
	if code == "" {
		// Without a JSON body, Message() is the raw body (an HTML page, say).
		e.Message = fmt.Sprintf("HTTP %d without a gateway error body", status)
	} else {
		e.Message = cleanMessage(se.Message(), creds)
	}
	if e.Kind == KindThrottled {
		e.RetryAfter = retryAfter(http.Header(se.RespHeaders).Get("Retry-After"), c.now())
	}
	return e
}

// gatewayKind maps a gateway (POP) error: HTTP 4xx/5xx with Code and Message.
func gatewayKind(code string, status int) Kind {
	switch {
	case strings.HasPrefix(code, "Throttling"):
		return KindThrottled
	case isAuthCode(code):
		return KindAuth
	case isForbiddenCode(code):
		return KindForbidden
	case isNotFoundCode(code):
		return KindNotFound
	case code == "" && status == http.StatusTooManyRequests:
		return KindThrottled
	case status >= 500:
		return KindUnavailable
	case status >= 400:
		return KindBadRequest
	}
	return KindUnknown
}

func businessError(code, msg, requestID string, status int, creds Credentials) *Error {
	kind := KindBusiness
	switch {
	case isNotFoundCode(code):
		kind = KindNotFound
	case isForbiddenCode(code):
		kind = KindForbidden
	case strings.HasPrefix(code, "Throttling"):
		kind = KindThrottled
	}
	return &Error{Kind: kind, Code: code, Message: cleanMessage(msg, creds), RequestID: requestID, HTTPStatus: status}
}

func isAuthCode(code string) bool {
	switch code {
	case "SignatureDoesNotMatch", "IncompleteSignature", "MissingSecurityToken", "SignatureNonceUsed",
		"Forbidden.AccessKeyDisabled", "InvalidAccessKeyId", "InvalidSecurityToken":
		return true
	}
	for _, p := range []string{"InvalidAccessKeyId.", "InvalidSecurityToken.", "InvalidTimeStamp."} {
		if strings.HasPrefix(code, p) {
			return true
		}
	}
	return false
}

func isForbiddenCode(code string) bool {
	return strings.HasPrefix(code, "Forbidden") || strings.HasPrefix(code, "NoPermission")
}

// isNotFoundCode recognises the ticket-does-not-exist codes. DMS documents no
// list, so it matches the known name and the obvious spellings.
func isNotFoundCode(code string) bool {
	if code == "InvalidOrderId" || strings.HasPrefix(code, "InvalidOrderId.") {
		return true
	}
	return strings.Contains(code, "Order") && (strings.Contains(code, "NotExist") || strings.Contains(code, "NotFound"))
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// cleanMessage makes a DMS or gateway message safe to log and show.
func cleanMessage(msg string, creds Credentials) string {
	// SignatureDoesNotMatch quotes the server's string-to-sign, which holds
	// the SecurityToken.
	if i := strings.Index(strings.ToLower(msg), "string to sign"); i >= 0 {
		msg = strings.TrimRight(msg[:i], " :,;.\t\n")
		if strings.HasSuffix(strings.ToLower(msg), "server") {
			msg = strings.TrimRight(msg[:len(msg)-len("server")], " :,;.\t\n")
		}
	}
	msg = strings.TrimSpace(msg)
	// A JSON or HTML body the SDK passed on as the message is not a message.
	if strings.HasPrefix(msg, "{") || strings.HasPrefix(msg, "<") {
		return ""
	}
	msg = redactText(msg, creds)
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// Compiled on first use: most instances never redact an error.
var (
	urlPattern    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+`) })
	signedPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)\b(signature|securitytoken|security-token|accesskeysecret)=[^\s&"']*`)
	})
)

// redactText removes from s the credentials of this call (raw and
// query-escaped), every URL beyond scheme://host/, and signed parameters.
func redactText(s string, creds Credentials) string {
	for _, secret := range []string{creds.AccessKeySecret, creds.SecurityToken} {
		if secret == "" {
			continue
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	s = urlPattern().ReplaceAllStringFunc(s, redactURL)
	return signedPattern().ReplaceAllString(s, "[redacted]")
}

// redactURL keeps scheme://host/ of raw.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "[redacted url]"
	}
	return u.Scheme + "://" + u.Host + "/"
}

// scrub returns err unchanged when its text is clean, else an error with the
// cleaned text that still answers errors.Is for the context errors and
// Timeout() like the original.
func scrub(err error, creds Credentials) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redactText(msg, creds)
	if clean == msg {
		return err
	}
	s := &scrubbedError{msg: clean, timeout: transportKind(err) == KindTimeout}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		s.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		s.cause = context.Canceled
	}
	return s
}

// scrubbedError stands in for a cause whose text held a secret.
type scrubbedError struct {
	msg     string
	cause   error // a context sentinel or nil
	timeout bool
}

func (e *scrubbedError) Error() string   { return e.msg }
func (e *scrubbedError) Unwrap() error   { return e.cause }
func (e *scrubbedError) Timeout() bool   { return e.timeout }
func (e *scrubbedError) Temporary() bool { return e.timeout }
