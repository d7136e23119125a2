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
)

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_redaction")

// NewFactory returns the genai_redaction processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelBeta),
	)
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	r, err := newRedactor(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, r.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
