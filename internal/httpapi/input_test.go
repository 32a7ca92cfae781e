package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// Bad input of every kind is a problem+json, never a 500, and never reaches DMS.
func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	good := h.link(orderReady, h.week())
	query := good[strings.Index(good, "?"):]
	sig := func(s string) string {
		q := strings.Split(query[1:], "&")
		for i, kv := range q {
			if strings.HasPrefix(kv, "sig=") {
				q[i] = "sig=" + s
			}
		}
		return "/exports/5461234/download?" + strings.Join(q, "&")
	}
	origSig := query[strings.Index(query, "sig=")+4:]
	if i := strings.Index(origSig, "&"); i >= 0 {
		origSig = origSig[:i]
	}
	auth := http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}}
	cases := []struct {
		name   string
		method string
		target string
		body   string
		header http.Header
		status int
		code   string
		field  string // the parameter the problem must name
	}{
		{name: "non-numeric id", target: "/exports/abc/download" + query, status: 400, code: "bad_request", field: "orderId"},
		{name: "zero id", target: "/exports/0/download" + query, status: 400, code: "bad_request", field: "orderId"},
		{name: "negative id", target: "/exports/-5/download" + query, status: 400, code: "bad_request", field: "orderId"},
		{name: "overflowing id", target: "/exports/9223372036854775808/download" + query, status: 400, code: "bad_request", field: "orderId"},
		// kin-openapi before v0.152.0 read integer parameters in other
		// bases too (0x10 as 16); the contract means decimal.
		{name: "hexadecimal id", target: "/exports/0x5354f2/download" + query, status: 400, code: "bad_request", field: "orderId"},
		{name: "hexadecimal tid", target: good + "&tid=0x2a", status: 400, code: "bad_request", field: "tid"},
		{name: "binary exp", target: "/exports/5461234/download?exp=0b1&kid=k1&sig=" + origSig, status: 400, code: "bad_request", field: "exp"},
		{name: "encoded id", target: "/exports/%35461234/download" + query, status: 302},
		{name: "missing signature", target: "/exports/5461234/download?exp=9999999999&kid=k1", status: 400, code: "bad_request", field: "sig"},
		{name: "missing exp", target: "/exports/5461234/download?kid=k1&sig=" + origSig, status: 400, code: "bad_request", field: "exp"},
		{name: "garbage exp", target: "/exports/5461234/download?exp=soon&kid=k1&sig=" + origSig, status: 400, code: "bad_request", field: "exp"},
		{name: "garbage signature", target: sig("%00%01!!"), status: 403, code: "link_invalid"},
		{name: "truncated signature", target: sig(origSig[:10]), status: 403, code: "link_invalid"},
		{name: "tampered signature", target: sig(strings.ToUpper(origSig[:4]) + origSig[4:] + "A"), status: 403, code: "link_invalid"},
		{name: "unknown kid", target: strings.Replace(good, "kid=k1", "kid=k9", 1), status: 403, code: "link_invalid"},
		{name: "bad kid", target: strings.Replace(good, "kid=k1", "kid=%2F..", 1), status: 400, code: "bad_request", field: "kid"},
		{name: "tid added", target: good + "&tid=42", status: 403, code: "link_invalid"},
		{name: "repeated exp", target: good + "&exp=1", status: 403, code: "link_invalid"},
		{name: "huge query", target: good + "&pad=" + strings.Repeat("x", 10000), status: 400, code: "bad_request"},
		{name: "huge query on health", target: "/healthz?pad=" + strings.Repeat("x", 10000), status: 400, code: "bad_request"},
		{name: "huge query on the spec", target: "/openapi.yaml?pad=" + strings.Repeat("x", 10000), status: 400, code: "bad_request"},
		{name: "unknown path", target: "/nothing/here", status: 404, code: "not_found"},
		{name: "trailing slash", target: "/exports/5461234/download/" + query, status: 404, code: "not_found"},
		{name: "wrong method", method: http.MethodDelete, target: good, status: 405, code: "method_not_allowed"},
		{name: "POST to a download", method: http.MethodPost, target: good, status: 405, code: "method_not_allowed"},
		{name: "status without token", target: "/exports/5461234", status: 401, code: "unauthorized"},
		{name: "status with wrong token", target: "/exports/5461234", header: http.Header{"Authorization": {"Bearer nope-" + h.token}}, status: 401, code: "unauthorized"},
		{name: "status with basic auth", target: "/exports/5461234", header: http.Header{"Authorization": {"Basic " + h.token}}, status: 401, code: "unauthorized"},
		{name: "status with bad tid", target: "/exports/5461234?tid=x", header: auth, status: 400, code: "bad_request", field: "tid"},
		{name: "link without token", method: http.MethodPost, target: "/links", body: `{"orderId":1}`, header: http.Header{"Content-Type": {"application/json"}}, status: 401, code: "unauthorized"},
		{name: "malformed body", method: http.MethodPost, target: "/links", body: `{"orderId":`, header: auth, status: 400, code: "bad_json"},
		{name: "unknown member", method: http.MethodPost, target: "/links", body: `{"orderId":1,"OrderId":-5}`, header: auth, status: 400, code: "bad_request"},
		{name: "missing orderId", method: http.MethodPost, target: "/links", body: `{"tid":1}`, header: auth, status: 400, code: "bad_request"},
		{name: "orderId as string", method: http.MethodPost, target: "/links", body: `{"orderId":"1"}`, header: auth, status: 400, code: "bad_request"},
		{name: "ttl too short", method: http.MethodPost, target: "/links", body: `{"orderId":1,"ttlSeconds":1}`, header: auth, status: 400, code: "bad_request"},
		{name: "ttl over LINK_MAX_TTL", method: http.MethodPost, target: "/links", body: `{"orderId":1,"ttlSeconds":31000000}`, header: auth, status: 400, code: "bad_request"},
		{name: "empty body", method: http.MethodPost, target: "/links", header: auth, status: 400, code: "bad_request"},
		{name: "oversized body", method: http.MethodPost, target: "/links", body: `{"orderId":1,"x":"` + strings.Repeat("a", 100<<10) + `"}`, header: auth, status: 413, code: "body_too_large"},
		{name: "wrong content type", method: http.MethodPost, target: "/links", body: `orderId=1`, header: http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/x-www-form-urlencoded"}}, status: 415, code: "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			} else {
				body = strings.NewReader("")
			}
			res := h.do(method, tc.target, body, tc.header)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, res.body)
			}
			if tc.code == "" {
				return
			}
			p := res.problem(t)
			if p.Code != tc.code {
				t.Errorf("code = %q, want %q (%s)", p.Code, tc.code, p.Detail)
			}
			if tc.field != "" && !namesField(p, tc.field) {
				t.Errorf("the problem does not name %q: %+v", tc.field, p)
			}
			if strings.Contains(string(res.body), "Schema:") || strings.Contains(string(res.body), `"type": "integer"`) {
				t.Errorf("the problem dumps the schema: %s", res.body)
			}
			if tc.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want \"GET, HEAD\"", res.Header.Get("Allow"))
			}
			if tc.status == 401 && !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if n := h.env.Gateway.Calls(); n != 1 { // only the "encoded id" case is a valid download
		t.Errorf("bad input made %d DMS calls, want 1", n)
	}
}

func namesField(p problem, name string) bool {
	for _, f := range p.Errors {
		if f.Name == name {
			return true
		}
	}
	return false
}
