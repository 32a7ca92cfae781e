package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"mime"
	"strconv"
	"strings"
	"sync"
)

// The page templates and their one stylesheet. The stylesheet is inlined and
// allowed by its hash, so the policy needs no nonce and no external request.
//
//go:embed pages/page.html pages/page.css
var pageFiles embed.FS

// pageTemplate is parsed on first use: most instances never render a page,
// and package init runs on every cold start.
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.ParseFS(pageFiles, "pages/page.html"))
})

var (
	pageCSS = template.CSS(mustReadPageFile("pages/page.css"))
	pageCSP = "default-src 'none'; style-src '" + cspHash(string(pageCSS)) + "'; img-src 'none'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

func mustReadPageFile(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return string(b)
}

// cspHash is a CSP source expression allowing an inline element whose text is s.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pageData is what page.html shows. Every string is escaped by html/template;
// Tip and Detail may come from DMS and are never trusted.
type pageData struct {
	Lang         string
	Text         pageText
	Labels       pageLabels
	CSS          template.CSS
	Tone         string // "", "warn" or "error": the colour of the card's edge
	Refresh      int    // seconds until the page reloads itself; 0 = never
	Tip          string // DMS's own words: its tip, or its error message
	Detail       string // the problem's detail, for an administrator
	Status       int
	Code         string
	RequestID    string
	DMSRequestID string
	OrderID      int64
}

// pageOperation is the one operation whose problems a browser gets as
// pages; openapi.yaml declares text/html on its answers and no other's.
const pageOperation = operationDownload

// writeProblem sends p to the client: a page when a person's browser asks
// for pageOperation, application/problem+json otherwise.
func (a *API) writeProblem(c *call, p *problem) {
	if c.route != nil && c.route.Operation.OperationID == pageOperation {
		c.w.Header().Set("Vary", "Accept, Accept-Language")
		if prefersHTML(c.r.Header.Get("Accept")) {
			err := a.writePage(c, p)
			if err == nil {
				return
			}
			a.log.Error("render page", "requestId", c.id, "err", err.Error())
		}
	}
	p.write(c.w, c.id)
}

// writePage renders p as a page in the reader's language, with the same
// status and Retry-After as the problem.
func (a *API) writePage(c *call, p *problem) error {
	lang := pageLanguage(c.r.Header.Get("Accept-Language"))
	kind := pageKindOf(p.Code)
	wait := 0
	if p.retryAfter > 0 {
		wait = retryAfterSeconds(p.retryAfter)
	}
	d := pageData{
		Lang: lang.tag(), Text: textFor(lang, kind, wait), Labels: labels[lang], CSS: pageCSS,
		Detail: p.Detail, Status: p.Status, Code: p.Code,
		RequestID: c.id, DMSRequestID: p.DMSRequestID, OrderID: c.claims.OrderID,
	}
	switch kind {
	case pageNotReady:
		// Reloading the same link is all it takes: once DMS has the file the
		// link answers 302 and the browser starts the download.
		d.Refresh = wait
		d.Tip = p.TipMessage
		if d.Tip != "" {
			d.Detail = ""
		}
	case pageDMSFailed:
		d.Tip, d.Detail, d.Tone = p.Detail, "", "error"
	case pageExpired, pageInvalid:
		d.Tone, d.Detail = "warn", "" // the page says it all, in the reader's language
	case pageIncomplete, pageNotFound:
		d.Tone = "warn"
	default:
		d.Tone = "error"
	}
	var body bytes.Buffer
	if err := pageTemplate().Execute(&body, d); err != nil {
		return err
	}
	h := c.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.Lang)
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pageCSP)
	// The page's own address is a signed link; never hand it to anyone.
	h.Set("Referrer-Policy", "no-referrer")
	if wait > 0 {
		h.Set("Retry-After", strconv.Itoa(wait))
	}
	c.w.WriteHeader(p.Status)
	_, _ = c.w.Write(body.Bytes())
	return nil
}

// prefersHTML reports whether the Accept header ranks text/html above JSON.
// A browser's navigation does; curl's */*, an empty header and
// application/json do not, so they keep getting problem+json.
func prefersHTML(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return false
	}
	html := acceptQuality(accept, "text/html")
	json := max(acceptQuality(accept, "application/problem+json"), acceptQuality(accept, "application/json"))
	return html > 0 && html > json
}

// acceptQuality is the quality Accept gives mediaType: that of the most
// specific range matching it (RFC 9110, section 12.5.1), 0 if none does.
func acceptQuality(accept, mediaType string) float64 {
	major, _, _ := strings.Cut(mediaType, "/")
	q, rank := 0.0, -1
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		r := -1
		switch {
		case mt == mediaType:
			r = 2
		case mt == major+"/*":
			r = 1
		case mt == "*/*":
			r = 0
		default:
			continue
		}
		v := 1.0
		if s, ok := params["q"]; ok {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			v = f
		}
		if r > rank || r == rank && v > q {
			q, rank = v, r
		}
	}
	return q
}

// pageLanguage picks Chinese or English from Accept-Language: the one with
// the higher quality (any zh tag for Chinese; en or * for English), the
// earlier one on a tie, English when neither is asked for.
func pageLanguage(header string) pageLang {
	best, bestQ := langEnglish, 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		var l pageLang
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			l = langChinese
		case tag == "en" || strings.HasPrefix(tag, "en-") || tag == "*":
			l = langEnglish
		default:
			continue
		}
		q := 1.0
		if s, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}
