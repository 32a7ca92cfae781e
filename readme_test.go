package dmsexportlink

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dms-export-link/dms-export-link/internal/config"
)

// readmeVariables reads README.md's configuration table: each variable named
// in a row's first cell, with the row's default cell. A row may name several
// variables (`DMS_RETRY_BASE`, `DMS_RETRY_MAX`) and give their defaults in
// the same order.
func readmeVariables(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[string]string{}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for line := range strings.SplitSeq(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			documented[m[1]] = strings.TrimSpace(cells[2])
		}
	}
	if len(documented) == 0 {
		t.Fatal("README.md's configuration table lists no variables")
	}
	return documented
}

// literalDefault is v's default as a value a user could set, or "" when the
// variable has none or its default describes a fallback (DMS_REGION's is
// "FC_REGION, else cn-hangzhou"), which config.Load refuses as a value.
func literalDefault(v config.Variable) string {
	if v.Default == "" {
		return ""
	}
	if _, err := config.Load(func(name string) string {
		if name == v.Name {
			return v.Default
		}
		return ""
	}); err != nil && strings.Contains(err.Error(), v.Name+":") {
		return ""
	}
	return v.Default
}

// TestReadmeDocumentsEveryVariable fails when README.md's configuration
// table misses a variable internal/config reads, lists one it does not (the
// SDK's ALIBABA_CLOUD_* credentials aside), or gives another default.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	documented := readmeVariables(t)
	known := map[string]bool{}
	for _, v := range (config.Config{}).Variables() {
		known[v.Name] = true
		cell, ok := documented[v.Name]
		if !ok {
			t.Errorf("README.md's configuration table does not list %s (internal/config reads it)", v.Name)
			continue
		}
		if d := literalDefault(v); d != "" && !strings.Contains(cell, "`"+d+"`") {
			t.Errorf("README.md: %s's default cell %q does not give internal/config's default `%s`", v.Name, cell, d)
		}
	}
	for n := range documented {
		if !known[n] && !strings.HasPrefix(n, "ALIBABA_CLOUD_") {
			t.Errorf("README.md's configuration table lists %s, which internal/config does not read", n)
		}
	}
}

// TestSYAMLExposesEveryVariable fails when s.yaml's environmentVariables
// miss a variable internal/config reads (and so README.md documents), list
// one it does not, or default it to something else than internal/config
// does. Each message gives the line s.yaml should have.
func TestSYAMLExposesEveryVariable(t *testing.T) {
	for _, tmpl := range templates {
		t.Run(tmpl, func(t *testing.T) { checkTemplateVariables(t, tmpl, readTemplate(t, tmpl)) })
	}
}

func checkTemplateVariables(t *testing.T, tmpl string, s sYAML) {
	envRef := regexp.MustCompile(`^\$\{env\('([A-Za-z0-9_]+)'(?:,\s*'([^']*)')?\)\}$`)
	for name, r := range s.Resources {
		env := r.Props.EnvironmentVariables
		known := map[string]bool{}
		for _, v := range (config.Config{}).Variables() {
			known[v.Name] = true
			d := literalDefault(v)
			want := fmt.Sprintf("%s: ${env('%s', '%s')}", v.Name, v.Name, d)
			got, ok := env[v.Name]
			if !ok {
				t.Errorf("%s %s: environmentVariables lacks %s; add\n\t%s", tmpl, name, v.Name, want)
				continue
			}
			m := envRef.FindStringSubmatch(got)
			switch {
			case m == nil || m[1] != v.Name:
				t.Errorf("%s %s: %s is %q; want\n\t%s", tmpl, name, v.Name, got, want)
			case !strings.Contains(got, ",") && v.Default == "":
				// No default at all: the deploy refuses to run without it (LINK_KEYS).
			case m[2] != d:
				t.Errorf("%s %s: %s defaults to %q, internal/config to %q; want\n\t%s", tmpl, name, v.Name, m[2], d, want)
			}
		}
		var extra []string
		for k := range env {
			if !known[k] {
				extra = append(extra, k)
			}
		}
		slices.Sort(extra)
		for _, k := range extra {
			t.Errorf("%s %s: environmentVariables sets %s, which internal/config does not read", tmpl, name, k)
		}
	}
}
