// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genairedactionprocessor applies genai-o11y's tiered redaction policy to traces in one
// pass per span: identifiers hashed, Tier 1 kept, every other value flattened, masked by each
// detector whose gate holds, counted and truncated; span names masked. See README.md.
package genairedactionprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the metrics this processor makes.
const ScopeName = "github.com/genai-o11y/genai-o11y/collector/genairedactionprocessor"

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_redaction")

// NewFactory returns the genai_redaction processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelBeta),
		processor.WithLogs(createLogs, component.StabilityLevelBeta),
	)
}

func newInstrumentedRedactor(set processor.Settings, cfg component.Config) (*redactor, error) {
	r, err := newRedactor(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	if mp := set.TelemetrySettings.MeterProvider; mp != nil {
		if r.unclassified, err = mp.Meter(ScopeName).Int64Counter("otelcol_genai_redaction_values_unclassified",
			metric.WithDescription("Values the redaction stage could not classify, masked as content or whole, by reason (contract: a Tier 1 value that breaks its shape or holds a high-confidence match; bytes: an opaque value)."),
			metric.WithUnit("{value}")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	r, err := newInstrumentedRedactor(set, cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, r.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	r, err := newInstrumentedRedactor(set, cfg)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, r.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
