// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// verdicts remembers the answers of a pure function of a string (a key masked, a span name
// masked, a contract's verdict): the redactor's rules are fixed when it is built, so an answer
// remembered is the answer computed, and keys, names and Tier 1 values repeat from span to span.
// Bounded: full, it starts again empty (a high-cardinality name costs what it cost before).
type verdicts[V any] struct {
	mu    sync.RWMutex
	m     map[string]V
	limit int
}

func newVerdicts[V any](limit int) *verdicts[V] {
	return &verdicts[V]{m: map[string]V{}, limit: limit}
}

func (c *verdicts[V]) get(k string) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *verdicts[V]) put(k string, v V) {
	c.mu.Lock()
	if len(c.m) >= c.limit {
		clear(c.m)
	}
	c.m[k] = v
	c.mu.Unlock()
}

// of: the remembered answer for k, else f(k) remembered.
func (c *verdicts[V]) of(k string, f func(string) V) V {
	if v, ok := c.get(k); ok {
		return v
	}
	v := f(k)
	c.put(k, v)
	return v
}

// stringsKey: for a list of strings only, a text that tells every such list apart (each element
// length-prefixed, so no two lists share it); ok=false for a list holding anything else.
func stringsKey(s pcommon.Slice) (string, bool) {
	n := 0
	for i := 0; i < s.Len(); i++ {
		el := s.At(i)
		if el.Type() != pcommon.ValueTypeStr {
			return "", false
		}
		n += len(el.Str()) + 4
	}
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < s.Len(); i++ {
		str := s.At(i).Str()
		b.WriteString(strconv.Itoa(len(str)))
		b.WriteByte(':')
		b.WriteString(str)
	}
	return b.String(), true
}
