// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/xpdata/entity"
	"go.opentelemetry.io/collector/processor/processortest"
)

// A secret in every text field of a log record and every body shape; none leaves, in either mode.
// (tests/test_redaction_coverage.py does the same by the OTLP descriptors, through the real collector.)
func TestEveryLogFieldIsRedacted(t *testing.T) {
	const pii = "jane.doe@example.com"
	shapes := map[string]func(b pcommon.Value){
		"str":   func(b pcommon.Value) { b.SetStr("hello " + pii) },
		"bytes": func(b pcommon.Value) { b.SetEmptyBytes().FromRaw([]byte(pii)) },
		"map": func(b pcommon.Value) {
			m := b.SetEmptyMap()
			m.PutStr("content", "write to "+pii)
			m.PutEmptyMap("inner").PutEmptyBytes(pii).FromRaw([]byte(pii))
			m.PutInt("n", 3)
		},
		"slice": func(b pcommon.Value) {
			s := b.SetEmptySlice()
			s.AppendEmpty().SetStr(pii)
			s.AppendEmpty().SetEmptyMap().PutStr(pii, pii)
			s.AppendEmpty().SetEmptySlice().AppendEmpty().SetEmptyBytes().FromRaw([]byte(pii))
		},
	}
	for _, mode := range []string{modeRedacted, modeMetadataOnly} {
		for shape, fill := range shapes {
			cfg := exampleConfig(t)
			cfg.Mode = mode
			sink := new(consumertest.LogsSink)
			p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(Type), cfg, sink)
			if err != nil {
				t.Fatal(err)
			}
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.SetSchemaUrl("https://x/" + pii)
			rl.Resource().Attributes().PutStr("service.owner_note", pii)
			ref := entity.ResourceEntityRefs(rl.Resource()).AppendEmpty()
			ref.SetType("t " + pii)
			ref.IdKeys().Append("app." + pii)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.SetSchemaUrl("https://s/" + pii)
			sl.Scope().SetName("scope " + pii)
			sl.Scope().SetVersion("v " + pii)
			sl.Scope().Attributes().PutStr("note", pii)
			lr := sl.LogRecords().AppendEmpty()
			lr.SetEventName("event " + pii)
			lr.SetSeverityText("sev " + pii)
			lr.Attributes().PutStr("gen_ai.request.model", "gpt-4o")
			lr.Attributes().PutEmptyBytes("blob").FromRaw([]byte(pii))
			lr.Attributes().PutEmptyMap("m").PutStr(pii, pii)
			fill(lr.Body())
			if err := p.ConsumeLogs(context.Background(), ld); err != nil {
				t.Fatal(err)
			}
			out := sink.AllLogs()[0]
			raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(out)
			if err != nil {
				t.Fatal(err)
			}
			got := out.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
			if strings.Contains(string(raw), pii) || strings.Contains(string(raw), "jane.doe") {
				j, _ := (&plog.JSONMarshaler{}).MarshalLogs(out)
				t.Fatalf("%s %s: PII left in %s", mode, shape, j)
			}
			if str(t, got.Attributes(), "gen_ai.request.model") != "gpt-4o" || got.EventName() != "event <EMAIL>" {
				t.Fatalf("%s %s: %v %q", mode, shape, got.Attributes().AsRaw(), got.EventName())
			}
			c, ok := got.Attributes().Get("genai_o11y.redaction.count")
			if !ok || c.Int() < 1 {
				t.Fatalf("%s %s: count %v", mode, shape, got.Attributes().AsRaw())
			}
			body := got.Body()
			switch {
			case mode == modeMetadataOnly:
				if body.Type() != pcommon.ValueTypeEmpty {
					t.Fatalf("metadata-only kept a %s body: %v", shape, body.AsRaw())
				}
			case shape == "str" && body.Str() != "hello <EMAIL>",
				shape == "bytes" && body.Str() != BytesMask,
				shape == "map" && (str(t, body.Map(), "content") != "write to <EMAIL>" || str(t, body.Map(), "<EMAIL>") != BytesMask),
				shape == "slice" && (body.Slice().Len() != 3 || body.Slice().At(0).Str() != "<EMAIL>" || body.Slice().At(2).Slice().At(0).Str() != BytesMask):
				t.Fatalf("%s body: %v", shape, body.AsRaw())
			}
		}
	}
}
