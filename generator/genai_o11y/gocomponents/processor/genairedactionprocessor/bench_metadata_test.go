// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"context"
	"strconv"
	"testing"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/benchload"
)

// The load of bench/profile.py's metadata row (the shipped config, spans without content), in
// batches of 1024 spans as the sidecar's batch processor sends them:
// go test -run '^$' -bench MetadataLoad -benchmem
func BenchmarkMetadataLoad(b *testing.B) {
	r, err := newRedactor(policyConfig(b))
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
		if _, err := r.processTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	spans := float64(b.N * requests * benchload.SpansPerRequest)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans/1000, "us/span")
}

// The caches' worst case: every span name and document-id list seen once (a name with an id in it,
// lists in a new order), so every lookup misses and every answer is stored, then dropped when the
// cache is full.
func BenchmarkMetadataLoadUniqueNames(b *testing.B) {
	r, err := newRedactor(policyConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	const requests = 64 // 1024 spans
	batch := benchload.Metadata(requests)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := benchload.Copies(1, batch)[0]
		spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for k := 0; k < spans.Len(); k++ {
			n++
			s := spans.At(k)
			s.SetName("GET /orders/" + strconv.Itoa(n))
			if ids, ok := s.Attributes().Get("genai_o11y.retrieval.document_ids"); ok {
				ids.Slice().AppendEmpty().SetStr("kb-" + strconv.Itoa(n))
			}
		}
		b.StartTimer()
		if _, err := r.processTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
	spans := float64(b.N * requests * benchload.SpansPerRequest)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/spans/1000, "us/span")
}
