package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
	"go.uber.org/goleak"

	"github.com/dms-export-link/dms-export-link/internal/dms"
	"github.com/dms-export-link/dms-export-link/internal/dmsfake"
	"github.com/dms-export-link/dms-export-link/internal/exports"
)

// Shared DMS calls, servers and client connections run in goroutines of
// their own; none may outlive the tests.
func TestMain(m *testing.M) {
	dms.Warm()
	goleak.VerifyTestMain(m)
}

// The production policy end to end: DMS hands out https URLs on the
// bucket's aliyuncs.com host, however they are signed; the function
// redirects to them under ALLOWED_DOWNLOAD_HOSTS' default with no loopback
// allowance, and the fake OSS serves the file to a client that reaches it by
// that host name over TLS.
func TestDownloadRedirectsToTheFile(t *testing.T) {
	t.Parallel()
	for i, signing := range []dmsfake.Signing{dmsfake.SignV1, dmsfake.SignV1STS, dmsfake.SignV4, dmsfake.SignV4STS} {
		t.Run(strconv.Itoa(int(signing)), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			order := int64(orderReady)
			if i > 0 {
				order = 5461300 + int64(i)
				h.env.Gateway.PutTicket(dmsfake.Ticket{Tid: tenant, OrderID: order, State: dmsfake.StateReady,
					FileName: "export_5461234.csv", File: readyFile, Signing: signing})
			}
			res := h.get(h.link(order, h.week()), nil)
			if got, want := res.StatusCode, http.StatusFound; got != want {
				t.Fatalf("status = %d, want %d: %s", got, want, res.body)
			}
			for name, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
				if got := res.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			loc := res.Header.Get("Location")
			if want := "https://dms-idb-test.oss-cn-hangzhou.aliyuncs.com/"; !strings.HasPrefix(loc, want) || !strings.HasPrefix(loc, h.env.OSSURL+"/") {
				t.Fatalf("Location %q is not on the fake OSS %s", loc, want)
			}
			if len(res.body) != 0 {
				t.Errorf("a redirect carries a body that repeats the URL: %q", res.body)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"Signature", "security-token", "x-oss-signature", "x-oss-security-token"} {
				if v := u.Query().Get(p); v != "" {
					h.secrets = append(h.secrets, v) // the logs are checked for them at cleanup
				}
			}
			h.wantReadyFile(loc)
			if n := h.env.Gateway.CallsFor(order); n != 1 {
				t.Errorf("DMS calls = %d, want 1", n)
			}
		})
	}
}

// The loopback allowance (ALLOW_HTTP_LOOPBACK_DOWNLOADS, the demo's
// setting) is what lets plain http URLs on 127.0.0.1 through; without it the
// same URL is refused.
func TestDownloadLoopbackAllowance(t *testing.T) {
	t.Parallel()
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{plainOSS: true})
		res := h.get(h.link(orderReady, h.week()), nil)
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http://127.0.0.1:") {
			t.Fatalf("got %d to %q, want a 302 to the plain-http bucket", res.StatusCode, loc)
		}
		h.wantReadyFile(loc)
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{plainOSS: true, exportsOpt: func(o *exports.Options) { o.AllowHTTPLoopback = false }})
		res := h.get(h.link(orderReady, h.week()), nil)
		if p := res.problem(t); res.StatusCode != http.StatusBadGateway || p.Code != "download_host_refused" {
			t.Fatalf("got %d %s, want 502 download_host_refused", res.StatusCode, res.body)
		}
	})
}

func TestDownloadJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.get(h.link(orderReady, h.week()), http.Header{"Accept": {"application/json"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", res.StatusCode, res.body)
	}
	var out downloadResult
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatal(err)
	}
	if out.OrderID != orderReady || out.Tid != tenant || !out.Ready || !strings.HasPrefix(out.URL, h.env.OSSURL+"/") {
		t.Errorf("JSON = %+v", out)
	}
	if out.ExpiresAt == nil || out.ExpiresAt.Before(time.Now()) {
		t.Errorf("downloadUrlExpiresAt = %v, want the OSS URL's future expiry", out.ExpiresAt)
	}
	if res.Header.Get("Location") != "" {
		t.Error("JSON answer carries a Location header")
	}
}

func TestDownloadNotReady(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.get(h.link(orderNotYet, h.week()), nil)
	p := res.problem(t)
	if res.StatusCode != http.StatusConflict || p.Code != "export_not_ready" {
		t.Fatalf("got %d %s, want 409 export_not_ready", res.StatusCode, p.Code)
	}
	if got, want := p.TipMessage, "The export is still running."; got != want {
		t.Errorf("tipMessage = %q, want %q", got, want)
	}
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra != 5 {
		t.Errorf("Retry-After = %q, want 5", res.Header.Get("Retry-After"))
	}
	if p.RequestID == "" || p.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("requestId %q does not match X-Request-Id %q", p.RequestID, res.Header.Get("X-Request-Id"))
	}
}

// Every row of the status mapping, each produced by an emulator scenario.
func TestDownloadErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		order      int64
		fault      *dmsfake.Fault
		ticket     *dmsfake.Ticket
		opt        harnessOptions
		status     int
		code       string
		retryAfter bool
	}{
		{name: "business failure", order: orderFailed, status: 502, code: "dms_error"},
		{name: "role forbidden", order: orderDenied, status: 502, code: "dms_forbidden"},
		{name: "unknown ticket", order: 99, status: 404, code: "export_not_found"},
		{name: "throttled forever", order: orderReady, fault: &dmsfake.Fault{Throttle: -1}, status: 503, code: "dms_throttled", retryAfter: true},
		{name: "5xx forever", order: orderReady, fault: &dmsfake.Fault{ServerErrors: -1}, status: 503, code: "dms_unavailable", retryAfter: true},
		{name: "slower than the deadline", order: orderReady, fault: &dmsfake.Fault{Latency: 3 * time.Second}, opt: harnessOptions{dmsTimeout: 150 * time.Millisecond}, status: 504, code: "dms_timeout"},
		{name: "malformed body", order: orderReady, fault: &dmsfake.Fault{Malformed: true}, status: 502, code: "dms_bad_response"},
		{name: "dropped connection", order: orderReady, fault: &dmsfake.Fault{Drop: true}, status: 502, code: "dms_unreachable"},
		{name: "nonce reused", order: orderReady, fault: &dmsfake.Fault{Status: 400, Code: "SignatureNonceUsed", Message: "Specified signature nonce was used already."}, status: 502, code: "dms_auth_failed"},
		{name: "RAM denies the API", order: orderReady, fault: &dmsfake.Fault{Status: 403, Code: "Forbidden.RAM", Message: "User not authorized to operate on the specified resource."}, status: 502, code: "dms_forbidden"},
		{name: "URL outside the allow-list", order: 777, ticket: &dmsfake.Ticket{Tid: tenant, OrderID: 777, State: dmsfake.StateReady, URL: "https://evil.example.com/export.zip?Expires=1&Signature=x"}, status: 502, code: "download_host_refused"},
		{name: "plain http to a public host", order: 778, ticket: &dmsfake.Ticket{Tid: tenant, OrderID: 778, State: dmsfake.StateReady, URL: "http://dms-idb-hangzhou.oss-cn-hangzhou.aliyuncs.com/x.zip"}, opt: harnessOptions{exportsOpt: func(o *exports.Options) { o.AllowedHosts = append(o.AllowedHosts, "*.aliyuncs.com") }}, status: 502, code: "download_host_refused"},
		{name: "no credentials", order: orderReady, opt: harnessOptions{getenv: func(string) string { return "" }}, status: 502, code: "dms_no_credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tc.opt)
			if tc.ticket != nil {
				h.env.Gateway.PutTicket(*tc.ticket)
			}
			if tc.fault != nil {
				h.env.Gateway.SetFault(*tc.fault)
			}
			res := h.get(h.link(tc.order, h.week()), nil)
			p := res.problem(t)
			if res.StatusCode != tc.status || p.Code != tc.code {
				t.Fatalf("got %d %s (%s), want %d %s", res.StatusCode, p.Code, p.Detail, tc.status, tc.code)
			}
			if got := res.Header.Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After present = %v, want %v", got, tc.retryAfter)
			}
			if strings.Contains(string(res.body), "Signature") || strings.Contains(string(res.body), h.creds.SecurityToken) {
				t.Errorf("the problem leaks a signed URL or token: %s", res.body)
			}
		})
	}
}

// The emulator rejects bad signatures, tokens and clocks; the function turns
// each into the documented 502.
func TestDMSRejectsCredentials(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(c *dms.Credentials)
		skew   time.Duration
	}{
		{name: "wrong secret", mutate: func(c *dms.Credentials) { c.AccessKeySecret = "wrong-" + c.AccessKeySecret }},
		{name: "missing token", mutate: func(c *dms.Credentials) { c.SecurityToken = "" }},
		{name: "wrong token", mutate: func(c *dms.Credentials) { c.SecurityToken += "x" }},
		{name: "unknown access key", mutate: func(c *dms.Credentials) { c.AccessKeyID = "LTAIunknown" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sent dms.Credentials
			h := newHarness(t, harnessOptions{getenv: func(k string) string {
				switch k {
				case "ALIBABA_CLOUD_ACCESS_KEY_ID":
					return sent.AccessKeyID
				case "ALIBABA_CLOUD_ACCESS_KEY_SECRET":
					return sent.AccessKeySecret
				case "ALIBABA_CLOUD_SECURITY_TOKEN":
					return sent.SecurityToken
				}
				return ""
			}})
			sent = h.creds
			tc.mutate(&sent)
			h.secrets = append(h.secrets, sent.AccessKeySecret, sent.SecurityToken)
			res := h.get(h.link(orderReady, h.week()), nil)
			p := res.problem(t)
			if res.StatusCode != 502 || p.Code != "dms_auth_failed" {
				t.Fatalf("got %d %s, want 502 dms_auth_failed", res.StatusCode, p.Code)
			}
		})
	}
}

func TestDMSRejectsStaleTimestamp(t *testing.T) {
	t.Parallel()
	// The function's clock is right; the gateway's is 20 minutes ahead, so
	// the request's Timestamp falls outside its ±15 minute window.
	h := newHarness(t, harnessOptions{gatewayNow: func() time.Time { return time.Now().Add(20 * time.Minute) }})
	res := h.get(h.link(orderReady, h.week()), nil)
	if p := res.problem(t); res.StatusCode != 502 || p.Code != "dms_auth_failed" {
		t.Fatalf("got %d %s, want 502 dms_auth_failed", res.StatusCode, p.Code)
	}
	calls := h.env.Gateway.LastCalls()
	if len(calls) == 0 || calls[len(calls)-1].Code != "InvalidTimeStamp.Expired" {
		t.Fatalf("gateway calls = %+v, want InvalidTimeStamp.Expired", calls)
	}
}

// Credentials in the invocation context (the function's RAM role under FC)
// reach DMS exactly, and win over the environment.
func TestFCCredentialsReachDMS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{getenv: func(k string) string {
		if strings.HasPrefix(k, "ALIBABA_CLOUD_") {
			return "from-env-should-not-be-used"
		}
		return ""
	}})
	fcCtx := fccontext.NewContext(context.Background(), &fccontext.FcContext{
		RequestID: "fc-req-1",
		Credentials: fccontext.Credentials{
			AccessKeyId: h.creds.AccessKeyID, AccessKeySecret: h.creds.AccessKeySecret, SecurityToken: h.creds.SecurityToken,
		},
	})
	req := httptest.NewRequestWithContext(fcCtx, http.MethodGet, h.link(orderReady, h.week()), nil)
	rec := httptest.NewRecorder()
	h.api.ServeHTTP(rec, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Request-Id"); got != "fc-req-1" {
		t.Errorf("X-Request-Id = %q, want FC's request id", got)
	}
	calls := h.env.Gateway.LastCalls()
	if len(calls) != 1 {
		t.Fatalf("gateway saw %d calls, want 1", len(calls))
	}
	if calls[0].AccessKeyID != h.creds.AccessKeyID || calls[0].SecurityToken != h.creds.SecurityToken {
		t.Errorf("gateway saw AccessKeyId %q token %q, want the invocation's", calls[0].AccessKeyID, calls[0].SecurityToken)
	}
}

func TestLinkExpiredAndTampered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	past := h.signer.Now
	h.signer.Now = func() time.Time { return time.Now().Add(-48 * time.Hour) }
	expired := h.link(orderReady, time.Now().Add(-time.Hour))
	h.signer.Now = past
	res := h.get(expired, nil)
	if p := res.problem(t); res.StatusCode != http.StatusGone || p.Code != "link_expired" {
		t.Fatalf("expired link: got %d %s, want 410 link_expired", res.StatusCode, p.Code)
	}
	good := h.link(orderReady, h.week())
	tampered := strings.Replace(good, "/exports/5461234/", "/exports/5461235/", 1)
	res = h.get(tampered, nil)
	if p := res.problem(t); res.StatusCode != http.StatusForbidden || p.Code != "link_invalid" {
		t.Fatalf("tampered link: got %d %s, want 403 link_invalid", res.StatusCode, p.Code)
	}
	if n := h.env.Gateway.Calls(); n != 0 {
		t.Errorf("refused links made %d DMS calls", n)
	}
}

func TestHeadNeverCallsDMS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.do(http.MethodHead, h.link(orderReady, h.week()), nil, nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Location") != "" {
		t.Fatalf("HEAD: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
	if n := h.env.Gateway.Calls(); n != 0 {
		t.Errorf("HEAD made %d DMS calls", n)
	}
}

func TestNoLinkKeysRefusesDownloads(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{noKeys: true})
	res := h.get("/exports/5461234/download?exp=9999999999&kid=k1&sig=abc", nil)
	p := res.problem(t)
	if res.StatusCode != http.StatusServiceUnavailable || p.Code != "link_keys_missing" || !strings.Contains(p.Detail, "LINK_KEYS") {
		t.Fatalf("got %d %s %q, want 503 link_keys_missing naming LINK_KEYS", res.StatusCode, p.Code, p.Detail)
	}
	res = h.do(http.MethodPost, "/links", strings.NewReader(`{"orderId":1}`), http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}})
	if p := res.problem(t); p.Code != "link_keys_missing" {
		t.Fatalf("createLink without keys: %d %s", res.StatusCode, p.Code)
	}
}
