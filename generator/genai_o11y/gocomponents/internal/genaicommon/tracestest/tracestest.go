// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package tracestest runs one span through a traces processor (or one log record through a logs
// processor) in our components' Go tests.
package tracestest

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
)

// OneSpan builds one span and its resource with build, sends them through the traces processor the
// factory makes from cfg, and returns the resource spans that left it.
func OneSpan(t *testing.T, f processor.Factory, cfg component.Config, build func(rs ptrace.ResourceSpans, span ptrace.Span)) ptrace.ResourceSpans {
	t.Helper()
	sink := new(consumertest.TracesSink)
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	build(rs, rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	return sink.AllTraces()[0].ResourceSpans().At(0)
}

// OneRecord builds one log record and its resource with build, sends them through the logs
// processor the factory makes from cfg, and returns the resource logs that left it.
func OneRecord(t *testing.T, f processor.Factory, cfg component.Config, build func(rl plog.ResourceLogs, record plog.LogRecord)) plog.ResourceLogs {
	t.Helper()
	sink := new(consumertest.LogsSink)
	p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	build(rl, rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	if err := p.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	return sink.AllLogs()[0].ResourceLogs().At(0)
}
