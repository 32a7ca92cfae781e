// Package contracttest checks exchanges with the function against
// openapi.yaml, so that every test that talks to the function is also a
// contract test: an undocumented status, header or body fails it. Only tests
// import it.
package contracttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
)

// Checker holds the contract, loaded once.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
}

// New loads the embedded openapi.yaml and routes it on any host, as the
// function does.
func New() (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(dmsexportlink.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("contracttest: load openapi.yaml: %w", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("contracttest: router: %w", err)
	}
	return &Checker{doc: doc, router: router}, nil
}

// Spec is the loaded contract; treat it as read-only.
func (c *Checker) Spec() *openapi3.T { return c.doc }

// Check returns why the answer res (with its body, already read) to req (whose
// body was reqBody) breaks the contract, or nil:
//   - an answer on an operation must be documented for it: status, headers and
//     body (IncludeResponseStatus); for HEAD and text/html, whose bodies
//     kin-openapi does not check, the status and media type must be listed;
//   - every header it carries must be declared for its status, except the
//     ones HTTP itself defines for every message (Content-Type, ...);
//   - a 302 must carry Location, Cache-Control and Referrer-Policy, which
//     kin-openapi does not check on redirects;
//   - an answer outside every operation (404, 405) must be a Problem.
func (c *Checker) Check(req *http.Request, reqBody []byte, res *http.Response, body []byte) error {
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(probe)
	if err != nil {
		return c.CheckProblem(res.Header.Get("Content-Type"), body)
	}
	for k, v := range params {
		if u, err := url.PathUnescape(v); err == nil {
			params[k] = u
		}
	}
	documented := route.Operation.Responses.Status(res.StatusCode)
	if documented == nil {
		return fmt.Errorf("%s %s: status %d is not in openapi.yaml for %s", req.Method, req.URL.Path, res.StatusCode, route.Operation.OperationID)
	}
	if err := undeclaredHeaders(res.Header, documented.Value); err != nil {
		return fmt.Errorf("%s %s: response %d: %w", req.Method, req.URL.Path, res.StatusCode, err)
	}
	if req.Method == http.MethodHead {
		return nil // kin-openapi skips HEAD; the status and headers are documented
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == "text/html" {
		if documented.Value.Content.Get("text/html") == nil {
			return fmt.Errorf("%s %s: text/html is not documented for status %d", req.Method, req.URL.Path, res.StatusCode)
		}
		opts.ExcludeResponseBody = true // kin-openapi has no HTML decoder
	}
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s: response %d does not match openapi.yaml: %w\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	if res.StatusCode == http.StatusFound {
		var missing []error
		for _, name := range []string{"Location", "Cache-Control", "Referrer-Policy"} {
			if res.Header.Get(name) == "" {
				missing = append(missing, fmt.Errorf("302 without %s", name))
			}
		}
		return errors.Join(missing...)
	}
	return nil
}

// framingHeaders describe the message rather than the answer; OpenAPI
// leaves them out of response headers (Content-Type is the media type).
var framingHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Date": true,
	"Connection": true, "Transfer-Encoding": true, "Keep-Alive": true,
}

// undeclaredHeaders names the headers of an answer that its documented
// response does not declare. kin-openapi checks the declared ones only.
func undeclaredHeaders(h http.Header, documented *openapi3.Response) error {
	declared := make(map[string]bool, len(documented.Headers))
	for name := range documented.Headers {
		declared[http.CanonicalHeaderKey(name)] = true
	}
	var extra []string
	for name := range h {
		name = http.CanonicalHeaderKey(name)
		// Function Compute's front door adds its own X-Fc-* headers
		// (X-Fc-Request-Id) to every trigger response: the platform's, not ours.
		if !framingHeaders[name] && !declared[name] && !strings.HasPrefix(name, "X-Fc-") {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("headers %s are not declared in openapi.yaml", strings.Join(extra, ", "))
	}
	return nil
}

// CheckProblem returns why an answer outside the spec's operations (a 404, a
// 405, an FC event the function cannot read) is not a Problem, or nil.
func (c *Checker) CheckProblem(contentType string, body []byte) error {
	if contentType != "application/problem+json" {
		return fmt.Errorf("an answer outside the spec's operations has Content-Type %q, want application/problem+json", contentType)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("problem is not JSON: %w", err)
	}
	if err := c.doc.Components.Schemas["Problem"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("problem does not match the Problem schema: %w", err)
	}
	return nil
}
