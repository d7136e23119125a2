// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// processLogs visits every string- and bytes-carrying field of the OTLP logs model: resource
// (attributes, schema URL, entity references), scope (name, version, attributes, schema URL) and
// log record (body of every shape, attributes, event name, severity text). Only trace and span
// ids, flags, severity numbers, timestamps and counts pass as they are.
func (r *redactor) processLogs(_ context.Context, ld plog.Logs) (plog.Logs, error) {
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		r.attributes(rl.Resource().Attributes())
		r.entityRefs(rl.Resource())
		r.setLabel(rl.SchemaUrl(), rl.SetSchemaUrl)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			r.scope(sl.Scope())
			r.setLabel(sl.SchemaUrl(), sl.SetSchemaUrl)
			records := sl.LogRecords()
			for k := 0; k < records.Len(); k++ {
				r.logRecord(records.At(k))
			}
		}
	}
	return ld, nil
}

// logRecord: the body is content (whatever its shape), the attributes as a span's, the event name
// and severity text are labels. The record counts its masks (or, metadata-only, the keys and body
// dropped) in the count attribute, as a span does.
func (r *redactor) logRecord(lr plog.LogRecord) {
	r.setLabel(lr.EventName(), lr.SetEventName)
	r.setLabel(lr.SeverityText(), lr.SetSeverityText)
	attrs := lr.Attributes()
	masks := r.attributes(attrs)
	if n := r.body(lr.Body()); n >= 0 {
		masks = max(masks, 0) + n
	}
	if masks < 0 {
		return
	}
	if v, ok := attrs.Get(r.countKey); ok && v.Type() == pcommon.ValueTypeInt && !r.metadataOnly {
		v.SetInt(v.Int() + int64(masks))
	} else {
		attrs.PutInt(r.countKey, int64(masks))
	}
}

// body redacts a log record's body (or a value in it) as content: a string masked and truncated, a
// bytes value masked whole, a map flattened and masked like attributes outside Tier 1, a list
// element by element. Metadata-only drops it. It returns -1 for a body without text (empty, a
// number, a bool), else the masks counted (metadata-only: 1, the body dropped).
func (r *redactor) body(b pcommon.Value) int {
	switch b.Type() {
	case pcommon.ValueTypeEmpty, pcommon.ValueTypeInt, pcommon.ValueTypeDouble, pcommon.ValueTypeBool:
		return -1
	}
	if r.metadataOnly {
		pcommon.NewValueEmpty().CopyTo(b)
		return 1
	}
	switch b.Type() {
	case pcommon.ValueTypeStr:
		s := r.mask(b.Str())
		masks := r.countTokens(s)
		if s = truncate(s, r.limit); s != b.Str() {
			b.SetStr(s)
		}
		return masks
	case pcommon.ValueTypeBytes: // opaque: masked whole, never scanned
		b.SetStr(BytesMask)
		r.count(reasonBytes)
		return 1
	case pcommon.ValueTypeMap:
		rest := pcommon.NewMap()
		flattenMap(rest, b.Map(), "")
		out := pcommon.NewMap()
		masks := r.content(rest, out)
		out.MoveTo(b.SetEmptyMap())
		return masks
	case pcommon.ValueTypeSlice:
		masks := 0
		s := b.Slice()
		for i := 0; i < s.Len(); i++ {
			masks += max(r.body(s.At(i)), 0)
		}
		return masks
	}
	pcommon.NewValueEmpty().CopyTo(b) // a value type OTLP may gain: fail closed
	r.count(reasonBytes)
	return 1
}
