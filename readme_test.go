package dmsexportlink

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/dms-export-link/dms-export-link/internal/config"
)

// TestReadmeDocumentsEveryVariable fails when README.md's configuration
// table misses a variable internal/config reads, or lists one it does not
// (the SDK's ALIBABA_CLOUD_* credentials aside).
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]bool{}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = true
		}
	}
	if len(documented) == 0 {
		t.Fatal("README.md's configuration table lists no variables")
	}
	known := map[string]bool{}
	for _, v := range (config.Config{}).Variables() {
		known[v.Name] = true
		if !documented[v.Name] {
			t.Errorf("README.md's configuration table does not list %s", v.Name)
		}
	}
	for n := range documented {
		if !known[n] && !strings.HasPrefix(n, "ALIBABA_CLOUD_") {
			t.Errorf("README.md's configuration table lists %s, which internal/config does not read", n)
		}
	}
}
