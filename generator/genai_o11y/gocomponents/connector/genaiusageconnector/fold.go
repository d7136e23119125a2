// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

// Fold: label folding, applied to the values the metrics read, never to the data (the connector
// mutates nothing: the fan-out in front of it passes every batch on without a copy). Bounded values
// (AllowedValues: anything else becomes OverflowValue), lists joined, the model's aliases and unknown
// models, the flags derived on request spans, and the request view of root spans that are something
// else than a request. The same as the OTTL statements of the ottl engine (tests compare the series).
type Fold struct {
	// OverflowValue: what a value outside AllowedValues (or an unknown model) becomes.
	OverflowValue string `mapstructure:"overflow_value"`
	// AllowedValues: key -> the values it may keep; any other value (when set) folds into OverflowValue.
	AllowedValues map[string][]string `mapstructure:"allowed_values"`
	// JoinLists: keys whose list values are read as one comma-separated string.
	JoinLists []string `mapstructure:"join_lists"`
	// FoldEvents: span events of these names get AllowedValues and Model folding on their own
	// attributes (events that feed metrics with them: a quality proxy's kind).
	FoldEvents []string `mapstructure:"fold_events"`
	// Model: alias and overflow folding of the model name.
	Model Model `mapstructure:"model"`
	// Request: flags derived on request spans (Stage.Key == Stage.Value).
	Request Request `mapstructure:"request"`
	// RequestView: a root span that is something else than a request also counts as one.
	RequestView RequestView `mapstructure:"request_view"`
}

// RequestView (enabled when StageKey is set): each root span (no parent span id) whose StageKey is set
// and is not a string in NotStages, and whose UnlessKey is unset, is observed a second time, after the
// spans of its scope, as a copy of it would be: only KeepKeys read, StageKey read as Stage, events
// named in DropEvents skipped; folded like any span. (OTTL's IsRootSpan() filter, keep_keys and set.)
type RequestView struct {
	StageKey   string   `mapstructure:"stage_key"`
	Stage      string   `mapstructure:"stage"`
	NotStages  []string `mapstructure:"not_stages"`
	UnlessKey  string   `mapstructure:"unless_key"`
	KeepKeys   []string `mapstructure:"keep_keys"`
	DropEvents []string `mapstructure:"drop_events"`
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

// FailedAfterTools reads Key as true where tools were called (CalledKey non-empty) and the answer
// failed: an error status, or a failure category (FailureKey) not in Exempt.
type FailedAfterTools struct {
	Key        string   `mapstructure:"key"`
	CalledKey  string   `mapstructure:"called_key"`
	FailureKey string   `mapstructure:"failure_key"`
	Exempt     []string `mapstructure:"exempt"`
}

// RequiredTools reads Key as a tool's name where the route (RouteKey) requires it and the
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

func (f *Fold) enabled() bool {
	return len(f.AllowedValues) > 0 || len(f.JoinLists) > 0 || f.Model.Key != "" || f.Request.Stage.Key != "" || f.RequestView.StageKey != ""
}

func (f *Fold) validate() []error {
	var errs []error
	if f.enabled() && f.OverflowValue == "" {
		errs = append(errs, errors.New("fold.overflow_value: empty"))
	}
	for k, vs := range f.AllowedValues {
		if len(vs) == 0 {
			errs = append(errs, fmt.Errorf("fold.allowed_values.%s: empty list (every value would fold)", k))
		}
	}
	if (len(f.Model.Aliases) > 0 || len(f.Model.Known) > 0) && f.Model.Key == "" {
		errs = append(errs, errors.New("fold.model.key: empty"))
	}
	r := f.Request
	if r.FailedAfterTools.Key != "" || len(r.RequiredTools.Tools) > 0 {
		if err := genaicommon.CheckEquals(r.Stage.Key, r.Stage.Value); err != nil {
			errs = append(errs, fmt.Errorf("fold.request.stage: %w", err))
		}
	}
	if t := r.FailedAfterTools; t.Key != "" && (t.CalledKey == "" || t.FailureKey == "") {
		errs = append(errs, errors.New("fold.request.failed_after_tools: called_key and failure_key are required"))
	}
	if t := r.RequiredTools; len(t.Tools) > 0 && (t.Key == "" || t.RouteKey == "" || t.CalledKey == "") {
		errs = append(errs, errors.New("fold.request.required_tools: key, route_key and called_key are required"))
	}
	if v := f.RequestView; v.StageKey != "" && (v.Stage == "" || len(v.KeepKeys) == 0) {
		errs = append(errs, errors.New("fold.request_view: stage and keep_keys are required with stage_key"))
	} else if v.StageKey == "" && (v.Stage != "" || len(v.KeepKeys) > 0 || len(v.NotStages) > 0) {
		errs = append(errs, errors.New("fold.request_view.stage_key: empty (the view would never be made)"))
	}
	return errs
}

type set map[string]struct{}

func newSet(values []string) set {
	s := make(set, len(values))
	for _, v := range values {
		s[v] = struct{}{}
	}
	return s
}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

type bounded struct {
	slot    int
	allowed set
}

type alias struct {
	from string
	to   pcommon.Value
}

type requiredTool struct {
	name   pcommon.Value
	routes set
	listed *regexp.Regexp // the tool as an item of the comma-separated list
}

// folder: Fold resolved to slots. Folded values replace the slot's value (a shared read-only value,
// or a new one for a joined list): the data keeps its own.
type folder struct {
	overflow  pcommon.Value
	bounded   []bounded
	joins     []int
	model     int // -1: no model folding
	aliases   []alias
	known     set
	events    set
	stage     int // the request condition's key (-1: none)
	stageV    any
	flagged   int // failed_after_tools: its key, called_key, failure_key (-1: unused)
	called    int
	failure   int
	exempt    set
	missingAt int // required_tools: its key, route_key, called_key
	route     int
	reqCalled int
	required  []requiredTool
	trueV     pcommon.Value
	view      *viewDef
}

type viewDef struct {
	stage  int
	stageV pcommon.Value
	not    set
	unless int // -1: none
	keep   [maxKeys]bool
	drop   set
}

func newFolder(f *Fold, slot func(string) int) *folder {
	if !f.enabled() {
		return nil
	}
	d := &folder{overflow: pcommon.NewValueStr(f.OverflowValue), model: -1, stage: -1, flagged: -1, missingAt: -1,
		known: newSet(f.Model.Known), events: newSet(f.FoldEvents), exempt: newSet(f.Request.FailedAfterTools.Exempt), trueV: pcommon.NewValueBool(true)}
	for k, vs := range f.AllowedValues {
		d.bounded = append(d.bounded, bounded{slot(k), newSet(vs)})
	}
	for _, k := range f.JoinLists {
		d.joins = append(d.joins, slot(k))
	}
	if f.Model.Key != "" {
		d.model = slot(f.Model.Key)
		for _, a := range f.Model.Aliases {
			d.aliases = append(d.aliases, alias{a.Alias, pcommon.NewValueStr(a.Name)})
		}
	}
	r := f.Request
	if r.Stage.Key != "" {
		d.stage, d.stageV = slot(r.Stage.Key), r.Stage.Value
	}
	if t := r.FailedAfterTools; t.Key != "" {
		d.flagged, d.called, d.failure = slot(t.Key), slot(t.CalledKey), slot(t.FailureKey)
	}
	if t := r.RequiredTools; len(t.Tools) > 0 {
		d.missingAt, d.route, d.reqCalled = slot(t.Key), slot(t.RouteKey), slot(t.CalledKey)
		for _, rt := range t.Tools {
			d.required = append(d.required, requiredTool{pcommon.NewValueStr(rt.Name), newSet(rt.Routes),
				regexp.MustCompile(`(^|,)\s*` + regexp.QuoteMeta(rt.Name) + `\s*(,|$)`)})
		}
	}
	if v := f.RequestView; v.StageKey != "" {
		d.view = &viewDef{stage: slot(v.StageKey), stageV: pcommon.NewValueStr(v.Stage), not: newSet(v.NotStages), unless: -1, drop: newSet(v.DropEvents)}
		if v.UnlessKey != "" {
			d.view.unless = slot(v.UnlessKey)
		}
		for _, k := range v.KeepKeys {
			if s := slot(k); s < maxKeys {
				d.view.keep[s] = true
			}
		}
	}
	return d
}

// values: bounded values folded, lists joined, the model's alias resolved and an unknown one folded.
func (d *folder) values(a *attrs) {
	for _, b := range d.bounded {
		if a.has[b.slot] && !b.allowed.has(a.vals[b.slot].AsString()) {
			a.vals[b.slot] = d.overflow
		}
	}
	for _, s := range d.joins {
		if v := a.vals[s]; a.has[s] && v.Type() == pcommon.ValueTypeSlice {
			items := v.Slice()
			parts := make([]string, 0, items.Len())
			for i := 0; i < items.Len(); i++ {
				parts = append(parts, items.At(i).AsString())
			}
			a.vals[s] = pcommon.NewValueStr(strings.Join(parts, ","))
		}
	}
	if d.model >= 0 && a.has[d.model] {
		for _, al := range d.aliases {
			if v := a.vals[d.model]; v.Type() == pcommon.ValueTypeStr && v.Str() == al.from {
				a.vals[d.model] = al.to
			}
		}
		if len(d.known) > 0 && !d.known.has(a.vals[d.model].AsString()) {
			a.vals[d.model] = d.overflow
		}
	}
}

// span: a span's values folded, then, on a request span, the derived flags.
func (d *folder) span(a *attrs) {
	d.values(a)
	if d.stage < 0 || !a.has[d.stage] || !genaicommon.Equal(a.vals[d.stage], d.stageV) {
		return
	}
	failed := a.status == ptrace.StatusCodeError
	if d.flagged >= 0 && !failed && a.has[d.failure] {
		fc := a.vals[d.failure]
		failed = fc.Type() != pcommon.ValueTypeStr || !d.exempt.has(fc.Str())
	}
	if d.flagged >= 0 && failed && a.has[d.called] && !(a.vals[d.called].Type() == pcommon.ValueTypeStr && a.vals[d.called].Str() == "") {
		a.vals[d.flagged], a.has[d.flagged] = d.trueV, true
	}
	// a request that failed gave no answer: it is no answer without its required tool (a rate limit on
	// the first model call would otherwise read as "answered from memory")
	if d.missingAt < 0 || !a.has[d.route] || failed {
		return
	}
	route := a.vals[d.route].AsString()
	for _, rt := range d.required {
		if rt.routes.has(route) && (!a.has[d.reqCalled] || !rt.listed.MatchString(a.vals[d.reqCalled].AsString())) {
			a.vals[d.missingAt], a.has[d.missingAt] = rt.name, true
		}
	}
}

// wants: a (a span's values as it came, before folding) is a root span's that gets a request view.
func (v *viewDef) wants(span ptrace.Span, a *attrs) bool {
	if !span.ParentSpanID().IsEmpty() || !a.has[v.stage] {
		return false
	}
	if st := a.vals[v.stage]; st.Type() == pcommon.ValueTypeStr && v.not.has(st.Str()) {
		return false
	}
	return v.unless < 0 || !a.has[v.unless]
}

// restrict makes a (a span's values as it came) its request view's: the kept keys only, the stage set.
func (v *viewDef) restrict(a *attrs) {
	for s := range a.has {
		a.has[s] = a.has[s] && v.keep[s]
	}
	a.vals[v.stage], a.has[v.stage] = v.stageV, true
}
