// Package specview derives, from openapi.yaml, the part of the contract the
// handler needs at run time: the paths, their operations' ids, parameters,
// request bodies and security, and the components those reach. Prose,
// examples and responses are dropped. Reading the whole contract was the
// largest cost of a cold start (docs/performance.md); the view reads in a
// quarter of the time and validates requests exactly as the whole does.
//
// The view is generated into openapi.requests.yaml by `go generate` at the
// root of the module; a test fails when it no longer matches openapi.yaml.
package specview

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	yaml "go.yaml.in/yaml/v4"
)

// Header opens the generated file.
const Header = "# Generated from openapi.yaml by `go generate` (internal/specview); do not edit.\n" +
	"# The request side of the contract only: what the handler routes and validates.\n"

// placeholder is the one response each operation keeps, so that the view is
// still a valid OpenAPI document.
const placeholder = "See openapi.yaml."

// Requests returns the view of spec, as YAML, Header first.
func Requests(spec []byte) ([]byte, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("specview: load: %w", err)
	}
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
			op.Responses = openapi3.NewResponses(openapi3.WithName("default", &openapi3.Response{Description: ptr(placeholder)}))
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
	if err := prune(doc); err != nil {
		return nil, err
	}
	// One line per value: no folded scalars for a reader to unfold.
	body, err := yaml.Dump(doc, yaml.WithV4Defaults(), yaml.WithIndent(2), yaml.WithLineWidth(-1))
	if err != nil {
		return nil, fmt.Errorf("specview: encode: %w", err)
	}
	return append([]byte(Header), body...), nil
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

// prune drops the components no path reaches any more (those only responses
// used), following references between components to a fixed point.
func prune(doc *openapi3.T) error {
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
