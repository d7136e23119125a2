// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genainormaliseprocessor

import (
	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

// Config of the genai_normalise processor; genai-o11y generates it from its spec. The steps run in
// the order of the fields below.
type Config struct {
	// Resource: fixes applied once per resource.
	Resource Resource `mapstructure:"resource"`
	// Renames: in order, a legacy key's value is copied to To where To is not set (the first legacy
	// key present wins); When, if set, must hold too.
	Renames []Rename `mapstructure:"renames"`
	// ErrorType: error.type from the exception event where missing, then spellings rewritten.
	ErrorType ErrorType `mapstructure:"error_type"`
	// DeleteKeys: removed after the renames (legacy keys).
	DeleteKeys []string `mapstructure:"delete_keys"`
	// Lowercase: string values lower-cased.
	Lowercase []string `mapstructure:"lowercase"`
	// ValueMaps: string values replaced by their mapped spelling.
	ValueMaps []ValueMap `mapstructure:"value_maps"`
	// Integers: string or double values converted to integers (strings that are not integers stay).
	Integers []string `mapstructure:"integers"`
	// FillFrom: To takes From's value where To is not set and From is.
	FillFrom []Rename `mapstructure:"fill_from"`
	// FromJSON: To takes the string field Field of the JSON object in the string From, where To is
	// not set.
	FromJSON []FromJSON `mapstructure:"from_json"`
	// Derive: in order, Key is set to Value where Key is not set and When holds.
	Derive []Derive `mapstructure:"derive"`
	// Root: Key is set to Value on root spans where Key is not set and Unless is not set.
	Root Root `mapstructure:"root"`
	// ToolOutcome: the outcome of tool spans that do not say it.
	ToolOutcome ToolOutcome `mapstructure:"tool_outcome"`
	// Failure: the failure category from the first rule that holds, where Key is not set.
	Failure Failure `mapstructure:"failure"`
	// Cost: USD per span from the price table.
	Cost Cost `mapstructure:"cost"`
}

// Resource fixes: renames (where To is not set), then defaults (where not set), then the service
// name where it is missing or matches ServiceName.ReplacePattern.
type Resource struct {
	Renames     []Rename    `mapstructure:"renames"`
	Defaults    []KeyValue  `mapstructure:"defaults"`
	ServiceName ServiceName `mapstructure:"service_name"`
}

// KeyValue is a string attribute.
type KeyValue struct {
	Key   string `mapstructure:"key"`
	Value string `mapstructure:"value"`
}

// ServiceName is set to Value where missing or matching ReplacePattern (as text).
type ServiceName struct {
	Key            string `mapstructure:"key"`
	Value          string `mapstructure:"value"`
	ReplacePattern string `mapstructure:"replace_pattern"`
}

// Rename copies From to To.
type Rename struct {
	From string  `mapstructure:"from"`
	To   string  `mapstructure:"to"`
	When *Equals `mapstructure:"when"`
}

// Equals holds where the attribute has this value, of the same type (string, bool or int).
type Equals struct {
	Key   string `mapstructure:"key"`
	Value any    `mapstructure:"value"`
}

// ValueMap replaces the string values of Key found in Values.
type ValueMap struct {
	Key    string            `mapstructure:"key"`
	Values map[string]string `mapstructure:"values"`
}

// Derive sets Key to Value.
type Derive struct {
	Key   string `mapstructure:"key"`
	Value string `mapstructure:"value"`
	When  Equals `mapstructure:"when"`
}

// Root marks root spans (no parent).
type Root struct {
	Key    string `mapstructure:"key"`
	Value  string `mapstructure:"value"`
	Unless string `mapstructure:"unless"`
	// NotKinds: root spans of these kinds (client, producer, server, consumer, internal, unspecified)
	// are not marked: a call made outside any request (a background job's query) is no request.
	NotKinds []string `mapstructure:"not_kinds"`
	// NotMatching: root spans where, for one entry, one of its Keys is a string matching its Pattern
	// are not marked (HTTP health checks and metrics scrapes by path, gRPC health checks by service).
	NotMatching []NotMatching `mapstructure:"not_matching"`
}

// NotMatching: a pattern over the values of some keys.
type NotMatching struct {
	Keys    []string `mapstructure:"keys"`
	Pattern string   `mapstructure:"pattern"`
}

// spanKinds: the names NotKinds takes.
var spanKinds = map[string]ptrace.SpanKind{"unspecified": ptrace.SpanKindUnspecified, "internal": ptrace.SpanKindInternal,
	"server": ptrace.SpanKindServer, "client": ptrace.SpanKindClient, "producer": ptrace.SpanKindProducer, "consumer": ptrace.SpanKindConsumer}

// ToolOutcome: on spans where StageKey equals StageValue and Key is not set, Key becomes Timeout
// where the string ErrorTypeKey matches TimeoutPattern, else Error where the span status is an
// error, else OK.
type ToolOutcome struct {
	StageKey       string `mapstructure:"stage_key"`
	StageValue     string `mapstructure:"stage_value"`
	Key            string `mapstructure:"key"`
	ErrorTypeKey   string `mapstructure:"error_type_key"`
	TimeoutPattern string `mapstructure:"timeout_pattern"`
	Timeout        string `mapstructure:"timeout"`
	Error          string `mapstructure:"error"`
	OK             string `mapstructure:"ok"`
}

// Cost: on spans where one of WhenAny is set, CostKey = the sum of the terms of the model ModelKey
// names (in Models, aliases included), in order, plus its PerCallUSD; UnpricedKey = true where
// CostKey is still not set.
type Cost struct {
	ModelKey    string   `mapstructure:"model_key"`
	WhenAny     []string `mapstructure:"when_any"`
	CostKey     string   `mapstructure:"cost_key"`
	UnpricedKey string   `mapstructure:"unpriced_key"`
	Models      []Price  `mapstructure:"models"`
}

// Price of one model (and its aliases): its terms and an optional fee per call, in USD.
type Price struct {
	Names      []string `mapstructure:"names"`
	Terms      []Term   `mapstructure:"terms"`
	PerCallUSD *float64 `mapstructure:"per_call_usd"`
}

// Term: (Tokens - each of Minus) * USD, the counts read as OTTL's Double(Coalesce([key, 0])); Kind
// names the token kind (for messages). Minus holds the kinds counted inside Tokens that have a term
// of their own, so no token is priced twice.
type Term struct {
	Kind   string   `mapstructure:"kind"`
	Tokens string   `mapstructure:"tokens"`
	Minus  []string `mapstructure:"minus"`
	USD    float64  `mapstructure:"usd"`
}

// ErrorType: on spans ending in error where Key is not set, the FromEvent.Key attribute of the first
// event named FromEvent.Name that has it; then each rewrite whose pattern matches the string value
// replaces it (regexp.ReplaceAllString, `${1}` is the first group).
type ErrorType struct {
	Key       string    `mapstructure:"key"`
	FromEvent FromEvent `mapstructure:"from_event"`
	Rewrites  []Rewrite `mapstructure:"rewrites"`
}

// FromEvent names an event and one of its attributes.
type FromEvent struct {
	Name string `mapstructure:"name"`
	Key  string `mapstructure:"key"`
}

// Rewrite replaces matches of Pattern with Replacement.
type Rewrite struct {
	Pattern     string `mapstructure:"pattern"`
	Replacement string `mapstructure:"replacement"`
}

// FromJSON reads a string field of a JSON object held in a string attribute.
type FromJSON struct {
	From  string `mapstructure:"from"`
	Field string `mapstructure:"field"`
	To    string `mapstructure:"to"`
}

// Failure: in order, the first rule that holds sets Key to its category where Key is not set.
type Failure struct {
	Key   string        `mapstructure:"key"`
	Rules []FailureRule `mapstructure:"rules"`
}

// FailureRule holds where one of Keys is a string matching Pattern, or equals one of Values (typed,
// as OTTL's ==), or, with Lists, is a list holding one of Values.
type FailureRule struct {
	Category string   `mapstructure:"category"`
	Keys     []string `mapstructure:"keys"`
	Pattern  string   `mapstructure:"pattern"`
	Values   []any    `mapstructure:"values"`
	Lists    bool     `mapstructure:"lists"`
}

func createDefaultConfig() *Config { return &Config{} }

// Validate names the field of every problem.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	renames := func(field string, rs []Rename) {
		for i, r := range rs {
			if r.From == "" || r.To == "" {
				add("%s[%d]: from and to are required", field, i)
			}
			if r.When != nil {
				if err := checkEquals(*r.When); err != nil {
					add("%s[%d].when: %w", field, i, err)
				}
			}
		}
	}
	renames("resource.renames", c.Resource.Renames)
	for i, d := range c.Resource.Defaults {
		if d.Key == "" {
			add("resource.defaults[%d].key: empty", i)
		}
	}
	if s := c.Resource.ServiceName; s.Key != "" || s.Value != "" {
		if s.Key == "" || s.Value == "" {
			add("resource.service_name: key and value are required")
		}
		if _, err := regexp.Compile(s.ReplacePattern); err != nil {
			add("resource.service_name.replace_pattern: does not compile: %v", err)
		}
	}
	renames("renames", c.Renames)
	renames("fill_from", c.FillFrom)
	for i, m := range c.ValueMaps {
		if m.Key == "" {
			add("value_maps[%d].key: empty", i)
		}
	}
	for i, d := range c.Derive {
		if d.Key == "" || d.Value == "" {
			add("derive[%d]: key and value are required", i)
		}
		if err := checkEquals(d.When); err != nil {
			add("derive[%d].when: %w", i, err)
		}
	}
	if e := c.ErrorType; e.Key != "" {
		if (e.FromEvent.Name == "") != (e.FromEvent.Key == "") {
			add("error_type.from_event: name and key are required together")
		}
		for i, r := range e.Rewrites {
			if _, err := regexp.Compile(r.Pattern); err != nil || r.Pattern == "" {
				add("error_type.rewrites[%d].pattern: does not compile: %v", i, err)
			}
		}
	} else if len(e.Rewrites) > 0 || e.FromEvent.Name != "" {
		add("error_type.key: empty")
	}
	for i, j := range c.FromJSON {
		if j.From == "" || j.Field == "" || j.To == "" {
			add("from_json[%d]: from, field and to are required", i)
		}
	}
	if f := c.Failure; len(f.Rules) > 0 {
		if f.Key == "" {
			add("failure.key: empty")
		}
		for i, r := range f.Rules {
			if r.Category == "" || len(r.Keys) == 0 {
				add("failure.rules[%d]: category and keys are required", i)
			}
			if (r.Pattern == "") == (len(r.Values) == 0) {
				add("failure.rules[%d]: exactly one of pattern and values", i)
			}
			if _, err := regexp.Compile(r.Pattern); err != nil {
				add("failure.rules[%d].pattern: does not compile: %v", i, err)
			}
			for j, v := range r.Values {
				if err := genaicommon.CheckEquals(r.Category, v); err != nil {
					add("failure.rules[%d].values[%d]: %w", i, j, err)
				}
			}
		}
	}
	if r := c.Root; r.Key != "" && r.Value == "" {
		add("root.value: empty")
	}
	for i, k := range c.Root.NotKinds {
		if _, ok := spanKinds[k]; !ok {
			add("root.not_kinds[%d]: %q is not a span kind (unspecified, internal, server, client, producer, consumer)", i, k)
		}
	}
	for i, p := range c.Root.NotMatching {
		if p.Pattern == "" || len(p.Keys) == 0 {
			add("root.not_matching[%d]: keys and pattern go together", i)
		} else if _, err := regexp.Compile(p.Pattern); err != nil {
			add("root.not_matching[%d].pattern: does not compile: %v", i, err)
		}
	}
	if t := c.ToolOutcome; t.Key != "" {
		if t.StageKey == "" || t.StageValue == "" || t.ErrorTypeKey == "" || t.Timeout == "" || t.Error == "" || t.OK == "" {
			add("tool_outcome: stage_key, stage_value, error_type_key, timeout, error and ok are required")
		}
		if _, err := regexp.Compile(t.TimeoutPattern); err != nil {
			add("tool_outcome.timeout_pattern: does not compile: %v", err)
		}
	}
	if k := c.Cost; len(k.Models) > 0 {
		if k.ModelKey == "" || len(k.WhenAny) == 0 || k.CostKey == "" || k.UnpricedKey == "" {
			add("cost: model_key, when_any, cost_key and unpriced_key are required")
		}
		seen := map[string]int{}
		for i, m := range k.Models {
			if len(m.Names) == 0 {
				add("cost.models[%d].names: empty", i)
			}
			for _, n := range m.Names {
				if j, dup := seen[n]; dup {
					add("cost.models[%d].names: %s is also in cost.models[%d]", i, n, j)
				}
				seen[n] = i
			}
			if len(m.Terms) == 0 {
				add("cost.models[%d].terms (%v): empty", i, m.Names)
			}
			for j, t := range m.Terms {
				if t.Tokens == "" {
					add("cost.models[%d].terms[%d].tokens (%v): empty", i, j, m.Names)
				}
				if t.USD < 0 {
					add("cost.models[%d].terms[%d].usd (%v, %s): a negative price", i, j, m.Names, t.Kind)
				}
			}
			if m.PerCallUSD != nil && *m.PerCallUSD < 0 {
				add("cost.models[%d].per_call_usd (%v): a negative price", i, m.Names)
			}
		}
	}
	return errors.Join(errs...)
}

func checkEquals(e Equals) error { return genaicommon.CheckEquals(e.Key, e.Value) }
