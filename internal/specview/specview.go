// Package specview derives, from openapi.yaml, the part of the contract the
// handler needs at run time, in pieces it can read one at a time:
//
//   - the routes: every path and method with its operationId, which is all
//     routing needs;
//   - per operation, a document with that operation's parameters, request
//     body and security, and the components those reach.
//
// Prose, examples and responses are dropped. Reading the whole contract was
// the largest cost of a cold start (docs/performance.md); an instance now
// reads the routes and then only the operations it serves, and validates
// their requests exactly as the whole contract does.
//
// The view is generated into openapi.requests.yaml (a YAML stream, one
// document after another) by `go generate` at the root of the module; a test
// fails when it no longer matches openapi.yaml.
package specview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	yaml "go.yaml.in/yaml/v4"
)

// Header opens the generated file.
const Header = "# Generated from openapi.yaml by `go generate` (internal/specview); do not edit.\n" +
	"# The request side of the contract only: the routes, then one document per operation.\n"

// placeholder is the one response each operation keeps, so that every
// operation's document is still a valid OpenAPI document.
const placeholder = "See openapi.yaml."

// separator starts every document after the first; opPrefix opens an
// operation's document, followed by its operationId.
const (
	separator = "\n---\n"
	opPrefix  = "# operation "
)

// Requests returns the view of spec: the routes, then each operation's
// document, in path and method order.
func Requests(spec []byte) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("specview: load: %w", err)
	}
	strip(doc)
	routes := &openapi3.T{OpenAPI: doc.OpenAPI, Info: doc.Info, Paths: openapi3.NewPaths()}
	out := []byte(Header)
	var ops [][]byte
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		routeItem := &openapi3.PathItem{}
		routes.Paths.Set(path, routeItem)
		for _, method := range slices.Sorted(maps.Keys(item.Operations())) {
			op := item.GetOperation(method)
			routeItem.SetOperation(method, &openapi3.Operation{OperationID: op.OperationID, Responses: placeholderResponses()})
			one := &openapi3.T{OpenAPI: doc.OpenAPI, Info: doc.Info, Components: componentsCopy(doc.Components),
				Paths: openapi3.NewPaths(openapi3.WithPath(path, &openapi3.PathItem{Parameters: item.Parameters}))}
			one.Paths.Value(path).SetOperation(method, op)
			if err := prune(one, op); err != nil {
				return nil, err
			}
			body, err := encode(one)
			if err != nil {
				return nil, err
			}
			ops = append(ops, append([]byte(opPrefix+op.OperationID+"\n"), body...))
		}
	}
	body, err := encode(routes)
	if err != nil {
		return nil, err
	}
	out = append(out, body...)
	for _, op := range ops {
		out = append(out, separator[1:]...) // every document ends with its own newline
		out = append(out, op...)
	}
	return out, nil
}

// Split cuts a view into the routes document and each operation's document,
// by operationId.
func Split(view []byte) (routes []byte, ops map[string][]byte, err error) {
	docs := bytes.Split(view, []byte(separator))
	ops = make(map[string][]byte, len(docs)-1)
	for _, d := range docs[1:] {
		first, _, _ := bytes.Cut(d, []byte("\n"))
		id, ok := bytes.CutPrefix(first, []byte(opPrefix))
		if !ok || len(id) == 0 {
			return nil, nil, fmt.Errorf("specview: a document does not open with %q", opPrefix+"<operationId>")
		}
		if _, dup := ops[string(id)]; dup {
			return nil, nil, fmt.Errorf("specview: operation %s twice", id)
		}
		ops[string(id)] = d
	}
	return docs[0], ops, nil
}

func placeholderResponses() *openapi3.Responses {
	return openapi3.NewResponses(openapi3.WithName("default", &openapi3.Response{Description: ptr(placeholder)}))
}

// encode writes one value per line: no folded scalars for a reader to unfold.
func encode(doc *openapi3.T) ([]byte, error) {
	body, err := yaml.Dump(doc, yaml.WithV4Defaults(), yaml.WithIndent(2), yaml.WithLineWidth(-1))
	if err != nil {
		return nil, fmt.Errorf("specview: encode: %w", err)
	}
	return body, nil
}

// strip drops from doc what request validation never reads.
func strip(doc *openapi3.T) {
	s := stripper{seen: map[*openapi3.Schema]bool{}}
	doc.Info = &openapi3.Info{Title: doc.Info.Title, Version: doc.Info.Version}
	doc.Servers, doc.Tags, doc.ExternalDocs = nil, nil, nil
	for _, item := range doc.Paths.Map() {
		item.Summary, item.Description = "", ""
		item.Servers = nil
		s.parameters(item.Parameters)
		for _, op := range item.Operations() {
			op.Summary, op.Description, op.Tags, op.ExternalDocs = "", "", nil, nil
			op.Servers, op.Callbacks = nil, nil
			op.Responses = placeholderResponses()
			s.parameters(op.Parameters)
			if op.RequestBody != nil && op.RequestBody.Ref == "" {
				s.requestBody(op.RequestBody.Value)
			}
		}
	}
	if doc.Components == nil {
		doc.Components = &openapi3.Components{}
	}
	c := doc.Components
	c.Responses, c.Headers, c.Examples, c.Links, c.Callbacks = nil, nil, nil, nil, nil
	for _, ref := range c.Schemas {
		s.schema(ref)
	}
	for _, ref := range c.Parameters {
		s.parameter(ref.Value)
	}
	for _, ref := range c.RequestBodies {
		s.requestBody(ref.Value)
	}
	for _, ref := range c.SecuritySchemes {
		ref.Value.Description = ""
	}
}

// componentsCopy copies the maps prune deletes from; the values stay shared.
func componentsCopy(c *openapi3.Components) *openapi3.Components {
	return &openapi3.Components{
		Schemas:         maps.Clone(c.Schemas),
		Parameters:      maps.Clone(c.Parameters),
		RequestBodies:   maps.Clone(c.RequestBodies),
		SecuritySchemes: maps.Clone(c.SecuritySchemes),
	}
}

func ptr[T any](v T) *T { return &v }

// stripper clears what validation never reads. Shared schemas (behind a
// $ref) are visited once.
type stripper struct{ seen map[*openapi3.Schema]bool }

func (s stripper) parameters(ps openapi3.Parameters) {
	for _, ref := range ps {
		if ref.Ref == "" {
			s.parameter(ref.Value)
		}
	}
}

func (s stripper) parameter(p *openapi3.Parameter) {
	p.Description, p.Example, p.Examples = "", nil, nil
	s.schema(p.Schema)
	s.content(p.Content)
}

func (s stripper) requestBody(b *openapi3.RequestBody) {
	b.Description = ""
	s.content(b.Content)
}

func (s stripper) content(c openapi3.Content) {
	for _, mt := range c {
		mt.Example, mt.Examples = nil, nil
		s.schema(mt.Schema)
	}
}

func (s stripper) schema(ref *openapi3.SchemaRef) {
	if ref == nil || ref.Value == nil || s.seen[ref.Value] {
		return
	}
	v := ref.Value
	s.seen[v] = true
	v.Title, v.Description, v.Example, v.Examples, v.ExternalDocs, v.XML = "", "", nil, nil, nil, nil
	for _, p := range v.Properties {
		s.schema(p)
	}
	for _, list := range []openapi3.SchemaRefs{v.AllOf, v.AnyOf, v.OneOf} {
		for _, r := range list {
			s.schema(r)
		}
	}
	s.schema(v.Items)
	s.schema(v.Not)
	s.schema(v.AdditionalProperties.Schema)
}

// prune drops the components doc's one operation, op, does not reach,
// following references between components to a fixed point, and the
// security schemes op does not name.
func prune(doc *openapi3.T, op *openapi3.Operation) error {
	named := map[string]bool{}
	if op.Security != nil {
		for _, req := range *op.Security {
			for name := range req {
				named[name] = true
			}
		}
	}
	for name := range doc.Components.SecuritySchemes {
		if !named[name] {
			delete(doc.Components.SecuritySchemes, name)
		}
	}
	reached := map[string]bool{}
	if err := collectRefs(doc.Paths, reached); err != nil {
		return err
	}
	c := doc.Components
	for {
		before := len(reached)
		for name, ref := range c.Schemas {
			if reached["#/components/schemas/"+name] {
				if err := collectRefs(ref, reached); err != nil {
					return err
				}
			}
		}
		for name, ref := range c.Parameters {
			if reached["#/components/parameters/"+name] {
				if err := collectRefs(ref, reached); err != nil {
					return err
				}
			}
		}
		for name, ref := range c.RequestBodies {
			if reached["#/components/requestBodies/"+name] {
				if err := collectRefs(ref, reached); err != nil {
					return err
				}
			}
		}
		if len(reached) == before {
			break
		}
	}
	for name := range c.Schemas {
		if !reached["#/components/schemas/"+name] {
			delete(c.Schemas, name)
		}
	}
	for name := range c.Parameters {
		if !reached["#/components/parameters/"+name] {
			delete(c.Parameters, name)
		}
	}
	for name := range c.RequestBodies {
		if !reached["#/components/requestBodies/"+name] {
			delete(c.RequestBodies, name)
		}
	}
	return nil
}

// collectRefs adds every "$ref" in v's JSON form to reached. A component's
// own form is its value: marshalling a reference gives only the $ref.
func collectRefs(v any, reached map[string]bool) error {
	switch r := v.(type) {
	case *openapi3.SchemaRef:
		v = r.Value
	case *openapi3.ParameterRef:
		v = r.Value
	case *openapi3.RequestBodyRef:
		v = r.Value
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("specview: %w", err)
	}
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return fmt.Errorf("specview: %w", err)
	}
	var walk func(any)
	walk = func(n any) {
		switch n := n.(type) {
		case map[string]any:
			for k, x := range n {
				if s, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(s, "#/components/") {
					reached[s] = true
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range n {
				walk(x)
			}
		}
	}
	walk(tree)
	return nil
}
