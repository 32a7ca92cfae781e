package specview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
	"github.com/dms-export-link/dms-export-link/internal/specview"
)

// TestGeneratedViewIsCurrent fails when openapi.yaml changed and
// openapi.requests.yaml was not generated again.
func TestGeneratedViewIsCurrent(t *testing.T) {
	t.Parallel()
	want, err := specview.Requests(dmsexportlink.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dmsexportlink.RequestSpec, want) {
		t.Fatal("openapi.requests.yaml is not the view of openapi.yaml: run `go generate` at the root of the module")
	}
	again, err := specview.Requests(dmsexportlink.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, want) {
		t.Fatal("two views of the same openapi.yaml differ: the output is not deterministic")
	}
}

func load(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// view is the generated view, cut and loaded.
type view struct {
	routes   *openapi3.T
	ops      map[string]*openapi3.T // by operationId
	raw      map[string][]byte
	rawRoute []byte
}

func loadView(t *testing.T) view {
	t.Helper()
	routes, ops, err := specview.Split(dmsexportlink.RequestSpec)
	if err != nil {
		t.Fatal(err)
	}
	v := view{routes: load(t, routes), ops: map[string]*openapi3.T{}, raw: ops, rawRoute: routes}
	for id, src := range ops {
		v.ops[id] = load(t, src)
	}
	return v
}

// operations are doc's operations by operationId, with their path and
// method.
func operations(doc *openapi3.T) map[string]struct {
	path, method string
	item         *openapi3.PathItem
	op           *openapi3.Operation
} {
	out := map[string]struct {
		path, method string
		item         *openapi3.PathItem
		op           *openapi3.Operation
	}{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[op.OperationID] = struct {
				path, method string
				item         *openapi3.PathItem
				op           *openapi3.Operation
			}{path, method, item, op}
		}
	}
	return out
}

// TestViewDocumentsAreValidOpenAPI: every operation's document is one
// kin-openapi validates, like the contract itself, and holds that operation
// alone; the file opens with its header.
func TestViewDocumentsAreValidOpenAPI(t *testing.T) {
	t.Parallel()
	v := loadView(t)
	for id, doc := range v.ops {
		if err := doc.Validate(context.Background()); err != nil {
			t.Errorf("the document of %s: %v", id, err)
		}
		ops := operations(doc)
		if _, ok := ops[id]; !ok || len(ops) != 1 {
			t.Errorf("the document of %s holds %v", id, slices.Sorted(maps.Keys(ops)))
		}
	}
	if !bytes.HasPrefix(dmsexportlink.RequestSpec, []byte(specview.Header)) {
		t.Error("openapi.requests.yaml does not open with the generated-file header")
	}
}

// TestViewKeepsWhatRequestsAreCheckedBy compares, operation by operation,
// what routing and request validation read in the view and in openapi.yaml:
// the same paths, methods and operation ids in the routes, and in each
// operation's document the same security, and the same parameters, request
// bodies and components once prose and examples are taken out of both by a
// plain walk over their JSON (not by the code under test).
func TestViewKeepsWhatRequestsAreCheckedBy(t *testing.T) {
	t.Parallel()
	full, v := load(t, dmsexportlink.OpenAPI), loadView(t)
	fullOps, routeOps := operations(full), operations(v.routes)
	if got, want := slices.Sorted(maps.Keys(routeOps)), slices.Sorted(maps.Keys(fullOps)); !slices.Equal(got, want) {
		t.Fatalf("operations in the routes: %v, in openapi.yaml: %v", got, want)
	}
	if got, want := slices.Sorted(maps.Keys(v.ops)), slices.Sorted(maps.Keys(fullOps)); !slices.Equal(got, want) {
		t.Fatalf("operation documents: %v, operations in openapi.yaml: %v", got, want)
	}
	for id, f := range fullOps {
		if r := routeOps[id]; r.path != f.path || r.method != f.method {
			t.Errorf("%s: routed as %s %s, openapi.yaml has %s %s", id, r.method, r.path, f.method, f.path)
		}
		doc := v.ops[id]
		o := operations(doc)[id]
		where := f.method + " " + f.path
		if o.path != f.path || o.method != f.method {
			t.Errorf("%s: its document has %s %s", where, o.method, o.path)
			continue
		}
		if !reflect.DeepEqual(o.op.Security, f.op.Security) {
			t.Errorf("%s: security differs", where)
		}
		sameJSON(t, where+" path parameters", o.item.Parameters, f.item.Parameters)
		sameJSON(t, where+" parameters", o.op.Parameters, f.op.Parameters)
		sameJSON(t, where+" requestBody", o.op.RequestBody, f.op.RequestBody)

		vc, fc := doc.Components, full.Components
		sameComponents(t, where+" security scheme", vc.SecuritySchemes, fc.SecuritySchemes, func(r *openapi3.SecuritySchemeRef) any { return r.Value })
		sameComponents(t, where+" schema", vc.Schemas, fc.Schemas, func(r *openapi3.SchemaRef) any { return r.Value })
		sameComponents(t, where+" parameter", vc.Parameters, fc.Parameters, func(r *openapi3.ParameterRef) any { return r.Value })
		sameComponents(t, where+" request body", vc.RequestBodies, fc.RequestBodies, func(r *openapi3.RequestBodyRef) any { return r.Value })
		if f.op.Security != nil {
			for _, req := range *f.op.Security {
				for name := range req {
					if vc.SecuritySchemes[name] == nil {
						t.Errorf("%s: its document lacks security scheme %s", where, name)
					}
				}
			}
		}
	}
}

// TestViewIsSmall checks the view lost what it is for losing: no prose or
// response beyond the placeholder, and what a new instance reads for its
// first click (the routes and the download's document) is a small part of
// openapi.yaml.
func TestViewIsSmall(t *testing.T) {
	t.Parallel()
	v := loadView(t)
	for id, doc := range v.ops {
		if len(doc.Components.Responses) != 0 || len(doc.Components.Examples) != 0 {
			t.Errorf("the document of %s kept response or example components", id)
		}
		for _, o := range operations(doc) {
			if o.op.Description != "" || o.op.Summary != "" || o.op.Responses.Len() != 1 {
				t.Errorf("%s kept prose or responses", id)
			}
		}
	}
	if len(v.routes.Servers) != 0 {
		t.Error("the routes name servers: the function answers on any host")
	}
	for _, o := range operations(v.routes) {
		if len(o.op.Parameters) != 0 || o.op.RequestBody != nil || o.op.Servers != nil || len(o.item.Servers) != 0 {
			t.Errorf("the routes carry %s's parameters, body or servers", o.op.OperationID)
		}
	}
	download := len(v.rawRoute) + len(v.raw["downloadExport"])
	if download*10 > len(dmsexportlink.OpenAPI) {
		t.Errorf("the routes and the download's document are %d bytes of openapi.yaml's %d: more than a tenth", download, len(dmsexportlink.OpenAPI))
	}
}

// TestSplitRefusesWhatItDidNotWrite: a document without its operation
// line, or an operation twice, is an error, not a silent gap.
func TestSplitRefusesWhatItDidNotWrite(t *testing.T) {
	t.Parallel()
	for _, view := range []string{
		"openapi: 3.0.3\n---\nopenapi: 3.0.3\n",
		"openapi: 3.0.3\n---\n# operation a\nx: 1\n---\n# operation a\nx: 2\n",
		"openapi: 3.0.3\n---\n# operation \nx: 1\n",
	} {
		if _, _, err := specview.Split([]byte(view)); err == nil {
			t.Errorf("Split accepted %q", view)
		}
	}
	routes, ops, err := specview.Split([]byte("r: 1\n---\n# operation a\nx: 1\n---\n# operation b\ny: 2\n"))
	if err != nil || string(routes) != "r: 1" || len(ops) != 2 || !strings.HasSuffix(string(ops["b"]), "y: 2\n") {
		t.Errorf("Split = %q, %q, %v", routes, ops, err)
	}
}

// sameComponents compares every component in view with the one of the same
// name in full.
func sameComponents[R any, M ~map[string]R](t *testing.T, what string, view, full M, value func(R) any) {
	t.Helper()
	for name, ref := range view {
		f, ok := full[name]
		if !ok {
			t.Errorf("%s %s is not in openapi.yaml", what, name)
			continue
		}
		sameJSON(t, what+" "+name, value(ref), value(f))
	}
}

// proseKeys are what request validation never reads.
var proseKeys = map[string]bool{"description": true, "summary": true, "title": true, "example": true, "examples": true, "externalDocs": true, "xml": true}

// sameJSON compares got and want as JSON, without prose keys (except where a
// key names a property).
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := plain(t, got), plain(t, want)
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Errorf("%s: the view has\n%s\nopenapi.yaml has\n%s", what, gj, wj)
	}
}

func plain(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	var strip func(n any, names bool) any
	strip = func(n any, names bool) any {
		switch n := n.(type) {
		case map[string]any:
			for k, x := range n {
				if !names && proseKeys[k] {
					delete(n, k)
					continue
				}
				n[k] = strip(x, !names && k == "properties")
			}
		case []any:
			for i, x := range n {
				n[i] = strip(x, false)
			}
		}
		return n
	}
	return strip(tree, false)
}
