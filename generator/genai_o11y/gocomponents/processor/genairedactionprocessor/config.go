// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Rule is a detector: an RE2 regexp, its mask (Go's ${1} expansion) and an optional gate, a
// necessary condition checked on the lowercased text first: the text contains one of RequiresAny
// or matches RequiresMatch. A rule with neither always runs.
type Rule struct {
	Name          string   `mapstructure:"name"`
	Regex         string   `mapstructure:"regex"`
	Mask          string   `mapstructure:"mask"`
	RequiresAny   []string `mapstructure:"requires_any"`
	RequiresMatch string   `mapstructure:"requires_match"`
	// HighConfidence: also checked on Tier 1 string values; a match makes the value content.
	HighConfidence bool `mapstructure:"high_confidence"`
}

// Shape is a value contract of Tier 1 keys: Kind says which value types may hold it ("str": a
// string; "num": an int, a double, or a string; "bool": a boolean; "strlist": a string or a list,
// a list matched as its JSON text), Regex what the text must match (anchored; none for bool).
type Shape struct {
	Kind  string   `mapstructure:"kind"`
	Regex string   `mapstructure:"regex"`
	Keys  []string `mapstructure:"keys"`
}

// Config of the genai_redaction processor; genai-o11y generates it from its redaction policy.
type Config struct {
	// Mode: "redacted" (mask content outside Tier 1) or "metadata-only" (drop it).
	Mode string `mapstructure:"mode"`
	// Salt of the identifier hash; required.
	Salt string `mapstructure:"salt"`
	// MetadataShapes: the contracts of Tier 1 keys. A Tier 1 value that breaks its key's shape, or
	// in which a high-confidence detector matches, is content. Keys without a shape keep any value.
	MetadataShapes []Shape `mapstructure:"metadata_shapes"`
	// IdentifierKeys: values replaced by "h_" + 16 hex of SHA-256("<salt>:<value>").
	IdentifierKeys []string `mapstructure:"identifier_keys"`
	// MetadataKeys: Tier 1, never touched. "x.*" is every key under the prefix "x.".
	MetadataKeys []string `mapstructure:"metadata_keys"`
	// Detectors, applied in order to every string value outside Tier 1.
	Detectors []Rule `mapstructure:"detectors"`
	// SpanNameRules, applied in order to span names.
	SpanNameRules []Rule `mapstructure:"span_name_rules"`
	// MaxContentChars: values outside Tier 1 are truncated to this many characters (never splitting a UTF-8 sequence).
	MaxContentChars int `mapstructure:"max_content_chars"`
	// CountAttribute: on spans with content, how many masks their values hold after redaction.
	CountAttribute string `mapstructure:"count_attribute"`
	// MaskTokens: what CountAttribute counts.
	MaskTokens []string `mapstructure:"mask_tokens"`
}

const (
	modeRedacted     = "redacted"
	modeMetadataOnly = "metadata-only"
)

func createDefaultConfig() *Config {
	return &Config{Mode: modeRedacted, MaxContentChars: 4096, CountAttribute: "genai_o11y.redaction.count"}
}

// Validate names the field of every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.Mode != modeRedacted && c.Mode != modeMetadataOnly {
		errs = append(errs, fmt.Errorf("mode: %q is not one of %q, %q", c.Mode, modeRedacted, modeMetadataOnly))
	}
	if c.Salt == "" {
		errs = append(errs, errors.New("salt: empty (set it, e.g. salt: ${env:GENAI_O11Y_HASH_SALT}, and the variable)"))
	}
	if c.MaxContentChars <= 0 {
		errs = append(errs, fmt.Errorf("max_content_chars: %d, must be > 0", c.MaxContentChars))
	}
	for i, k := range c.MetadataKeys {
		if k == "" || k == ".*" {
			errs = append(errs, fmt.Errorf("metadata_keys[%d]: empty key", i))
		}
	}
	for i, k := range c.IdentifierKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("identifier_keys[%d]: empty key", i))
		}
	}
	if c.Mode == modeRedacted && len(c.Detectors) == 0 {
		errs = append(errs, errors.New("detectors: at least one detector is required in mode redacted"))
	}
	if c.Mode == modeRedacted && c.CountAttribute == "" {
		errs = append(errs, errors.New("count_attribute: empty"))
	}
	for i, t := range c.MaskTokens {
		if t == "" {
			errs = append(errs, fmt.Errorf("mask_tokens[%d]: empty token", i))
		}
	}
	for i, sh := range c.MetadataShapes {
		where := fmt.Sprintf("metadata_shapes[%d]", i)
		switch sh.Kind {
		case "bool":
		case "str", "num", "strlist":
			if _, err := regexp.Compile(sh.Regex); err != nil || sh.Regex == "" {
				errs = append(errs, fmt.Errorf("%s.regex: does not compile: %v", where, err))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.kind: %q is not one of str, num, bool, strlist", where, sh.Kind))
		}
		if len(sh.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s.keys: empty", where))
		}
		for j, k := range sh.Keys {
			if !slices.Contains(c.MetadataKeys, k) {
				errs = append(errs, fmt.Errorf("%s.keys[%d]: %q is not in metadata_keys", where, j, k))
			}
		}
	}
	errs = append(errs, validateRules("detectors", c.Detectors)...)
	errs = append(errs, validateRules("span_name_rules", c.SpanNameRules)...)
	return errors.Join(errs...)
}

func validateRules(field string, rules []Rule) []error {
	var errs []error
	for i, r := range rules {
		where := fmt.Sprintf("%s[%d]", field, i)
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: empty", where))
		}
		if _, err := regexp.Compile(r.Regex); err != nil || r.Regex == "" {
			errs = append(errs, fmt.Errorf("%s.regex (%s): does not compile: %v", where, r.Name, err))
		}
		if r.RequiresMatch != "" {
			if _, err := regexp.Compile(r.RequiresMatch); err != nil {
				errs = append(errs, fmt.Errorf("%s.requires_match (%s): does not compile: %v", where, r.Name, err))
			}
		}
		for j, lit := range r.RequiresAny {
			if lit == "" || lit != strings.ToLower(lit) {
				errs = append(errs, fmt.Errorf("%s.requires_any[%d] (%s): %q must be a non-empty lowercase literal", where, j, r.Name, lit))
			}
		}
	}
	return errs
}
