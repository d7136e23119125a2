// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"reflect"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
	"go.opentelemetry.io/collector/processor/processortest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/tracestest"
)

func exampleConfig(t *testing.T) *Config {
	t.Setenv("GENAI_REDACTION_CONFIG", configtest.Example)
	return policyConfig(t)
}

// policyConfig: $GENAI_REDACTION_CONFIG (genai-o11y's tests point it at the config generated from
// the embedded policy) or testdata/config.yaml.
func policyConfig(t testing.TB) *Config {
	cfg := createDefaultConfig()
	configtest.Load(t, "GENAI_REDACTION_CONFIG", cfg)
	if cfg.Salt == "" || strings.Contains(cfg.Salt, "${") {
		cfg.Salt = "test-salt"
	}
	return cfg
}

// run sends one span through a processor made by the factory and returns it.
func run(t *testing.T, cfg *Config, build func(rs ptrace.ResourceSpans, span ptrace.Span)) (pcommon.Map, ptrace.Span) {
	t.Helper()
	out := tracestest.OneSpan(t, NewFactory(), cfg, build)
	return out.Resource().Attributes(), out.ScopeSpans().At(0).Spans().At(0)
}

func str(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	if !ok {
		t.Fatalf("no %q in %v", k, m.AsRaw())
	}
	return v.AsString()
}

func maskCount(t *testing.T, span ptrace.Span) int64 {
	t.Helper()
	v, ok := span.Attributes().Get("genai_o11y.redaction.count")
	if !ok {
		return -1
	}
	return v.Int()
}

func TestIdentifiersHashedTier1KeptContentMasked(t *testing.T) {
	res, span := run(t, exampleConfig(t), func(rs ptrace.ResourceSpans, s ptrace.Span) {
		rs.Resource().Attributes().PutStr("service.name", "copilot")
		rs.Resource().Attributes().PutStr("host.owner", "ops@example.com")
		s.Attributes().PutStr("user.id", "u-42")
		s.Attributes().PutStr("gen_ai.request.model", "gpt-4o@2024-08-06") // Tier 1, in its shape: verbatim
		s.Attributes().PutInt("gen_ai.usage.input_tokens", 12)
		s.Attributes().PutStr("gen_ai.prompt", "I am jane@example.com, card 4111 1111 1111 1111, +44 20 7946 0958")
		s.Attributes().PutStr("note", "https://bob:hunter2@db.internal/x")
	})
	sum := sha256.Sum256([]byte("test-salt:u-42"))
	if got, want := str(t, span.Attributes(), "user.id"), "h_"+hex.EncodeToString(sum[:])[:16]; got != want {
		t.Errorf("user.id = %q, want %q", got, want)
	}
	if got := str(t, span.Attributes(), "gen_ai.request.model"); got != "gpt-4o@2024-08-06" {
		t.Errorf("Tier 1 value changed: %q", got)
	}
	if got := str(t, span.Attributes(), "gen_ai.prompt"); got != "I am <EMAIL>, card <CARD>, <PHONE>" {
		t.Errorf("gen_ai.prompt = %q", got)
	}
	if got := str(t, span.Attributes(), "note"); got != "https://<CREDENTIALS>@db.internal/x" {
		t.Errorf("note = %q", got)
	}
	if got := maskCount(t, span); got != 4 {
		t.Errorf("count = %d, want 4", got)
	}
	if got := str(t, res, "host.owner"); got != "<EMAIL>" {
		t.Errorf("resource host.owner = %q", got)
	}
	if got := str(t, res, "service.name"); got != "copilot" {
		t.Errorf("resource service.name = %q", got)
	}
}

func TestNestedValuesFlattenedTruncatedAndTier1WinsClash(t *testing.T) {
	_, span := run(t, exampleConfig(t), func(_ ptrace.ResourceSpans, s ptrace.Span) {
		s.Attributes().PutStr("gen_ai.request.model", "m1")
		msgs := s.Attributes().PutEmptySlice("messages")
		msgs.AppendEmpty().SetEmptyMap().PutStr("content", "reach me: jane@example.com")
		msgs.AppendEmpty().SetStr("IBAN DE89 3704 0044 0532 0130 00 thanks")
		nested := s.Attributes().PutEmptyMap("gen_ai").PutEmptyMap("request")
		nested.PutStr("model", "not me")                       // flattens onto the Tier 1 key gen_ai.request.model
		s.Attributes().PutStr("long", strings.Repeat("é", 80)) // 160 bytes, 80 characters
		s.Attributes().PutEmptySlice("empty")
	})
	a := span.Attributes()
	if got := str(t, a, "messages.0.content"); got != "reach me: <EMAIL>" {
		t.Errorf("messages.0.content = %q", got)
	}
	if got := str(t, a, "messages.1"); got != "IBAN <IBAN> thanks" {
		t.Errorf("messages.1 = %q", got)
	}
	if got := str(t, a, "gen_ai.request.model"); got != "m1" {
		t.Errorf("Tier 1 lost the clash: %q", got)
	}
	if got := str(t, a, "long"); got != strings.Repeat("é", 64) { // max_content_chars: 64 characters
		t.Errorf("long = %q (%d bytes), want 64 characters", got, len(got))
	}
	for _, gone := range []string{"messages", "empty", "gen_ai"} {
		if _, ok := a.Get(gone); ok {
			t.Errorf("%q still present: %v", gone, a.AsRaw())
		}
	}
	if got := maskCount(t, span); got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
}

func TestSpansWithOnlyTier1AreUntouchedAndEventsCountIntoTheSpan(t *testing.T) {
	_, span := run(t, exampleConfig(t), func(_ ptrace.ResourceSpans, s ptrace.Span) {
		s.SetName("GET /users/12345/orders/99")
		s.Attributes().PutStr("gen_ai.request.model", "m1")
		ev := s.Events().AppendEmpty()
		ev.Attributes().PutStr("exception.message", "no user jane@example.com")
	})
	if got := str(t, span.Events().At(0).Attributes(), "exception.message"); got != "no user <EMAIL>" {
		t.Errorf("event = %q", got)
	}
	if got := maskCount(t, span); got != 1 {
		t.Errorf("count = %d, want 1 (from the event)", got)
	}
	if got := span.Name(); got != "GET /users/<ID>/orders/99" {
		t.Errorf("name = %q", got)
	}
	_, plain := run(t, exampleConfig(t), func(_ ptrace.ResourceSpans, s ptrace.Span) {
		s.SetName("retrieval")
		s.Attributes().PutStr("gen_ai.request.model", "m1")
	})
	if got := maskCount(t, plain); got != -1 || plain.Name() != "retrieval" || plain.Attributes().Len() != 1 {
		t.Errorf("a Tier-1-only span changed: count %d, %q, %v", got, plain.Name(), plain.Attributes().AsRaw())
	}
}

func TestMetadataOnlyDropsContentAndCountsDroppedKeys(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Mode = modeMetadataOnly
	_, span := run(t, cfg, func(_ ptrace.ResourceSpans, s ptrace.Span) {
		s.Attributes().PutStr("gen_ai.request.model", "m1")
		s.Attributes().PutStr("gen_ai.prompt", "hello")
		s.Attributes().PutStr("x", "y")
		s.Events().AppendEmpty().Attributes().PutStr("exception.message", "z")
	})
	if got := span.Attributes().AsRaw(); len(got) != 2 || got["gen_ai.request.model"] != "m1" || got["genai_o11y.redaction.count"] != int64(2) {
		t.Errorf("attributes = %v", got)
	}
	if span.Events().At(0).Attributes().Len() != 0 {
		t.Errorf("event content kept: %v", span.Events().At(0).Attributes().AsRaw())
	}
}

func TestGateKeepsADetectorOff(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Detectors = []Rule{{Name: "WORD", Regex: `secret`, Mask: "<X>", RequiresAny: []string{"never"}}}
	_, span := run(t, cfg, func(_ ptrace.ResourceSpans, s ptrace.Span) { s.Attributes().PutStr("a", "a secret") })
	if got := str(t, span.Attributes(), "a"); got != "a secret" {
		t.Errorf("the gate did not hold, yet the detector ran: %q", got)
	}
	cfg.Detectors[0].RequiresAny = []string{"secr"}
	_, span = run(t, cfg, func(_ ptrace.ResourceSpans, s ptrace.Span) { s.Attributes().PutStr("a", "a SECRET secret") })
	if got := str(t, span.Attributes(), "a"); got != "a SECRET <X>" {
		t.Errorf("gate on the lowercased text: %q", got)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Salt = ""
	cfg.Mode = "loose"
	cfg.Detectors[2].Regex = "[a-"
	cfg.SpanNameRules[0].RequiresMatch = "("
	cfg.Detectors[1].RequiresAny = []string{"AT"}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"salt: empty", `mode: "loose"`, "detectors[2].regex (IBAN): does not compile", "span_name_rules[0].requires_match (NUMERIC_ID)", "detectors[1].requires_any[0] (EMAIL)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// samples that some detector of the default policy matches, embedded into random text below.
var samples = []string{
	"jane.doe@example.com", "+44 20 7946 0958", "(555) 123-4567", "030 1234 5678", "01 23 45 67 89",
	"4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819",
	"123-45-6789", "192.168.10.254", "2001:db8:85a3::8a2e:370:7334", "fe80:0:0:0:202:b3ff:fe1e:8329",
	"sk-proj-abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE", "ghp_" + strings.Repeat("a1", 18), "xoxb-1234567890-abc",
	"AIza" + strings.Repeat("B", 35), "eyJhbGciOi.eyJzdWIiOi.SflKxwRJSM", "Bearer abc.def-ghi~jkl", "https://u:p@h.io/",
	"/users/12345/", "/orders/987", "123e4567-e89b-12d3-a456-426614174000",
}

const filler = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;-+()/@_ \n\t"

func randomText(rng *rand.Rand) string {
	var b strings.Builder
	n := rng.Intn(1500)
	for b.Len() < n {
		if rng.Intn(60) == 0 {
			b.WriteString(samples[rng.Intn(len(samples))])
		} else {
			b.WriteByte(filler[rng.Intn(len(filler))])
		}
	}
	return b.String()
}

func TestNeededBytes(t *testing.T) {
	email := newScanner(regexp.MustCompile(`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b`))
	if email.need == nil || *email.need != *toByteSet(&[256]bool{'@': true}) {
		t.Fatalf("EMAIL needs '@' only, got %v", email.need)
	}
	plain := presence("execute_tool search_kb")
	if email.match("execute_tool search_kb", &plain) {
		t.Error("a text without '@' cannot match EMAIL")
	}
	if negated := newScanner(regexp.MustCompile(`[^a]x?`)); negated.need != nil {
		t.Errorf("a negated class needs no ASCII byte: %v", negated.need)
	}
}

// The scanner must never say "no match" where the regexp matches: that would skip a detector.
func TestScannerIsSoundOnThePolicy(t *testing.T) {
	cfg := policyConfig(t)
	var res []*regexp.Regexp
	var masks []string
	for _, r := range append(append([]Rule{}, cfg.Detectors...), cfg.SpanNameRules...) {
		res, masks = append(res, regexp.MustCompile(r.Regex)), append(masks, r.Mask)
		if r.RequiresMatch != "" {
			res, masks = append(res, regexp.MustCompile(r.RequiresMatch)), append(masks, "<G>")
		}
	}
	rng := rand.New(rand.NewSource(7))
	windowed, runs, matched := 0, 0, 0
	for k, re := range res {
		sc := newScanner(re)
		if sc.anchors != nil {
			windowed++
		}
		if sc.alpha != nil {
			runs++
		}
		for i := 0; i < 3000; i++ {
			s := randomText(rng)
			if rng.Intn(2) == 0 {
				s = strings.ToLower(s)
			}
			want := re.MatchString(s)
			if want {
				matched++
			}
			present := presence(s)
			if got := sc.match(s, &present); want && !got || sc.alpha != nil && got != want {
				t.Fatalf("%s: the scanner says %v, the regexp %v, in %q", re, got, want, s)
			}
			// replacing on the runs gives exactly what replacing on the whole text gives
			if got, want := sc.replaceAll(s, masks[k]), re.ReplaceAllString(s, masks[k]); got != want {
				t.Fatalf("%s: replaced on runs %q, on the text %q", re, got, want)
			}
		}
	}
	if windowed < len(res)/3 || runs < len(res)/2 || matched < 1000 {
		t.Fatalf("test too weak: %d of %d patterns windowed, %d with runs, %d matching texts", windowed, len(res), runs, matched)
	}
}

func TestScannerAnalysis(t *testing.T) {
	for _, c := range []struct {
		re      string
		windows bool
		maxLen  int
		runs    bool
	}{
		{`[a-z]{2}[0-9]{2}`, true, 4, true},
		{`\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`, true, 11, true},
		{`\+[0-9]{1,3}|\(?\b[0-9]{3}\)?`, true, 5, true},
		{`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b`, false, 0, true}, // unbounded, but its alphabet is known
		{`[a-z]{2}x?`, false, 0, true},                                         // anchors too common
		{`(?i)bearer`, true, 6, true},                                          // b folds to B only
		{`(?i)ks`, false, 0, false},                                            // k and s also fold to non-ASCII runes
		{`é[0-9]`, true, 3, false},                                             // the digit anchors, the é counts two bytes
		{`[^a]{3}`, false, 0, false},                                           // a negated class has no ASCII anchor set
		{`a.b`, true, 6, false},                                                // any character: no alphabet
		{`x*`, false, 0, false},                                                // matches the empty string
	} {
		sc := newScanner(regexp.MustCompile(c.re))
		if alpha := sc.alpha != nil; alpha != c.runs {
			t.Errorf("%s: runs %v, want %v", c.re, alpha, c.runs)
		}
		if sc.need == nil && c.windows {
			t.Errorf("%s: windows without a needed byte set", c.re)
		}
		if (sc.anchors != nil) != c.windows || (c.windows && sc.maxLen != c.maxLen) {
			t.Errorf("%s: windows %v maxLen %d, want %v %d", c.re, sc.anchors != nil, sc.maxLen, c.windows, c.maxLen)
		}
	}
}

// Every string- and bytes-carrying field of the trace model is redacted, not only attributes.
func TestEveryFieldIsRedacted(t *testing.T) {
	const pii = "jane.doe@example.com"
	for _, mode := range []string{modeRedacted, modeMetadataOnly} {
		cfg := exampleConfig(t)
		cfg.Mode = mode
		sink := new(consumertest.TracesSink)
		p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
		if err != nil {
			t.Fatal(err)
		}
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://x/" + pii)
		rs.Resource().Attributes().PutStr("app."+pii, "k")
		ref := entity.ResourceEntityRefs(rs.Resource()).AppendEmpty()
		ref.SetType("t " + pii)
		ref.SetSchemaUrl("https://e/" + pii)
		ref.IdKeys().Append("app." + pii)
		ref.DescriptionKeys().Append("d " + pii)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.SetSchemaUrl("https://s/" + pii)
		ss.Scope().SetName("scope " + pii)
		ss.Scope().SetVersion("v " + pii)
		ss.Scope().Attributes().PutStr("note", pii)
		s := ss.Spans().AppendEmpty()
		s.SetName("n " + pii)
		s.TraceState().FromRaw("v=" + pii)
		s.Status().SetMessage("failed for " + pii)
		s.Attributes().PutEmptyBytes("blob").FromRaw([]byte(pii))
		s.Attributes().PutEmptySlice("list").AppendEmpty().SetEmptyBytes().FromRaw([]byte(pii))
		e := s.Events().AppendEmpty()
		e.SetName("event " + pii)
		e.Attributes().PutEmptyMap("m").PutStr(pii, pii)
		l := s.Links().AppendEmpty()
		l.TraceState().FromRaw("w=" + pii)
		l.Attributes().PutStr("note", pii)
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		out := sink.AllTraces()[0]
		m := &ptrace.ProtoMarshaler{}
		raw, err := m.MarshalTraces(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), pii) {
			j, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(out)
			t.Fatalf("%s: PII left in %s", mode, j)
		}
		got := out.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		if mode == modeRedacted {
			if got.Status().Message() != "failed for <EMAIL>" || str(t, got.Attributes(), "blob") != BytesMask || str(t, got.Attributes(), "list.0") != BytesMask {
				t.Fatalf("%s: %v %v", mode, got.Status().Message(), got.Attributes().AsRaw())
			}
			if _, ok := got.Links().At(0).Attributes().Get("note"); !ok || str(t, got.Events().At(0).Attributes(), "<EMAIL>") != "<EMAIL>" {
				t.Fatalf("%v %v", got.Links().At(0).Attributes().AsRaw(), got.Events().At(0).Attributes().AsRaw())
			}
		} else if got.Status().Message() != "" {
			t.Fatalf("metadata-only kept the status message %q", got.Status().Message())
		}
		if got.Events().At(0).Name() != "event <EMAIL>" || got.TraceState().AsRaw() != "v=<EMAIL>" {
			t.Fatalf("%s: %q %q", mode, got.Events().At(0).Name(), got.TraceState().AsRaw())
		}
	}
}

// max_content_chars counts characters, not bytes, and never splits a UTF-8 sequence.
func TestTruncationCountsCharacters(t *testing.T) {
	for _, c := range []struct {
		in    string
		limit int
		want  string
	}{
		{strings.Repeat("ü", 10), 4, "üüüü"},
		{strings.Repeat("日", 10), 3, "日日日"},
		{"ab😀cd", 3, "ab😀"},
		{"abc", 3, "abc"},
		{"a\xffbc", 2, "a\xff"},
		{strings.Repeat("ü", 3), 4, "üüü"},
	} {
		if got := truncate(c.in, c.limit); got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}

// A Tier 1 value that breaks its key's shape, or holds a high-confidence match, is content.
func TestTier1ContractsMakeBadValuesContent(t *testing.T) {
	for _, mode := range []string{modeRedacted, modeMetadataOnly} {
		cfg := exampleConfig(t)
		cfg.Mode = mode
		_, span := run(t, cfg, func(_ ptrace.ResourceSpans, s ptrace.Span) {
			a := s.Attributes()
			a.PutStr("genai_o11y.stage", "model_call")
			a.PutStr("gen_ai.usage.note", "free text under a prefix") // a prefix key has no contract
			a.PutStr("service.name", "ops jane.doe@example.com")      // no shape, but a high-confidence match
			a.PutStr("gen_ai.request.model", "call me at jane.doe@example.com")
			a.PutEmptySlice("gen_ai.response.finish_reasons").FromRaw([]any{"stop", "Length!"})
			a.PutStr("gen_ai.request.seed", "42")
			a.PutStr("genai_o11y.cost.unpriced", "true") // a string, not a bool
		})
		a := span.Attributes()
		if mode == modeMetadataOnly {
			for _, k := range []string{"service.name", "gen_ai.request.model", "gen_ai.response.finish_reasons", "genai_o11y.cost.unpriced"} {
				if _, ok := a.Get(k); ok {
					t.Errorf("metadata-only kept %s: %v", k, a.AsRaw())
				}
			}
			if str(t, a, "gen_ai.request.seed") != "42" || maskCount(t, span) != 4 {
				t.Errorf("%v", a.AsRaw())
			}
			continue
		}
		want := map[string]string{
			"genai_o11y.stage": "model_call", "gen_ai.usage.note": "free text under a prefix", "service.name": "ops <EMAIL>",
			"gen_ai.request.model": "call me at <EMAIL>", "gen_ai.response.finish_reasons.0": "stop",
			"gen_ai.response.finish_reasons.1": "Length!", "gen_ai.request.seed": "42", "genai_o11y.cost.unpriced": "true",
		}
		for k, v := range want {
			if got := str(t, a, k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if maskCount(t, span) != 2 {
			t.Errorf("count %d", maskCount(t, span))
		}
	}
}

func TestTier1ContractsKeepGoodValues(t *testing.T) {
	r, err := newRedactor(exampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	v := pcommon.NewValueEmpty()
	v.SetEmptySlice().FromRaw([]any{"stop", "length"})
	for _, c := range []struct {
		k    string
		v    pcommon.Value
		want bool
	}{
		{"gen_ai.request.model", pcommon.NewValueStr("gpt-4o-2024-08-06"), true},
		{"gen_ai.request.model", pcommon.NewValueStr("gpt 4o"), false},
		{"gen_ai.request.model", pcommon.NewValueInt(4), false},
		{"gen_ai.request.seed", pcommon.NewValueInt(4111111111111111), true},
		{"gen_ai.request.seed", pcommon.NewValueDouble(0.5), true},
		{"gen_ai.request.seed", pcommon.NewValueStr("x"), false},
		{"gen_ai.request.seed", pcommon.NewValueBool(true), false},
		{"genai_o11y.cost.unpriced", pcommon.NewValueBool(true), true},
		{"gen_ai.response.finish_reasons", v, true},
		{"gen_ai.response.finish_reasons", pcommon.NewValueStr("stop"), false},
		{"service.name", pcommon.NewValueStr("copilot"), true},
		{"service.name", pcommon.NewValueBytes(), true},
	} {
		for range 2 { // the second answer comes from the cache
			ct, t1 := r.contractOf(c.k)
			if !t1 {
				t.Fatalf("%s is not Tier 1", c.k)
			}
			if got := r.conforms(ct, c.v); got != c.want {
				t.Errorf("conforms(%s, %v) = %v, want %v", c.k, c.v.AsRaw(), got, c.want)
			}
		}
	}
}

func TestAnchoredPatternsScanOnlyAtTheStart(t *testing.T) {
	for _, c := range []struct {
		re   string
		want bool
	}{{`^\s*[A-Za-z0-9+/]{100,}={0,2}\s*$`, true}, {`(^a)b`, true}, {`a^`, false}, {`(?m)^a`, false}, {`[a-z]+`, false}} {
		parsed, err := syntax.Parse(c.re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := startsAtBeginning(parsed); got != c.want {
			t.Errorf("startsAtBeginning(%q) = %v", c.re, got)
		}
	}
	sc := newScanner(regexp.MustCompile(`^\s*[A-Za-z0-9+/]{100,}={0,2}\s*$`))
	blob := strings.Repeat("QUJD", 40)
	for _, s := range []string{blob, " " + blob + "==\n", "x " + blob, blob + " y"} {
		p := presence(s)
		if got, want := sc.match(s, &p), sc.re.MatchString(s); got != want {
			t.Errorf("match(%q) = %v, want %v", s[:8], got, want)
		}
	}
}

func TestMinDigits(t *testing.T) {
	for re, want := range map[string]int{
		`\b(?:4[0-9]{3}|5[1-5][0-9]{2})[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{1,7}\b`: 13,
		`\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b`:                                            9, `[0-9a-f]{4}`: 0, `a|[0-9]{2}`: 0, `(?:1|22)+x*`: 1, `[0-9]?`: 0,
	} {
		parsed, err := syntax.Parse(re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := minDigits(parsed.Simplify()); got != want {
			t.Errorf("minDigits(%q) = %d, want %d", re, got, want)
		}
	}
}

// Values that cannot be classified are counted by reason (the alert GenAIRedactionUnclassified).
func TestUnclassifiedValuesAreCounted(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	set := processortest.NewNopSettings(Type)
	set.TelemetrySettings.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), set, exampleConfig(t), sink)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.Attributes().PutStr("gen_ai.request.model", "not a model id")
	s.Attributes().PutEmptyBytes("blob").FromRaw([]byte("x"))
	s.Attributes().PutEmptyBytes("blob2").FromRaw([]byte("y"))
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "otelcol_genai_redaction_values_unclassified" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				reason, _ := dp.Attributes.Value("reason")
				got[reason.AsString()] += dp.Value
			}
		}
	}
	if got["contract"] != 1 || got["bytes"] != 2 {
		t.Fatalf("counted %v", got)
	}
}

func TestMinLetters(t *testing.T) {
	for re, want := range map[string]int{`[a-z]{2}[0-9]{2}`: 2, `\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}`: 2, `(?i)ab`: 2, `(?i)sk`: 0, `[a-z0-9]+`: 0, `x|yz`: 1} {
		parsed, err := syntax.Parse(re, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := minCount(parsed, isLetter); got != want {
			t.Errorf("minCount(%q, letters) = %d, want %d", re, got, want)
		}
	}
}

// Percent-encoded text is checked decoded too: PII visible only decoded is masked (the value
// becomes the decoded text, masked); encoded text without PII stays as it came.
func TestPercentEncodedTextIsCheckedDecoded(t *testing.T) {
	r, err := newRedactor(exampleConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"q=4111+1111+1111+1111&x=1":                    "q=<CARD>&x=1",
		"card%3A%204111%201111%201111%201111":          "card: <CARD>",
		"u=postgres%3A%2F%2Fadmin%3As3cr3t%40db%2Fapp": "u=postgres://<CREDENTIALS>@db/app",
		"top_p=0.95&q=refund+policy":                   "top_p=0.95&q=refund+policy",
		"a%zz%4":                                       "a%zz%4",
		"mail%20jane%40example.com":                    "mail <EMAIL>",
	} {
		if got := r.mask(in); got != want {
			t.Errorf("mask(%q) = %q, want %q", in, got, want)
		}
	}
	if got := percentDecode("%C3%BC%FF+x"); got != "ü\uFFFD x" {
		t.Errorf("percentDecode = %q", got)
	}
}

// The configs in testdata/ (configtest.Testdata): the generated one, the example, the invalid ones.
func TestTestdataConfigs(t *testing.T) {
	configtest.Testdata(t, "GENAI_REDACTION_CONFIG", createDefaultConfig, func(t *testing.T) *Config { return policyConfig(t) })
}

// Span names are masked like content: percent-decoded too, and cut to max_content_chars characters.
func TestSpanNamesLikeContent(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.MaxContentChars = 64
	for name, want := range map[string]func(string) bool{
		"GET /search?q=jane.doe%40example.com": func(s string) bool { return !strings.Contains(s, "jane.doe") && strings.Contains(s, "<EMAIL>") },
		"GET /u/jane%2Edoe%40example%2Ecom":    func(s string) bool { return !strings.Contains(s, "jane") && strings.Contains(s, "<EMAIL>") },
		strings.Repeat("ü", 100):               func(s string) bool { return s == strings.Repeat("ü", 64) },
		"execute_tool search_kb":               func(s string) bool { return s == "execute_tool search_kb" },
	} {
		_, span := run(t, cfg, func(_ ptrace.ResourceSpans, span ptrace.Span) { span.SetName(name) })
		if !want(span.Name()) {
			t.Errorf("%q -> %q", name, span.Name())
		}
	}
}

// The redactor remembers span names masked, keys masked and Tier 1 verdicts (cache.go): every
// value seen again (in the same batch, in the next) comes out exactly as a fresh redactor, which
// has remembered nothing, makes it. Lists that a naive join would confuse are among them.
func TestRememberedAnswersAreTheComputedOnes(t *testing.T) {
	cfg := exampleConfig(t)
	names := []string{"chat gpt-4o", "GET /search?q=jane.doe%40example.com", "n jane@example.com", strings.Repeat("ü", 100), "execute_tool search_kb"}
	lists := [][]any{{"stop"}, {"stop", "length"}, {"Stop!"}, {"a", "b"}, {"a,b"}, {"1:a"}, {}, {"jane@example.com"}, {"stop", 1}}
	build := func(td ptrace.Traces, i int) {
		s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty()
		s.SetName(names[i%len(names)])
		s.Attributes().PutEmptySlice("gen_ai.response.finish_reasons").FromRaw(lists[i%len(lists)])
		s.Attributes().PutStr("gen_ai.request.model", []string{"gpt-4o", "gpt 4o", "jane@example.com"}[i%3])
		s.Attributes().PutStr([]string{"note", "mail jane@example.com", "user.id"}[i%3], "jane@example.com")
	}
	newTraces := func() ptrace.Traces {
		td := ptrace.NewTraces()
		td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
		return td
	}
	r, err := newRedactor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 2 * len(names) * len(lists) * 3
	for round := range 2 {
		td := newTraces()
		for i := range n {
			build(td, i)
		}
		if _, err := r.processTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			fresh, err := newRedactor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			one := newTraces()
			build(one, i)
			if _, err := fresh.processTraces(context.Background(), one); err != nil {
				t.Fatal(err)
			}
			got, want := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(i), one.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
			if got.Name() != want.Name() || !reflectEqual(got.Attributes().AsRaw(), want.Attributes().AsRaw()) {
				t.Fatalf("round %d span %d: %q %v, a fresh redactor: %q %v", round, i, got.Name(), got.Attributes().AsRaw(), want.Name(), want.Attributes().AsRaw())
			}
		}
	}
}

func reflectEqual(a, b map[string]any) bool { return reflect.DeepEqual(a, b) }

// listJSON is exactly encoding/json's text, by construction: every list of up to 3 elements over
// atoms on both sides of its fast path (plain ASCII; quotes, backslashes, the HTML characters
// encoding/json escapes, control bytes, non-ASCII, invalid UTF-8, U+2028; a number, a bool).
func TestListJSONIsEncodingJSON(t *testing.T) {
	atoms := []any{"", "stop", "kb-1", "a,b", "a\"b", "back\\slash", "<x>", "a&b", "\x01", "ü", "\xff", "\u2028", int64(1), true}
	n := 0
	var walk func(list []any)
	walk = func(list []any) {
		s := pcommon.NewSlice()
		if err := s.FromRaw(list); err != nil {
			t.Fatal(err)
		}
		got, err := listJSON(s)
		want, werr := json.Marshal(s.AsRaw())
		if (err == nil) != (werr == nil) || string(got) != string(want) {
			t.Fatalf("%q: listJSON %q (%v), encoding/json %q (%v)", list, got, err, want, werr)
		}
		n++
		if len(list) < 3 {
			for _, a := range atoms {
				walk(append(slices.Clone(list), a))
			}
		}
	}
	walk([]any{})
	if want := 1 + len(atoms) + len(atoms)*len(atoms) + len(atoms)*len(atoms)*len(atoms); n != want {
		t.Fatalf("%d lists checked, want %d", n, want)
	}
}

// Identifier keys listed twice are hashed twice, in the attribute pass as by hashIDs.
func TestIdentifiersHashedAsHashIDs(t *testing.T) {
	for _, ids := range [][]string{{"user.id"}, {"user.id", "user.id"}, {"user.id", "session.id", "user.id"}} {
		cfg := exampleConfig(t)
		cfg.IdentifierKeys = ids
		r, err := newRedactor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, b := pcommon.NewMap(), pcommon.NewMap()
		for _, m := range []pcommon.Map{a, b} {
			m.PutStr("user.id", "u-42")
			m.PutStr("session.id", "s-1")
			m.PutStr("gen_ai.request.model", "gpt-4o")
		}
		r.attributes(a)
		r.hashIDs(b)
		if !reflect.DeepEqual(a.AsRaw(), b.AsRaw()) {
			t.Errorf("ids %v: the pass gives %v, hashIDs %v", ids, a.AsRaw(), b.AsRaw())
		}
	}
}

// The caches are shared by the receiver's concurrent calls: batches redacted on 4 goroutines at
// once by one redactor come out as one goroutine makes them (run with -race to check the locking).
func TestConcurrentBatchesShareTheCaches(t *testing.T) {
	cfg := exampleConfig(t)
	build := func(seed int) ptrace.Traces {
		td := ptrace.NewTraces()
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for i := range 200 {
			s := spans.AppendEmpty()
			s.SetName([]string{"chat gpt-4o", "n jane@example.com", "GET /u/" + strconv.Itoa((seed+i)%7)}[i%3])
			s.Attributes().PutEmptySlice("gen_ai.response.finish_reasons").FromRaw([]any{[]string{"stop", "Stop!", "length"}[(seed+i)%3]})
			s.Attributes().PutStr("gen_ai.request.model", []string{"gpt-4o", "gpt 4o", "jane@example.com"}[(seed+i)%3])
			s.Attributes().PutStr("user.id", "u-"+strconv.Itoa(i%5))
		}
		return td
	}
	want := make([]ptrace.Traces, 4)
	for g := range want {
		fresh, err := newRedactor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		want[g], _ = fresh.processTraces(context.Background(), build(g))
	}
	shared, err := newRedactor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]ptrace.Traces, 4)
	done := make(chan struct{})
	for g := range got {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 5 {
				got[g], _ = shared.processTraces(context.Background(), build(g))
			}
		}()
	}
	for range got {
		<-done
	}
	m := &ptrace.JSONMarshaler{}
	for g := range got {
		a, _ := m.MarshalTraces(got[g])
		b, _ := m.MarshalTraces(want[g])
		if string(a) != string(b) {
			t.Errorf("goroutine %d: the shared redactor gave\n%s\na fresh one\n%s", g, a, b)
		}
	}
}
