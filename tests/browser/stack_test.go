package browser

import (
	"github.com/dms-export-link/dms-export-link/internal/secrettest"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/exports"
	"github.com/dms-export-link/dms-export-link/internal/httpapi"
	"github.com/dms-export-link/dms-export-link/internal/links"
)

const tenant = 3000

// notReadyRetry is the Retry-After of "not ready yet", short so the page
// reloads quickly; the screenshot for docs/ shows the default of 5s. The
// exports cache keeps that answer for less, so a reload after the ticket
// became ready reaches DMS.
func notReadyRetry() time.Duration {
	if *updateDocs {
		return 5 * time.Second
	}
	return 2 * time.Second
}

// stack is the function as a person reaches it: the DMS emulator and fake
// OSS, the real SDK client, the exports service and the handler on a
// loopback listener, plus a "chat" site on another origin whose messages
// carry the signed links. Every response of the function is validated
// against openapi.yaml.
type stack struct {
	t        *testing.T
	env      *dmsfake.Env
	fn       *httptest.Server
	chat     *httptest.Server
	signer   *links.Signer
	logs     *secrettest.Buffer
	contract *contracttest.Checker // openapi.yaml

	mu       sync.Mutex
	messages map[string]string // chat message id -> link
	seen     []seenRequest
	failures []string
	sigs     []string // link signatures that must not reach a log line
}

// seenRequest is one request the function answered.
type seenRequest struct {
	path, referer string
	status        int
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{t: t, logs: &secrettest.Buffer{}, messages: map[string]string{}}
	logger := slog.New(slog.NewJSONHandler(s.logs, nil))
	ak, secret, sts := "LTAI"+secrettest.Random(8), secrettest.Random(24), "CAIS"+secrettest.Random(40)
	env, err := dmsfake.Start(dmsfake.Options{AccessKeyID: ak, AccessKeySecret: secret, SecurityToken: sts, Logger: logger, DefaultTid: tenant},
		dmsfake.OSSOptions{Bucket: "dms-idb-browser", AccessKeyID: "LTAIoss" + secrettest.Random(6), AccessKeySecret: secrettest.Random(20)})
	if err != nil {
		t.Fatalf("start the DMS emulator: %v", err)
	}
	t.Cleanup(env.Close)
	s.env = env
	creds := map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID": ak, "ALIBABA_CLOUD_ACCESS_KEY_SECRET": secret, "ALIBABA_CLOUD_SECURITY_TOKEN": sts,
	}
	client, err := dms.New(dms.Options{Region: "cn-hangzhou", Endpoint: env.DMSHost, Scheme: "http", Timeout: 5 * time.Second,
		Getenv: func(k string) string { return creds[k] }})
	if err != nil {
		t.Fatalf("dms client: %v", err)
	}
	// The production policy: https and ALLOWED_DOWNLOAD_HOSTS' default, no
	// loopback allowance. Chromium reaches the fake OSS by its host name
	// (env.ChromiumFlags).
	resolver := exports.New(client, exports.Options{
		AllowedHosts: []string{"*.aliyuncs.com"},
		NotReadyTTL:  notReadyRetry() / 2, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond,
	})
	s.signer = &links.Signer{Keys: []links.Key{{ID: "k1", Secret: []byte(secrettest.Random(32))}}, MaxTTL: 30 * 24 * time.Hour}
	api, err := httpapi.New(httpapi.Deps{
		Resolver: resolver, Signer: s.signer, DefaultTid: tenant, Region: "cn-hangzhou",
		LinkTTL: 7 * 24 * time.Hour, NotReadyRetry: notReadyRetry(), Logger: logger,
	})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	if s.contract, err = contracttest.New(); err != nil {
		t.Fatal(err)
	}
	s.fn = httptest.NewServer(s.validating(api))
	s.chat = httptest.NewServer(http.HandlerFunc(s.serveChat))
	t.Cleanup(func() {
		// After the browser is gone (its cleanup runs first), so every
		// request it made has been answered and checked.
		s.fn.Close()
		s.chat.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, f := range s.failures {
			t.Error(f)
		}
		for _, leak := range secrettest.Leaks(s.logs.String(), s.sigs) {
			t.Errorf("logs: %s", leak)
		}
	})
	return s
}

// link mints a signed link to order, valid until exp; signedAt is the
// signer's clock, so an already expired link can be made.
func (s *stack) link(order int64, exp, signedAt time.Time) string {
	s.t.Helper()
	signer := *s.signer
	signer.Now = func() time.Time { return signedAt }
	q, err := signer.Sign(links.Claims{OrderID: order, Expires: exp})
	if err != nil {
		s.t.Fatalf("sign: %v", err)
	}
	s.mu.Lock()
	s.sigs = append(s.sigs, q.Get("sig"))
	s.mu.Unlock()
	return s.fn.URL + "/exports/" + strconv.FormatInt(order, 10) + "/download?" + q.Encode()
}

// message posts link in the chat and returns the address of the message.
func (s *stack) message(link string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strconv.Itoa(len(s.messages) + 1)
	s.messages[id] = link
	return s.chat.URL + "/messages/" + id
}

var chatPage = template.Must(template.New("chat").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Chat</title></head>
<body><p>Your export is ready: <a id="link" href="{{.}}">download it</a>.</p></body></html>`))

// serveChat shows a message with its link. Its referrer policy sends the
// whole address, so only the function's own policy can keep it from OSS.
func (s *stack) serveChat(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	link, ok := s.messages[strings.TrimPrefix(r.URL.Path, "/messages/")]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Referrer-Policy", "unsafe-url")
	_ = chatPage.Execute(w, link)
}

// requests returns what the function answered for path, oldest first.
func (s *stack) requests(path string) []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []seenRequest
	for _, r := range s.seen {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// validating wraps the function: each answer is recorded and checked
// against openapi.yaml, and a mismatch fails the test when it ends.
func (s *stack) validating(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		res := rec.Result()
		failure := s.check(r, res, rec.Body.Bytes())
		s.mu.Lock()
		defer s.mu.Unlock()
		s.seen = append(s.seen, seenRequest{path: r.URL.Path, referer: r.Referer(), status: res.StatusCode})
		if failure != "" {
			s.failures = append(s.failures, r.Method+" "+r.URL.Path+": "+failure)
		}
	})
}

// check returns why res does not match openapi.yaml, or "".
func (s *stack) check(r *http.Request, res *http.Response, body []byte) string {
	if err := s.contract.Check(r, nil, res, body); err != nil {
		return err.Error()
	}
	return ""
}
