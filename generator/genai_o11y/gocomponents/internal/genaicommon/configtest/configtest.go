// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package configtest loads a component's config in its Go tests: testdata/config.yaml, which
// `make generate` writes from genai-o11y's default spec (the config as it ships), or the file an
// environment variable names (genai-o11y's tests pass configs generated from other specs).
package configtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"
)

// Example is the hand-written fixture the unit tests use (config.yaml is the generated config).
var Example = filepath.Join("testdata", "example.yaml")

// Validator is a component config.
type Validator interface{ Validate() error }

// Load unmarshals the file $env (else the generated testdata/config.yaml) into cfg, which holds the defaults,
// and validates it.
func Load(t testing.TB, env string, cfg Validator) {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join("testdata", "config.yaml")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Invalid checks every testdata/invalid/*.yaml: each is a config the component must refuse, with an
// error containing each `# want: <text>` line of the file (the field path and what is wrong).
func Invalid(t *testing.T, newConfig func() Validator) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "invalid", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(raw), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, strings.TrimSpace(w))
				}
			}
			if len(wants) == 0 {
				t.Fatalf("%s: no `# want:` line", path)
			}
			var m map[string]any
			if err := yaml.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			cfg := newConfig()
			err = confmap.NewFromStringMap(m).Unmarshal(cfg)
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatalf("%s: accepted", path)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error lacks %q:\n%v", path, w, err)
				}
			}
		})
	}
}

// Config loads cfg (the component's defaults) from $env, else the generated testdata/config.yaml.
func Config[T Validator](t testing.TB, env string, cfg T) T {
	t.Helper()
	Load(t, env, cfg)
	return cfg
}

// ExampleOf loads cfg from the unit tests' hand-written fixture, testdata/example.yaml.
func ExampleOf[T Validator](t *testing.T, env string, cfg T) T {
	t.Helper()
	t.Setenv(env, Example)
	return Config(t, env, cfg)
}

// Testdata is each component's config test over testdata/: the generated config.yaml (as shipped)
// and the unit tests' example.yaml load and validate through load; every invalid/*.yaml is refused
// with the errors its `# want:` lines name.
func Testdata[T Validator](t *testing.T, env string, newConfig func() T, load func(*testing.T) T) {
	t.Helper()
	for _, path := range []string{"", Example} {
		t.Setenv(env, path)
		load(t)
	}
	Invalid(t, func() Validator { return newConfig() })
}
