package httpapi

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	dmsexportlink "github.com/dms-export-link/dms-export-link"
)

// TestEmbeddedSpecIsValid validates the openapi.yaml every build embeds,
// which New loads without validating.
func TestEmbeddedSpecIsValid(t *testing.T) {
	t.Parallel()
	doc, err := openapi3.NewLoader().LoadFromData(dmsexportlink.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
}
