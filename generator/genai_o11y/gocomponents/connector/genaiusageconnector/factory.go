// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genaiusageconnector turns spans into genai-o11y's usage and quality metrics (tokens, cost,
// feedback, retrieval, evaluation, failures, per-tenant counters) as cumulative sums and histograms,
// in one pass per span, with a stream budget per metric. See README.md.
package genaiusageconnector

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
)

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_usage")

// NewFactory returns the genai_usage connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		connector.WithTracesToMetrics(createTracesToMetrics, component.StabilityLevelBeta),
	)
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newUsage(cfg.(*Config), set.TelemetrySettings, next)
}
