package dmsexportlink

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
			InstanceConcurrency  string            `yaml:"instanceConcurrency"`
			CustomRuntimeConfig  *struct {
				Command           []string `yaml:"command"`
				Args              []string `yaml:"args"`
				Port              int      `yaml:"port"`
				HealthCheckConfig struct {
					HTTPGetURL string `yaml:"httpGetUrl"`
				} `yaml:"healthCheckConfig"`
			} `yaml:"customRuntimeConfig"`
			InstanceLifecycle struct {
				Initializer struct {
					Handler string `yaml:"handler"`
				} `yaml:"initializer"`
				PreStop *struct {
					Handler string `yaml:"handler"`
					Timeout int    `yaml:"timeout"`
				} `yaml:"preStop"`
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

// templates are the Serverless Devs templates: go1 (the default) and the
// custom runtime.
var templates = []string{"s.yaml", "s.custom.yaml"}

func readTemplate(t *testing.T, name string) sYAML {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var s sYAML
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// TestSYAMLMatchesBuild fails when a template's handler, code path and build
// action disagree with the Makefile's build recipe, or a secret is literal.
func TestSYAMLMatchesBuild(t *testing.T) {
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
	if got, want := strings.Fields(makeVar(t, mk, "TEMPLATES")), append(slices.Clone(templates), redisTemplate); !slices.Equal(got, want) {
		t.Errorf("make preview renders %q, want every template %q", got, want)
	}
	pkg := strings.ReplaceAll(makeVar(t, mk, "PACKAGE"), "$(DIST)", makeVar(t, mk, "DIST"))
	for _, tmpl := range templates {
		t.Run(tmpl, func(t *testing.T) {
			checkTemplate(t, readTemplate(t, tmpl), binary, pkg)
		})
	}
}

func checkTemplate(t *testing.T, s sYAML, binary, pkg string) {
	if s.Edition != "3.0.0" || len(s.Resources) != 1 {
		t.Fatalf("edition %q with %d resources, want 3.0.0 with one function", s.Edition, len(s.Resources))
	}
	for name, r := range s.Resources {
		p := r.Props
		if r.Component != "fc3" {
			t.Errorf("%s: component %q, want fc3", name, r.Component)
		}
		if len(r.Actions.PreDeploy) != 1 || r.Actions.PreDeploy[0].Run != "make build" {
			t.Errorf("%s: pre-deploy must run the one build recipe, make build", name)
		}
		if got, want := filepath.Clean(p.Code), filepath.Clean(filepath.Dir(binary)); got != want {
			t.Errorf("%s: code %q, but make build writes into %q", name, got, want)
		}
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
		checkRuntime(t, name, p.Runtime, p.InstanceConcurrency, p.CustomRuntimeConfig != nil)
		if c := p.CustomRuntimeConfig; c != nil {
			checkCustomRuntime(t, name, c.Command, c.Args, c.Port, c.HealthCheckConfig.HTTPGetURL, binary)
			if p.InstanceLifecycle.PreStop == nil || p.InstanceLifecycle.PreStop.Timeout < 1 {
				t.Errorf("%s: no preStop hook with a timeout; the binary answers GET /pre-stop", name)
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

// Facts of the fc3 component's props schema (devsapp/fc3 src/schema.json,
// component 0.1.22) and of FC 3.0 (docs/deploy.md): the custom runtimes,
// instanceConcurrency's range, and that FC's standard runtimes such as go1
// serve one request per instance.
var (
	customRuntimes     = []string{"custom", "custom.debian10", "custom.debian11", "custom.debian12"}
	maxConcurrency     = 200
	concurrencyFromEnv = regexp.MustCompile(`^\$\{json\(env\('([A-Z_]+)', '(\d+)'\)\)\}$`)
)

// checkRuntime: go1 takes no instanceConcurrency and no customRuntimeConfig;
// a custom runtime takes both, instanceConcurrency from the environment (as
// a number: json() of the string) with a default in 1..200.
func checkRuntime(t *testing.T, name, runtime, concurrency string, customConfig bool) {
	t.Helper()
	switch {
	case runtime == "go1":
		if concurrency != "" || customConfig {
			t.Errorf("%s: go1 serves one request per instance; drop instanceConcurrency and customRuntimeConfig", name)
		}
	case slices.Contains(customRuntimes, runtime):
		if !customConfig {
			t.Errorf("%s: runtime %s without customRuntimeConfig", name, runtime)
		}
		m := concurrencyFromEnv.FindStringSubmatch(concurrency)
		if m == nil {
			t.Fatalf("%s: instanceConcurrency %q, want ${json(env('NAME', 'default'))}: a number FC accepts, settable when deploying", name, concurrency)
		}
		if n, _ := strconv.Atoi(m[2]); n < 1 || n > maxConcurrency {
			t.Errorf("%s: default instanceConcurrency %d, want 1..%d", name, n, maxConcurrency)
		}
	default:
		t.Errorf("%s: runtime %q, want go1 or one of %q", name, runtime, customRuntimes)
	}
}

// checkCustomRuntime: FC runs the executable make build wrote (./target is
// mounted at /code) with -fc-custom-runtime, listening on 0.0.0.0 at the
// configured port (127.0.0.1 fails with FunctionNotStarted), and its health
// check is an operation of openapi.yaml that answers without FC's headers.
func checkCustomRuntime(t *testing.T, name string, command, args []string, port int, health, binary string) {
	t.Helper()
	if want := []string{"/code/" + filepath.Base(binary)}; !slices.Equal(command, want) {
		t.Errorf("%s: command %q, want %q", name, command, want)
	}
	if !slices.Contains(args, "-fc-custom-runtime") {
		t.Errorf("%s: args %q lack -fc-custom-runtime: FC's headers would be ignored", name, args)
	}
	i := slices.Index(args, "-addr")
	if want := "0.0.0.0:" + strconv.Itoa(port); i < 0 || i+1 >= len(args) || args[i+1] != want || port < 1 || port > 65535 {
		t.Errorf("%s: args %q with port %d, want -addr %s", name, args, port, want)
	}
	if health != "/healthz" {
		t.Errorf("%s: healthCheckConfig.httpGetUrl %q, want /healthz (getHealth)", name, health)
	}
}

// TestTemplatesAgree: both templates deploy the same function with the same
// settings, so choosing a profile changes nothing else.
func TestTemplatesAgree(t *testing.T) {
	base, custom := readTemplate(t, templates[0]), readTemplate(t, templates[1])
	for name, b := range base.Resources {
		c, ok := custom.Resources[name]
		if !ok {
			t.Fatalf("%s has no resource %s", templates[1], name)
		}
		if !maps.Equal(b.Props.EnvironmentVariables, c.Props.EnvironmentVariables) {
			t.Errorf("environmentVariables differ between %s and %s", templates[0], templates[1])
		}
		if !slices.Equal(b.Actions.PreDeploy, c.Actions.PreDeploy) || b.Props.Code != c.Props.Code {
			t.Errorf("the build or the code differs between %s and %s", templates[0], templates[1])
		}
	}
}

// redisTemplate extends s.yaml with the VPC that reaches Redis/Tair.
const redisTemplate = "s.redis.yaml"

// TestRedisTemplate: s.redis.yaml changes s.yaml only by the VPC and by
// requiring REDIS_URL, all from the deploying shell's environment.
func TestRedisTemplate(t *testing.T) {
	raw, err := os.ReadFile(redisTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Extend    string `yaml:"extend"`
		Resources map[string]struct {
			Props struct {
				VPC struct {
					VPCID           string   `yaml:"vpcId"`
					VSwitchIDs      []string `yaml:"vSwitchIds"`
					SecurityGroupID string   `yaml:"securityGroupId"`
				} `yaml:"vpcConfig"`
				EnvironmentVariables map[string]string `yaml:"environmentVariables"`
			} `yaml:"props"`
		} `yaml:"resources"`
	}
	if err := yaml.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	base := readTemplate(t, templates[0])
	if s.Extend != templates[0] || len(s.Resources) != 1 {
		t.Fatalf("%s extends %q with %d resources, want %s with one", redisTemplate, s.Extend, len(s.Resources), templates[0])
	}
	for name, r := range s.Resources {
		if _, ok := base.Resources[name]; !ok {
			t.Errorf("%s: resource %s is not in %s", redisTemplate, name, templates[0])
		}
		v := r.Props.VPC
		for _, field := range append([]string{v.VPCID, v.SecurityGroupID}, v.VSwitchIDs...) {
			if !strings.HasPrefix(field, "${env('") {
				t.Errorf("%s: vpcConfig value %q is not taken from the environment", redisTemplate, field)
			}
		}
		if len(v.VSwitchIDs) == 0 {
			t.Errorf("%s: vpcConfig has no vSwitch", redisTemplate)
		}
		if got := r.Props.EnvironmentVariables; len(got) != 1 || got["REDIS_URL"] != "${env('REDIS_URL')}" {
			t.Errorf("%s: environmentVariables %v, want only REDIS_URL, required", redisTemplate, got)
		}
	}
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
