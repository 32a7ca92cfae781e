package fcadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliyun/fc-runtime-go-sdk/events"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

func loadEvent(t *testing.T, name string) events.HTTPTriggerEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode fixture %s: %v", name, err)
	}
	return ev
}

func parseEvent(t *testing.T, js string) *events.HTTPTriggerEvent {
	t.Helper()
	var ev events.HTTPTriggerEvent
	if err := json.Unmarshal([]byte(js), &ev); err != nil {
		t.Fatalf("decode event %s: %v", js, err)
	}
	return &ev
}

type ctxKey struct{}

func TestNewRequestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture     string
		method      string
		path        string // decoded
		escapedPath string
		rawQuery    string
		host        string
		remoteAddr  string
		proto       string
		header      map[string]string
		body        []byte
	}{
		{
			fixture:     "get_download.json",
			method:      "GET",
			path:        "/exports/123/download",
			escapedPath: "/exports/123/download",
			rawQuery:    "exp=1772370000&kid=k1&sig=r7E22JpKT5hHT5z0a_UdVNzZRmMBzhLmcAiBrP8Ybn0&tid=77",
			host:        "dms-export-link-abcdefgh.cn-hangzhou.fcapp.run", // no Host header: domainName
			remoteAddr:  "203.0.113.9",
			proto:       "HTTP/1.1",
			header:      map[string]string{"Accept": "text/html,application/xhtml+xml", "X-Forwarded-Proto": "https"},
		},
		{
			fixture:     "post_base64.json",
			method:      "POST",
			path:        "/bots/slack",
			escapedPath: "/bots/slack",
			rawQuery:    "format=json%2Chtml&q=a+b%26c",
			host:        "links.example.com",
			remoteAddr:  "2001:db8::7",
			proto:       "HTTP/2.0",
			header:      map[string]string{"Content-Type": "application/octet-stream", "X-Forwarded-For": "198.51.100.7,10.0.0.1"},
			body:        []byte{0x00, 0xff, 0x01, 0x80, 0x7e, 0x7e},
		},
		{
			fixture:     "encoded_path.json",
			method:      "GET",
			path:        "/exports/12/3/download",
			escapedPath: "/exports/12%2F3/download",
			host:        "dms-export-link-abcdefgh.cn-hangzhou.fcapp.run",
			remoteAddr:  "203.0.113.9",
			proto:       "HTTP/1.1",
		},
		{
			fixture:     "minimal.json",
			method:      "HEAD",
			path:        "/healthz",
			escapedPath: "/healthz",
			proto:       "HTTP/1.1",
		},
		{
			fixture:     "plain_body.json",
			method:      "POST",
			path:        "/links",
			escapedPath: "/links",
			host:        "dms-export-link-abcdefgh.cn-hangzhou.fcapp.run",
			remoteAddr:  "", // "not-an-ip" is dropped
			proto:       "HTTP/1.1",
			header:      map[string]string{"Content-Type": "application/json"},
			body:        []byte(`{"orderId":123,"note":"导出"}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			ev := loadEvent(t, tt.fixture)
			ctx := context.WithValue(context.Background(), ctxKey{}, tt.fixture)
			r, err := NewRequest(ctx, &ev, 1<<20)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			checks := []struct{ name, got, want string }{
				{"Method", r.Method, tt.method},
				{"URL.Path", r.URL.Path, tt.path},
				{"URL.EscapedPath", r.URL.EscapedPath(), tt.escapedPath},
				{"URL.RawQuery", r.URL.RawQuery, tt.rawQuery},
				{"Host", r.Host, tt.host},
				{"RemoteAddr", r.RemoteAddr, tt.remoteAddr},
				{"Proto", r.Proto, tt.proto},
				{"Host header", r.Header.Get("Host"), ""},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if got, want := r.RequestURI, r.URL.RequestURI(); got != want {
				t.Errorf("RequestURI = %q, want %q", got, want)
			}
			for k, want := range tt.header {
				if got := r.Header.Values(k); len(got) != 1 || got[0] != want {
					t.Errorf("header %s = %q, want [%q]", k, got, want)
				}
			}
			if got := r.Context().Value(ctxKey{}); got != tt.fixture {
				t.Errorf("context value = %v, want %q", got, tt.fixture)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if !bytes.Equal(got, tt.body) {
				t.Errorf("body = %x, want %x", got, tt.body)
			}
			if got, want := r.ContentLength, int64(len(tt.body)); got != want {
				t.Errorf("ContentLength = %d, want %d", got, want)
			}
		})
	}
}

func TestNewRequestQueryKeepsJoinedValues(t *testing.T) {
	t.Parallel()
	ev := loadEvent(t, "post_base64.json")
	r, err := NewRequest(context.Background(), &ev, 0)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	q := r.URL.Query()
	if got, want := q["format"], []string{"json,html"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("format = %q, want %q", got, want)
	}
	if got, want := q.Get("q"), "a b&c"; got != want {
		t.Errorf("q = %q, want %q", got, want)
	}
}

func TestNewRequestFallbacks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		event       string
		escapedPath string
		host        string
	}{
		{"path from requestContext", `{"requestContext":{"http":{"method":"GET","path":"/a b/c"}}}`, "/a%20b/c", ""},
		{"lower-case host wins", `{"rawPath":"/","headers":{"host":"h.example"},"requestContext":{"domainName":"d.example","http":{"method":"GET"}}}`, "/", "h.example"},
		{"empty host falls back", `{"rawPath":"/","headers":{"Host":""},"requestContext":{"domainName":"d.example","http":{"method":"GET"}}}`, "/", "d.example"},
		{"null maps", `{"rawPath":"/x","headers":null,"queryParameters":null,"body":null,"isBase64Encoded":null,"requestContext":{"http":{"method":"GET","protocol":null,"sourceIp":null}}}`, "/x", ""},
		{"base64 flag without body", `{"rawPath":"/x","isBase64Encoded":true,"requestContext":{"http":{"method":"GET"}}}`, "/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewRequest(context.Background(), parseEvent(t, tt.event), 10)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			if got, want := r.URL.EscapedPath(), tt.escapedPath; got != want {
				t.Errorf("EscapedPath = %q, want %q", got, want)
			}
			if got, want := r.Host, tt.host; got != want {
				t.Errorf("Host = %q, want %q", got, want)
			}
			if r.Body == nil || r.Header == nil {
				t.Errorf("Body or Header is nil")
			}
		})
	}
}

func TestNewRequestNilPointers(t *testing.T) {
	t.Parallel()
	if _, err := NewRequest(context.Background(), nil, 0); !isEventError(err) {
		t.Errorf("nil event: %v, want *EventError", err)
	}
	if _, err := NewRequest(context.Background(), &events.HTTPTriggerEvent{}, 0); !isEventError(err) {
		t.Errorf("zero event: %v, want *EventError", err)
	}
	method, path := "GET", "/x"
	ev := &events.HTTPTriggerEvent{RawPath: &path}
	ev.TriggerContext.Http.Method = &method
	//lint:ignore SA1012 a nil context must be tolerated, not just avoided
	r, err := NewRequest(nil, ev, 0)
	if err != nil {
		t.Fatalf("nil context: %v", err)
	}
	if r.Context() == nil {
		t.Errorf("request has no context")
	}
}

func isEventError(err error) bool {
	var e *EventError
	return errors.As(err, &e)
}

func TestNewRequestErrors(t *testing.T) {
	t.Parallel()
	const secret = "U0VDUkVULUJPRFk=" // appears in events only; must not reach errors
	tests := []struct {
		name    string
		event   string
		maxBody int64
	}{
		{"no method", `{"rawPath":"/"}`, 0},
		{"bad method", `{"rawPath":"/","requestContext":{"http":{"method":"GE T"}}}`, 0},
		{"no path", `{"requestContext":{"http":{"method":"GET"}}}`, 0},
		{"relative path", `{"rawPath":"exports/1","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"absolute URL", `{"rawPath":"http://evil.example/x","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"query in path", `{"rawPath":"/x?sig=1","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"fragment in path", `{"rawPath":"/x#y","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"bad escape", `{"rawPath":"/x%zz","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"control char", `{"rawPath":"/x\u0000y","requestContext":{"http":{"method":"GET"}}}`, 0},
		{"bad base64", `{"rawPath":"/","body":"` + secret + `!!","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`, 0},
		{"plain body too large", `{"rawPath":"/","body":"12345678901","requestContext":{"http":{"method":"POST"}}}`, 10},
		{"base64 body too large", `{"rawPath":"/","body":"` + base64.StdEncoding.EncodeToString(make([]byte, 11)) + `","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`, 10},
		{"base64 body far too large", `{"rawPath":"/","body":"` + strings.Repeat("A", 4096) + `","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`, 10},
		{"header name", `{"rawPath":"/","headers":{"bad header":"` + secret + `"},"requestContext":{"http":{"method":"GET"}}}`, 0},
		{"header value newline", `{"rawPath":"/","headers":{"X-A":"a\r\nSet-Cookie: ` + secret + `"},"requestContext":{"http":{"method":"GET"}}}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewRequest(context.Background(), parseEvent(t, tt.event), tt.maxBody)
			if !isEventError(err) {
				t.Fatalf("NewRequest = %v, %v; want *EventError", r, err)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes event data", err)
			}
		})
	}
}

func TestBodyLimitBoundary(t *testing.T) {
	t.Parallel()
	for _, n := range []int{8, 9, 10} {
		body := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, n))
		ev := parseEvent(t, `{"rawPath":"/","body":"`+body+`","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"}}}`)
		r, err := NewRequest(context.Background(), ev, 10)
		if err != nil {
			t.Fatalf("%d-byte body with limit 10: %v", n, err)
		}
		if got, want := r.ContentLength, int64(n); got != want {
			t.Errorf("ContentLength = %d, want %d", got, want)
		}
	}
}

func TestResponseRecorder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter)
		want    events.HTTPTriggerResponse
	}{
		{
			name:    "nothing written",
			handler: func(http.ResponseWriter) {},
			want:    events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{}},
		},
		{
			name: "status only",
			handler: func(w http.ResponseWriter) {
				w.Header().Set("Location", "https://bucket.oss-cn-hangzhou.aliyuncs.com/f.zip")
				w.WriteHeader(http.StatusFound)
			},
			want: events.HTTPTriggerResponse{StatusCode: 302, Headers: map[string]string{"Location": "https://bucket.oss-cn-hangzhou.aliyuncs.com/f.zip"}},
		},
		{
			name: "multiple values joined",
			handler: func(w http.ResponseWriter) {
				w.Header().Add("Vary", "Accept")
				w.Header().Add("Vary", "Accept-Encoding")
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = io.WriteString(w, "导出 ok")
			},
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Vary": "Accept, Accept-Encoding", "Content-Type": "text/plain; charset=utf-8"}, Body: "导出 ok"},
		},
		{
			name: "binary body",
			handler: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/zip")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte{'P', 'K', 0x03, 0x04, 0xff, 0xfe})
			},
			want: events.HTTPTriggerResponse{StatusCode: 201, Headers: map[string]string{"Content-Type": "application/zip"}, Body: "UEsDBP/+", IsBase64Encoded: true},
		},
		{
			name: "text with NUL stays text",
			handler: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write([]byte("a\x00b"))
			},
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "a\x00b"},
		},
		{
			name: "content type sniffed",
			handler: func(w http.ResponseWriter) {
				_, _ = io.WriteString(w, "<!DOCTYPE html><p>hi")
			},
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/html; charset=utf-8"}, Body: "<!DOCTYPE html><p>hi"},
		},
		{
			name: "content type suppressed",
			handler: func(w http.ResponseWriter) {
				w.Header()["Content-Type"] = nil
				_, _ = io.WriteString(w, "raw")
			},
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{}, Body: "raw"},
		},
		{
			name: "headers after WriteHeader ignored",
			handler: func(w http.ResponseWriter) {
				w.Header().Set("X-Before", "1")
				w.WriteHeader(http.StatusAccepted)
				w.Header().Set("X-After", "2")
				w.WriteHeader(http.StatusTeapot)
			},
			want: events.HTTPTriggerResponse{StatusCode: 202, Headers: map[string]string{"X-Before": "1"}},
		},
		{
			name: "headers after first Write ignored",
			handler: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = io.WriteString(w, "a")
				w.Header().Set("X-After", "2")
				_, _ = io.WriteString(w, "b")
			},
			want: events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "ab"},
		},
		{
			name: "informational status ignored",
			handler: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusNoContent)
			},
			want: events.HTTPTriggerResponse{StatusCode: 204, Headers: map[string]string{}},
		},
		{
			name:    "invalid status",
			handler: func(w http.ResponseWriter) { w.WriteHeader(42) },
			want:    events.HTTPTriggerResponse{StatusCode: 500, Headers: map[string]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &ResponseRecorder{}
			tt.handler(rec)
			assertResponse(t, rec.Result(), &tt.want)
		})
	}
}

func assertResponse(t *testing.T, got, want *events.HTTPTriggerResponse) {
	t.Helper()
	if got == nil {
		t.Fatal("response is nil")
	}
	if got.Headers == nil {
		t.Error("Headers map is nil")
	}
	if got.StatusCode != want.StatusCode || got.Body != want.Body || got.IsBase64Encoded != want.IsBase64Encoded {
		t.Errorf("response = %d %q base64=%v, want %d %q base64=%v",
			got.StatusCode, got.Body, got.IsBase64Encoded, want.StatusCode, want.Body, want.IsBase64Encoded)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Errorf("headers = %q, want %q", got.Headers, want.Headers)
	}
	for k, v := range want.Headers {
		if got.Headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, got.Headers[k], v)
		}
	}
}

// echo answers with what it received, so a test can compare it with the event.
type echoed struct {
	Method, Path, EscapedPath, RawQuery, Host, RemoteAddr string
	Header                                                http.Header
	Body                                                  []byte
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Echo", "one")
	w.Header().Add("X-Echo", "two")
	_ = json.NewEncoder(w).Encode(echoed{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Host, r.RemoteAddr, r.Header, body})
}

func TestHandlerEcho(t *testing.T) {
	t.Parallel()
	handle := Handler(http.HandlerFunc(echo), 1<<20)
	for _, fixture := range []string{"get_download.json", "post_base64.json", "encoded_path.json", "plain_body.json"} {
		t.Run(fixture, func(t *testing.T) {
			t.Parallel()
			ev := loadEvent(t, fixture)
			res, err := handle(context.Background(), ev)
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if got, want := res.StatusCode, 200; got != want {
				t.Fatalf("status = %d, want %d (body %s)", got, want, res.Body)
			}
			if got, want := res.Headers["X-Echo"], "one, two"; got != want {
				t.Errorf("X-Echo = %q, want %q", got, want)
			}
			var e echoed
			if err := json.Unmarshal([]byte(res.Body), &e); err != nil {
				t.Fatalf("decode echo: %v", err)
			}
			if got, want := e.Method, *ev.TriggerContext.Http.Method; got != want {
				t.Errorf("method = %q, want %q", got, want)
			}
			if got, want := e.EscapedPath, *ev.RawPath; got != want {
				t.Errorf("escaped path = %q, want %q", got, want)
			}
			wantBody := []byte(*ev.Body)
			if ev.IsBase64Encoded != nil && *ev.IsBase64Encoded {
				var err error
				if wantBody, err = base64.StdEncoding.DecodeString(*ev.Body); err != nil {
					t.Fatalf("fixture body: %v", err)
				}
			}
			if !bytes.Equal(e.Body, wantBody) {
				t.Errorf("body = %x, want %x", e.Body, wantBody)
			}
			if ev.Headers != nil {
				for k, v := range *ev.Headers {
					if strings.EqualFold(k, "host") {
						continue
					}
					if got := e.Header.Get(k); got != v {
						t.Errorf("header %s = %q, want %q", k, got, v)
					}
				}
			}
		})
	}
}

func TestHandlerHead(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0xff, 0x00})
	})
	res, err := Handler(h, 0)(context.Background(), loadEvent(t, "minimal.json"))
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	assertResponse(t, res, &events.HTTPTriggerResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/octet-stream"}})
}

type problemJSON struct {
	Type, Title, Detail, Code, RequestID string
	Status                               int
}

func decodeProblem(t *testing.T, res *events.HTTPTriggerResponse) problemJSON {
	t.Helper()
	if got, want := res.Headers["Content-Type"], "application/problem+json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	var p problemJSON
	if err := json.Unmarshal([]byte(res.Body), &p); err != nil {
		t.Fatalf("decode problem %q: %v", res.Body, err)
	}
	if p.Status != res.StatusCode {
		t.Errorf("problem status %d, response status %d", p.Status, res.StatusCode)
	}
	if p.Type == "" || p.Title == "" {
		t.Errorf("problem lacks type or title: %+v", p)
	}
	return p
}

func TestHandlerBadEvent(t *testing.T) {
	t.Parallel()
	called := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	ev := *parseEvent(t, `{"rawPath":"/x%zz","requestContext":{"requestId":"req-1","http":{"method":"GET"}}}`)
	res, err := Handler(h, 0)(context.Background(), ev)
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if got, want := res.StatusCode, 400; got != want {
		t.Errorf("status = %d, want %d", got, want)
	}
	p := decodeProblem(t, res)
	if got, want := p.Code, "bad_event"; got != want {
		t.Errorf("code = %q, want %q", got, want)
	}
	if got, want := p.RequestID, "req-1"; got != want {
		t.Errorf("requestId = %q, want %q", got, want)
	}
	if called {
		t.Error("handler ran for a bad event")
	}
}

// TestHandlerBadEventWithoutRequestID: an event without
// requestContext.requestId still gets the invocation's id in its problem.
func TestHandlerBadEventWithoutRequestID(t *testing.T) {
	t.Parallel()
	ctx := fccontext.NewContext(context.Background(), &fccontext.FcContext{RequestID: "fc-req-9"})
	res, err := Handler(http.NotFoundHandler(), 0)(ctx, events.HTTPTriggerEvent{})
	if err != nil {
		t.Fatalf("handler error: %v", err)
	}
	if got, want := decodeProblem(t, res).RequestID, "fc-req-9"; got != want {
		t.Errorf("requestId = %q, want %q", got, want)
	}
}

func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value any
	}{
		{"string", "boom SECRET-DETAIL"},
		{"error", errors.New("SECRET-DETAIL")},
		{"abort", http.ErrAbortHandler},
		{"nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Partial", "1")
				_, _ = io.WriteString(w, "partial")
				panic(tt.value)
			})
			res, err := Handler(h, 0)(context.Background(), loadEvent(t, "get_download.json"))
			if err != nil {
				t.Fatalf("handler error: %v", err)
			}
			if got, want := res.StatusCode, 500; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			p := decodeProblem(t, res)
			if got, want := p.Code, "internal"; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if strings.Contains(res.Body, "SECRET") || strings.Contains(res.Body, "partial") || strings.Contains(res.Body, "goroutine") {
				t.Errorf("body leaks the panic: %s", res.Body)
			}
			if _, ok := res.Headers["X-Partial"]; ok {
				t.Error("partial headers were sent")
			}
		})
	}
}
