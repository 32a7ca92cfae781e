package fcadapter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

func TestContextFromHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	for k, v := range map[string]string{
		"x-fc-request-id":                        "1-6747a1b2-3c4d5e6f",
		"x-fc-access-key-id":                     "STS.id",
		"x-fc-access-key-secret":                 "the-secret",
		"x-fc-security-token":                    "CAIS-token",
		"x-fc-function-name":                     "dms-export-link",
		"x-fc-function-handler":                  "main",
		"x-fc-function-memory":                   "128",
		"x-fc-function-timeout":                  "30",
		"x-fc-region":                            "cn-hangzhou",
		"x-fc-account-id":                        "1234567890",
		"x-fc-qualifier":                         "LATEST",
		"x-fc-version-id":                        "3",
		"x-fc-retry-count":                       "2",
		"x-fc-tracing-opentracing-span-context":  "ctx-1",
		"x-fc-tracing-opentracing-span-baggages": base64.StdEncoding.EncodeToString([]byte(`{"k":"v"}`)),
		"x-fc-tracing-jaeger-endpoint":           "http://jaeger.invalid",
	} {
		h.Set(k, v)
	}
	got, err := ContextFromHeaders(h)
	if err != nil {
		t.Fatal(err)
	}
	want := fccontext.FcContext{
		RequestID:   "1-6747a1b2-3c4d5e6f",
		Credentials: fccontext.Credentials{AccessKeyId: "STS.id", AccessKeySecret: "the-secret", SecurityToken: "CAIS-token"},
		Function:    fccontext.Function{Name: "dms-export-link", Handler: "main", Memory: "128", Timeout: 30},
		Service:     fccontext.Service{Qualifier: "LATEST", VersionId: "3"},
		Region:      "cn-hangzhou",
		AccountId:   "1234567890",
		RetryCount:  2,
		Tracing: fccontext.Tracing{OpenTracingSpanContext: "ctx-1", JaegerEndpoint: "http://jaeger.invalid",
			OpenTracingSpanBaggages: map[string]string{"k": "v"}},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("got  %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestContextFromHeadersErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		header  string // the one the error must name
	}{
		{"no request id", map[string]string{}, HeaderRequestID},
		{"request id with a space", map[string]string{"x-fc-request-id": "a b"}, HeaderRequestID},
		{"request id too long", map[string]string{"x-fc-request-id": strings.Repeat("a", maxRequestID+1)}, HeaderRequestID},
		{"key id without secret", map[string]string{"x-fc-request-id": "r", "x-fc-access-key-id": "id"}, HeaderAccessKeySecret},
		{"secret without key id", map[string]string{"x-fc-request-id": "r", "x-fc-access-key-secret": "s"}, HeaderAccessKeyID},
		{"token without key id", map[string]string{"x-fc-request-id": "r", "x-fc-security-token": "t"}, HeaderAccessKeyID},
		{"retry count not a number", map[string]string{"x-fc-request-id": "r", "x-fc-retry-count": "one"}, HeaderRetryCount},
		{"negative timeout", map[string]string{"x-fc-request-id": "r", "x-fc-function-timeout": "-1"}, HeaderFunctionTimeout},
		{"baggages not base64", map[string]string{"x-fc-request-id": "r", "x-fc-tracing-opentracing-span-baggages": "%%%"}, HeaderSpanBaggages},
		{"baggages not an object", map[string]string{"x-fc-request-id": "r",
			"x-fc-tracing-opentracing-span-baggages": base64.StdEncoding.EncodeToString([]byte(`[1]`))}, HeaderSpanBaggages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			_, err := ContextFromHeaders(h)
			var he *HeaderError
			if !errors.As(err, &he) || he.Header != tt.header {
				t.Fatalf("err = %v, want a *HeaderError naming %s", err, tt.header)
			}
			for _, v := range tt.headers {
				if len(v) > 3 && strings.Contains(err.Error(), v) {
					t.Errorf("the error %q shows the header's value", err)
				}
			}
		})
	}
}

// A request without any credentials is valid: a function without a role.
func TestContextFromHeadersWithoutCredentials(t *testing.T) {
	t.Parallel()
	got, err := ContextFromHeaders(http.Header{"X-Fc-Request-Id": {"r-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestID != "r-1" || got.Credentials != (fccontext.Credentials{}) {
		t.Errorf("got %+v", got)
	}
}

// seen is what CustomRuntime handed to the handler.
type seen struct {
	called bool
	fc     *fccontext.FcContext
	header http.Header
}

func (s *seen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.called = true
	if fc, ok := fccontext.FromContext(r.Context()); ok {
		s.fc = fc
	}
	s.header = r.Header
	w.WriteHeader(http.StatusTeapot)
}

func TestCustomRuntime(t *testing.T) {
	t.Parallel()
	healthz := func(r *http.Request) bool { return r.URL.Path == "/healthz" }
	tests := []struct {
		name      string
		path      string
		headers   map[string]string
		status    int
		requestID string // in the problem; "" means a random one
	}{
		{"FC request", "/exports/1", map[string]string{"x-fc-request-id": "r-1", "x-fc-access-key-id": "id",
			"x-fc-access-key-secret": "secret", "x-fc-security-token": "token"}, http.StatusTeapot, ""},
		{"health check without FC headers", "/healthz", nil, http.StatusTeapot, ""},
		{"health check with bad FC headers", "/healthz", map[string]string{"x-fc-request-id": "r-2", "x-fc-access-key-id": "id"},
			http.StatusBadRequest, "r-2"},
		{"no request id", "/exports/1", map[string]string{"x-fc-access-key-id": "id", "x-fc-access-key-secret": "s"}, http.StatusBadRequest, ""},
		{"bad request id", "/exports/1", map[string]string{"x-fc-request-id": "a\tb"}, http.StatusBadRequest, ""},
		{"half the credentials", "/exports/1", map[string]string{"x-fc-request-id": "r-3", "x-fc-access-key-secret": "s"}, http.StatusBadRequest, "r-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := &seen{}
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			CustomRuntime(next, healthz).ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status != http.StatusBadRequest {
				if tt.headers == nil {
					if next.fc != nil {
						t.Errorf("the health check got an FC context: %+v", next.fc)
					}
					return
				}
				want := fccontext.Credentials{AccessKeyId: "id", AccessKeySecret: "secret", SecurityToken: "token"}
				if next.fc == nil || next.fc.RequestID != tt.headers["x-fc-request-id"] || next.fc.Credentials != want {
					t.Errorf("FC context %+v, want the headers' request id and credentials", next.fc)
				}
				for _, k := range credentialHeaders {
					if next.header.Get(k) != "" {
						t.Errorf("the handler still sees %s", k)
					}
				}
				if req.Header.Get(HeaderAccessKeySecret) == "" {
					t.Error("the caller's request was modified")
				}
				return
			}
			if next.called {
				t.Error("a request with bad FC headers reached the handler")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p problemJSON
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != "bad_fc_request" || p.Status != http.StatusBadRequest || p.RequestID == "" {
				t.Errorf("problem %+v", p)
			}
			if tt.requestID != "" && p.RequestID != tt.requestID {
				t.Errorf("requestId %q, want the header's %q", p.RequestID, tt.requestID)
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("the problem shows a credential: %s", rec.Body)
			}
		})
	}
}
