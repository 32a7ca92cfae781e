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

// TestViewIsValidOpenAPI: the view is a document kin-openapi validates, like
// the contract itself.
func TestViewIsValidOpenAPI(t *testing.T) {
	t.Parallel()
	view := load(t, dmsexportlink.RequestSpec)
	if err := view.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.requests.yaml: %v", err)
	}
	if !bytes.HasPrefix(dmsexportlink.RequestSpec, []byte(specview.Header)) {
		t.Error("openapi.requests.yaml does not open with the generated-file header")
	}
}

// TestViewKeepsWhatRequestsAreCheckedBy compares, operation by operation,
// what request validation reads in the view and in openapi.yaml: the same
// paths, methods, operation ids and security, and the same parameters,
// request bodies and components once prose and examples are taken out of
// both by a plain walk over their JSON (not by the code under test).
func TestViewKeepsWhatRequestsAreCheckedBy(t *testing.T) {
	t.Parallel()
	full, view := load(t, dmsexportlink.OpenAPI), load(t, dmsexportlink.RequestSpec)

	if got, want := slices.Sorted(maps.Keys(view.Paths.Map())), slices.Sorted(maps.Keys(full.Paths.Map())); !slices.Equal(got, want) {
		t.Fatalf("paths: view %v, openapi.yaml %v", got, want)
	}
	for path, item := range full.Paths.Map() {
		vitem := view.Paths.Value(path)
		ops, vops := item.Operations(), vitem.Operations()
		if got, want := slices.Sorted(maps.Keys(vops)), slices.Sorted(maps.Keys(ops)); !slices.Equal(got, want) {
			t.Errorf("%s: methods: view %v, openapi.yaml %v", path, got, want)
			continue
		}
		sameJSON(t, path+" parameters", vitem.Parameters, item.Parameters)
		for method, op := range ops {
			vop := vops[method]
			where := method + " " + path
			if vop.OperationID != op.OperationID {
				t.Errorf("%s: operationId %q, want %q", where, vop.OperationID, op.OperationID)
			}
			if !reflect.DeepEqual(vop.Security, op.Security) {
				t.Errorf("%s: security differs", where)
			}
			sameJSON(t, where+" parameters", vop.Parameters, op.Parameters)
			sameJSON(t, where+" requestBody", vop.RequestBody, op.RequestBody)
		}
	}

	vc, fc := view.Components, full.Components
	sameJSON(t, "securitySchemes", vc.SecuritySchemes, fc.SecuritySchemes)
	for name, ref := range vc.Schemas {
		if fc.Schemas[name] == nil {
			t.Errorf("schema %s is not in openapi.yaml", name)
			continue
		}
		sameJSON(t, "schema "+name, ref.Value, fc.Schemas[name].Value)
	}
	for name, ref := range vc.Parameters {
		if fc.Parameters[name] == nil {
			t.Errorf("parameter %s is not in openapi.yaml", name)
			continue
		}
		sameJSON(t, "parameter "+name, ref.Value, fc.Parameters[name].Value)
	}
	for name, ref := range vc.RequestBodies {
		if fc.RequestBodies[name] == nil {
			t.Errorf("request body %s is not in openapi.yaml", name)
			continue
		}
		sameJSON(t, "request body "+name, ref.Value, fc.RequestBodies[name].Value)
	}
	// Every reference in the view must resolve in the view: the loader
	// would have failed above otherwise, and no component the operations
	// reach may be missing.
	raw, err := json.Marshal(view.Paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refsIn(t, raw) {
		kind, name, _ := strings.Cut(strings.TrimPrefix(ref, "#/components/"), "/")
		var ok bool
		switch kind {
		case "schemas":
			ok = vc.Schemas[name] != nil
		case "parameters":
			ok = vc.Parameters[name] != nil
		case "requestBodies":
			ok = vc.RequestBodies[name] != nil
		}
		if !ok {
			t.Errorf("the view's paths refer to %s, which it lacks", ref)
		}
	}
}

// TestViewDropsTheProse checks the view lost what it is for losing: no
// description, example or response beyond the placeholder survives.
func TestViewDropsTheProse(t *testing.T) {
	t.Parallel()
	full, view := load(t, dmsexportlink.OpenAPI), load(t, dmsexportlink.RequestSpec)
	if len(view.Components.Responses) != 0 || len(view.Components.Examples) != 0 {
		t.Error("the view kept response or example components")
	}
	for path, item := range view.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Description != "" || op.Summary != "" || op.Responses.Len() != 1 {
				t.Errorf("%s %s kept prose or responses", method, path)
			}
		}
	}
	if len(dmsexportlink.RequestSpec)*3 > len(dmsexportlink.OpenAPI) {
		t.Errorf("the view is %d bytes of openapi.yaml's %d: more than a third", len(dmsexportlink.RequestSpec), len(dmsexportlink.OpenAPI))
	}
	if full.Info.Title != view.Info.Title || full.Info.Version != view.Info.Version {
		t.Error("the view's title or version differs from openapi.yaml's")
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

func refsIn(t *testing.T, raw []byte) []string {
	t.Helper()
	var refs []string
	for _, part := range strings.Split(string(raw), `"$ref":"`)[1:] {
		ref, _, _ := strings.Cut(part, `"`)
		refs = append(refs, ref)
	}
	if len(refs) == 0 {
		t.Fatal("no $ref in the view's paths: the walk found nothing to check")
	}
	return refs
}
