// Command gen writes openapi.requests.yaml, the view of openapi.yaml the
// handler loads (package specview). `go generate` runs it at the root of the
// module.
package main

import (
	"fmt"
	"os"

	"github.com/dms-export-link/dms-export-link/internal/specview"
)

func main() {
	spec, err := os.ReadFile("openapi.yaml")
	if err == nil {
		var view []byte
		if view, err = specview.Requests(spec); err == nil {
			err = os.WriteFile("openapi.requests.yaml", view, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "specview/gen:", err)
		os.Exit(1)
	}
}
