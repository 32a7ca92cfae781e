// Package dmsexportlink holds the HTTP contract of the function, openapi.yaml,
// so that the handler, the tests and /openapi.yaml all read the same bytes.
package dmsexportlink

import _ "embed"

// OpenAPI is openapi.yaml, byte for byte. Treat it as read-only.
//
//go:embed openapi.yaml
var OpenAPI []byte

// RequestSpec is openapi.requests.yaml: OpenAPI without its prose, examples
// and responses, which is all the handler routes and validates requests by,
// and a quarter of the cold start to read (internal/specview). Treat it as
// read-only.
//
//go:generate go run ./internal/specview/gen
//go:embed openapi.requests.yaml
var RequestSpec []byte
