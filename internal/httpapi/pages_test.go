package httpapi

import (
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/links"
)

// What browsers send when they navigate to a link.
const (
	chromeAccept  = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
	firefoxAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

func browser(lang string) http.Header {
	h := http.Header{"Accept": {chromeAccept}}
	if lang != "" {
		h.Set("Accept-Language", lang)
	}
	return h
}

func TestPrefersHTML(t *testing.T) {
	t.Parallel()
	cases := []struct {
		accept string
		want   bool
	}{
		{chromeAccept, true},
		{firefoxAccept, true},
		{"text/html", true},
		{"text/*", true},
		{"TEXT/HTML", true},
		{"application/json;q=0.5, text/html", true},
		{"*/*", false},
		{"", false},
		{"application/json", false},
		{"application/problem+json", false},
		{"text/html, application/json", false}, // a tie keeps JSON
		{"text/html;q=0.5, application/json", false},
		{"text/html;q=0", false},
		{"text/html;q=0.5, */*", false},
		{"text/html;q=abc", false},
		{"text/plain", false},
		{"*/*;q=0.1, text/html;q=0.2", true},
		{"*/*, text/html;q=0", false}, // the specific range wins over */*
		{"text/html;q=0.9, */*", false},
		{"application/*, text/html;q=0.9", false},
	}
	for _, tc := range cases {
		if got := prefersHTML(tc.accept); got != tc.want {
			t.Errorf("prefersHTML(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}

func TestPageLanguage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header string
		want   pageLang
	}{
		{"", langEnglish},
		{"zh-CN,zh;q=0.9,en;q=0.8", langChinese},
		{"zh-TW", langChinese},
		{"zh-Hans", langChinese},
		{"zh-Hant-HK,en;q=0.5", langChinese},
		{"ZH", langChinese},
		{"en-US,en;q=0.9,zh-CN;q=0.8", langEnglish},
		{"en-US,en;q=0.9", langEnglish},
		{"fr", langEnglish},
		{"fr, zh;q=0.5", langChinese},
		{"fr, *;q=0.6, zh;q=0.5", langEnglish},
		{"en;q=0.5, zh;q=0.6", langChinese},
		{"en, zh", langEnglish},
		{"zh, en", langChinese},
		{"zh;q=0", langEnglish},
		{"zh;q=abc", langEnglish},
		{"zhx", langEnglish},
		{"*", langEnglish},
		{"zh-CN ; q=0.7 , en ; q=0.3", langChinese},
	}
	for _, tc := range cases {
		if got := pageLanguage(tc.header); got != tc.want {
			t.Errorf("pageLanguage(%q) = %s, want %s", tc.header, got.tag(), tc.want.tag())
		}
	}
}

// A browser gets a page, everyone else the problem, over the whole stack.
func TestPageNegotiation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	tampered := strings.Replace(h.link(orderReady, h.week()), "/exports/5461234/", "/exports/5461235/", 1)
	cases := []struct {
		name   string
		accept string
		page   bool
	}{
		{"chrome", chromeAccept, true},
		{"firefox", firefoxAccept, true},
		{"curl", "*/*", false},
		{"no accept", "", false},
		{"json", "application/json", false},
		{"problem", "application/problem+json", false},
		{"html only", "text/html", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.get(tampered, http.Header{"Accept": {tc.accept}})
			if res.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403", res.StatusCode)
			}
			if got := isHTML(res.Header.Get("Content-Type")); got != tc.page {
				t.Fatalf("Content-Type = %q, want a page: %v", res.Header.Get("Content-Type"), tc.page)
			}
			if !tc.page {
				if p := res.problem(t); p.Code != "link_invalid" {
					t.Errorf("code = %q", p.Code)
				}
			}
			if got := res.Header.Get("Vary"); !strings.Contains(got, "Accept") {
				t.Errorf("Vary = %q, want Accept", got)
			}
		})
	}
	// Other operations keep problem+json whatever the browser asks.
	res := h.get("/exports/5461234", browser(""))
	if p := res.problem(t); p.Code != "unauthorized" {
		t.Errorf("getExport from a browser: %d %s", res.StatusCode, p.Code)
	}
}

// Each outcome a person can meet on a download link has its page, with the
// problem's status, in the reader's language.
func TestPagesForEveryOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		target   func(h *harness) string
		opt      harnessOptions
		fault    *dmsfake.Fault
		lang     string
		status   int
		kind     pageKind
		text     string // must appear in the page
		retry    bool   // a "try again" link
		refresh  bool   // reloads itself
		dmsReqID bool
	}{
		{name: "not ready", target: linkTo(orderNotYet), status: 409, kind: pageNotReady, text: "The export is still running.", retry: true, refresh: true},
		{name: "not ready, Chinese", target: linkTo(orderNotYet), lang: "zh-CN,zh;q=0.9,en;q=0.8", status: 409, kind: pageNotReady, text: "每 5 秒自动检查", retry: true, refresh: true},
		{name: "expired", target: expiredLink, status: 410, kind: pageExpired, text: "Ask for a new link"},
		{name: "expired, Chinese", target: expiredLink, lang: "zh-TW", status: 410, kind: pageExpired, text: "索取新链接"},
		{name: "tampered", target: func(h *harness) string { return h.link(orderReady, h.week()) + "&tid=42" }, status: 403, kind: pageInvalid},
		{name: "truncated", target: func(h *harness) string { l := h.link(orderReady, h.week()); return l[:strings.Index(l, "&sig=")] }, status: 400, kind: pageIncomplete, text: "query sig: is required"},
		{name: "unknown ticket", target: linkTo(99), status: 404, kind: pageNotFound, dmsReqID: true},
		{name: "export failed", target: linkTo(orderFailed), status: 502, kind: pageDMSFailed, text: "The export task failed.", dmsReqID: true},
		{name: "role forbidden", target: linkTo(orderDenied), status: 502, kind: pageMisconfigured, text: "dms:GetDataExportDownloadURL", dmsReqID: true},
		{name: "throttled", target: linkTo(orderReady), fault: &dmsfake.Fault{Throttle: -1}, status: 503, kind: pageBusy, retry: true, dmsReqID: true},
		{name: "timeout", target: linkTo(orderReady), fault: &dmsfake.Fault{Latency: 3 * time.Second}, opt: harnessOptions{dmsTimeout: 150 * time.Millisecond}, status: 504, kind: pageTimeout, retry: true},
		{name: "no link keys", target: func(*harness) string { return "/exports/5461234/download?exp=9999999999&kid=k1&sig=abc" }, opt: harnessOptions{noKeys: true}, status: 503, kind: pageLinksOff, text: "LINK_KEYS"},
		{name: "internal", target: linkTo(orderReady), opt: harnessOptions{allow500: true, deps: func(d *Deps) { d.Resolver = panicResolver{} }}, status: 500, kind: pageInternal, retry: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.opt)
			if tc.fault != nil {
				h.env.Gateway.SetFault(*tc.fault)
			}
			res := h.get(tc.target(h), browser(tc.lang))
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, res.body)
			}
			if !isHTML(res.Header.Get("Content-Type")) {
				t.Fatalf("Content-Type = %q, want a page", res.Header.Get("Content-Type"))
			}
			pg := parsePage(t, res.body)
			lang := pageLanguage(tc.lang)
			if got, want := pg.text("h1"), pageTexts[lang][tc.kind].Title; got != want {
				t.Errorf("h1 = %q, want %q", got, want)
			}
			if tc.text != "" && !strings.Contains(pg.allText(), tc.text) {
				t.Errorf("the page does not say %q:\n%s", tc.text, res.body)
			}
			if got := len(pg.find("a")) == 1; got != tc.retry {
				t.Errorf("retry link present = %v, want %v", got, tc.retry)
			}
			refresh := pg.refresh()
			if tc.refresh {
				if ra := res.Header.Get("Retry-After"); refresh == "" || refresh != ra {
					t.Errorf("meta refresh %q, want Retry-After %q", refresh, ra)
				}
			} else if refresh != "" {
				t.Errorf("page reloads itself (%q) on %d", refresh, tc.status)
			}
			if id := pg.byID("dms-request-id"); (id != nil && id.text.String() != "") != tc.dmsReqID {
				t.Errorf("DMS request id shown = %v, want %v", id != nil, tc.dmsReqID)
			}
		})
	}
}

// Text from DMS is shown as text: markup in a tip or an error message
// creates no element. (internal/dms drops a message that starts with "<" as
// a stray HTML body, so the error message has words before its markup.)
func TestPageEscapesDMSText(t *testing.T) {
	t.Parallel()
	const evil = `<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a>&amp;"'`
	h := newHarness(t, harnessOptions{})
	h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: 801, State: dmsfake.StateNotReady, Tip: evil})
	h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: 802, State: dmsfake.StateFailed, ErrorCode: "UnknownError", ErrorMessage: "Export failed: " + evil})
	for _, order := range []int64{801, 802} {
		for _, lang := range []string{"en", "zh-CN"} {
			res := h.get(h.link(order, h.week()), browser(lang))
			pg := parsePage(t, res.body)
			for _, name := range []string{"script", "img"} {
				if n := len(pg.find(name)); n != 0 {
					t.Errorf("order %d: %d <%s> elements in the page", order, n, name)
				}
			}
			if n := len(pg.find("a")); n > 1 {
				t.Errorf("order %d: %d links, want at most the retry link", order, n)
			}
			tip := pg.byClass("tip")
			if tip == nil || !strings.Contains(tip.text.String(), evil) {
				t.Errorf("order %d: the tip does not show DMS's text verbatim:\n%s", order, res.body)
			}
		}
	}
}

// checkProblemPage checks what every problem page must have.
func checkProblemPage(t testing.TB, res *http.Response, body []byte) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	pg := parsePage(t, body)
	html := pg.find("html")
	if len(html) != 1 || html[0].attr["lang"] == "" || html[0].attr["lang"] != res.Header.Get("Content-Language") {
		t.Errorf("<html lang> does not match Content-Language %q", res.Header.Get("Content-Language"))
	}
	csp := map[string]string{}
	for d := range strings.SplitSeq(res.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	for _, d := range []string{"default-src", "img-src", "base-uri", "form-action", "frame-ancestors"} {
		if csp[d] != "'none'" {
			t.Errorf("CSP %s = %q, want 'none'", d, csp[d])
		}
	}
	if _, ok := csp["script-src"]; ok {
		t.Errorf("CSP allows scripts: %q", res.Header.Get("Content-Security-Policy"))
	}
	styles := pg.find("style")
	if len(styles) != 1 || csp["style-src"] != "'"+cspHash(styles[0].text.String())+"'" {
		t.Errorf("CSP style-src %q does not allow exactly the page's one stylesheet", csp["style-src"])
	}
	for _, e := range pg.elems {
		switch e.name {
		case "script", "img", "link", "iframe", "object", "embed", "form", "base":
			t.Errorf("the page has a <%s> element", e.name)
		}
		for k := range e.attr {
			if strings.HasPrefix(k, "on") || k == "style" || k == "src" {
				t.Errorf("<%s> has a %s attribute", e.name, k)
			}
		}
	}
	if n := len(pg.find("h1")); n != 1 {
		t.Errorf("%d <h1>, want 1", n)
	}
	if id := pg.byID("request-id"); id == nil || id.text.String() != res.Header.Get("X-Request-Id") {
		t.Errorf("the page does not show the request id %q", res.Header.Get("X-Request-Id"))
	}
}

func isHTML(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "text/html"
}

func linkTo(order int64) func(*harness) string {
	return func(h *harness) string { return h.link(order, h.week()) }
}

func expiredLink(h *harness) string {
	h.t.Helper()
	past := *h.signer
	past.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	q, err := past.Sign(links.Claims{OrderID: orderReady, Expires: time.Now().Add(-time.Hour)})
	if err != nil {
		h.t.Fatalf("sign: %v", err)
	}
	h.secrets = append(h.secrets, q.Get("sig"))
	return "/exports/" + itoa(orderReady) + "/download?" + q.Encode()
}

// page is an HTML document read with encoding/xml in its lenient HTML mode:
// enough to see which elements exist and what text they hold, and a page
// that escaped nothing would show its injected elements here.
type page struct{ elems []*element }

type element struct {
	name string
	attr map[string]string
	text strings.Builder // all text inside, descendants included
}

func parsePage(t testing.TB, body []byte) *page {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(body)))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	pg := &page{}
	var open []*element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse page: %v\n%s", err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: strings.ToLower(tok.Name.Local), attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.attr[strings.ToLower(a.Name.Local)] = a.Value
			}
			pg.elems = append(pg.elems, e)
			open = append(open, e)
		case xml.EndElement:
			for i := len(open) - 1; i >= 0; i-- {
				if open[i].name == strings.ToLower(tok.Name.Local) {
					open = open[:i]
					break
				}
			}
		case xml.CharData:
			for _, e := range open {
				e.text.Write(tok)
			}
		}
	}
	if len(open) != 0 {
		t.Fatalf("unclosed <%s> in\n%s", open[len(open)-1].name, body)
	}
	return pg
}

func (p *page) find(name string) []*element {
	var out []*element
	for _, e := range p.elems {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

func (p *page) byID(id string) *element {
	for _, e := range p.elems {
		if e.attr["id"] == id {
			return e
		}
	}
	return nil
}

func (p *page) byClass(class string) *element {
	for _, e := range p.elems {
		if strings.Contains(" "+e.attr["class"]+" ", " "+class+" ") {
			return e
		}
	}
	return nil
}

// text is the trimmed text of the first element called name.
func (p *page) text(name string) string {
	if es := p.find(name); len(es) > 0 {
		return strings.TrimSpace(es[0].text.String())
	}
	return ""
}

func (p *page) allText() string { return p.text("body") }

// refresh is the content of <meta http-equiv=refresh>, "" if none.
func (p *page) refresh() string {
	for _, e := range p.find("meta") {
		if strings.EqualFold(e.attr["http-equiv"], "refresh") {
			if _, err := strconv.Atoi(e.attr["content"]); err != nil {
				return "not a number: " + e.attr["content"]
			}
			return e.attr["content"]
		}
	}
	return ""
}
