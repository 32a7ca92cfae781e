// Package dmsexportlink holds the HTTP contract of the function, openapi.yaml,
// so that the handler, the tests and /openapi.yaml all read the same bytes.
package dmsexportlink

import _ "embed"

// OpenAPI is openapi.yaml, byte for byte. Treat it as read-only.
//
//go:embed openapi.yaml
var OpenAPI []byte
