// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

type rule struct {
	re        *regexp.Regexp
	scan      *scanner // "may re match?" before the replacing scan
	mask      string
	maskBytes byteSet   // the bytes of mask (a superset of what masking adds: ${1} expands to matched text)
	lits      []string  // gate: a literal in the lowercased text ...
	litBytes  []byteSet // ... (the bytes of each: a text without one of them cannot hold it)
	gate      *scanner  // ... or a match of requires_match there
	gated     bool
	hc        bool // high confidence: also checked on Tier 1 values
}

func compileRule(r Rule) (*rule, error) {
	re, err := regexp.Compile(r.Regex)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	out := &rule{re: re, scan: newScanner(re), mask: r.Mask, maskBytes: presence(r.Mask), lits: r.RequiresAny, gated: len(r.RequiresAny) > 0 || r.RequiresMatch != "", hc: r.HighConfidence}
	for _, lit := range out.lits {
		out.litBytes = append(out.litBytes, presence(lit))
	}
	if r.RequiresMatch != "" {
		g, err := regexp.Compile(r.RequiresMatch)
		if err != nil {
			return nil, fmt.Errorf("%s: requires_match: %w", r.Name, err)
		}
		out.gate = newScanner(g)
	}
	return out, nil
}

func (r *rule) gateHolds(t *text) bool {
	if !r.gated {
		return true
	}
	for i, lit := range r.lits {
		if t.lowerBytes.holds(&r.litBytes[i]) && strings.Contains(t.lower, lit) {
			return true
		}
	}
	return r.gate != nil && r.gate.match(t.lower, &t.lowerBytes)
}

// text is a value being masked: its current form and the bytes it holds, and the lowercased
// original the gates are checked on (as the policy defines them), with its bytes.
type text struct {
	s, lower          string
	bytes, lowerBytes byteSet
}

func newText(s string) *text {
	t := &text{s: s, lower: strings.ToLower(s), bytes: presence(s)}
	if t.lower == s {
		t.lowerBytes = t.bytes
	} else if lb, ascii := t.bytes.asciiLower(); ascii {
		t.lowerBytes = lb
	} else {
		t.lowerBytes = presence(t.lower)
	}
	return t
}

// matches: whether the rule matches somewhere in t.s (the same pre-checks as apply).
func (r *rule) matches(t *text) bool {
	if n := r.scan.need; n != nil && !t.bytes.intersects(n) {
		return false
	}
	return r.gateHolds(t) && r.scan.match(t.s, &t.bytes) && r.re.MatchString(t.s)
}

// apply masks every match in t.s.
func (r *rule) apply(t *text) {
	if n := r.scan.need; n != nil && !t.bytes.intersects(n) { // cheapest first: a byte every match needs
		return
	}
	if !r.gateHolds(t) {
		return
	}
	// on alphabet runs, replacing finds every run's answer itself: a "may it match?" pass first
	// would scan the runs twice where there is something to mask
	if r.scan.alpha == nil && !r.scan.match(t.s, &t.bytes) {
		return
	}
	if masked := r.scan.replaceAll(t.s, r.mask); masked != t.s {
		// the mask's own characters are there now; bytes the match removed may be gone, but a
		// superset only ever makes a later pre-check run a scan it could have skipped
		t.s = masked
		t.bytes.add(&r.maskBytes)
	}
}

// tier1 answers "is this key metadata?" by hash: the exact keys, then each dotted prefix of the key.
type tier1 struct {
	exact    map[string]struct{}
	prefixes map[string]struct{}
}

func newTier1(keys []string) tier1 {
	t := tier1{exact: map[string]struct{}{}, prefixes: map[string]struct{}{}}
	for _, k := range keys {
		if p, ok := strings.CutSuffix(k, ".*"); ok {
			t.prefixes[p] = struct{}{}
		} else {
			t.exact[k] = struct{}{}
		}
	}
	return t
}

func (t tier1) has(k string) bool {
	if _, ok := t.exact[k]; ok {
		return true
	}
	if len(t.prefixes) == 0 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] == '.' {
			if _, ok := t.prefixes[k[:i]]; ok {
				return true
			}
		}
	}
	return false
}

// BytesMask replaces a bytes value outside Tier 1: opaque data is never scanned, nor passed.
const BytesMask = "<BYTES>"

// keyCacheSize bounds the cache of masked keys (keys repeat: the same few per span).
const keyCacheSize = 4096

// contract is the value contract of Tier 1 keys (Shape), with a cache of its verdicts on strings
// (Tier 1 values repeat: models, stages, routes).
type contract struct {
	kind  string // str, num, bool, strlist; "" for a key without a shape (only the high-confidence check)
	re    *regexp.Regexp
	strs  *verdicts[bool] // verdicts on strings
	lists *verdicts[bool] // verdicts on lists (strlist), by their JSON text (listJSON)
}

func newContract(kind string, re *regexp.Regexp) *contract {
	return &contract{kind: kind, re: re, strs: newVerdicts[bool](contractCacheSize), lists: newVerdicts[bool](contractCacheSize)}
}

const contractCacheSize = 4096

type redactor struct {
	unclassified metric.Int64Counter  // values masked whole because they could not be classified (nil: no telemetry)
	contracts    map[string]*contract // Tier 1 key -> its contract (every exact Tier 1 key)
	hc           []*rule              // the high-confidence detectors
	anyShape     *contract            // the contract of keys without a shape
	keys         *verdicts[string]    // key -> the key masked
	spanNames    *verdicts[string]    // span name -> the name as spanName leaves it
	idSlot       map[string]idKey     // identifier key -> its bit in the pass over a map, how often ids lists it
	metadataOnly bool
	salt         string
	ids          []string
	t1           tier1
	detectors    []*rule
	names        []*rule
	limit        int
	countKey     string
	tokens       []string
	tokenFirst   string // the first bytes of the tokens: a value without any holds no token
}

func newRedactor(c *Config) (*redactor, error) {
	r := &redactor{keys: newVerdicts[string](keyCacheSize), spanNames: newVerdicts[string](keyCacheSize), idSlot: map[string]idKey{}, metadataOnly: c.Mode == modeMetadataOnly, salt: c.Salt, ids: c.IdentifierKeys, t1: newTier1(c.MetadataKeys),
		limit: c.MaxContentChars, countKey: c.CountAttribute, tokens: c.MaskTokens}
	for _, d := range c.Detectors {
		cr, err := compileRule(d)
		if err != nil {
			return nil, fmt.Errorf("detectors: %w", err)
		}
		r.detectors = append(r.detectors, cr)
		if cr.hc {
			r.hc = append(r.hc, cr)
		}
	}
	r.contracts = map[string]*contract{}
	r.anyShape = newContract("", nil)
	for _, sh := range c.MetadataShapes {
		ct := newContract(sh.Kind, nil)
		if sh.Regex != "" {
			re, err := regexp.Compile(sh.Regex)
			if err != nil {
				return nil, fmt.Errorf("metadata_shapes: %w", err)
			}
			ct.re = re
		}
		for _, k := range sh.Keys {
			r.contracts[k] = ct
		}
	}
	for k := range r.t1.exact {
		if _, ok := r.contracts[k]; !ok {
			r.contracts[k] = newContract("", nil)
		}
	}
	for _, k := range r.ids {
		id, seen := r.idSlot[k]
		if !seen {
			id.bit = uint64(1) << len(r.idSlot)
		}
		id.times++
		r.idSlot[k] = id
	}
	for _, d := range c.SpanNameRules {
		cr, err := compileRule(d)
		if err != nil {
			return nil, fmt.Errorf("span_name_rules: %w", err)
		}
		r.names = append(r.names, cr)
	}
	seen := map[byte]bool{}
	for _, t := range c.MaskTokens {
		if t != "" && !seen[t[0]] {
			seen[t[0]] = true
			r.tokenFirst += t[:1]
		}
	}
	return r, nil
}

// processTraces visits every string- and bytes-carrying field of the OTLP trace model: resource
// (attributes, schema URL), scope (name, version, attributes, schema URL), span (name, trace state,
// attributes, status message), events (name, attributes) and links (trace state, attributes). Only
// trace and span ids, kinds, flags, timestamps and counts pass as they are.
func (r *redactor) processTraces(_ context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		r.attributes(rs.Resource().Attributes())
		r.entityRefs(rs.Resource())
		r.setLabel(rs.SchemaUrl(), rs.SetSchemaUrl)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			r.scope(ss.Scope())
			r.setLabel(ss.SchemaUrl(), ss.SetSchemaUrl)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				r.span(spans.At(k))
			}
		}
	}
	return td, nil
}

// entityRefs: a resource's entity references name an entity type, a schema URL and attribute keys
// (masked as the keys themselves were, so references still resolve).
func (r *redactor) entityRefs(res pcommon.Resource) {
	refs := entity.ResourceEntityRefs(res)
	for i := 0; i < refs.Len(); i++ {
		ref := refs.At(i)
		r.setLabel(ref.Type(), ref.SetType)
		r.setLabel(ref.SchemaUrl(), ref.SetSchemaUrl)
		for _, keys := range []pcommon.StringSlice{ref.IdKeys(), ref.DescriptionKeys()} {
			for j := 0; j < keys.Len(); j++ {
				if k := keys.At(j); !r.t1.has(k) {
					if m := r.maskKey(k); m != k {
						keys.SetAt(j, m)
					}
				}
			}
		}
	}
}

func (r *redactor) scope(sc pcommon.InstrumentationScope) {
	r.setLabel(sc.Name(), sc.SetName)
	r.setLabel(sc.Version(), sc.SetVersion)
	r.attributes(sc.Attributes())
}

// setLabel masks a short descriptive field (schema URL, scope name or version, event name, trace
// state) with the detectors, in every mode: these fields carry no content by design, but may carry
// PII by accident.
func (r *redactor) setLabel(s string, set func(string)) {
	if s == "" {
		return
	}
	if m := r.mask(s); m != s {
		set(m)
	}
}

// others redacts the span's fields other than its name and attributes: trace state, status message
// (content: masked and truncated, dropped in metadata-only mode), event names and attributes, link
// trace states and attributes. It returns the masks counted in event and link attributes (-1: none
// outside Tier 1), as attributes() does.
func (r *redactor) others(span ptrace.Span) int {
	if ts := span.TraceState(); ts.AsRaw() != "" {
		r.setLabel(ts.AsRaw(), ts.FromRaw)
	}
	if st := span.Status(); st.Message() != "" {
		if r.metadataOnly {
			st.SetMessage("")
		} else if m := truncate(r.mask(st.Message()), r.limit); m != st.Message() {
			st.SetMessage(m)
		}
	}
	masks := -1
	events := span.Events()
	for i := 0; i < events.Len(); i++ {
		e := events.At(i)
		r.setLabel(e.Name(), e.SetName)
		if n := r.attributes(e.Attributes()); n >= 0 {
			masks = max(masks, 0) + n
		}
	}
	links := span.Links()
	for i := 0; i < links.Len(); i++ {
		l := links.At(i)
		if ts := l.TraceState(); ts.AsRaw() != "" {
			r.setLabel(ts.AsRaw(), ts.FromRaw)
		}
		if n := r.attributes(l.Attributes()); n >= 0 {
			masks = max(masks, 0) + n
		}
	}
	return masks
}

func (r *redactor) span(span ptrace.Span) {
	attrs := span.Attributes()
	if r.metadataOnly { // the count is the number of keys dropped from the span itself
		dropped := max(r.attributes(attrs), 0)
		r.others(span)
		attrs.PutInt(r.countKey, int64(dropped))
		r.spanName(span)
		return
	}
	masks := r.attributes(attrs)
	if n := r.others(span); n >= 0 {
		masks = max(masks, 0) + n
	}
	if masks >= 0 {
		if v, ok := attrs.Get(r.countKey); ok && v.Type() == pcommon.ValueTypeInt {
			v.SetInt(v.Int() + int64(masks))
		} else {
			attrs.PutInt(r.countKey, int64(masks))
		}
	}
	r.spanName(span)
}

// attributes redacts one attribute map. It returns -1 when the map had nothing outside Tier 1,
// else the number of masks (redacted mode) or of keys dropped (metadata-only mode). A Tier 1 value
// that breaks its contract (conforms) is content, as if its key were not Tier 1.
func (r *redactor) attributes(attrs pcommon.Map) int {
	// identifiers hashed in the same pass (as hashIDs: the first of duplicate keys, as Map.Get finds it)
	hashing := len(r.idSlot) <= 64
	if !hashing {
		r.hashIDs(attrs)
	}
	var hashed uint64 // the identifier keys met
	hasRest := false
	var bad []string // Tier 1 keys whose value breaks its contract (almost always none)
	for k, v := range attrs.All() {
		if hashing {
			if id, ok := r.idSlot[k]; ok && hashed&id.bit == 0 {
				hashed |= id.bit
				for range id.times {
					r.hashID(v)
				}
			}
		}
		if c, t1 := r.contractOf(k); !t1 {
			hasRest = true
		} else if !r.conforms(c, v) {
			hasRest = true
			bad = append(bad, k)
		}
	}
	if !hasRest {
		return -1
	}
	for range bad {
		r.count(reasonContract)
	}
	keep := func(k string, _ pcommon.Value) bool { return r.t1.has(k) && (bad == nil || !slices.Contains(bad, k)) }
	if r.metadataOnly {
		before := attrs.Len()
		attrs.RemoveIf(func(k string, v pcommon.Value) bool { return !keep(k, v) })
		return before - attrs.Len()
	}
	rest := pcommon.NewMap()
	for k, v := range attrs.All() {
		if !keep(k, v) {
			flattenValue(rest, k, v, "")
		}
	}
	attrs.RemoveIf(func(k string, v pcommon.Value) bool { return !keep(k, v) })
	return r.content(rest, attrs)
}

// content masks the flattened values of rest (keys and string values by the detectors, bytes whole,
// strings truncated) into attrs, where a key already there wins. It returns the masks counted.
func (r *redactor) content(rest, attrs pcommon.Map) int {
	masks := 0
	for k, v := range rest.All() {
		if mk := r.maskKey(k); mk != k { // a key is free text too: PII in a key is masked like in a value
			k = mk
		}
		if v.Type() == pcommon.ValueTypeBytes { // opaque: masked whole, never scanned
			v.SetStr(BytesMask)
			r.count(reasonBytes)
		}
		if v.Type() == pcommon.ValueTypeStr {
			s := r.mask(v.Str())
			masks += r.countTokens(k) + r.countTokens(s)
			s = truncate(s, r.limit)
			if s != v.Str() {
				v.SetStr(s)
			}
		} else {
			masks += r.countTokens(k) + r.countTokens(v.AsString())
		}
		if _, exists := attrs.Get(k); !exists { // Tier 1 wins a key clash
			v.CopyTo(attrs.PutEmpty(k))
		}
	}
	return masks
}

var (
	reasonContract = metric.WithAttributes(attribute.String("reason", "contract"))
	reasonBytes    = metric.WithAttributes(attribute.String("reason", "bytes"))
)

// count records a value that could not be classified: a Tier 1 value that breaks its contract
// (made content), or a bytes value (masked whole). Both are rare; the alert GenAIRedactionUnclassified
// reads the counter (otelcol_genai_redaction_values_unclassified, by reason).
func (r *redactor) count(reason metric.AddOption) {
	if r.unclassified != nil {
		r.unclassified.Add(context.Background(), 1, reason)
	}
}

// conforms: whether the value of Tier 1 key k keeps its contract: its shape holds, and no
// high-confidence detector matches it (a string). The same verdict as the OTTL engine's
// statements (builders/redaction.py conforms) and the app-side redactor (Policy.conforms).
func (r *redactor) conforms(c *contract, v pcommon.Value) bool {
	if v.Type() == pcommon.ValueTypeEmpty {
		return true
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		if c.kind == "bool" {
			return false
		}
		return r.conformsStr(c, v.Str())
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble:
		return c.kind == "" || c.kind == "num"
	case pcommon.ValueTypeBool:
		return c.kind == "" || c.kind == "bool"
	case pcommon.ValueTypeSlice:
		if c.kind == "" {
			return true
		}
		if c.kind != "strlist" {
			return false
		}
		j, err := listJSON(v.Slice()) // as OTTL's IsMatch sees a list
		if err != nil {
			return false
		}
		return c.lists.ofBytes(j, func() bool { return c.re.Match(j) }) // lists repeat: ["stop"]
	default: // bytes, maps
		return c.kind == ""
	}
}

// contractOf: whether k is Tier 1, and its contract (every exact Tier 1 key has one; a key under a
// prefix, x.*, has no shape: the high-confidence check only). One lookup for the common case.
func (r *redactor) contractOf(k string) (*contract, bool) {
	if c, ok := r.contracts[k]; ok {
		return c, true
	}
	if r.t1.has(k) {
		return r.anyShape, true
	}
	return nil, false
}

func (r *redactor) conformsStr(c *contract, s string) bool {
	return c.strs.of(s, func(s string) bool { return r.conformsStrUncached(c, s) })
}

func (r *redactor) conformsStrUncached(c *contract, s string) bool {
	ok := c.re == nil || c.re.MatchString(s)
	if ok && len(r.hc) > 0 {
		t := newText(s)
		for _, d := range r.hc {
			if d.matches(t) {
				ok = false
				break
			}
		}
	}
	return ok
}

// maskKey: the detectors applied to a key outside Tier 1 (cached).
func (r *redactor) maskKey(k string) string { return r.keys.of(k, r.mask) }

// mask applies every detector. Text that may be percent-encoded (URLs, query strings: %XX, or + for
// a space beside an =) is also masked decoded; the decoded result wins when it masked something
// and leaves fewer letters and digits visible (the app-side redactor does the same).
func (r *redactor) mask(s string) string {
	out := r.maskPlain(s)
	if !maybeEncoded(s) {
		return out
	}
	if dec := percentDecode(s); dec != s {
		if m := r.maskPlain(dec); m != dec && r.visible(m) < r.visible(out) {
			return m
		}
	}
	return out
}

// visible: the ASCII letters and digits of s outside mask tokens.
func (r *redactor) visible(s string) int {
	for _, t := range r.tokens {
		s = strings.ReplaceAll(s, t, "")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; isDigit(rune(c)) || isLetter(rune(c)) {
			n++
		}
	}
	return n
}

func maybeEncoded(s string) bool {
	if i := strings.IndexByte(s, '%'); i >= 0 {
		for ; i >= 0 && i+2 < len(s); i = indexFrom(s, '%', i+1) {
			if isHex(s[i+1]) && isHex(s[i+2]) {
				return true
			}
		}
	}
	return strings.IndexByte(s, '+') >= 0 && strings.IndexByte(s, '=') >= 0
}

func indexFrom(s string, c byte, from int) int {
	if j := strings.IndexByte(s[from:], c); j >= 0 {
		return from + j
	}
	return -1
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// percentDecode: + becomes a space, %XX its byte (other % stay), invalid UTF-8 becomes U+FFFD (as
// Python's urllib.parse.unquote_plus(errors="replace") for valid input).
func percentDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	out := string(b)
	if !utf8.ValidString(out) {
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out
}

func (r *redactor) maskPlain(s string) string {
	if s == "" {
		return s
	}
	t := newText(s)
	for _, d := range r.detectors {
		d.apply(t)
	}
	return t.s
}

// spanName: the span name rules (the detectors and the id placeholders), like content: also on the
// name percent-decoded (the decoded result wins as in mask), and truncated to max_content_chars
// characters (the app-side redactor does the same).
func (r *redactor) spanName(span ptrace.Span) {
	name := span.Name()
	if name == "" {
		return
	}
	if out := r.spanNames.of(name, r.nameMasked); out != name { // names repeat: "chat gpt-4o"
		span.SetName(out)
	}
}

// nameMasked: the span name after the rules, percent-decoded too, and truncated.
func (r *redactor) nameMasked(name string) string {
	out := r.maskName(name)
	if maybeEncoded(name) {
		if dec := percentDecode(name); dec != name {
			if m := r.maskName(dec); m != dec && r.visible(m) < r.visible(out) {
				out = m
			}
		}
	}
	return truncate(out, r.limit)
}

func (r *redactor) maskName(name string) string {
	t := newText(name)
	for _, d := range r.names {
		d.apply(t)
	}
	return t.s
}

func (r *redactor) hashIDs(attrs pcommon.Map) {
	for _, k := range r.ids {
		if v, ok := attrs.Get(k); ok {
			r.hashID(v)
		}
	}
}

// idKey: an identifier key's bit in a set of the keys met, and how many times ids lists it (each
// listing hashes once more, as hashIDs does).
type idKey struct {
	bit   uint64
	times int
}

// hashID replaces an identifier's value (not an empty one) by its salted hash.
func (r *redactor) hashID(v pcommon.Value) {
	if v.Type() == pcommon.ValueTypeEmpty {
		return
	}
	sum := sha256.Sum256([]byte(r.salt + ":" + v.AsString()))
	v.SetStr("h_" + hex.EncodeToString(sum[:8]))
}

// countTokens: the mask tokens in s, each counted as strings.Count counts it (leftmost, not
// overlapping itself), in one pass over the places where a token can start instead of one per token.
func (r *redactor) countTokens(s string) int {
	i := r.nextTokenStart(s, 0)
	if i < 0 {
		return 0
	}
	var nextBuf [32]int
	next := nextBuf[:0] // per token: where its next occurrence may start (after its last one)
	if len(r.tokens) > len(nextBuf) {
		next = make([]int, 0, len(r.tokens))
	}
	next = next[:len(r.tokens)]
	n := 0
	for ; i >= 0; i = r.nextTokenStart(s, i+1) {
		for j, t := range r.tokens {
			if t != "" && i >= next[j] && strings.HasPrefix(s[i:], t) {
				n++
				next[j] = i + len(t)
			}
		}
	}
	return n
}

// nextTokenStart: the first index >= from where s holds a byte a mask token starts with, or -1.
func (r *redactor) nextTokenStart(s string, from int) int {
	if from >= len(s) || r.tokenFirst == "" {
		return -1
	}
	var i int
	if len(r.tokenFirst) == 1 {
		i = strings.IndexByte(s[from:], r.tokenFirst[0])
	} else {
		i = strings.IndexAny(s[from:], r.tokenFirst)
	}
	if i < 0 {
		return -1
	}
	return from + i
}

// truncate cuts s to at most limit characters (runes; an invalid byte counts as one), never
// splitting a UTF-8 sequence.
func truncate(s string, limit int) string {
	if len(s) <= limit { // at most limit bytes: at most limit characters
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i]
		}
		n++
	}
	return s
}

// flattenValue moves v into out under key, maps and lists becoming leaves with dotted keys
// ("a.b", "list.0"), exactly as OTTL's flatten() names them, so both engines emit the same keys.
func flattenValue(out pcommon.Map, k string, v pcommon.Value, prefix string) {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		flattenMap(out, v.Map(), prefix+k)
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		for i := 0; i < s.Len(); i++ {
			el, at := s.At(i), prefix+k+"."+strconv.Itoa(i)
			switch el.Type() {
			case pcommon.ValueTypeMap:
				flattenMap(out, el.Map(), at)
			case pcommon.ValueTypeSlice:
				inner := el.Slice()
				for j := 0; j < inner.Len(); j++ {
					flattenValue(out, strconv.Itoa(j), inner.At(j), at) // OTTL adds no "." here
				}
			default:
				el.CopyTo(out.PutEmpty(at))
			}
		}
	default:
		v.CopyTo(out.PutEmpty(prefix + k))
	}
}

func flattenMap(out pcommon.Map, m pcommon.Map, prefix string) {
	if prefix != "" {
		prefix += "."
	}
	for k, v := range m.All() {
		flattenValue(out, k, v, prefix)
	}
}
