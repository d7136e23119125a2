// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genaiusageconnector turns spans into genai-o11y's usage and quality metrics (tokens, cost,
// feedback, retrieval, evaluation, failures, per-tenant counters) as cumulative sums and histograms,
// in one pass per span, with a stream budget per metric. See README.md.
package genaiusageconnector

import (
	"context"
	"sync"

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
		connector.WithLogsToMetrics(createLogsToMetrics, component.StabilityLevelBeta),
	)
}

// The collector makes one connector per pair of signals; traces and logs of one genai_usage share
// its streams (the same series fed by span events and by log records stay one cumulative series).
var shared = struct {
	sync.Mutex
	byID map[sharedKey]*sharedUsage
}{byID: map[sharedKey]*sharedUsage{}}

// sharedKey: the component and its config (the collector hands both signals the same *Config).
type sharedKey struct {
	id  component.ID
	cfg *Config
}

// sharedUsage: one usage behind both signals; started by the first Start, shut down by the last Shutdown.
type sharedUsage struct {
	*usage
	id      sharedKey
	refs    int
	started int
}

func (s *sharedUsage) Start(ctx context.Context, host component.Host) error {
	shared.Lock()
	defer shared.Unlock()
	s.started++
	if s.started > 1 {
		return nil
	}
	return s.usage.Start(ctx, host)
}

func (s *sharedUsage) Shutdown(ctx context.Context) error {
	shared.Lock()
	defer shared.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(shared.byID, s.id)
	return s.usage.Shutdown(ctx)
}

func sharedFor(set connector.Settings, cfg component.Config, next consumer.Metrics) (*sharedUsage, error) {
	shared.Lock()
	defer shared.Unlock()
	key := sharedKey{set.ID, cfg.(*Config)}
	if s, ok := shared.byID[key]; ok {
		s.refs++
		return s, nil
	}
	u, err := newUsage(cfg.(*Config), set.TelemetrySettings, next)
	if err != nil {
		return nil, err
	}
	s := &sharedUsage{usage: u, id: key, refs: 1}
	shared.byID[key] = s
	return s, nil
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return sharedFor(set, cfg, next)
}

func createLogsToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Logs, error) {
	return sharedFor(set, cfg, next)
}
