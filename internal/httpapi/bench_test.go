package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/redistest"
)

// BenchmarkDownload measures a click whose OSS URL is cached, through the
// whole handler (routing and validation by kin-openapi, link signature,
// cache hit, redirect, request log line), against a bare net/http handler
// that only redirects, in the same run; compare them as a ratio
// (docs/performance.md). kin-openapi's share is measured on its own.
func BenchmarkDownload(b *testing.B) {
	h := newHarness(b, harnessOptions{quiet: true})
	link := h.link(orderReady, h.week())
	// The first click, over real HTTP, fills the cache; every later one hits.
	first := h.get(link, nil)
	location := first.Header.Get("Location")
	if first.StatusCode != http.StatusFound || location == "" {
		b.Fatalf("first click: %d %s", first.StatusCode, first.body)
	}
	req := httptest.NewRequest(http.MethodGet, link, nil)

	b.Run("bare-redirect", func(b *testing.B) {
		bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, location, http.StatusFound)
		})
		serveLoop(b, bare, req, location)
	})
	b.Run("cached-download", func(b *testing.B) {
		serveLoop(b, h.api, req, location)
		if n := h.env.Gateway.CallsFor(orderReady); n != 1 {
			b.Fatalf("DMS calls = %d, want 1: the clicks were not cache hits", n)
		}
	})
	// The same path without the request log line: slog's share.
	b.Run("cached-download-nolog", func(b *testing.B) {
		d := h.api.deps
		d.Logger = nil
		silent, err := New(d)
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, silent, req, location)
	})
	// The same click with the shared state on a local redis-server
	// (REDIS_URL): a warm instance answers from its own copy of the answer.
	b.Run("cached-download-redis", func(b *testing.B) {
		hr := newHarness(b, harnessOptions{quiet: true, redis: redistest.Start(b, redistest.Options{})})
		req, location := firstClick(b, hr, orderReady)
		serveLoop(b, hr.api, req, location)
		if n := hr.env.Gateway.CallsFor(orderReady); n != 1 {
			b.Fatalf("DMS calls = %d, want 1: the clicks were not cache hits", n)
		}
	})
	// What Redis adds: an instance that holds one answer only, clicked on two
	// tickets in turn, reads each answer from Redis (GET and opening the
	// sealed value), as a fresh instance does on its first click.
	b.Run("cached-download-redis-get", func(b *testing.B) {
		hr := newHarness(b, harnessOptions{quiet: true, redis: redistest.Start(b, redistest.Options{}),
			exportsOpt: func(o *exports.Options) { o.CacheSize = 1 }})
		const other = orderReady + 100
		hr.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: other, State: dmsfake.StateReady, FileName: "other.csv", File: readyFile})
		reqA, locA := firstClick(b, hr, orderReady)
		reqB, locB := firstClick(b, hr, other)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			req, loc := reqA, locA
			if i++; i%2 == 0 {
				req, loc = reqB, locB
			}
			r := *req
			rec := httptest.NewRecorder()
			hr.api.ServeHTTP(rec, &r)
			if rec.Code != http.StatusFound || rec.Header().Get("Location") != loc {
				b.Fatalf("got %d to %q", rec.Code, rec.Header().Get("Location"))
			}
		}
		if n := hr.env.Gateway.CallsFor(orderReady) + hr.env.Gateway.CallsFor(other); n != 2 {
			b.Fatalf("DMS calls = %d, want 2: the clicks were not answered from Redis", n)
		}
	})
	// The same router and options as API.serve, without our own work.
	b.Run("kin-route+validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := *req
			route, params, err := h.api.contract.router.FindRoute(&r)
			if err != nil {
				b.Fatal(err)
			}
			if route, err = h.api.contract.route(route.Operation.OperationID); err != nil {
				b.Fatal(err)
			}
			in := &openapi3filter.RequestValidationInput{Request: &r, PathParams: params, QueryParams: r.URL.Query(), Route: route,
				Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true,
					AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }}}
			if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kin-route", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r := *req
			if _, _, err := h.api.contract.router.FindRoute(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// firstClick fills the caches with a click on order's link over real HTTP and
// returns the request for the same link and its redirect.
func firstClick(b *testing.B, h *harness, order int64) (*http.Request, string) {
	b.Helper()
	link := h.link(order, h.week())
	first := h.get(link, nil)
	if first.StatusCode != http.StatusFound {
		b.Fatalf("first click: %d %s", first.StatusCode, first.body)
	}
	return httptest.NewRequest(http.MethodGet, link, nil), first.Header.Get("Location")
}

// serveLoop serves req again and again, each time as a fresh copy as a
// server would hand it over: handlers may replace its Body.
func serveLoop(b *testing.B, handler http.Handler, req *http.Request, location string) {
	b.ReportAllocs()
	for b.Loop() {
		r := *req
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, &r)
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != location {
			b.Fatalf("got %d to %q", rec.Code, rec.Header().Get("Location"))
		}
	}
}
