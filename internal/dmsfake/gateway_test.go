package dmsfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dms_enterprise "github.com/aliyun/alibaba-cloud-sdk-go/services/dms-enterprise"
)

func serverError(t *testing.T, err error) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) {
		t.Fatalf("error = %T %v, want *errors.ServerError", err, err)
	}
	return se
}

func TestTicketShapes(t *testing.T) {
	env := startEnv(t, nil)
	file := []byte("PK\x03\x04 zip bytes")
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 101, State: StateReady, File: file})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 102, State: StateNotReady, Tip: "export running"})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 103, State: StateFailed, ErrorCode: "NoPermission", ErrorMessage: "no export right"})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 104, State: StateFailed})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 105, State: StateForbidden})
	env.Gateway.PutTicket(Ticket{Tid: testTid + 1, OrderID: 106, State: StateReady, File: file})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 107, State: StateReady, URL: "https://example.com/odd?x=1"})

	tests := []struct {
		name      string
		tid       int64
		orderID   int64
		success   bool
		hasResult bool
		tip       string
		code, msg string
		status    int // non-zero: a gateway error
	}{
		{name: "ready", tid: testTid, orderID: 101, success: true, hasResult: true},
		{name: "ready default tenant", orderID: 101, success: true, hasResult: true},
		{name: "not ready", tid: testTid, orderID: 102, success: true, tip: "export running"},
		{name: "failed", tid: testTid, orderID: 103, code: "NoPermission", msg: "no export right"},
		{name: "failed default code", tid: testTid, orderID: 104, code: "UnknownError", msg: "UnknownError"},
		{name: "forbidden", tid: testTid, orderID: 105, status: 403, code: "Forbidden.RAM"},
		{name: "unknown", tid: testTid, orderID: 999, code: "InvalidOrderId", msg: "The order does not exist."},
		{name: "other tenant", tid: testTid, orderID: 106, code: "InvalidOrderId", msg: "The order does not exist."},
		{name: "verbatim url", tid: testTid, orderID: 107, success: true, hasResult: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := call(t, env, goodCreds, tt.tid, tt.orderID, nil)
			if tt.status != 0 {
				se := serverError(t, err)
				if got, want := se.HttpStatus(), tt.status; got != want {
					t.Errorf("status = %d, want %d", got, want)
				}
				if got, want := se.ErrorCode(), tt.code; got != want {
					t.Errorf("code = %q, want %q", got, want)
				}
				if se.RequestId() == "" || se.HostId() != env.DMSHost || se.Recommend() == "" {
					t.Errorf("RequestId %q, HostId %q, Recommend %q: want all set", se.RequestId(), se.HostId(), se.Recommend())
				}
				return
			}
			if err != nil {
				t.Fatalf("GetDataExportDownloadURL: %v", err)
			}
			if resp.RequestId == "" {
				t.Error("RequestId is empty")
			}
			if got, want := resp.Success, tt.success; got != want {
				t.Errorf("Success = %v, want %v", got, want)
			}
			if got, want := resp.DownloadURLResult.HasResult, tt.hasResult; got != want {
				t.Errorf("HasResult = %v, want %v", got, want)
			}
			if got, want := resp.DownloadURLResult.TipMessage, tt.tip; got != want {
				t.Errorf("TipMessage = %q, want %q", got, want)
			}
			if got, want := resp.ErrorCode, tt.code; got != want {
				t.Errorf("ErrorCode = %q, want %q", got, want)
			}
			if got, want := resp.ErrorMessage, tt.msg; got != want {
				t.Errorf("ErrorMessage = %q, want %q", got, want)
			}
			if !tt.hasResult && resp.DownloadURLResult.URL != "" {
				t.Errorf("URL = %q, want none", resp.DownloadURLResult.URL)
			}
		})
	}

	t.Run("ready url downloads the file", func(t *testing.T) {
		resp, err := call(t, env, goodCreds, testTid, 101, nil)
		if err != nil {
			t.Fatal(err)
		}
		u := resp.DownloadURLResult.URL
		if want := env.OSSURL + "/export_101.zip?"; !strings.HasPrefix(u, want) {
			t.Fatalf("URL = %s, want prefix %s", redactQuery(u), want)
		}
		status, _, body := get(t, env, http.MethodGet, u, nil)
		if got, want := status, 200; got != want {
			t.Fatalf("GET status = %d, want %d", got, want)
		}
		if got, want := body, string(file); got != want {
			t.Errorf("body = %q, want %q", got, want)
		}
	})
	t.Run("verbatim url", func(t *testing.T) {
		resp, err := call(t, env, goodCreds, testTid, 107, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resp.DownloadURLResult.URL, "https://example.com/odd?x=1"; got != want {
			t.Errorf("URL = %q, want %q", got, want)
		}
	})
}

func TestJSONBodyExactShape(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady, Tip: "wait"})
	resp, err := call(t, env, goodCreds, testTid, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &got); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	want := map[string]any{
		"RequestId":         resp.RequestId,
		"Success":           true,
		"DownloadURLResult": map[string]any{"HasResult": false, "URL": "", "TipMessage": "wait"},
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("body = %s, want %s", g, w)
	}
}

func TestPutTicketFlipsNotReadyToReady(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 5, State: StateNotReady, Tip: "running"})
	resp, err := call(t, env, goodCreds, testTid, 5, nil)
	if err != nil || resp.DownloadURLResult.HasResult {
		t.Fatalf("first call: HasResult %v, err %v; want not ready", resp.DownloadURLResult.HasResult, err)
	}
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 5, State: StateReady, FileName: "a/b c.csv", File: []byte("x,y")})
	resp, err = call(t, env, goodCreds, testTid, 5, nil)
	if err != nil || !resp.DownloadURLResult.HasResult {
		t.Fatalf("second call: HasResult %v, err %v; want ready", resp.DownloadURLResult.HasResult, err)
	}
	status, h, body := get(t, env, http.MethodGet, resp.DownloadURLResult.URL, nil)
	if status != 200 || body != "x,y" {
		t.Fatalf("GET = %d %q, want 200 %q", status, body, "x,y")
	}
	if got, want := h.Get("Content-Type"), "application/octet-stream"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
}

func TestGatewayRejects(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		opts   func(*Options)
		creds  creds
		req    func(*dms_enterprise.GetDataExportDownloadURLRequest)
		status int
		code   string
		msg    string // the real gateway's message, where the test pins it
	}{
		{name: "wrong secret", creds: creds{testAK, "nope", testToken}, status: 400, code: "SignatureDoesNotMatch"},
		{name: "unknown access key", creds: creds{"STS.other", testSecret, testToken}, status: 404, code: "InvalidAccessKeyId.NotFound"},
		{name: "missing token", creds: creds{testAK, testSecret, ""}, status: 400, code: "MissingSecurityToken"},
		{name: "wrong token", creds: creds{testAK, testSecret, "other"}, status: 400, code: "InvalidSecurityToken.MismatchWithAccessKey"},
		{name: "token to a plain key", opts: func(o *Options) { o.SecurityToken = "" }, creds: goodCreds, status: 400, code: "InvalidSecurityToken.MismatchWithAccessKey"},
		{name: "stale timestamp", opts: func(o *Options) { o.Now = func() time.Time { return now.Add(16 * time.Minute) } }, creds: goodCreds, status: 400, code: "InvalidTimeStamp.Expired", msg: "Specified time stamp or date value is expired."},
		{name: "future timestamp", opts: func(o *Options) { o.Now = func() time.Time { return now.Add(-16 * time.Minute) } }, creds: goodCreds, status: 400, code: "InvalidTimeStamp.Expired", msg: "Specified time stamp or date value is expired."},
		{name: "wrong version", creds: goodCreds, status: 400, code: "InvalidVersion", msg: "Specified parameter Version is not valid.", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) {
			r.InitWithApiInfo("dms-enterprise", "2018-11-02", "GetDataExportDownloadURL", "dms-enterprise", "openAPI")
		}},
		{name: "wrong action", creds: goodCreds, status: 404, code: "InvalidApi.NotFound", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) {
			r.InitWithApiInfo("dms-enterprise", "2018-11-01", "GetDbExportDownloadURL", "dms-enterprise", "openAPI")
		}},
		{name: "missing order", creds: goodCreds, status: 400, code: "MissingOrderId", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) { r.OrderId = "" }},
		{name: "negative order", creds: goodCreds, status: 400, code: "InvalidParameter", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) { r.OrderId = "-3" }},
		{name: "non-numeric order", creds: goodCreds, status: 400, code: "InvalidParameter", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) { r.OrderId = "12a" }},
		{name: "non-numeric tid", creds: goodCreds, status: 400, code: "InvalidParameter", req: func(r *dms_enterprise.GetDataExportDownloadURLRequest) { r.Tid = requests.Integer("x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := startEnv(t, func(o *Options, _ *OSSOptions) {
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady})
			_, err := call(t, env, tt.creds, testTid, 1, tt.req)
			se := serverError(t, err)
			if got, want := se.HttpStatus(), tt.status; got != want {
				t.Errorf("status = %d, want %d", got, want)
			}
			if got, want := se.ErrorCode(), tt.code; got != want {
				t.Errorf("code = %q, want %q (message %q)", got, want, se.Message())
			}
			if tt.msg != "" && se.Message() != tt.msg {
				t.Errorf("message = %q, want %q", se.Message(), tt.msg)
			}
			if got, want := env.Gateway.Calls(), 1; got != want {
				t.Errorf("Calls = %d, want %d", got, want)
			}
		})
	}
}

// The SDK compares the gateway's echoed string-to-sign with its own: equal
// strings mean only the secret differs, which proves the canonicalisation.
func TestWrongSecretEchoesMatchingStringToSign(t *testing.T) {
	env := startEnv(t, nil)
	_, err := call(t, env, creds{testAK, "wrong", testToken}, testTid, 1, func(r *dms_enterprise.GetDataExportDownloadURLRequest) {
		r.RealLoginUserUid = "a b*c~d+e/é"
	})
	se := serverError(t, err)
	if got, want := se.Recommend(), "InvalidAccessKeySecret: Please check you AccessKeySecret"; got != want {
		t.Errorf("Recommend = %q, want %q", got, want)
	}
}

func TestStringToSignMatchesSDK(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 9, State: StateNotReady})
	for _, method := range []string{requests.POST, requests.GET} {
		t.Run(method, func(t *testing.T) {
			rt := newTransport(t)
			req := newRequest(env, testTid, 9)
			req.Method = method
			req.RealLoginUserUid = "a b*c~d+e/é%7E"
			resp, err := sdkClient(t, rt, goodCreds).GetDataExportDownloadURL(req)
			if err != nil {
				t.Fatalf("gateway rejected the SDK's signature: %v", err)
			}
			if !resp.Success {
				t.Fatalf("Success = false: %s", resp.ErrorCode)
			}
			sent := rt.lastRequest(t)
			params := map[string]string{}
			for k, v := range sent.URL.Query() {
				params[k] = v[0]
			}
			if got, want := rpcStringToSign(sent.Method, params), req.GetStringToSign(); got != want {
				t.Errorf("string to sign\n got %s\nwant %s", got, want)
			}
			if got, want := rpcSignature(testSecret, req.GetStringToSign()), params["Signature"]; got != want {
				t.Errorf("signature = %s, want %s", got, want)
			}
		})
	}
}

// The gateway documents Timestamp as YYYY-MM-DDThh:mm:ssZ; other spellings
// of the same instant are refused even when correctly signed.
func TestTimestampFormat(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady})
	rt := newTransport(t)
	if _, err := sdkClient(t, rt, goodCreds).GetDataExportDownloadURL(newRequest(env, testTid, 1)); err != nil {
		t.Fatalf("SDK call: %v", err)
	}
	sent := rt.lastRequest(t)
	const layout = "2006-01-02T15:04:05Z"
	ts, err := time.Parse(layout, sent.URL.Query().Get("Timestamp"))
	if err != nil {
		t.Fatalf("the SDK's Timestamp: %v", err)
	}
	tests := []struct {
		name, timestamp string
		code            string
	}{
		{"documented form", ts.Format(layout), ""},
		{"fractional seconds", ts.Format("2006-01-02T15:04:05.000Z"), "InvalidTimeStamp.Format"},
		{"nanoseconds", ts.Format("2006-01-02T15:04:05.000000000Z"), "InvalidTimeStamp.Format"},
		{"offset instead of Z", ts.Format("2006-01-02T15:04:05+00:00"), "InvalidTimeStamp.Format"},
		{"no seconds", ts.Format("2006-01-02T15:04Z"), "InvalidTimeStamp.Format"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := sent.URL.Query()
			q.Set("Timestamp", tt.timestamp)
			q.Set("SignatureNonce", fmt.Sprintf("%s-%d", q.Get("SignatureNonce"), i))
			params := map[string]string{}
			for k, v := range q {
				params[k] = v[0]
			}
			q.Set("Signature", rpcSignature(testSecret, rpcStringToSign(http.MethodGet, params)))
			status, _, body := get(t, env, http.MethodGet, "http://"+env.DMSHost+"/?"+q.Encode(), nil)
			var e struct{ Code, Message string }
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, body)
			}
			if tt.code == "" {
				if status != 200 || e.Code != "" {
					t.Fatalf("got %d %s, want 200", status, body)
				}
				return
			}
			if status != 400 || e.Code != tt.code {
				t.Fatalf("got %d %s, want 400 %s", status, body, tt.code)
			}
			if want := "Specified time stamp or date value is not well formatted."; e.Message != want {
				t.Errorf("message = %q, want %q", e.Message, want)
			}
		})
	}
}

func TestNonceReplay(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady})
	rt := newTransport(t)
	if _, err := sdkClient(t, rt, goodCreds).GetDataExportDownloadURL(newRequest(env, testTid, 1)); err != nil {
		t.Fatalf("first call: %v", err)
	}
	sent := rt.lastRequest(t)
	status, _, body := get(t, env, sent.Method, sent.URL.String(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	var e struct{ Code string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %v", err)
	}
	if status != 400 || e.Code != "SignatureNonceUsed" {
		t.Errorf("replay = %d %s, want 400 SignatureNonceUsed", status, e.Code)
	}
}

func TestNonceCacheIsBounded(t *testing.T) {
	var c nonceCache
	now := time.Now()
	if !c.use("a", now, now.Add(time.Minute)) || c.use("a", now, now.Add(time.Minute)) {
		t.Fatal("first use should be fresh and the second a replay")
	}
	if !c.use("a", now.Add(2*time.Minute), now.Add(3*time.Minute)) {
		t.Error("a nonce past its window should be forgotten")
	}
	for i := range maxNonces + 10 {
		c.use(fmt.Sprint(i), now, now.Add(time.Hour))
	}
	if got, max := len(c.seen), maxNonces; got > max {
		t.Errorf("remembered %d nonces, want at most %d", got, max)
	}
}

func TestPlainRequests(t *testing.T) {
	env := startEnv(t, nil)
	tests := []struct {
		name, method, target string
		status               int
		code                 string
		counted              bool
	}{
		{name: "no action", method: "POST", target: "/?Version=2018-11-01&Format=JSON", status: 400, code: "MissingAction"},
		{name: "no signature", method: "GET", target: "/?Action=GetDataExportDownloadURL&Version=2018-11-01&AccessKeyId=x&Format=JSON", status: 400, code: "MissingSignature", counted: true},
		{name: "put", method: "PUT", target: "/?Action=GetDataExportDownloadURL&Format=JSON", status: 404, code: "InvalidApi.NotFound", counted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.Gateway.Calls()
			status, _, body := get(t, env, tt.method, "http://"+env.DMSHost+tt.target, nil)
			var e struct{ Code string }
			_ = json.Unmarshal([]byte(body), &e)
			if status != tt.status || e.Code != tt.code {
				t.Errorf("got %d %q, want %d %q (body %s)", status, e.Code, tt.status, tt.code, body)
			}
			if got, want := env.Gateway.Calls()-before, map[bool]int{true: 1}[tt.counted]; got != want {
				t.Errorf("Calls grew by %d, want %d", got, want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, errs []error)
		calls int
		// persistent faults still hold after the calls, so a global one
		// fails the other ticket too
		persistent bool
	}{
		{name: "throttle twice", fault: Fault{Throttle: 2}, calls: 3, check: func(t *testing.T, errs []error) {
			for _, err := range errs[:2] {
				if se := serverError(t, err); se.HttpStatus() != 400 || se.ErrorCode() != "Throttling.User" {
					t.Errorf("got %d %s, want 400 Throttling.User", se.HttpStatus(), se.ErrorCode())
				}
			}
			if errs[2] != nil {
				t.Errorf("third call: %v, want success", errs[2])
			}
		}},
		{name: "throttle always", persistent: true, fault: Fault{Throttle: -1}, calls: 3, check: func(t *testing.T, errs []error) {
			for _, err := range errs {
				if se := serverError(t, err); se.ErrorCode() != "Throttling.User" {
					t.Errorf("code = %s, want Throttling.User", se.ErrorCode())
				}
			}
		}},
		{name: "server error once", fault: Fault{ServerErrors: 1}, calls: 2, check: func(t *testing.T, errs []error) {
			if se := serverError(t, errs[0]); se.HttpStatus() != 503 || se.ErrorCode() != "ServiceUnavailable" {
				t.Errorf("got %d %s, want 503 ServiceUnavailable", se.HttpStatus(), se.ErrorCode())
			}
			if errs[1] != nil {
				t.Errorf("second call: %v, want success", errs[1])
			}
		}},
		{name: "malformed", persistent: true, fault: Fault{Malformed: true}, calls: 1, check: func(t *testing.T, errs []error) {
			var ce *sdkerrors.ClientError
			if !errors.As(errs[0], &ce) || ce.ErrorCode() != sdkerrors.JsonUnmarshalErrorCode {
				t.Errorf("error = %v, want ClientError %s", errs[0], sdkerrors.JsonUnmarshalErrorCode)
			}
		}},
		{name: "drop", persistent: true, fault: Fault{Drop: true}, calls: 1, check: func(t *testing.T, errs []error) {
			var ue *url.Error
			if !errors.As(errs[0], &ue) {
				t.Errorf("error = %T %v, want *url.Error", errs[0], errs[0])
			}
		}},
		{name: "custom status", persistent: true, fault: Fault{Status: 403, Code: "Forbidden.RAM", Message: "denied"}, calls: 1, check: func(t *testing.T, errs []error) {
			se := serverError(t, errs[0])
			if se.HttpStatus() != 403 || se.ErrorCode() != "Forbidden.RAM" || se.Message() != "denied" {
				t.Errorf("got %d %s %q, want 403 Forbidden.RAM denied", se.HttpStatus(), se.ErrorCode(), se.Message())
			}
		}},
	}
	for _, tt := range tests {
		for _, perTicket := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/perTicket=%v", tt.name, perTicket), func(t *testing.T) {
				env := startEnv(t, nil)
				env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady})
				env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 2, State: StateNotReady})
				if perTicket {
					env.Gateway.SetTicketFault(1, tt.fault)
				} else {
					env.Gateway.SetFault(tt.fault)
				}
				var errs []error
				for range tt.calls {
					_, err := call(t, env, goodCreds, testTid, 1, nil)
					errs = append(errs, err)
				}
				tt.check(t, errs)
				_, err := call(t, env, goodCreds, testTid, 2, nil)
				if got, want := err == nil, perTicket || !tt.persistent; got != want {
					t.Errorf("other ticket succeeded = %v (err %v), want %v", got, err, want)
				}
			})
		}
	}
}

func TestLatencyFault(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateNotReady})
	env.Gateway.SetTicketFault(1, Fault{Latency: 100 * time.Millisecond})

	start := time.Now()
	if _, err := call(t, env, goodCreds, testTid, 1, nil); err != nil {
		t.Fatalf("call: %v", err)
	}
	if got, min := time.Since(start), 100*time.Millisecond; got < min {
		t.Errorf("answered after %v, want at least %v", got, min)
	}

	env.Gateway.SetTicketFault(1, Fault{Latency: time.Hour})
	_, err := call(t, env, goodCreds, testTid, 1, func(r *dms_enterprise.GetDataExportDownloadURLRequest) {
		r.SetReadTimeout(50 * time.Millisecond)
	})
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Errorf("error = %v, want a timeout *url.Error", err)
	}
	// Close (in Cleanup) must end the hour-long handler; goleak checks it.
}

func TestXMLFormat(t *testing.T) {
	env := startEnv(t, nil)
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateReady, File: []byte("z")})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 2, State: StateNotReady, Tip: "soon & later"})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 3, State: StateFailed, ErrorCode: "UnknownError", ErrorMessage: "boom"})
	xmlReq := func(r *dms_enterprise.GetDataExportDownloadURLRequest) { r.AcceptFormat = "XML" }

	resp, err := call(t, env, goodCreds, testTid, 1, xmlReq)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.GetHttpContentString(), "<?xml") {
		t.Errorf("body %q is not XML", resp.GetHttpContentString())
	}
	if !resp.Success || !resp.DownloadURLResult.HasResult || !strings.HasPrefix(resp.DownloadURLResult.URL, env.OSSURL+"/") || resp.RequestId == "" {
		t.Errorf("ready = %+v, want Success, HasResult, an OSS URL and a RequestId", resp)
	}
	if status, _, body := get(t, env, http.MethodGet, resp.DownloadURLResult.URL, nil); status != 200 || body != "z" {
		t.Errorf("GET of the XML-escaped URL = %d %q, want 200 %q", status, body, "z")
	}

	resp, err = call(t, env, goodCreds, testTid, 2, xmlReq)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.DownloadURLResult.HasResult || resp.DownloadURLResult.TipMessage != "soon & later" {
		t.Errorf("not ready = %+v", resp.DownloadURLResult)
	}

	resp, err = call(t, env, goodCreds, testTid, 3, xmlReq)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Success || resp.ErrorCode != "UnknownError" || resp.ErrorMessage != "boom" {
		t.Errorf("failed = Success %v %q %q", resp.Success, resp.ErrorCode, resp.ErrorMessage)
	}

	// The SDK reads only JSON error bodies, so an XML one arrives raw.
	_, err = call(t, env, creds{testAK, "bad", testToken}, testTid, 1, xmlReq)
	se := serverError(t, err)
	if se.HttpStatus() != 400 || !strings.Contains(se.Message(), "<Code>SignatureDoesNotMatch</Code>") {
		t.Errorf("XML error = %d %q", se.HttpStatus(), se.Message())
	}
}

func TestConcurrentCalls(t *testing.T) {
	env := startEnv(t, nil)
	const n, tickets = 200, 5
	for i := range int64(tickets) {
		env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: i + 1, State: StateReady, File: []byte{byte(i)}})
	}
	rt := newTransport(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req := newRequest(env, testTid, int64(i%tickets+1))
			resp, err := sdkClient(t, rt, goodCreds).GetDataExportDownloadURL(req)
			if err == nil && !resp.DownloadURLResult.HasResult {
				err = fmt.Errorf("order %d not ready", i%tickets+1)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got, want := env.Gateway.Calls(), n; got != want {
		t.Errorf("Calls = %d, want %d", got, want)
	}
	for i := range int64(tickets) {
		if got, want := env.Gateway.CallsFor(i+1), n/tickets; got != want {
			t.Errorf("CallsFor(%d) = %d, want %d", i+1, got, want)
		}
	}
	calls := env.Gateway.LastCalls()
	if got, want := len(calls), n; got != want {
		t.Fatalf("len(LastCalls) = %d, want %d", got, want)
	}
	for _, c := range calls {
		if c.AccessKeyID != testAK || c.SecurityToken != testToken || c.RegionID != "cn-hangzhou" || c.Tid != testTid ||
			c.Status != 200 || c.Code != "" || c.Action != apiAction || c.Format != "JSON" || c.Method != "POST" {
			t.Errorf("call = %+v", c)
			break
		}
	}
}

func TestLogLines(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil))
	env := startEnv(t, func(o *Options, _ *OSSOptions) { o.Logger = logger })
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 1, State: StateReady, File: []byte("f")})
	env.Gateway.PutTicket(Ticket{Tid: testTid, OrderID: 2, State: StateNotReady})
	if _, err := call(t, env, goodCreds, testTid, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, env, goodCreds, testTid, 2, nil); err != nil {
		t.Fatal(err)
	}
	_, _ = call(t, env, creds{testAK, "bad", testToken}, testTid, 1, nil)

	mu.Lock()
	out := buf.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got, want := len(lines), 3; got != want {
		t.Fatalf("%d log lines, want %d:\n%s", got, want, out)
	}
	wants := []struct {
		order   float64
		outcome string
		code    string
		status  float64
	}{{1, "ready", "", 200}, {2, "not_ready", "", 200}, {1, "error", "SignatureDoesNotMatch", 400}}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		w := wants[i]
		if m["msg"] != "dms call" || m["action"] != apiAction || m["orderId"] != w.order || m["tid"] != float64(testTid) ||
			m["regionId"] != "cn-hangzhou" || m["status"] != w.status || m["code"] != w.code || m["outcome"] != w.outcome ||
			m["requestId"] == "" || m["latency"] == nil {
			t.Errorf("line %d = %s, want order %v outcome %s code %q", i, line, w.order, w.outcome, w.code)
		}
	}
	for _, secret := range []string{testToken, "Signature=", "Expires=", "OSSAccessKeyId"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
