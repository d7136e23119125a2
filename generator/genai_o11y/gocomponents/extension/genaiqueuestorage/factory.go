// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genaiqueuestorage is a storage extension for exporterhelper's persistent queue: an
// append-only log of checksummed frames, one per operation batch, with the index in memory. A
// queue writes each item once, reads it once and deletes it; a log does exactly that work, where a
// B+tree (bbolt, file_storage) rewrites the leaf holding the item, and its neighbours, on every
// change. See README.md.
package genaiqueuestorage

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
)

// Type is the component type as configs name it.
var Type = component.MustNewType("genai_queue_storage")

// NewFactory returns the genai_queue_storage extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(
		Type,
		func() component.Config { return createDefaultConfig() },
		func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			return newExtension(cfg.(*Config), set.Logger), nil
		},
		component.StabilityLevelBeta,
	)
}
