// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package configtest loads a component's config in its Go tests: the file an environment variable
// names (genai-o11y's tests pass the config they generate), else testdata/config.yaml.
package configtest

import (
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"gopkg.in/yaml.v3"
)

// Validator is a component config.
type Validator interface{ Validate() error }

// Load unmarshals the file $env (else testdata/config.yaml) into cfg, which holds the defaults,
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

// Generated: whether $env names a generated config (else the test that needs one skips).
func Generated(t testing.TB, env string) {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("set %s (genai-o11y's tests do)", env)
	}
}
