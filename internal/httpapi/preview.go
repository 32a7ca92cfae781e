package httpapi

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"sync"

	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// previewCSP allows nothing to load or run: the page is text and meta tags.
const previewCSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// previewTemplate is the card link-preview bots get. It names the ticket and
// the link's expiry, which the signature vouches for; it has no link of its
// own, no script, style or external asset. Parsed on first use, like pageTemplate.
var previewTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}}</title>
<meta property="og:type" content="website">
<meta property="og:site_name" content="dms-export-link">
<meta property="og:title" content="{{.Title}}">
<meta property="og:description" content="{{.Description}}">
<meta name="twitter:card" content="summary">
<meta name="twitter:title" content="{{.Title}}">
<meta name="twitter:description" content="{{.Description}}">
</head><body><h1>{{.Title}}</h1><p>{{.Description}}.</p><p>Open the link in a browser to download the file.</p></body></html>
`))
})

// handlePreview answers a link-preview bot after the signature check, from
// the link's claims alone: no DMS call (a preview must not cost one, nor
// start a download), no redirect, no OSS URL.
func (a *API) handlePreview(c *call) (*problem, error) {
	c.previewBot = true
	c.orderID, c.tid = c.claims.OrderID, a.tidOf(c.claims.Tid)
	page := struct{ Title, Description string }{
		Title:       fmt.Sprintf("DMS export %d", c.claims.OrderID),
		Description: fmt.Sprintf("DMS export %d, link valid until %s", c.claims.OrderID, notify.FormatExpiry(c.claims.Expires)),
	}
	var buf bytes.Buffer
	if err := previewTemplate().Execute(&buf, page); err != nil {
		return nil, err
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", previewCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	c.outcome = "preview"
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(buf.Bytes())
	return nil, nil
}
