// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genainormaliseprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon"
)

// maxKeys bounds the distinct span attributes the steps read (the per-span index is an array).
const maxKeys = 96

// index: the values of the keys the steps read, found in one pass over a span's attributes
// (pdata lookups are linear). Empty values count as absent, as OTTL's nil.
type index struct {
	vals      [maxKeys]pcommon.Value
	has       [maxKeys]bool
	hasDelete bool
}

type equals struct {
	slot  int
	value any
}

func (e *equals) holds(ix *index) bool {
	return ix.has[e.slot] && genaicommon.Equal(ix.vals[e.slot], e.value)
}

type rename struct {
	from, to int
	when     *equals
}

type derive struct {
	key   int
	value string
	when  equals
}

type failureRule struct {
	keys []int
	re   *regexp.Regexp
	rule FailureRule
}

// holds: one of the keys is a string matching the pattern, equals a value, or (lists) is a list
// holding one: as the OTTL statements read it.
func (f *failureRule) holds(ix *index) bool {
	for _, k := range f.keys {
		if !ix.has[k] {
			continue
		}
		v := ix.vals[k]
		if f.re != nil {
			if v.Type() == pcommon.ValueTypeStr && f.re.MatchString(v.Str()) {
				return true
			}
			continue
		}
		for _, want := range f.rule.Values {
			if genaicommon.Equal(v, want) {
				return true
			}
		}
	}
	if f.rule.Lists && f.re == nil {
		for _, k := range f.keys { // every key must be a list (the OTTL statement's IsList guards)
			if !ix.has[k] || ix.vals[k].Type() != pcommon.ValueTypeSlice {
				return false
			}
		}
		for _, k := range f.keys {
			s := ix.vals[k].Slice()
			for i := 0; i < s.Len(); i++ {
				for _, want := range f.rule.Values {
					if genaicommon.Equal(s.At(i), want) {
						return true
					}
				}
			}
		}
	}
	return false
}

type normaliser struct {
	keys     []string
	slots    map[string]int
	isDelete []bool

	res       Resource
	svcRe     *regexp.Regexp
	renames   []rename
	deleteSet map[string]struct{}
	lower     []int
	valueMaps []struct {
		slot   int
		values map[string]string
	}
	integers []int
	fill     []rename
	errType  struct {
		on, fromEvent bool
		key           int
		rewrites      []*regexp.Regexp
	}
	fromJSON []struct{ from, to int }
	failure  struct {
		key   int
		rules []failureRule
	}
	derive []derive
	root   rootRule
	tool   struct {
		on                  bool
		stage, key, errType int
		re                  *regexp.Regexp
	}
	cost costStep
	c    *Config
}

func newNormaliser(c *Config) (*normaliser, error) {
	n := &normaliser{c: c, slots: map[string]int{}, deleteSet: map[string]struct{}{}, res: c.Resource}
	slot := func(k string) int {
		if i, ok := n.slots[k]; ok {
			return i
		}
		n.slots[k] = len(n.keys)
		n.keys = append(n.keys, k)
		n.isDelete = append(n.isDelete, false)
		return len(n.keys) - 1
	}
	eq := func(e *Equals) *equals {
		if e == nil {
			return nil
		}
		return &equals{slot: slot(e.Key), value: e.Value}
	}
	for _, r := range c.Renames {
		n.renames = append(n.renames, rename{from: slot(r.From), to: slot(r.To), when: eq(r.When)})
	}
	for _, k := range c.DeleteKeys {
		n.isDelete[slot(k)] = true
		n.deleteSet[k] = struct{}{}
	}
	for _, k := range c.Lowercase {
		n.lower = append(n.lower, slot(k))
	}
	for _, m := range c.ValueMaps {
		n.valueMaps = append(n.valueMaps, struct {
			slot   int
			values map[string]string
		}{slot(m.Key), m.Values})
	}
	for _, k := range c.Integers {
		n.integers = append(n.integers, slot(k))
	}
	for _, r := range c.FillFrom {
		n.fill = append(n.fill, rename{from: slot(r.From), to: slot(r.To), when: eq(r.When)})
	}
	if e := c.ErrorType; e.Key != "" {
		n.errType.on, n.errType.key, n.errType.fromEvent = true, slot(e.Key), e.FromEvent.Name != ""
		for _, r := range e.Rewrites {
			n.errType.rewrites = append(n.errType.rewrites, regexp.MustCompile(r.Pattern)) // Validate compiled it
		}
	}
	for _, j := range c.FromJSON {
		n.fromJSON = append(n.fromJSON, struct{ from, to int }{slot(j.From), slot(j.To)})
	}
	n.failure.key = -1
	if f := c.Failure; len(f.Rules) > 0 {
		n.failure.key = slot(f.Key)
		for _, r := range f.Rules {
			fr := failureRule{rule: r}
			for _, k := range r.Keys {
				fr.keys = append(fr.keys, slot(k))
			}
			if r.Pattern != "" {
				fr.re = regexp.MustCompile(r.Pattern)
			}
			n.failure.rules = append(n.failure.rules, fr)
		}
	}
	for _, d := range c.Derive {
		n.derive = append(n.derive, derive{key: slot(d.Key), value: d.Value, when: *eq(&d.When)})
	}
	n.root.key, n.root.unless = -1, -1
	if c.Root.Key != "" {
		n.root.key = slot(c.Root.Key)
		if c.Root.Unless != "" {
			n.root.unless = slot(c.Root.Unless)
		}
		for _, k := range c.Root.NotKinds {
			n.root.notKinds[spanKinds[k]] = true
		}
		for _, p := range c.Root.NotMatching {
			re := regexp.MustCompile(p.Pattern) // Validate compiled it
			for _, k := range p.Keys {
				n.root.matches = append(n.root.matches, keyPattern{slot(k), re})
			}
		}
	}
	if t := c.ToolOutcome; t.Key != "" {
		n.tool.on, n.tool.stage, n.tool.key, n.tool.errType = true, slot(t.StageKey), slot(t.Key), slot(t.ErrorTypeKey)
		n.tool.re = regexp.MustCompile(t.TimeoutPattern) // Validate compiled it
	}
	if k := c.Cost; len(k.Models) > 0 {
		n.cost.on = true
		n.cost.model, n.cost.costKey, n.cost.unpriced = slot(k.ModelKey), slot(k.CostKey), slot(k.UnpricedKey)
		for _, key := range k.WhenAny {
			n.cost.when = append(n.cost.when, slot(key))
		}
		n.cost.prices = map[string]*pricedModel{}
		for _, m := range k.Models {
			pm := &pricedModel{perCall: m.PerCallUSD}
			for _, t := range m.Terms {
				pt := pricedTerm{tokens: slot(t.Tokens), usd: t.USD}
				for _, key := range t.Minus {
					pt.minus = append(pt.minus, slot(key))
				}
				pm.terms = append(pm.terms, pt)
			}
			for _, name := range m.Names {
				n.cost.prices[name] = pm
			}
		}
	}
	if s := c.Resource.ServiceName; s.Key != "" {
		n.svcRe = regexp.MustCompile(s.ReplacePattern)
	}
	if len(n.keys) > maxKeys {
		return nil, fmt.Errorf("the steps read %d distinct span attributes, at most %d are supported", len(n.keys), maxKeys)
	}
	return n, nil
}

// triggered: the span reports one of the counts that make it a priced call.
func (c *costStep) triggered(ix *index) bool {
	for _, s := range c.when {
		if ix.has[s] {
			return true
		}
	}
	return false
}

func (n *normaliser) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		n.resource(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				n.span(spans.At(k))
			}
		}
	}
	return td, nil
}

func get(m pcommon.Map, k string) (pcommon.Value, bool) {
	v, ok := m.Get(k)
	return v, ok && v.Type() != pcommon.ValueTypeEmpty
}

func (n *normaliser) resource(m pcommon.Map) {
	for _, r := range n.res.Renames {
		if _, ok := get(m, r.To); !ok {
			if v, ok := get(m, r.From); ok {
				v.CopyTo(m.PutEmpty(r.To))
			}
		}
		m.Remove(r.From)
	}
	for _, d := range n.res.Defaults {
		if _, ok := get(m, d.Key); !ok {
			m.PutStr(d.Key, d.Value)
		}
	}
	if s := n.res.ServiceName; s.Key != "" {
		if v, ok := get(m, s.Key); !ok || n.svcRe.MatchString(v.AsString()) {
			m.PutStr(s.Key, s.Value)
		}
	}
}

func (n *normaliser) scan(m pcommon.Map, ix *index) {
	clear(ix.has[:len(n.keys)])
	ix.hasDelete = false
	for k, v := range m.All() {
		if s, ok := n.slots[k]; ok && !ix.has[s] && v.Type() != pcommon.ValueTypeEmpty {
			ix.vals[s], ix.has[s] = v, true
			ix.hasDelete = ix.hasDelete || n.isDelete[s]
		}
	}
}

// span applies the steps in order. Values are read from the index; a step that adds a key
// re-indexes (appending may move the values the index points to). The legacy keys are deleted last:
// no later step reads them.
func (n *normaliser) span(span ptrace.Span) {
	m := span.Attributes()
	var ix index
	n.scan(m, &ix)
	copyTo := func(from, to int) {
		ix.vals[from].CopyTo(m.PutEmpty(n.keys[to]))
		n.scan(m, &ix)
	}
	putStr := func(slot int, v string) {
		m.PutStr(n.keys[slot], v)
		n.scan(m, &ix)
	}
	n.copies(n.renames, &ix, copyTo)
	if e := n.errType; e.on {
		if !ix.has[e.key] && e.fromEvent && span.Status().Code() == ptrace.StatusCodeError {
			evs := span.Events()
			for i := 0; i < evs.Len(); i++ {
				ev := evs.At(i)
				if ev.Name() != n.c.ErrorType.FromEvent.Name {
					continue
				}
				if v, ok := get(ev.Attributes(), n.c.ErrorType.FromEvent.Key); ok {
					v.CopyTo(m.PutEmpty(n.keys[e.key]))
					n.scan(m, &ix)
					break
				}
			}
		}
		if ix.has[e.key] && ix.vals[e.key].Type() == pcommon.ValueTypeStr {
			for i, re := range e.rewrites {
				if v := ix.vals[e.key].Str(); re.MatchString(v) {
					ix.vals[e.key].SetStr(re.ReplaceAllString(v, n.c.ErrorType.Rewrites[i].Replacement))
				}
			}
		}
	}
	n.values(&ix)
	n.copies(n.fill, &ix, copyTo)
	for i, j := range n.fromJSON {
		if ix.has[j.to] || !ix.has[j.from] || ix.vals[j.from].Type() != pcommon.ValueTypeStr {
			continue
		}
		var obj map[string]any
		if json.Unmarshal([]byte(ix.vals[j.from].Str()), &obj) != nil {
			continue
		}
		if v, ok := obj[n.c.FromJSON[i].Field].(string); ok {
			putStr(j.to, v)
		}
	}
	for _, d := range n.derive {
		if !ix.has[d.key] && d.when.holds(&ix) {
			putStr(d.key, d.value)
		}
	}
	if r := &n.root; r.key >= 0 && !ix.has[r.key] && span.ParentSpanID().IsEmpty() && (r.unless < 0 || !ix.has[r.unless]) && !r.excludes(span, &ix) {
		putStr(r.key, n.c.Root.Value)
	}
	if t := n.tool; t.on && !ix.has[t.key] && ix.has[t.stage] && genaicommon.Equal(ix.vals[t.stage], n.c.ToolOutcome.StageValue) {
		out := n.c.ToolOutcome.OK
		if ix.has[t.errType] && ix.vals[t.errType].Type() == pcommon.ValueTypeStr && t.re.MatchString(ix.vals[t.errType].Str()) {
			out = n.c.ToolOutcome.Timeout
		} else if span.Status().Code() == ptrace.StatusCodeError {
			out = n.c.ToolOutcome.Error
		}
		putStr(t.key, out)
	}
	if f := n.failure; f.key >= 0 && !ix.has[f.key] {
		for i := range f.rules {
			if f.rules[i].holds(&ix) {
				putStr(f.key, f.rules[i].rule.Category)
				break
			}
		}
	}
	if c := n.cost; c.on && c.triggered(&ix) {
		priced := ix.has[c.costKey]
		if ix.has[c.model] && ix.vals[c.model].Type() == pcommon.ValueTypeStr {
			if p, ok := c.prices[ix.vals[c.model].Str()]; ok {
				if usd, ok := p.cost(&ix); ok {
					m.PutDouble(n.keys[c.costKey], usd)
					priced = true
				}
			}
		}
		if !priced {
			m.PutBool(n.keys[c.unpriced], true)
		}
	}
	n.deleteLegacy(m, &ix)
}

// copies: each rename (or fill) whose target is missing and whose source is set, in order.
func (n *normaliser) copies(rs []rename, ix *index, copyTo func(from, to int)) {
	for _, r := range rs {
		if !ix.has[r.to] && ix.has[r.from] && (r.when == nil || r.when.holds(ix)) {
			copyTo(r.from, r.to)
		}
	}
}

// values: lower-casing, value maps and integer conversion, in place.
func (n *normaliser) values(ix *index) {
	for _, s := range n.lower {
		if ix.has[s] && ix.vals[s].Type() == pcommon.ValueTypeStr {
			if v := ix.vals[s].Str(); strings.ToLower(v) != v {
				ix.vals[s].SetStr(strings.ToLower(v))
			}
		}
	}
	for _, vm := range n.valueMaps {
		if ix.has[vm.slot] && ix.vals[vm.slot].Type() == pcommon.ValueTypeStr {
			if to, ok := vm.values[ix.vals[vm.slot].Str()]; ok {
				ix.vals[vm.slot].SetStr(to)
			}
		}
	}
	for _, s := range n.integers {
		if !ix.has[s] {
			continue
		}
		if v := ix.vals[s]; v.Type() == pcommon.ValueTypeStr || v.Type() == pcommon.ValueTypeDouble {
			if i, ok := genaicommon.AsInt(v); ok {
				v.SetInt(i)
			}
		}
	}
}

func (n *normaliser) deleteLegacy(m pcommon.Map, ix *index) {
	if ix.hasDelete {
		m.RemoveIf(func(k string, _ pcommon.Value) bool {
			_, ok := n.deleteSet[k]
			return ok
		})
	}
}

// processLogs normalises the resource of each log record and the record's attributes the way a
// span's are named: renames (the other generations' names), value spellings, integers, fills, the
// legacy keys removed. Nothing a span's shape decides (stage, operation, tool outcome, failure,
// cost) applies to a record: an OTel event that names an evaluated call's model under an older
// name then feeds the metrics under the current one.
func (n *normaliser) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		n.resource(rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			records := sls.At(j).LogRecords()
			for k := 0; k < records.Len(); k++ {
				n.record(records.At(k).Attributes())
			}
		}
	}
	return ld, nil
}

func (n *normaliser) record(m pcommon.Map) {
	var ix index
	n.scan(m, &ix)
	copyTo := func(from, to int) {
		ix.vals[from].CopyTo(m.PutEmpty(n.keys[to]))
		n.scan(m, &ix)
	}
	n.copies(n.renames, &ix, copyTo)
	n.values(&ix)
	n.copies(n.fill, &ix, copyTo)
	n.deleteLegacy(m, &ix)
}

type costStep struct {
	on                       bool
	model, costKey, unpriced int
	when                     []int
	prices                   map[string]*pricedModel
}

type pricedTerm struct {
	tokens int
	minus  []int
	usd    float64
}

type pricedModel struct {
	terms   []pricedTerm
	perCall *float64
}

// cost: the sum of the terms, in order, each (tokens - minus...) * usd, then the fee per call; each
// operation rounded as OTTL's arithmetic rounds it (explicit conversions: no fused multiply-add); a
// token count that is not a number prices nothing.
func (p *pricedModel) cost(ix *index) (float64, bool) {
	var total float64
	first := true
	add := func(v float64) {
		if first {
			total, first = v, false
		} else {
			total = float64(total + v)
		}
	}
	for _, t := range p.terms {
		c, ok := number(ix, t.tokens)
		if !ok {
			return 0, false
		}
		for _, m := range t.minus {
			v, ok := number(ix, m)
			if !ok {
				return 0, false
			}
			c = float64(c - v)
		}
		add(float64(c * t.usd))
	}
	if p.perCall != nil {
		add(*p.perCall)
	}
	return total, true
}

// number: the value as OTTL's Double(Coalesce([value, 0])) reads it.
func number(ix *index, slot int) (float64, bool) {
	if !ix.has[slot] {
		return 0, true
	}
	return genaicommon.AsDouble(ix.vals[slot])
}

type rootRule struct {
	key, unless int
	notKinds    [8]bool // by ptrace.SpanKind
	matches     []keyPattern
}

type keyPattern struct {
	slot int
	re   *regexp.Regexp
}

// excludes: a root span that is no request (its kind, or a health check's path or gRPC service).
func (r *rootRule) excludes(span ptrace.Span, ix *index) bool {
	if k := span.Kind(); int(k) < len(r.notKinds) && r.notKinds[k] {
		return true
	}
	for _, m := range r.matches {
		if v := ix.vals[m.slot]; ix.has[m.slot] && v.Type() == pcommon.ValueTypeStr && m.re.MatchString(v.Str()) {
			return true
		}
	}
	return false
}
