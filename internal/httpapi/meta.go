package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
)

// openAPIETag is the contract's entity tag, hashed on first use rather than
// on every cold start.
var openAPIETag = sync.OnceValue(func() string {
	sum := sha256.Sum256(dmsexportlink.OpenAPI)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
})

// handleOpenAPI serves the embedded contract verbatim.
func (a *API) handleOpenAPI(c *call) (*problem, error) {
	h := c.w.Header()
	etag := openAPIETag()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "public, max-age=3600")
	c.outcome = "ok"
	if noneMatch(c.r.Header.Values("If-None-Match"), etag) {
		c.w.WriteHeader(http.StatusNotModified)
		return nil, nil
	}
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Length", strconv.Itoa(len(dmsexportlink.OpenAPI)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(dmsexportlink.OpenAPI)
	return nil, nil
}

// noneMatch reports whether If-None-Match fails for etag, so a GET answers
// 304: the field is "*" or lists etag, compared weakly (RFC 9110, 13.1.2).
func noneMatch(fields []string, etag string) bool {
	for _, f := range fields {
		for rest := f; ; {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				break
			}
			if rest[0] == '*' {
				return true
			}
			tag := strings.TrimPrefix(rest, "W/")
			if tag == "" || tag[0] != '"' {
				return false // not an entity-tag: the field is invalid
			}
			end := strings.IndexByte(tag[1:], '"')
			if end < 0 {
				return false
			}
			if tag[:end+2] == etag {
				return true
			}
			rest = tag[end+2:]
		}
	}
	return false
}

type health struct {
	Status      string `json:"status"`
	LinkSigning string `json:"linkSigning"`
	APITokens   string `json:"apiTokens"`
}

// handleHealth says which features are configured, never how.
func (a *API) handleHealth(c *call) (*problem, error) {
	h := health{Status: "ok", LinkSigning: "disabled", APITokens: "disabled"}
	if a.deps.Signer != nil && len(a.deps.Signer.Keys) > 0 {
		h.LinkSigning = "enabled"
	}
	if len(a.deps.APITokens) > 0 {
		h.APITokens = "enabled"
	}
	c.outcome = "ok"
	writeJSON(c.w, http.StatusOK, h)
	return nil, nil
}

// writeJSON sends v as JSON with no-store caching.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// acceptsType reports whether the Accept header names mediaType (exactly,
// not through a wildcard) with a non-zero quality.
func acceptsType(accept, mediaType string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || !strings.EqualFold(mt, mediaType) {
			continue
		}
		if q, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
				continue
			}
		}
		return true
	}
	return false
}
