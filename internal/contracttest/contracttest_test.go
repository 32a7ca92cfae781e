package contracttest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const problem = `{"type":"urn:dms-export-link:problem:not_found","title":"t","status":404,"code":"not_found","requestId":"r"}`
	const link = "/exports/5461234/download?exp=1796000000&kid=k1&sig=abc"
	cases := []struct {
		name    string
		method  string
		target  string
		status  int
		header  map[string]string
		body    string
		wantErr string // "" = the exchange keeps the contract
	}{
		{name: "health", target: "/healthz", status: 200, header: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
			body: `{"status":"ok","linkSigning":"enabled","apiTokens":"disabled"}`},
		{name: "health with an unknown member", target: "/healthz", status: 200, header: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"},
			body: `{"status":"ok","linkSigning":"enabled","apiTokens":"disabled","secret":"x"}`, wantErr: "does not match"},
		{name: "undocumented status", target: "/healthz", status: 418, header: map[string]string{"Content-Type": "application/json"}, body: `{}`, wantErr: "status 418"},
		{name: "redirect", target: link, status: 302, header: map[string]string{"Location": "https://x.oss-cn-hangzhou.aliyuncs.com/a", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}},
		{name: "redirect without Referrer-Policy", target: link, status: 302, header: map[string]string{"Location": "https://x/a", "Cache-Control": "no-store"}, wantErr: "Referrer-Policy"},
		{name: "page where HTML is documented", target: link, status: 410, header: map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}, body: "<p>expired</p>"},
		{name: "page where HTML is not documented", target: "/healthz", status: 200, header: map[string]string{"Content-Type": "text/html"}, body: "<p>ok</p>", wantErr: "text/html"},
		{name: "HEAD with a documented status", method: http.MethodHead, target: link, status: 200},
		{name: "undeclared header", target: "/healthz", status: 200, header: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Powered-By": "go"},
			body: `{"status":"ok","linkSigning":"enabled","apiTokens":"disabled"}`, wantErr: "X-Powered-By"},
		{name: "the platform's own header", target: "/healthz", status: 200, header: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Fc-Request-Id": "1-abc"},
			body: `{"status":"ok","linkSigning":"enabled","apiTokens":"disabled"}`},
		{name: "HEAD with an undeclared header", method: http.MethodHead, target: link, status: 200, header: map[string]string{"Set-Cookie": "a=b"}, wantErr: "Set-Cookie"},
		{name: "problem without X-Request-Id", target: link, status: 410, header: map[string]string{"X-Request-Id": "", "Content-Type": "application/problem+json"}, body: problem, wantErr: "X-Request-Id"},
		{name: "HEAD with an undocumented status", method: http.MethodHead, target: link, status: 302, wantErr: "status 302"},
		{name: "unknown path with a problem", target: "/nothing", status: 404, header: map[string]string{"Content-Type": "application/problem+json"}, body: problem},
		{name: "unknown path with plain text", target: "/nothing", status: 404, header: map[string]string{"Content-Type": "text/plain"}, body: "404 page not found", wantErr: "problem+json"},
		{name: "unknown path with a bad problem", target: "/nothing", status: 404, header: map[string]string{"Content-Type": "application/problem+json"}, body: `{"title":"t"}`, wantErr: "Problem schema"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, tc.target, nil)
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-Id", "r1")
			for k, v := range tc.header {
				if v == "" {
					rec.Header().Del(k)
					continue
				}
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.body)
			err := c.Check(req, nil, rec.Result(), rec.Body.Bytes())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Check = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
