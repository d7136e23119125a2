// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genaidimensionsprocessor bounds the label values of genai-o11y's span-derived metrics and
// sets the flags and metric-family markers they need, in one pass per span. It runs in the metrics
// branch only (traces keep their raw values). See README.md.
package genaidimensionsprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
)

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_dimensions")

// NewFactory returns the genai_dimensions processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		processor.WithTraces(createTraces, component.StabilityLevelBeta),
		processor.WithLogs(createLogs, component.StabilityLevelBeta),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	d, err := newDimensions(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, d.processLogs,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	d, err := newDimensions(cfg.(*Config))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, d.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}))
}
