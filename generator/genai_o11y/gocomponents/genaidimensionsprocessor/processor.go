// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaidimensionsprocessor

import (
	"context"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
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

type dimensions struct {
	cfg      *Config
	allowed  map[string]set
	known    set
	exempt   set
	required []requiredTool
	keep     set
}

func newDimensions(c *Config) *dimensions {
	d := &dimensions{cfg: c, allowed: map[string]set{}, known: newSet(c.Model.Known), exempt: newSet(c.Request.FailedAfterTools.Exempt), keep: newSet(c.KeepResourceKeys)}
	for k, vs := range c.AllowedValues {
		d.allowed[k] = newSet(vs)
	}
	for _, t := range c.Request.RequiredTools.Tools {
		d.required = append(d.required, requiredTool{t.Name, newSet(t.Routes), regexp.MustCompile(`(^|,)\s*` + regexp.QuoteMeta(t.Name) + `\s*(,|$)`)})
	}
	return d
}

func (d *dimensions) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				d.span(spans.At(k), res)
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

func equals(m pcommon.Map, e Equals) bool {
	v, ok := get(m, e.Key)
	if !ok {
		return false
	}
	switch want := e.Value.(type) {
	case string:
		return v.Type() == pcommon.ValueTypeStr && v.Str() == want
	case bool:
		return v.Type() == pcommon.ValueTypeBool && v.Bool() == want
	case int:
		return v.Type() == pcommon.ValueTypeInt && v.Int() == int64(want)
	case int64:
		return v.Type() == pcommon.ValueTypeInt && v.Int() == want
	}
	return false
}

// isStr: the attribute is the string s (OTTL's `== "s"`).
func isStr(m pcommon.Map, k, s string) bool {
	v, ok := get(m, k)
	return ok && v.Type() == pcommon.ValueTypeStr && v.Str() == s
}

func (d *dimensions) span(span ptrace.Span, res pcommon.Map) {
	a := span.Attributes()
	c := d.cfg
	for _, k := range c.CopyFromResource {
		if _, ok := get(a, k); ok {
			continue
		}
		if v, ok := get(res, k); ok {
			v.CopyTo(a.PutEmpty(k))
		}
	}
	for k, allowed := range d.allowed {
		if v, ok := get(a, k); ok && !allowed.has(v.AsString()) {
			a.PutStr(k, c.OverflowValue)
		}
	}
	for _, k := range c.JoinLists {
		if v, ok := get(a, k); ok && v.Type() == pcommon.ValueTypeSlice {
			items := v.Slice()
			parts := make([]string, 0, items.Len())
			for i := 0; i < items.Len(); i++ {
				parts = append(parts, items.At(i).AsString())
			}
			a.PutStr(k, strings.Join(parts, ","))
		}
	}
	for _, m := range c.Markers {
		if d.marked(a, m) {
			a.PutBool(m.Key, true)
		}
	}
	if c.Model.Key != "" {
		if v, ok := get(a, c.Model.Key); ok {
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
	if c.Request.Stage.Key != "" && equals(a, c.Request.Stage) {
		d.request(span, a)
	}
}

func (d *dimensions) marked(a pcommon.Map, m Marker) bool {
	for _, k := range m.WhenPresent {
		if _, ok := get(a, k); ok {
			return true
		}
	}
	for _, e := range m.WhenEquals {
		if equals(a, e) {
			return true
		}
	}
	return false
}

func (d *dimensions) request(span ptrace.Span, a pcommon.Map) {
	if f := d.cfg.Request.FailedAfterTools; f.Key != "" {
		if _, ok := get(a, f.CalledKey); ok && !isStr(a, f.CalledKey, "") {
			failed := span.Status().Code() == ptrace.StatusCodeError
			if !failed {
				if fc, ok := get(a, f.FailureKey); ok {
					failed = fc.Type() != pcommon.ValueTypeStr || !d.exempt.has(fc.Str())
				}
			}
			if failed {
				a.PutBool(f.Key, true)
			}
		}
	}
	t := d.cfg.Request.RequiredTools
	if len(d.required) == 0 {
		return
	}
	route, ok := get(a, t.RouteKey)
	if !ok {
		return
	}
	called, hasCalled := get(a, t.CalledKey)
	for _, rt := range d.required {
		if rt.routes.has(route.AsString()) && (!hasCalled || !rt.listed.MatchString(called.AsString())) {
			a.PutStr(t.Key, rt.name)
		}
	}
}
