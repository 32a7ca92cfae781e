package dms

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Credentials with the characters that query escaping changes, so redaction
// is checked against both forms.
var testCreds = Credentials{
	AccessKeyID:     "STS.NUxTestKeyId",
	AccessKeySecret: "sEcReT+ab/cd=Value",
	SecurityToken:   "CAIS+token/part=TestSecurityToken==",
}

const ossURL = "https://dms-idb-hangzhou.oss-cn-hangzhou.aliyuncs.com/x.zip?Expires=1&OSSAccessKeyId=LTAI&Signature=ossSig%3D"

// fcContext returns ctx carrying cr as FC per-invocation credentials.
func fcContext(ctx context.Context, cr Credentials) context.Context {
	return fccontext.NewContext(ctx, &fccontext.FcContext{
		RequestID: "fc-req",
		Credentials: fccontext.Credentials{
			AccessKeyId:     cr.AccessKeyID,
			AccessKeySecret: cr.AccessKeySecret,
			SecurityToken:   cr.SecurityToken,
		},
	})
}

// startGateway serves h on loopback (TLS when useTLS) and returns Options
// pointing at it through a transport that trusts the server. Cleanup closes
// the server and the transport's idle connections.
func startGateway(t *testing.T, useTLS bool, h http.Handler) Options {
	t.Helper()
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	tr := srv.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	opts := Options{Region: "cn-hangzhou", Endpoint: srv.Listener.Addr().String(), Transport: tr, Timeout: 5 * time.Second}
	if !useTLS {
		opts.Scheme = "http"
	}
	return opts
}

func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// signatureOK checks the RPC HMAC-SHA1 signature the way the gateway does.
func signatureOK(r *http.Request, secret string) bool {
	if err := r.ParseForm(); err != nil {
		return false
	}
	params := url.Values{}
	for k, v := range r.Form {
		if k != "Signature" {
			params.Set(k, v[0])
		}
	}
	canon := strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(params.Encode())
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(r.Method + "&%2F&" + url.QueryEscape(canon)))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.Form.Get("Signature")))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func okReply(w http.ResponseWriter, u string) {
	writeJSON(w, http.StatusOK, map[string]any{
		"RequestId": "req-ok", "Success": true, "ErrorCode": "UnknownError", "ErrorMessage": "UnknownError",
		"DownloadURLResult": map[string]any{"HasResult": true, "URL": u, "TipMessage": ""},
	})
}

func gatewayError(status int, code, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, status, map[string]any{
			"RequestId": "req-gw", "HostId": "dms-enterprise.aliyuncs.com", "Code": code, "Message": msg,
			"Recommend": "https://api.aliyun.com/troubleshoot?q=" + code,
		})
	}
}

func businessReply(code, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"RequestId": "req-biz", "Success": false, "ErrorCode": code, "ErrorMessage": msg})
	}
}

// blockUntilDone holds the request until the client gives up or the test ends.
func blockUntilDone(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *dms.Error", err, err)
	}
	return e
}

func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	text := err.Error()
	for _, s := range []string{testCreds.AccessKeySecret, testCreds.SecurityToken, url.QueryEscape(testCreds.SecurityToken),
		url.QueryEscape(testCreds.AccessKeySecret), "Signature=", "SecurityToken=", ossURL, "OSSAccessKeyId"} {
		if strings.Contains(text, s) {
			t.Errorf("error text %q contains secret %q", text, s)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string // substring naming the setting; "" = valid
	}{
		{"zero value", Options{}, ""},
		{"http", Options{Scheme: "HTTP"}, ""},
		{"endpoint with port", Options{Endpoint: "127.0.0.1:8080"}, ""},
		{"vpc endpoint", Options{Endpoint: "dms-enterprise-vpc.cn-hangzhou.aliyuncs.com", Region: "cn-hangzhou"}, ""},
		{"bad scheme", Options{Scheme: "ftp"}, "scheme"},
		{"endpoint with scheme", Options{Endpoint: "https://dms-enterprise.aliyuncs.com"}, "endpoint"},
		{"endpoint with path", Options{Endpoint: "dms-enterprise.aliyuncs.com/x"}, "endpoint"},
		{"endpoint empty port", Options{Endpoint: "localhost:"}, "endpoint"},
		{"endpoint port out of range", Options{Endpoint: "localhost:70000"}, "endpoint"},
		{"bad region", Options{Region: "cn hangzhou"}, "region"},
		{"negative timeout", Options{Timeout: -time.Second}, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.timeout != DefaultTimeout && tt.opts.Timeout == 0 {
					t.Errorf("timeout = %v, want default %v", c.timeout, DefaultTimeout)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestDownloadURLSendsRequest(t *testing.T) {
	tests := []struct {
		name       string
		region     string // Options.Region
		req        Request
		wantRegion string
		wantTid    string // "" = absent
	}{
		{"tid and default region", "cn-hangzhou", Request{Tid: 42, OrderID: 1001}, "cn-hangzhou", "42"},
		{"no tid", "cn-hangzhou", Request{OrderID: 1002}, "cn-hangzhou", ""},
		{"request region wins", "cn-hangzhou", Request{Tid: 7, OrderID: 1003, Region: "ap-southeast-1"}, "ap-southeast-1", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Clone(context.Background())
				okReply(w, ossURL)
			}))
			opts.Region = tt.region
			c := newClient(t, opts)
			res, err := c.DownloadURL(fcContext(t.Context(), testCreds), tt.req)
			if err != nil {
				t.Fatalf("DownloadURL: %v", err)
			}
			if got, want := res, (Result{RequestID: "req-ok", Ready: true, URL: ossURL}); got != want {
				t.Errorf("result = %+v, want %+v", got, want)
			}
			r := <-seen
			q := r.URL.Query()
			if got, want := r.Method, http.MethodPost; got != want {
				t.Errorf("method = %s, want %s", got, want)
			}
			for k, want := range map[string]string{
				"Action": "GetDataExportDownloadURL", "Version": "2018-11-01", "Format": "JSON",
				"OrderId": fmt.Sprint(tt.req.OrderID), "RegionId": tt.wantRegion,
			} {
				if got := q.Get(k); got != want {
					t.Errorf("query %s = %q, want %q", k, got, want)
				}
			}
			if got, ok := q["Tid"]; ok != (tt.wantTid != "") || (ok && got[0] != tt.wantTid) {
				t.Errorf("query Tid = %q (present %v), want %q", got, ok, tt.wantTid)
			}
		})
	}
}

func TestDownloadURLNotReady(t *testing.T) {
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"RequestId": "req-wait", "Success": true,
			"DownloadURLResult": map[string]any{"HasResult": false, "TipMessage": "export still running"}})
	}))
	res, err := newClient(t, opts).DownloadURL(fcContext(t.Context(), testCreds), Request{OrderID: 5})
	if err != nil {
		t.Fatalf("DownloadURL: %v", err)
	}
	if got, want := res, (Result{RequestID: "req-wait", TipMessage: "export still running"}); got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}
}

func TestHTTPSIsDefault(t *testing.T) {
	var gotTLS atomic.Bool
	opts := startGateway(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTLS.Store(r.TLS != nil)
		okReply(w, ossURL)
	}))
	opts.Scheme = ""
	if _, err := newClient(t, opts).DownloadURL(fcContext(t.Context(), testCreds), Request{OrderID: 1}); err != nil {
		t.Fatalf("DownloadURL: %v", err)
	}
	if !gotTLS.Load() {
		t.Error("request did not arrive over TLS")
	}
}

// TestPrime: priming runs the SDK on a canned reply, without the network,
// and leaves the client working.
func TestPrime(t *testing.T) {
	var dialled atomic.Int32
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { okReply(w, ossURL) }))
	opts.Transport.Proxy = func(*http.Request) (*url.URL, error) {
		dialled.Add(1)
		return nil, nil
	}
	c := newClient(t, opts)
	if err := c.Prime(); err != nil {
		t.Fatalf("Prime: %v", err)
	}
	if got := dialled.Load(); got != 0 {
		t.Errorf("Prime sent %d requests over the transport, want 0", got)
	}
	res, err := c.DownloadURL(fcContext(t.Context(), testCreds), Request{OrderID: 1})
	if err != nil || res.URL != ossURL {
		t.Fatalf("DownloadURL after Prime = %+v, %v; want the gateway's URL", res, err)
	}
	if got := dialled.Load(); got != 1 {
		t.Errorf("DownloadURL sent %d requests over the transport, want 1", got)
	}
}

func TestCredentialsReachGateway(t *testing.T) {
	fcCreds := Credentials{AccessKeyID: "STS.fcKey", AccessKeySecret: "fc/secret+1", SecurityToken: "fc+token/=="}
	envCreds := Credentials{AccessKeyID: "STS.envKey", AccessKeySecret: "env/secret+2", SecurityToken: "env+token/=="}
	env := func(cr Credentials) func(string) string {
		return func(k string) string {
			return map[string]string{EnvAccessKeyID: cr.AccessKeyID, EnvAccessKeySecret: cr.AccessKeySecret, EnvSecurityToken: cr.SecurityToken}[k]
		}
	}
	akOnly := Credentials{AccessKeyID: "LTAIkey", AccessKeySecret: "ak-secret"}
	tests := []struct {
		name   string
		fc     *Credentials
		getenv func(string) string
		want   Credentials
	}{
		{"fc context wins over env", &fcCreds, env(envCreds), fcCreds},
		{"fc context without env", &fcCreds, nil, fcCreds},
		{"env with token", nil, env(envCreds), envCreds},
		{"fc context without key falls back", &Credentials{}, env(envCreds), envCreds},
		{"env without token", nil, env(akOnly), akOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Clone(context.Background())
				okReply(w, ossURL)
			}))
			opts.Getenv = tt.getenv
			ctx := t.Context()
			if tt.fc != nil {
				ctx = fcContext(ctx, *tt.fc)
			}
			if _, err := newClient(t, opts).DownloadURL(ctx, Request{OrderID: 9}); err != nil {
				t.Fatalf("DownloadURL: %v", err)
			}
			r := <-seen
			q := r.URL.Query()
			if got, want := q.Get("AccessKeyId"), tt.want.AccessKeyID; got != want {
				t.Errorf("AccessKeyId = %q, want %q", got, want)
			}
			if got, ok := q["SecurityToken"]; ok != (tt.want.SecurityToken != "") || (ok && got[0] != tt.want.SecurityToken) {
				t.Errorf("SecurityToken = %q (present %v), want %q", got, ok, tt.want.SecurityToken)
			}
			if !signatureOK(r, tt.want.AccessKeySecret) {
				t.Error("signature does not verify with the expected secret")
			}
		})
	}
}

func TestNoCredentials(t *testing.T) {
	var calls atomic.Int32
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		okReply(w, ossURL)
	}))
	opts.Getenv = func(k string) string {
		if k == EnvAccessKeyID {
			return "key-without-secret"
		}
		return ""
	}
	_, err := newClient(t, opts).DownloadURL(t.Context(), Request{OrderID: 1})
	e := asError(t, err)
	if got, want := e.Kind, KindNoCredentials; got != want {
		t.Fatalf("kind = %v, want %v", got, want)
	}
	for _, v := range []string{EnvAccessKeyID, EnvAccessKeySecret, EnvSecurityToken} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("gateway saw %d calls, want 0", got)
	}
}

func TestErrorKinds(t *testing.T) {
	now := time.Date(2026, 11, 27, 11, 40, 0, 0, time.UTC)
	escToken := url.QueryEscape(testCreds.SecurityToken)
	tests := []struct {
		name           string
		h              http.HandlerFunc
		wantKind       Kind
		wantCode       string
		wantStatus     int
		wantRetryAfter time.Duration
		wantInMessage  string
	}{
		{"throttled with seconds", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			gatewayError(400, "Throttling.User", "Request was denied due to user flow control.")(w, r)
		}, KindThrottled, "Throttling.User", 400, 7 * time.Second, "flow control"},
		{"throttled with date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", now.Add(30*time.Second).Format(http.TimeFormat))
			gatewayError(400, "Throttling.Api", "api flow control")(w, r)
		}, KindThrottled, "Throttling.Api", 400, 30 * time.Second, ""},
		{"throttled without hint", gatewayError(400, "Throttling", "x"), KindThrottled, "Throttling", 400, 0, ""},
		{"forbidden RAM", gatewayError(403, "Forbidden.RAM", "User not authorized to operate on the specified resource."),
			KindForbidden, "Forbidden.RAM", 403, 0, "not authorized"},
		{"signature mismatch quoting string to sign", gatewayError(400, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3D"+
				testCreds.AccessKeyID+"%26SecurityToken%3D"+url.QueryEscape(escToken)),
			KindAuth, "SignatureDoesNotMatch", 400, 0, "Specified signature is not matched with our calculation"},
		{"incomplete signature", gatewayError(400, "IncompleteSignature", "x"), KindAuth, "IncompleteSignature", 400, 0, ""},
		{"token expired", gatewayError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired."),
			KindAuth, "InvalidSecurityToken.Expired", 400, 0, "expired"},
		{"missing token", gatewayError(400, "MissingSecurityToken", "x"), KindAuth, "MissingSecurityToken", 400, 0, ""},
		{"key not found", gatewayError(404, "InvalidAccessKeyId.NotFound", "x"), KindAuth, "InvalidAccessKeyId.NotFound", 404, 0, ""},
		{"timestamp", gatewayError(400, "InvalidTimeStamp.Expired", "x"), KindAuth, "InvalidTimeStamp.Expired", 400, 0, ""},
		{"nonce", gatewayError(400, "SignatureNonceUsed", "x"), KindAuth, "SignatureNonceUsed", 400, 0, ""},
		{"key disabled", gatewayError(403, "Forbidden.AccessKeyDisabled", "x"), KindAuth, "Forbidden.AccessKeyDisabled", 403, 0, ""},
		{"api not found", gatewayError(404, "InvalidApi.NotFound", "Specified api is not found."), KindBadRequest, "InvalidApi.NotFound", 404, 0, ""},
		{"message echoing secrets", gatewayError(400, "InvalidParameter",
			"bad value "+testCreds.SecurityToken+" / "+testCreds.AccessKeySecret+" at "+ossURL),
			KindBadRequest, "InvalidParameter", 400, 0, "bad value"},
		{"internal error", gatewayError(500, "InternalError", "The request processing has failed due to some unknown error."),
			KindUnavailable, "InternalError", 500, 0, ""},
		{"service unavailable", gatewayError(503, "ServiceUnavailable", "x"), KindUnavailable, "ServiceUnavailable", 503, 0, ""},
		{"html 502", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(502)
			fmt.Fprint(w, "<html><body>Bad Gateway "+ossURL+"</body></html>")
		}, KindUnavailable, "", 502, 0, "HTTP 502"},
		{"plain 429", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(429)
			fmt.Fprint(w, "slow down")
		}, KindThrottled, "", 429, 0, ""},
		{"business unknown error", businessReply("UnknownError", "something went wrong"), KindBusiness, "UnknownError", 200, 0, "went wrong"},
		{"business invalid order", businessReply("InvalidOrderId", "order does not exist"), KindNotFound, "InvalidOrderId", 200, 0, ""},
		{"business order not exist", businessReply("OrderNotExist", "x"), KindNotFound, "OrderNotExist", 200, 0, ""},
		{"business no permission", businessReply("NoPermission", "no permission on this ticket"), KindForbidden, "NoPermission", 200, 0, ""},
		{"invalid json with url", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"RequestId":"r","Success":true,"DownloadURLResult":{"HasResult":true,"URL":"`+ossURL+`"`)
		}, KindMalformed, "SDK.JsonUnmarshalError", 200, 0, ""},
		{"empty body", func(w http.ResponseWriter, _ *http.Request) {}, KindMalformed, "", 200, 0, ""},
		{"result without url", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 200, map[string]any{"RequestId": "r", "Success": true, "DownloadURLResult": map[string]any{"HasResult": true}})
		}, KindMalformed, "", 200, 0, ""},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, KindTransport, "", 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := startGateway(t, true, tt.h)
			c := newClient(t, opts)
			c.now = func() time.Time { return now }
			res, err := c.DownloadURL(fcContext(t.Context(), testCreds), Request{Tid: 1, OrderID: 77})
			if err == nil {
				t.Fatalf("DownloadURL = %+v, want an error", res)
			}
			e := asError(t, err)
			if got, want := e.Kind, tt.wantKind; got != want {
				t.Errorf("kind = %v, want %v (%v)", got, want, err)
			}
			if got, want := e.Code, tt.wantCode; got != want {
				t.Errorf("code = %q, want %q", got, want)
			}
			if got, want := e.HTTPStatus, tt.wantStatus; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := e.RetryAfter, tt.wantRetryAfter; got != want {
				t.Errorf("RetryAfter = %v, want %v", got, want)
			}
			if !strings.Contains(e.Message, tt.wantInMessage) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantInMessage)
			}
			if strings.Contains(strings.ToLower(err.Error()), "string to sign") {
				t.Errorf("error %q quotes the string to sign", err)
			}
			assertNoSecrets(t, err)
			if got, want := e.Kind.Retryable(), tt.wantKind.Retryable(); got != want {
				t.Errorf("Retryable = %v, want %v", got, want)
			}
		})
	}
}

// TestTransportErrorIsRedactedURLError checks the cause keeps its type, so
// errors.As and errors.Is work, with only scheme://host/ left of the URL.
func TestTransportErrorIsRedactedURLError(t *testing.T) {
	opts := startGateway(t, true, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	_, err := newClient(t, opts).DownloadURL(fcContext(t.Context(), testCreds), Request{OrderID: 3})
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v does not wrap a *url.Error", err)
	}
	if got, want := ue.URL, "https://"+opts.Endpoint+"/"; got != want {
		t.Errorf("url.Error URL = %q, want %q", got, want)
	}
	assertNoSecrets(t, err)
}

func TestDeadlineBoundsCall(t *testing.T) {
	tests := []struct {
		name       string
		ctxTimeout time.Duration // 0 = no deadline
		timeout    time.Duration // Options.Timeout
		want       time.Duration // the bound that should apply
	}{
		{"context deadline shorter", 150 * time.Millisecond, 10 * time.Second, 150 * time.Millisecond},
		{"options timeout shorter", 0, 150 * time.Millisecond, 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			opts := startGateway(t, true, blockUntilDone(release))
			t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
			opts.Timeout = tt.timeout
			c := newClient(t, opts)
			start := time.Now() // before the deadline is set
			ctx := fcContext(t.Context(), testCreds)
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			_, err := c.DownloadURL(ctx, Request{OrderID: 1})
			elapsed := time.Since(start)
			e := asError(t, err)
			if got, want := e.Kind, KindTimeout; got != want {
				t.Fatalf("kind = %v, want %v (%v)", got, want, err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
			}
			if elapsed < tt.want || elapsed > tt.want+2*time.Second {
				t.Errorf("call took %v, want about %v", elapsed, tt.want)
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestExpiredContextDoesNotCall(t *testing.T) {
	var calls atomic.Int32
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		okReply(w, ossURL)
	}))
	ctx, cancel := context.WithDeadline(fcContext(t.Context(), testCreds), time.Now().Add(-time.Second))
	defer cancel()
	_, err := newClient(t, opts).DownloadURL(ctx, Request{OrderID: 1})
	if got, want := asError(t, err).Kind, KindTimeout; got != want {
		t.Errorf("kind = %v, want %v", got, want)
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("gateway saw %d calls, want 0", got)
	}
}

func TestCancelIsTransport(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		blockUntilDone(release)(w, r)
	}))
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(fcContext(t.Context(), testCreds))
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	_, err := newClient(t, opts).DownloadURL(ctx, Request{OrderID: 1})
	if got, want := asError(t, err).Kind, KindTransport; got != want {
		t.Errorf("kind = %v, want %v (%v)", got, want, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%v, Canceled) = false", err)
	}
	assertNoSecrets(t, err)
}

// TestShortTimeoutDoesNotStick guards against the SDK's sticky per-request
// timeout: a call after a timed-out one gets its own full budget.
func TestShortTimeoutDoesNotStick(t *testing.T) {
	release := make(chan struct{})
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("OrderId") == "1" {
			blockUntilDone(release)(w, r)
			return
		}
		select { // slower than the first call's timeout, well within the second's
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		okReply(w, ossURL)
	}))
	t.Cleanup(func() { close(release) })
	c := newClient(t, opts)
	ctx := fcContext(t.Context(), testCreds)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.DownloadURL(short, Request{OrderID: 1}); asError(t, err).Kind != KindTimeout {
		t.Fatalf("first call: %v, want a timeout", err)
	}
	if _, err := c.DownloadURL(ctx, Request{OrderID: 2}); err != nil {
		t.Fatalf("second call: %v", err)
	}
}

// TestConcurrentCalls runs calls with different credentials and timeouts
// through one Client; run with -race.
func TestConcurrentCalls(t *testing.T) {
	release := make(chan struct{})
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id := strings.TrimPrefix(q.Get("AccessKeyId"), "STS.key-")
		if !signatureOK(r, "secret-"+id) || q.Get("SecurityToken") != "token-"+id {
			gatewayError(400, "SignatureDoesNotMatch", "x")(w, r)
			return
		}
		if q.Get("OrderId") == "1" {
			blockUntilDone(release)(w, r)
			return
		}
		okReply(w, "https://oss.example.com/"+id+".zip")
	}))
	t.Cleanup(func() { close(release) })
	c := newClient(t, opts)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint(i)
			ctx := fcContext(t.Context(), Credentials{AccessKeyID: "STS.key-" + id, AccessKeySecret: "secret-" + id, SecurityToken: "token-" + id})
			slow := i%2 == 0
			timeout, order := 5*time.Second, int64(2)
			if slow {
				timeout, order = time.Duration(20+i)*time.Millisecond, 1
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			res, err := c.DownloadURL(ctx, Request{Tid: int64(i), OrderID: order})
			switch {
			case slow:
				var e *Error
				if !errors.As(err, &e) || e.Kind != KindTimeout {
					t.Errorf("call %d: %v, want a timeout", i, err)
				}
			case err != nil:
				t.Errorf("call %d: %v", i, err)
			default:
				if got, want := res.URL, "https://oss.example.com/"+id+".zip"; got != want {
					t.Errorf("call %d: URL = %q, want %q", i, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestCredentialsFromContext(t *testing.T) {
	env := map[string]string{EnvAccessKeyID: "envKey", EnvAccessKeySecret: "envSecret", EnvSecurityToken: "envToken"}
	tests := []struct {
		name   string
		fc     *Credentials
		getenv func(string) string
		want   Credentials
		wantOK bool
	}{
		{"fc", &testCreds, nil, testCreds, true},
		{"fc beats env", &testCreds, func(k string) string { return env[k] }, testCreds, true},
		{"env", nil, func(k string) string { return env[k] }, Credentials{"envKey", "envSecret", "envToken"}, true},
		{"nothing", nil, nil, Credentials{}, false},
		{"env without secret", nil, func(k string) string {
			if k == EnvAccessKeyID {
				return "k"
			}
			return ""
		}, Credentials{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.fc != nil {
				ctx = fcContext(ctx, *tt.fc)
			}
			got, ok := CredentialsFromContext(ctx, tt.getenv)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CredentialsFromContext = %+v, %v; want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBadRequestsDoNotCall(t *testing.T) {
	var calls atomic.Int32
	opts := startGateway(t, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		okReply(w, ossURL)
	}))
	c := newClient(t, opts)
	for _, req := range []Request{{OrderID: 0}, {OrderID: -1}, {OrderID: 1, Tid: -1}, {OrderID: 1, Region: "cn/x"}} {
		_, err := c.DownloadURL(fcContext(t.Context(), testCreds), req)
		if got, want := asError(t, err).Kind, KindBadRequest; got != want {
			t.Errorf("DownloadURL(%+v) kind = %v, want %v", req, got, want)
		}
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("gateway saw %d calls, want 0", got)
	}
}
