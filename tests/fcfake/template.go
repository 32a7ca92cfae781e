package fcfake

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v4"
)

// CustomRuntimeConfig is how a Serverless Devs fc3 template tells FC to start
// a custom runtime: the command and args it runs and the port it sends
// requests to.
type CustomRuntimeConfig struct {
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Port    int      `yaml:"port"`
}

// ReadCustomRuntimeConfig reads the customRuntimeConfig of the one function a
// template (such as s.custom.yaml) declares.
func ReadCustomRuntimeConfig(path string) (CustomRuntimeConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return CustomRuntimeConfig{}, err
	}
	var doc struct {
		Resources map[string]struct {
			Props struct {
				CustomRuntimeConfig CustomRuntimeConfig `yaml:"customRuntimeConfig"`
			} `yaml:"props"`
		} `yaml:"resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return CustomRuntimeConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Resources) != 1 {
		return CustomRuntimeConfig{}, fmt.Errorf("%s has %d resources, want one function", path, len(doc.Resources))
	}
	for _, r := range doc.Resources {
		return r.Props.CustomRuntimeConfig, nil
	}
	panic("unreachable")
}
