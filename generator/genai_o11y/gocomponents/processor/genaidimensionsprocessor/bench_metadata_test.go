// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaidimensionsprocessor

import (
	"context"
	"testing"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/benchload"
	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
)

// The load of bench/profile.py's metadata row (the shipped config, spans without content), in
// batches of 1024 spans as the sidecar's batch processor sends them:
// go test -run '^$' -bench MetadataLoad -benchmem
func BenchmarkMetadataLoad(b *testing.B) {
	d, err := newDimensions(configtest.Config(b, configEnv, createDefaultConfig()))
	if err != nil {
		b.Fatal(err)
	}
	const requests = 64 // 1024 spans
	batch := benchload.Metadata(requests)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer() // a processor changes its input: each round gets a fresh copy
		td := benchload.Copies(1, batch)[0]
		b.StartTimer()
		if _, err := d.processTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	spans := float64(b.N * requests * benchload.SpansPerRequest)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans/1000, "us/span")
}
