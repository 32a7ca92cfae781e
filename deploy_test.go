package dmsexportlink

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// sYAML is the part of s.yaml that must agree with the build recipe.
type sYAML struct {
	Edition   string `yaml:"edition"`
	Resources map[string]struct {
		Component string `yaml:"component"`
		Actions   struct {
			PreDeploy []struct {
				Run  string `yaml:"run"`
				Path string `yaml:"path"`
			} `yaml:"pre-deploy"`
		} `yaml:"actions"`
		Props struct {
			Runtime              string            `yaml:"runtime"`
			Handler              string            `yaml:"handler"`
			Code                 string            `yaml:"code"`
			EnvironmentVariables map[string]string `yaml:"environmentVariables"`
			InstanceLifecycle    struct {
				Initializer struct {
					Handler string `yaml:"handler"`
				} `yaml:"initializer"`
			} `yaml:"instanceLifecycleConfig"`
			Triggers []struct {
				TriggerType   string `yaml:"triggerType"`
				TriggerConfig struct {
					AuthType string   `yaml:"authType"`
					Methods  []string `yaml:"methods"`
				} `yaml:"triggerConfig"`
			} `yaml:"triggers"`
		} `yaml:"props"`
	} `yaml:"resources"`
}

// TestSYAMLMatchesBuild fails when s.yaml's handler, code path and build
// action disagree with the Makefile's build recipe, or a secret is literal.
func TestSYAMLMatchesBuild(t *testing.T) {
	s := loadSYAML(t)
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	target := makeVar(t, mk, "TARGET")
	binary := strings.ReplaceAll(makeVar(t, mk, "BINARY"), "$(TARGET)", target)
	if !regexp.MustCompile(`CGO_ENABLED=0 GOOS=linux GOARCH=amd64 \$\(GO\) build \$\(BUILDFLAGS\) -o \$\(BINARY\) ./function`).Match(mk) ||
		makeVar(t, mk, "BUILDFLAGS") != `-trimpath -ldflags "-s -w"` {
		t.Fatal("the Makefile's build recipe is not the static, stripped linux/amd64 build")
	}
	if s.Edition != "3.0.0" || len(s.Resources) != 1 {
		t.Fatalf("edition %q with %d resources, want 3.0.0 with one function", s.Edition, len(s.Resources))
	}
	for name, r := range s.Resources {
		p := r.Props
		if r.Component != "fc3" || p.Runtime != "go1" {
			t.Errorf("%s: component %q runtime %q, want fc3 go1", name, r.Component, p.Runtime)
		}
		if len(r.Actions.PreDeploy) != 1 || r.Actions.PreDeploy[0].Run != "make build" {
			t.Errorf("%s: pre-deploy must run the one build recipe, make build", name)
		}
		if got, want := filepath.Clean(p.Code), filepath.Clean(filepath.Dir(binary)); got != want {
			t.Errorf("%s: code %q, but make build writes into %q", name, got, want)
		}
		pkg := strings.ReplaceAll(makeVar(t, mk, "PACKAGE"), "$(DIST)", makeVar(t, mk, "DIST"))
		if rel, err := filepath.Rel(filepath.Clean(p.Code), filepath.Clean(pkg)); err != nil || !strings.HasPrefix(rel, "..") {
			t.Errorf("%s: make package writes %q inside the code folder %q, so s deploy would upload the zip too", name, pkg, p.Code)
		}
		if got, want := p.Handler, filepath.Base(binary); got != want {
			t.Errorf("%s: handler %q, but the built executable is %q", name, got, want)
		}
		if p.InstanceLifecycle.Initializer.Handler == "" {
			t.Errorf("%s: no initializer declared", name)
		}
		for k, v := range p.EnvironmentVariables {
			if !strings.HasPrefix(v, "${env('") {
				t.Errorf("%s: environment variable %s is a literal; take it from ${env('...')}", name, k)
			}
		}
		methods := map[string]bool{}
		for _, tr := range p.Triggers {
			if tr.TriggerType == "http" && tr.TriggerConfig.AuthType == "anonymous" {
				for _, m := range tr.TriggerConfig.Methods {
					methods[m] = true
				}
			}
		}
		for _, m := range specMethods(t) {
			if !methods[m] {
				t.Errorf("%s: the HTTP trigger does not allow %s, which openapi.yaml uses", name, m)
			}
		}
	}
}

func loadSYAML(t *testing.T) sYAML {
	t.Helper()
	raw, err := os.ReadFile("s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s sYAML
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatalf("s.yaml: %v", err)
	}
	return s
}

func makeVar(t *testing.T, mk []byte, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=\s*(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatalf("Makefile has no %s", name)
	}
	return strings.TrimSpace(string(m[1]))
}

// specMethods lists the HTTP methods openapi.yaml uses.
func specMethods(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, item := range doc.Paths {
		for k := range item {
			switch k {
			case "get", "head", "post", "put", "patch", "delete", "options":
				seen[strings.ToUpper(k)] = true
			}
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	return out
}

// TestRAMPolicyIsLeastPrivilege keeps docs/ram-policy.json to the two
// permissions the function uses (docs/deploy.md explains each).
func TestRAMPolicyIsLeastPrivilege(t *testing.T) {
	raw, err := os.ReadFile("docs/ram-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&policy); err != nil {
		t.Fatalf("docs/ram-policy.json: %v", err)
	}
	if policy.Version != "1" {
		t.Errorf("Version %q, want \"1\"", policy.Version)
	}
	var actions []string
	for i, st := range policy.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement %d: Effect %q, want Allow", i, st.Effect)
		}
		switch a := st.Action.(type) {
		case string:
			actions = append(actions, a)
		case []any:
			for _, v := range a {
				s, _ := v.(string)
				actions = append(actions, s)
			}
		default:
			t.Errorf("statement %d: Action %v is neither a string nor a list", i, st.Action)
		}
		if st.Resource == nil {
			t.Errorf("statement %d has no Resource", i)
		}
	}
	slices.Sort(actions)
	if want := []string{"dms:GetDataExportDownloadURL", "log:PostLogStoreLogs"}; !slices.Equal(actions, want) {
		t.Errorf("actions %q, want exactly %q", actions, want)
	}
}
