// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genainormaliseprocessor maps other instrumentations' attributes to the GenAI semantic
// conventions, infers genai-o11y's stage and tool outcome, and prices each model call, in one pass
// per span. See README.md.
package genainormaliseprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_normalise")

// NewFactory returns the genai_normalise processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelBeta),
		processor.WithLogs(createLogs, component.StabilityLevelBeta),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	n, err := newNormaliser(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, n.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	n, err := newNormaliser(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, n.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
