// Package dms asks Alibaba Cloud DMS Enterprise for the download URL of a
// data-export ticket, through the official alibaba-cloud-sdk-go. It is the only
// package that imports the SDK; everything else speaks the types below.
//
// The SDK's traps (HTTP by default, races, sticky timeouts, leaking retries,
// secrets in transport errors) are described in docs/dms-sdk.md.
package dms

import (
	"fmt"
	"time"
)

// Request names one export ticket. Everything that changes DMS's answer is in
// it, so it is also the cache key.
type Request struct {
	Tid     int64  // tenant id; 0 means "not sent" (DMS picks the caller's default tenant)
	OrderID int64  // the data-export ticket id
	Region  string // RegionId sent to DMS
}

// Result is DMS's answer for a ticket that DMS accepted (Success=true).
type Result struct {
	RequestID  string // DMS request id, for support
	Ready      bool   // DownloadURLResult.HasResult
	URL        string // the OSS URL; a bearer secret: never log its query
	TipMessage string // why there is no file yet, when Ready is false
}

// Credentials sign one DMS call: the function's RAM-role STS credentials.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Kind classifies a failed DMS call by what the caller should do about it.
type Kind int

const (
	// KindUnknown is any failure not classified below.
	KindUnknown Kind = iota
	// KindBusiness is DMS answering Success=false (ErrorCode, ErrorMessage).
	KindBusiness
	// KindNotFound is a business or gateway answer saying the ticket does not exist.
	KindNotFound
	// KindThrottled is Throttling, Throttling.User or Throttling.Api: retry later.
	KindThrottled
	// KindForbidden is DMS refusing the function's role (Forbidden.RAM, NoPermission).
	KindForbidden
	// KindAuth is the gateway rejecting our credentials or signature
	// (SignatureDoesNotMatch, InvalidAccessKeyId.*, InvalidSecurityToken.*,
	// MissingSecurityToken, InvalidTimeStamp.*, SignatureNonceUsed).
	KindAuth
	// KindBadRequest is any other 4xx from the gateway (InvalidParameter, ...).
	KindBadRequest
	// KindUnavailable is a 5xx from the gateway.
	KindUnavailable
	// KindTimeout is the call running out of time.
	KindTimeout
	// KindTransport is a connection that failed or dropped.
	KindTransport
	// KindMalformed is a reply the SDK could not parse.
	KindMalformed
	// KindNoCredentials is no credentials in the invocation nor the environment.
	KindNoCredentials
)

var kindNames = [...]string{"unknown", "business", "not_found", "throttled", "forbidden", "auth",
	"bad_request", "unavailable", "timeout", "transport", "malformed", "no_credentials"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Retryable reports whether trying the same call again may succeed.
func (k Kind) Retryable() bool {
	switch k {
	case KindThrottled, KindUnavailable, KindTransport, KindTimeout:
		return true
	}
	return false
}

// Error is every failure of a DMS call. Its text never holds a signed URL,
// a token or a signature.
type Error struct {
	Kind       Kind
	Code       string        // DMS or gateway code, e.g. "Throttling.User"; empty for transport failures
	Message    string        // DMS's message, already free of secrets
	RequestID  string        // DMS request id when there was one
	HTTPStatus int           // the gateway's HTTP status; 0 when no answer arrived
	RetryAfter time.Duration // DMS's hint for throttling, 0 when unknown
	Err        error         // the cause, redacted
}

func (e *Error) Error() string {
	s := "dms: " + e.Kind.String()
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil && e.Message == "" {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }
