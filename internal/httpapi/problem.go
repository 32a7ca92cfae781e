package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/links"
)

// problem is an RFC 9457 problem details object with our stable code.
type problem struct {
	Type              string       `json:"type"`
	Title             string       `json:"title"`
	Status            int          `json:"status"`
	Detail            string       `json:"detail,omitempty"`
	Code              string       `json:"code"`
	RequestID         string       `json:"requestId"`
	DMSRequestID      string       `json:"dmsRequestId,omitempty"`
	TipMessage        string       `json:"tipMessage,omitempty"`
	RetryAfterSeconds int          `json:"retryAfterSeconds,omitempty"`
	Errors            []fieldError `json:"errors,omitempty"`

	retryAfter time.Duration // sent as the Retry-After header too
	allow      string        // the Allow header of a 405
	challenge  string        // the WWW-Authenticate header of a 401; "" = bearer
}

type fieldError struct {
	In     string `json:"in"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

// The one table from codes to status and title. Every problem the function
// sends has its code here.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	"bad_request":             {http.StatusBadRequest, "The request is not valid"},
	"bad_json":                {http.StatusBadRequest, "The request body is not valid JSON"},
	"not_found":               {http.StatusNotFound, "There is nothing at this address"},
	"method_not_allowed":      {http.StatusMethodNotAllowed, "This method is not allowed here"},
	"body_timeout":            {http.StatusRequestTimeout, "The request body did not arrive in time"},
	"body_too_large":          {http.StatusRequestEntityTooLarge, "The request body is too large"},
	"unsupported_media_type":  {http.StatusUnsupportedMediaType, "The request body must be JSON"},
	"unauthorized":            {http.StatusUnauthorized, "A valid bearer token is required"},
	"webhook_unauthorized":    {http.StatusUnauthorized, "A valid webhook token is required"},
	"signature_invalid":       {http.StatusUnauthorized, "The request's signature is missing or wrong"},
	"signature_stale":         {http.StatusUnauthorized, "The request's signed timestamp is too far from now"},
	"signature_replayed":      {http.StatusUnauthorized, "This signed request was already used"},
	"link_invalid":            {http.StatusForbidden, "This link is not valid"},
	"link_withdrawn":          {http.StatusGone, "This link has been withdrawn"},
	"revocation_not_shared":   {http.StatusServiceUnavailable, "Withdrawing links needs shared state"},
	"link_expired":            {http.StatusGone, "This link has expired"},
	"link_keys_missing":       {http.StatusServiceUnavailable, "Download links are not configured"},
	"api_tokens_missing":      {http.StatusServiceUnavailable, "Bearer tokens are not configured"},
	"webhook_token_missing":   {http.StatusServiceUnavailable, "The DMS webhook is not configured"},
	"bot_secret_missing":      {http.StatusServiceUnavailable, "This chat command is not configured"},
	"public_base_url_missing": {http.StatusServiceUnavailable, "Minting links is not configured"},
	"announce_rate_limited":   {http.StatusTooManyRequests, "Too many announcements; try again later"},
	"robots_failed":           {http.StatusBadGateway, "No chat robot accepted the announcement"},
	"export_not_found":        {http.StatusNotFound, "DMS does not know this export ticket"},
	"export_not_ready":        {http.StatusConflict, "The export is not ready yet"},
	"dms_error":               {http.StatusBadGateway, "DMS could not provide the export"},
	"dms_forbidden":           {http.StatusBadGateway, "DMS refused the function's role"},
	"dms_auth_failed":         {http.StatusBadGateway, "DMS rejected the function's credentials"},
	"dms_no_credentials":      {http.StatusBadGateway, "The function has no credentials for DMS"},
	"dms_bad_request":         {http.StatusBadGateway, "DMS rejected the function's request"},
	"dms_bad_response":        {http.StatusBadGateway, "DMS answered with something unreadable"},
	"dms_unreachable":         {http.StatusBadGateway, "DMS could not be reached"},
	"download_host_refused":   {http.StatusBadGateway, "DMS returned a download address this function does not trust"},
	"dms_throttled":           {http.StatusServiceUnavailable, "DMS is busy; try again shortly"},
	"dms_unavailable":         {http.StatusServiceUnavailable, "DMS is unavailable; try again shortly"},
	"dms_timeout":             {http.StatusGatewayTimeout, "DMS did not answer in time"},
	"internal":                {http.StatusInternalServerError, "Something went wrong inside the function"},
}

func newProblem(code, detail string) *problem {
	k, ok := problemKinds[code]
	if !ok {
		code, k = "internal", problemKinds["internal"]
	}
	return &problem{Type: "urn:dms-export-link:problem:" + code, Title: k.title, Status: k.status, Detail: detail, Code: code}
}

// problemFor turns an error from a lower layer into what the caller sees.
// Anything unexpected becomes "internal" so internals never reach a user.
func problemFor(err error) *problem {
	var de *dms.Error
	var pe *exports.PolicyError
	switch {
	case errors.Is(err, links.ErrExpired):
		return newProblem("link_expired", "The link's time is over. Ask for a new link where you found this one.")
	case errors.Is(err, links.ErrNoKeys):
		return newProblem("link_keys_missing", "Set LINK_KEYS to enable signed download links.")
	case errors.Is(err, links.ErrInvalid):
		return newProblem("link_invalid", "The link was altered or truncated, or its key is no longer trusted. Copy the whole link again or ask for a new one.")
	case errors.As(err, &pe):
		return newProblem("download_host_refused", "The download host is not in ALLOWED_DOWNLOAD_HOSTS or is not https.")
	case errors.As(err, &de):
		return dmsProblem(de)
	}
	return newProblem("internal", "")
}

func dmsProblem(e *dms.Error) *problem {
	var p *problem
	switch e.Kind {
	case dms.KindNotFound:
		p = newProblem("export_not_found", "Check the ticket id and the tenant (tid).")
	case dms.KindThrottled:
		p = newProblem("dms_throttled", "DMS limited the function's request rate.")
		p.retryAfter = max(e.RetryAfter, 2*time.Second)
	case dms.KindUnavailable:
		p = newProblem("dms_unavailable", "")
		p.retryAfter = max(e.RetryAfter, 5*time.Second)
	case dms.KindTimeout:
		p = newProblem("dms_timeout", "Try again; raise DMS_TIMEOUT or the function's timeout if this persists.")
	case dms.KindForbidden:
		p = newProblem("dms_forbidden", "The function's RAM role needs dms:GetDataExportDownloadURL and must be a DMS user allowed to see this ticket.")
	case dms.KindAuth:
		p = newProblem("dms_auth_failed", "The function's credentials or clock were rejected by DMS; check the function's role.")
	case dms.KindNoCredentials:
		p = newProblem("dms_no_credentials", "Give the function a RAM role, or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET.")
	case dms.KindBadRequest:
		p = newProblem("dms_bad_request", "Check DMS_REGION and DMS_TID.")
	case dms.KindMalformed:
		p = newProblem("dms_bad_response", "")
	case dms.KindTransport:
		p = newProblem("dms_unreachable", "Check DMS_ENDPOINT and the function's network access.")
	case dms.KindBusiness:
		p = newProblem("dms_error", e.Message)
	default:
		p = newProblem("dms_error", "")
	}
	p.DMSRequestID = e.RequestID
	return p
}

// write sends p as application/problem+json.
func (p *problem) write(w http.ResponseWriter, requestID string) {
	p.RequestID = requestID
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.retryAfter > 0 {
		s := retryAfterSeconds(p.retryAfter)
		p.RetryAfterSeconds = s
		h.Set("Retry-After", strconv.Itoa(s))
	}
	if p.allow != "" {
		h.Set("Allow", p.allow)
	}
	if p.Status == http.StatusUnauthorized {
		challenge := p.challenge
		if challenge == "" {
			challenge = `Bearer realm="dms-export-link"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for this struct; keep the answer well-formed anyway
		body = []byte(`{"type":"urn:dms-export-link:problem:internal","title":"internal","status":500,"code":"internal","requestId":""}`)
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
