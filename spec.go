// Package dmsexportlink holds the HTTP contract of the function, openapi.yaml,
// so that the handler, the tests and /openapi.yaml all read the same bytes.
package dmsexportlink

import _ "embed"

// OpenAPI is openapi.yaml, byte for byte. Treat it as read-only.
//
//go:embed openapi.yaml
var OpenAPI []byte

// RequestSpec is openapi.requests.yaml: openapi.yaml without its prose,
// examples and responses, cut into the routes and one document per
// operation (internal/specview), which is all the handler routes and
// validates requests by. An instance reads the routes and the operations it
// serves, not the whole contract. Treat it as read-only.
//
//go:generate go run ./internal/specview/gen
//go:embed openapi.requests.yaml
var RequestSpec []byte
