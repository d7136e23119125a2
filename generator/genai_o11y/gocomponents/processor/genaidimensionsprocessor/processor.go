// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaidimensionsprocessor

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

type set map[string]struct{}

func newSet(values []string) set {
	s := make(set, len(values))
	for _, v := range values {
		s[v] = struct{}{}
	}
	return s
}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

type requiredTool struct {
	name   string
	routes set
	listed *regexp.Regexp // the tool as an item of the comma-separated list
}

// maxKeys bounds the distinct attribute keys the rules read (the generated config reads about 25).
const maxKeys = 64

type fold struct {
	id      int
	allowed set
}

type condition struct {
	present []int
	equals  []Equals
	ids     []int // of equals
}

func (m *condition) holds(vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) bool {
	for _, id := range m.present {
		if has[id] {
			return true
		}
	}
	for i, e := range m.equals {
		if id := m.ids[i]; has[id] && genaicommon.Equal(vals[id], e.Value) {
			return true
		}
	}
	return false
}

type marker struct {
	key string
	condition
}

type dimensions struct {
	cfg       *Config
	ids       map[string]int // the keys the rules read -> their slot
	folds     []fold
	joins     []int
	markers   []marker
	model     int
	stage     condition
	called    int // failed_after_tools: called_key, failure_key (-1: unused)
	failure   int
	route     int // required_tools: route_key, called_key
	reqCalled int
	known     set
	exempt    set
	required  []requiredTool
	keep      set
	events    set
	view      *view
}

// view: the request view's settings, resolved (nil: disabled).
type view struct {
	stageKey, stage, unless string
	not, keep, drop         set
}

// wants: the span is a root whose stage is set and not a string in not, without the unless key.
func (v *view) wants(span ptrace.Span) bool {
	if !span.ParentSpanID().IsEmpty() {
		return false
	}
	a := span.Attributes()
	st, ok := get(a, v.stageKey)
	if !ok || st.Type() == pcommon.ValueTypeStr && v.not.has(st.Str()) {
		return false
	}
	_, delegated := get(a, v.unless)
	return v.unless == "" || !delegated
}

// make appends the request view of span to spans.
func (v *view) make(span ptrace.Span, spans ptrace.SpanSlice) {
	c := spans.AppendEmpty()
	// the span copied without its attributes (set aside meanwhile: a move, not a copy), then the
	// kept attributes only: copying them all to remove most would allocate for nothing
	attrs := pcommon.NewMap()
	span.Attributes().MoveTo(attrs)
	span.CopyTo(c)
	attrs.MoveTo(span.Attributes())
	ca := c.Attributes()
	ca.EnsureCapacity(min(len(v.keep), span.Attributes().Len()) + 1)
	for k, val := range span.Attributes().All() {
		if v.keep.has(k) {
			val.CopyTo(ca.PutEmpty(k))
		}
	}
	ca.PutStr(v.stageKey, v.stage)
	if len(v.drop) > 0 {
		c.Events().RemoveIf(func(e ptrace.SpanEvent) bool { return v.drop.has(e.Name()) })
	}
}

func newDimensions(c *Config) (*dimensions, error) {
	d := &dimensions{cfg: c, ids: map[string]int{}, known: newSet(c.Model.Known), exempt: newSet(c.Request.FailedAfterTools.Exempt),
		keep: newSet(c.KeepResourceKeys), events: newSet(c.FoldEvents), called: -1, failure: -1}
	var err error
	slot := func(k string) int {
		if k == "" {
			return maxKeys - 1 // never set: no key is empty
		}
		id, ok := d.ids[k]
		if !ok {
			id = len(d.ids)
			if id >= maxKeys-1 {
				err = fmt.Errorf("the rules read more than %d attribute keys", maxKeys-1)
				return maxKeys - 1
			}
			d.ids[k] = id
		}
		return id
	}
	for k, vs := range c.AllowedValues {
		d.folds = append(d.folds, fold{slot(k), newSet(vs)})
	}
	for _, k := range c.JoinLists {
		d.joins = append(d.joins, slot(k))
	}
	cond := func(present []string, equals []Equals) condition {
		out := condition{equals: equals}
		for _, k := range present {
			out.present = append(out.present, slot(k))
		}
		for _, e := range equals {
			out.ids = append(out.ids, slot(e.Key))
		}
		return out
	}
	for _, m := range c.Markers {
		d.markers = append(d.markers, marker{m.Key, cond(m.WhenPresent, m.WhenEquals)})
	}
	if v := c.RequestView; v.StageKey != "" {
		d.view = &view{stageKey: v.StageKey, stage: v.Stage, unless: v.UnlessKey, not: newSet(v.NotStages), keep: newSet(v.KeepKeys), drop: newSet(v.DropEvents)}
	}
	d.model = slot(c.Model.Key)
	if c.Request.Stage.Key != "" {
		d.stage = cond(nil, []Equals{c.Request.Stage})
	}
	if f := c.Request.FailedAfterTools; f.Key != "" {
		d.called, d.failure = slot(f.CalledKey), slot(f.FailureKey)
	}
	t := c.Request.RequiredTools
	d.route, d.reqCalled = slot(t.RouteKey), slot(t.CalledKey)
	for _, rt := range t.Tools {
		d.required = append(d.required, requiredTool{rt.Name, newSet(rt.Routes), regexp.MustCompile(`(^|,)\s*` + regexp.QuoteMeta(rt.Name) + `\s*(,|$)`)})
	}
	return d, err
}

func (d *dimensions) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			if d.view != nil { // the views are copies of the spans as they came, folded below like the rest
				var roots []int
				for k := 0; k < spans.Len(); k++ {
					if d.view.wants(spans.At(k)) {
						roots = append(roots, k)
					}
				}
				spans.EnsureCapacity(spans.Len() + len(roots)) // one growth of the batch, not one per doubling
				for _, k := range roots {
					d.view.make(spans.At(k), spans)
				}
			}
			from := d.fromResource(res)
			for k := 0; k < spans.Len(); k++ {
				d.span(spans.At(k), from)
			}
		}
		if len(d.keep) > 0 {
			res.RemoveIf(func(k string, _ pcommon.Value) bool { return !d.keep.has(k) })
		}
	}
	return td, nil
}

// get: the attribute, if set (an empty value counts as unset, as in OTTL).
func get(m pcommon.Map, k string) (pcommon.Value, bool) {
	v, ok := m.Get(k)
	return v, ok && v.Type() != pcommon.ValueTypeEmpty
}

// span folds one span. Attribute lookups are linear in pdata, so the keys the rules read are found
// in one pass over the attributes first; values are changed in place, and the keys this adds
// (markers, flags) are appended last, since appending may move the values the index points to.
func (d *dimensions) span(span ptrace.Span, from []resourceLabel) {
	a := span.Attributes()
	c := d.cfg
	var vals [maxKeys]pcommon.Value
	var has [maxKeys]bool
	d.fold(a, from, len(d.markers), &vals, &has)
	var adds [maxKeys]bool // markers to set, by marker index
	for i, m := range d.markers {
		adds[i] = m.holds(&vals, &has)
	}
	d.foldModel(&vals, &has)
	if len(d.events) > 0 {
		evs := span.Events()
		for i := 0; i < evs.Len(); i++ {
			if e := evs.At(i); d.events.has(e.Name()) {
				var evals [maxKeys]pcommon.Value
				var ehas [maxKeys]bool
				d.foldValues(e.Attributes(), &evals, &ehas)
				d.foldModel(&evals, &ehas)
			}
		}
	}
	failed, missing := false, ""
	if d.stage.holds(&vals, &has) {
		failed, missing = d.request(span, &vals, &has)
	}
	for i, m := range d.markers {
		if adds[i] {
			a.PutBool(m.key, true)
		}
	}
	if failed {
		a.PutBool(c.Request.FailedAfterTools.Key, true)
	}
	if missing != "" {
		a.PutStr(c.Request.RequiredTools.Key, missing)
	}
}

// processLogs folds the attributes of log records (OTel events: an evaluation result or a quality
// proxy naming the call it is about) as a span's: the labels copied from the resource, bounded
// values and the model folded; markers and the request flags are the spans' only.
func (d *dimensions) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			records := sls.At(j).LogRecords()
			from := d.fromResource(res)
			for k := 0; k < records.Len(); k++ {
				var vals [maxKeys]pcommon.Value
				var has [maxKeys]bool
				d.fold(records.At(k).Attributes(), from, 0, &vals, &has)
				d.foldModel(&vals, &has)
			}
		}
		if len(d.keep) > 0 {
			res.RemoveIf(func(k string, _ pcommon.Value) bool { return !d.keep.has(k) })
		}
	}
	return ld, nil
}

// fold: the resource labels copied, the keys the rules read indexed, bounded values folded and
// lists joined, in place.
// more: the keys the caller may add later (markers), for which room is made now too, so that the
// attributes grow once (each growth copies them all).
func (d *dimensions) fold(a pcommon.Map, from []resourceLabel, more int, vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) {
	n := 0
	var missing uint64 // of the first 64 labels (the generated config copies 3); the others are looked up again
	for i, l := range from {
		if _, ok := get(a, l.key); !ok {
			n++
			if i < 64 {
				missing |= 1 << i
			}
		}
	}
	if n+more > 0 {
		a.EnsureCapacity(a.Len() + n + more)
	}
	for i, l := range from {
		if i < 64 {
			if missing&(1<<i) != 0 { // a label listed twice is put twice: the same value, one key
				l.value.CopyTo(a.PutEmpty(l.key))
			}
		} else if _, ok := get(a, l.key); !ok {
			l.value.CopyTo(a.PutEmpty(l.key))
		}
	}
	d.foldValues(a, vals, has)
}

// resourceLabel: a copy_from_resource key the resource sets, and its value.
type resourceLabel struct {
	key   string
	value pcommon.Value
}

// fromResource: the copy_from_resource labels res sets (looked up once per resource, not per span).
func (d *dimensions) fromResource(res pcommon.Map) []resourceLabel {
	var out []resourceLabel
	for _, k := range d.cfg.CopyFromResource {
		if v, ok := get(res, k); ok {
			out = append(out, resourceLabel{k, v})
		}
	}
	return out
}

// foldValues: the keys the rules read indexed, bounded values folded and lists joined, in place.
func (d *dimensions) foldValues(a pcommon.Map, vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) {
	c := d.cfg
	var seen [maxKeys]bool
	for k, v := range a.All() {
		if id, ok := d.ids[k]; ok && !seen[id] { // the first of duplicate keys, as Map.Get
			seen[id] = true
			vals[id], has[id] = v, v.Type() != pcommon.ValueTypeEmpty
		}
	}
	for _, f := range d.folds {
		if has[f.id] && !f.allowed.has(vals[f.id].AsString()) {
			vals[f.id].SetStr(c.OverflowValue)
		}
	}
	for _, id := range d.joins {
		if v := vals[id]; has[id] && v.Type() == pcommon.ValueTypeSlice {
			items := v.Slice()
			parts := make([]string, 0, items.Len())
			for i := 0; i < items.Len(); i++ {
				parts = append(parts, items.At(i).AsString())
			}
			v.SetStr(strings.Join(parts, ","))
		}
	}
}

// foldModel: the model's alias resolved, an unknown model folded.
func (d *dimensions) foldModel(vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) {
	c := d.cfg
	if has[d.model] {
		v := vals[d.model]
		for _, al := range c.Model.Aliases {
			if v.Type() == pcommon.ValueTypeStr && v.Str() == al.Alias {
				v.SetStr(al.Name)
			}
		}
		if len(d.known) > 0 && !d.known.has(v.AsString()) {
			v.SetStr(c.OverflowValue)
		}
	}
}

func (d *dimensions) request(span ptrace.Span, vals *[maxKeys]pcommon.Value, has *[maxKeys]bool) (failed bool, missing string) {
	if d.called >= 0 && d.failure >= 0 {
		called := vals[d.called]
		if has[d.called] && !(called.Type() == pcommon.ValueTypeStr && called.Str() == "") {
			failed = span.Status().Code() == ptrace.StatusCodeError
			if fc := vals[d.failure]; !failed && has[d.failure] {
				failed = fc.Type() != pcommon.ValueTypeStr || !d.exempt.has(fc.Str())
			}
		}
	}
	if len(d.required) == 0 || !has[d.route] {
		return failed, ""
	}
	route := vals[d.route].AsString()
	for _, rt := range d.required {
		if rt.routes.has(route) && (!has[d.reqCalled] || !rt.listed.MatchString(vals[d.reqCalled].AsString())) {
			missing = rt.name
		}
	}
	return failed, missing
}
