package httpapi

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/dms-export-link/dms-export-link/internal/contracttest"
	"github.com/dms-export-link/dms-export-link/internal/notify"
)

// A validating proxy that does not parse YAML treats the contract's body as
// text: the declared schema must accept it as a string too (kin-openapi, in
// the harness, reads it as a file).
func TestOpenAPIAnswerIsText(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	res := h.get("/openapi.yaml", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	mt := h.contract.Spec().Paths.Find("/openapi.yaml").Get.Responses.Status(200).Value.Content.Get(res.Header.Get("Content-Type"))
	if mt == nil {
		t.Fatalf("Content-Type %q is not declared", res.Header.Get("Content-Type"))
	}
	if err := mt.Schema.Value.VisitJSON(string(res.body)); err != nil {
		t.Errorf("the document as text does not match its declared schema: %v", err)
	}
}

// If-None-Match is a list of entity-tags compared weakly, or "*" (RFC 9110,
// section 13.1.2); a match is a 304 that still names the current ETag.
func TestOpenAPIConditionalGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	etag := h.get("/openapi.yaml", nil).Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	cases := []struct {
		name, header string
		want         int
	}{
		{"star", "*", http.StatusNotModified},
		{"own tag", etag, http.StatusNotModified},
		{"weak form of the tag", "W/" + etag, http.StatusNotModified},
		{"in a list", `"older", ` + etag, http.StatusNotModified},
		{"list without spaces", `W/"a",` + etag, http.StatusNotModified},
		{"another tag", `"0123"`, http.StatusOK},
		{"tag without quotes", strings.Trim(etag, `"`), http.StatusOK},
		{"tag as a prefix", strings.TrimSuffix(etag, `"`) + `0"`, http.StatusOK},
		{"not a tag", "yesterday", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := h.get("/openapi.yaml", http.Header{"If-None-Match": {tc.header}})
			if res.StatusCode != tc.want {
				t.Fatalf("If-None-Match: %s answered %d, want %d", tc.header, res.StatusCode, tc.want)
			}
			if got := res.Header.Get("ETag"); got != etag {
				t.Errorf("ETag %q, want %q", got, etag)
			}
			if tc.want == http.StatusNotModified && len(res.body) != 0 {
				t.Errorf("304 with a %d-byte body", len(res.body))
			}
		})
	}
}

// The contract's taskId string accepts exactly what the webhook's parser
// accepts, so a validating proxy and the function agree.
func TestTaskIDSchemaAgreesWithParser(t *testing.T) {
	t.Parallel()
	schema := spec(t).Components.Schemas["DmsTaskId"].Value
	values := []string{
		"", "0", "00", "1", "007", "5461234", " 12 ", "\t12\n", "\r\n12", "\v12", "\u00a012", "12 3",
		"-1", "+1", "1e3", "1.0", "0x10", "١٢", "9223372036854775807", "09223372036854775807",
		"9223372036854775808", "9223372036854775810", "9300000000000000000", "10000000000000000000",
		"99999999999999999999", "999999999999999999", "1000000000000000000",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		n := 17 + r.IntN(4) // around the edge of int64's 19 digits
		var b strings.Builder
		for i := range n {
			d := r.IntN(10)
			if i == 0 && r.IntN(2) == 0 {
				d = 9 // int64's largest numbers start with 9
			}
			b.WriteByte(byte('0' + d))
		}
		values = append(values, b.String())
	}
	for i := range int64(200) {
		values = append(values, strconv.FormatInt(9223372036854775807-i, 10), "9223372036854775"+strconv.Itoa(800+int(i)))
	}
	for _, v := range values {
		specOK := schema.VisitJSON(v) == nil
		body, _ := json.Marshal(map[string]any{"messageEvent": map[string]any{"taskId": v}})
		_, err := notify.ParseDMSWebhook(body)
		if parserOK := err == nil; specOK != parserOK {
			t.Errorf("taskId %q: openapi.yaml accepts it: %v, the webhook parser: %v (%v)", v, specOK, parserOK, err)
		}
	}
}

// A number JSON can hold but int64 cannot is a 400 naming the field (the
// contract checks numbers as float64, so 2^63 gets past it), not "not JSON".
func TestCreateLinkOutOfRangeNamesField(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	auth := http.Header{"Authorization": {"Bearer " + h.token}, "Content-Type": {"application/json"}}
	for _, tc := range []struct{ body, field string }{
		{`{"orderId":9223372036854775808}`, "orderId"},
		{`{"orderId":1,"tid":9223372036854775808}`, "tid"},
		{`{"orderId":1e3}`, "orderId"},
	} {
		res := h.do(http.MethodPost, "/links", strings.NewReader(tc.body), auth)
		p := res.problem(t)
		if res.StatusCode != http.StatusBadRequest || p.Code != "bad_request" || !namesField(p, tc.field) {
			t.Errorf("%s: %d %s %+v, want 400 bad_request naming %s", tc.body, res.StatusCode, p.Code, p.Errors, tc.field)
		}
	}
}

// Only pageOperation answers problems with pages, so openapi.yaml declares
// text/html on its error responses and on no other operation's (the harness
// checks that what is sent is declared; this checks the converse).
func TestHTMLDeclaredWherePagesAreSent(t *testing.T) {
	t.Parallel()
	for path, item := range spec(t).Paths.Map() {
		for method, op := range item.Operations() {
			for status, ref := range op.Responses.Map() {
				code, _ := strconv.Atoi(status)
				html := ref.Value.Content.Get("text/html") != nil
				switch {
				case op.OperationID == pageOperation && code >= 400 && !html:
					t.Errorf("%s %s %s: a browser gets a page, but text/html is not declared", method, path, status)
				case op.OperationID != pageOperation && html:
					t.Errorf("%s %s %s: text/html is declared, but %s never sends a page", method, path, status, op.OperationID)
				}
			}
		}
	}
}

// Every answer carries X-Request-Id (the README tells users to quote it), so
// every response in openapi.yaml declares it.
func TestEveryResponseDeclaresRequestID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	for path, item := range h.contract.Spec().Paths.Map() {
		for method, op := range item.Operations() {
			for status, ref := range op.Responses.Map() {
				hdr := ref.Value.Headers["X-Request-Id"]
				if hdr == nil || !hdr.Value.Required {
					t.Errorf("%s %s %s: X-Request-Id is not declared as required", method, path, status)
				}
			}
		}
	}
	res := h.get("/nothing", nil)
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("a 404 outside the spec carries no X-Request-Id")
	}
}

func spec(t *testing.T) *openapi3.T {
	t.Helper()
	c, err := contracttest.New()
	if err != nil {
		t.Fatal(err)
	}
	return c.Spec()
}
