package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
)

func TestCreateLinkThenDownload(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.do(http.MethodPost, "/links", strings.NewReader(`{"orderId":5461234,"ttlSeconds":3600}`),
		http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d: %s", res.StatusCode, res.body)
	}
	var l link
	if err := json.Unmarshal(res.body, &l); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(l.ExpiresAt); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("expiresAt %v is not an hour from now", l.ExpiresAt)
	}
	u, err := url.Parse(l.URL)
	if err != nil || u.Host != strings.TrimPrefix(h.srv.URL, "http://") || u.Scheme != "http" {
		t.Fatalf("link %q is not on the function's own loopback host", l.URL)
	}
	h.secrets = append(h.secrets, u.Query().Get("sig"))
	if n := h.env.Gateway.Calls(); n != 0 {
		t.Errorf("createLink called DMS %d times", n)
	}
	got := h.get(u.RequestURI(), nil)
	if got.StatusCode != http.StatusFound {
		t.Fatalf("minted link answered %d: %s", got.StatusCode, got.body)
	}
}

func TestCreateLinkUsesPublicBaseURL(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://exports.example.com/dl")
	h := newHarness(t, harnessOptions{deps: func(d *Deps) { d.PublicBaseURL = base }})
	res := h.do(http.MethodPost, "/links", strings.NewReader(`{"orderId":42,"tid":7}`),
		http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}})
	var l link
	_ = json.Unmarshal(res.body, &l)
	if !strings.HasPrefix(l.URL, "https://exports.example.com/dl/exports/42/download?") || !strings.Contains(l.URL, "tid=7") {
		t.Fatalf("link = %q", l.URL)
	}
	if d := time.Until(l.ExpiresAt); d < 7*24*time.Hour-time.Minute {
		t.Errorf("default lifetime %v is shorter than LINK_TTL", d)
	}
}

func TestGetExport(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	auth := http.Header{"Authorization": {"bearer " + h.token}}
	for _, tc := range []struct {
		order int64
		ready bool
		tip   string
	}{{orderReady, true, ""}, {orderNotYet, false, "The export is still running."}} {
		res := h.get("/exports/"+itoa(tc.order), auth)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status = %d: %s", res.StatusCode, res.body)
		}
		var st exportStatus
		if err := json.Unmarshal(res.body, &st); err != nil {
			t.Fatal(err)
		}
		if st.OrderID != tc.order || st.Tid != tenant || st.Ready != tc.ready || st.TipMessage != tc.tip {
			t.Errorf("status = %+v", st)
		}
		if strings.Contains(string(res.body), h.env.OSSURL) {
			t.Error("getExport reveals the OSS URL")
		}
		u, _ := url.Parse(st.Link.URL)
		h.secrets = append(h.secrets, u.Query().Get("sig"))
		if tc.ready {
			if got := h.get(u.RequestURI(), nil); got.StatusCode != http.StatusFound {
				t.Errorf("the status's link answered %d", got.StatusCode)
			}
		}
	}
	res := h.get("/exports/99", auth)
	if p := res.problem(t); res.StatusCode != 404 || p.Code != "export_not_found" {
		t.Errorf("unknown ticket: %d %s", res.StatusCode, p.Code)
	}
}

func TestOpenAPIServedVerbatim(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.get("/openapi.yaml", nil)
	if res.StatusCode != 200 || !bytes.Equal(res.body, dmsexportlink.OpenAPI) {
		t.Fatalf("status %d, %d bytes; want the embedded spec", res.StatusCode, len(res.body))
	}
	etag := res.Header.Get("ETag")
	again := h.get("/openapi.yaml", http.Header{"If-None-Match": {etag}})
	if etag == "" || again.StatusCode != http.StatusNotModified {
		t.Errorf("ETag %q, revalidation answered %d", etag, again.StatusCode)
	}
}

func TestHealthRevealsNoSecrets(t *testing.T) {
	t.Parallel()
	for _, noKeys := range []bool{false, true} {
		h := newHarness(t, harnessOptions{noKeys: noKeys})
		res := h.get("/healthz", nil)
		var got health
		if err := json.Unmarshal(res.body, &got); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "enabled", true: "disabled"}[noKeys]
		if got.Status != "ok" || got.LinkSigning != want || got.APITokens != "enabled" {
			t.Errorf("noKeys=%v: health = %+v", noKeys, got)
		}
		for _, s := range h.secrets {
			if bytes.Contains(res.body, []byte(s)) {
				t.Error("health reveals a secret")
			}
		}
	}
}

// routes.go and openapi.yaml list the same operations.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var inSpec, served []string
	for _, item := range h.contract.Spec().Paths.Map() {
		for _, op := range item.Operations() {
			inSpec = append(inSpec, op.OperationID)
		}
	}
	for id := range h.api.routes() {
		served = append(served, id)
	}
	sort.Strings(inSpec)
	sort.Strings(served)
	if strings.Join(inSpec, ",") != strings.Join(served, ",") {
		t.Fatalf("spec operations %v, served %v", inSpec, served)
	}
}

// New reads the routes and the download's document only; another
// operation's document is read on its first request, once.
func TestOperationsAreReadOnFirstUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	if n := h.api.contract.reads.Load(); n != 1 {
		t.Fatalf("New read %d operation documents, want 1 (the download's)", n)
	}
	if res := h.get(h.link(orderReady, h.week()), nil); res.StatusCode != http.StatusFound {
		t.Fatalf("download: %d", res.StatusCode)
	}
	if n := h.api.contract.reads.Load(); n != 1 {
		t.Errorf("%d operation documents read after a click, want still 1", n)
	}
	for range 2 {
		if res := h.get("/healthz", nil); res.StatusCode != http.StatusOK {
			t.Fatalf("healthz: %d", res.StatusCode)
		}
	}
	if n := h.api.contract.reads.Load(); n != 2 {
		t.Errorf("%d operation documents read after two health checks, want 2", n)
	}
}

// A panic below the handler is a 500 problem, not a crash or a stack trace.
func TestPanicIsAProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{allow500: true, deps: func(d *Deps) { d.Resolver = panicResolver{} }})
	res := h.get(h.link(orderReady, h.week()), nil)
	if p := res.problem(t); res.StatusCode != 500 || p.Code != "internal" || strings.Contains(string(res.body), "goroutine") {
		t.Fatalf("got %d %s", res.StatusCode, res.body)
	}
}

type panicResolver struct{}

func (panicResolver) Resolve(context.Context, dms.Request) (exports.Resolution, error) {
	panic("boom")
}

// The bearer operations read ids as strictly as the link verifier: one
// spelling per id, given once. None of these reach DMS.
func TestBearerOperationsStrictIds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	auth := http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}}
	for _, tc := range []struct{ method, target, body, field string }{
		{http.MethodGet, "/exports/05461234", "", "orderId"},
		{http.MethodGet, "/exports/%2B5461234", "", "orderId"},
		{http.MethodGet, "/exports/5461234?tid=03000", "", "tid"},
		{http.MethodGet, "/exports/5461234?tid=%2B3000", "", "tid"},
		{http.MethodGet, "/exports/5461234?tid=3000&tid=9999", "", "tid"},
		{http.MethodPost, "/links", `{"orderId":5461234,"orderId":9999}`, "orderId"},
		{http.MethodPost, "/links", `{"orderId":5461234,"tid":3000,"tid":9999}`, "tid"},
	} {
		res := h.do(tc.method, tc.target, strings.NewReader(tc.body), auth)
		if p := res.problem(t); res.StatusCode != http.StatusBadRequest || !namesField(p, tc.field) {
			t.Errorf("%s %s %s: %d %+v, want 400 naming %s", tc.method, tc.target, tc.body, res.StatusCode, p, tc.field)
		}
	}
	if n := h.env.Gateway.Calls(); n != 0 {
		t.Errorf("refused requests made %d DMS calls", n)
	}
	if res := h.get("/exports/5461234?tid=3000", auth); res.StatusCode != http.StatusOK {
		t.Errorf("the canonical form: %d %s", res.StatusCode, res.body)
	}
}

// Each bearer call's log line names its token by the first 8 hex digits of
// its SHA-256, never by the token.
func TestBearerCallerInLog(t *testing.T) {
	t.Parallel()
	second := "second-" + secrettest.Random(20)
	h := newHarness(t, harnessOptions{deps: func(d *Deps) { d.APITokens = append(d.APITokens, []byte(second)) }})
	h.secrets = append(h.secrets, second)
	for _, tok := range []string{h.token, second} {
		res := h.do(http.MethodPost, "/links", strings.NewReader(`{"orderId":42}`), http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}})
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	lines := h.requestLines(t, "createLink")
	if len(lines) != 2 {
		t.Fatalf("%d createLink lines, want 2", len(lines))
	}
	for i, tok := range []string{h.token, second} {
		sum := sha256.Sum256([]byte(tok))
		if got, want := lines[i]["caller"], hex.EncodeToString(sum[:])[:8]; got != want {
			t.Errorf("line %d: caller = %v, want %s", i, got, want)
		}
	}
}
