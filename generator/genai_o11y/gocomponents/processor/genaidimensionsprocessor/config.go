// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaidimensionsprocessor

import (
	"errors"
	"fmt"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

// Config of the genai_dimensions processor; genai-o11y generates it from its spec.
type Config struct {
	// OverflowValue: what a value outside AllowedValues (or an unknown model) becomes.
	OverflowValue string `mapstructure:"overflow_value"`
	// CopyFromResource: resource attributes copied onto spans that lack them (metric labels).
	CopyFromResource []string `mapstructure:"copy_from_resource"`
	// AllowedValues: key -> the values it may keep; any other value (when set) folds into OverflowValue.
	AllowedValues map[string][]string `mapstructure:"allowed_values"`
	// JoinLists: keys whose list values become one comma-separated string.
	JoinLists []string `mapstructure:"join_lists"`
	// FoldEvents: span events of these names get AllowedValues and Model folding on their own
	// attributes (events that feed metrics with them: a quality proxy's kind).
	FoldEvents []string `mapstructure:"fold_events"`
	// Markers: boolean attributes set where one of their conditions holds.
	Markers []Marker `mapstructure:"markers"`
	// Model: alias and overflow folding of the model name, on spans that carry one.
	Model Model `mapstructure:"model"`
	// Request: flags derived on request spans (Stage.Key == Stage.Value).
	Request Request `mapstructure:"request"`
	// KeepResourceKeys: every other resource attribute is dropped (after CopyFromResource).
	KeepResourceKeys []string `mapstructure:"keep_resource_keys"`
	// RequestView: a root span that is something else than a request also counts as one: a copy of it, made in the same pass.
	RequestView RequestView `mapstructure:"request_view"`
}

// RequestView (enabled when StageKey is set): for each root span (no parent span id) whose StageKey is
// set and is not a string in NotStages, and whose UnlessKey is unset, a copy is appended to its scope
// before folding: only KeepKeys kept, StageKey set to Stage, events named in DropEvents removed. The
// copy is then folded like any span. (The same as OTTL's IsRootSpan() filter, keep_keys and set.)
type RequestView struct {
	StageKey   string   `mapstructure:"stage_key"`
	Stage      string   `mapstructure:"stage"`
	NotStages  []string `mapstructure:"not_stages"`
	UnlessKey  string   `mapstructure:"unless_key"`
	KeepKeys   []string `mapstructure:"keep_keys"`
	DropEvents []string `mapstructure:"drop_events"`
}

// Marker is set to true where any key of WhenPresent is set, or any WhenEquals holds.
type Marker struct {
	Key         string   `mapstructure:"key"`
	WhenPresent []string `mapstructure:"when_present"`
	WhenEquals  []Equals `mapstructure:"when_equals"`
}

// Equals holds where the attribute has this value, of the same type (string, bool or int).
type Equals struct {
	Key   string `mapstructure:"key"`
	Value any    `mapstructure:"value"`
}

// Model folding: each alias in order, then any name not in Known (when Known is not empty).
type Model struct {
	Key     string   `mapstructure:"key"`
	Aliases []Alias  `mapstructure:"aliases"`
	Known   []string `mapstructure:"known"`
}

// Alias renames one model name.
type Alias struct {
	Alias string `mapstructure:"alias"`
	Name  string `mapstructure:"name"`
}

// Request holds what only request spans get.
type Request struct {
	Stage            Equals           `mapstructure:"stage"`
	FailedAfterTools FailedAfterTools `mapstructure:"failed_after_tools"`
	RequiredTools    RequiredTools    `mapstructure:"required_tools"`
}

// FailedAfterTools sets Key where tools were called (CalledKey non-empty) and the answer failed:
// an error status, or a failure category (FailureKey) not in Exempt.
type FailedAfterTools struct {
	Key        string   `mapstructure:"key"`
	CalledKey  string   `mapstructure:"called_key"`
	FailureKey string   `mapstructure:"failure_key"`
	Exempt     []string `mapstructure:"exempt"`
}

// RequiredTools sets Key to a tool's name where the route (RouteKey) requires it and the
// comma-separated CalledKey does not list it; later tools win.
type RequiredTools struct {
	Key       string         `mapstructure:"key"`
	RouteKey  string         `mapstructure:"route_key"`
	CalledKey string         `mapstructure:"called_key"`
	Tools     []RequiredTool `mapstructure:"tools"`
}

// RequiredTool is required on these routes.
type RequiredTool struct {
	Name   string   `mapstructure:"name"`
	Routes []string `mapstructure:"routes"`
}

func createDefaultConfig() *Config { return &Config{OverflowValue: "_other"} }

// Validate names the field of every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.OverflowValue == "" {
		errs = append(errs, errors.New("overflow_value: empty"))
	}
	for k, vs := range c.AllowedValues {
		if len(vs) == 0 {
			errs = append(errs, fmt.Errorf("allowed_values.%s: empty list (every value would fold)", k))
		}
	}
	for i, m := range c.Markers {
		if m.Key == "" {
			errs = append(errs, fmt.Errorf("markers[%d].key: empty", i))
		}
		if len(m.WhenPresent) == 0 && len(m.WhenEquals) == 0 {
			errs = append(errs, fmt.Errorf("markers[%d] (%s): no condition", i, m.Key))
		}
		for j, e := range m.WhenEquals {
			if err := checkEquals(e); err != nil {
				errs = append(errs, fmt.Errorf("markers[%d].when_equals[%d]: %w", i, j, err))
			}
		}
	}
	if (len(c.Model.Aliases) > 0 || len(c.Model.Known) > 0) && c.Model.Key == "" {
		errs = append(errs, errors.New("model.key: empty"))
	}
	r := c.Request
	if r.FailedAfterTools.Key != "" || len(r.RequiredTools.Tools) > 0 {
		if err := checkEquals(r.Stage); err != nil {
			errs = append(errs, fmt.Errorf("request.stage: %w", err))
		}
	}
	if f := r.FailedAfterTools; f.Key != "" && (f.CalledKey == "" || f.FailureKey == "") {
		errs = append(errs, errors.New("request.failed_after_tools: called_key and failure_key are required"))
	}
	if t := r.RequiredTools; len(t.Tools) > 0 && (t.Key == "" || t.RouteKey == "" || t.CalledKey == "") {
		errs = append(errs, errors.New("request.required_tools: key, route_key and called_key are required"))
	}
	if v := c.RequestView; v.StageKey != "" && (v.Stage == "" || len(v.KeepKeys) == 0) {
		errs = append(errs, errors.New("request_view: stage and keep_keys are required with stage_key"))
	} else if v.StageKey == "" && (v.Stage != "" || len(v.KeepKeys) > 0 || len(v.NotStages) > 0) {
		errs = append(errs, errors.New("request_view.stage_key: empty (the view would never be made)"))
	}
	return errors.Join(errs...)
}

func checkEquals(e Equals) error { return genaicommon.CheckEquals(e.Key, e.Value) }
