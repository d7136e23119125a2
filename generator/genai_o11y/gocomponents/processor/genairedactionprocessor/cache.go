// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"encoding/json"
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

// ofBytes: as of, for a key held as bytes (looked up without copying it to a string).
func (c *verdicts[V]) ofBytes(k []byte, f func() V) V {
	c.mu.RLock()
	v, ok := c.m[string(k)]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = f()
	c.put(string(k), v)
	return v
}

// listJSON: the list as encoding/json writes it (the text a strlist shape is matched on, as OTTL's
// IsMatch sees a list), built directly when every element is a string of printable ASCII that JSON
// writes as it is (no quote, backslash or the HTML characters <, >, & that encoding/json escapes);
// any other list goes through encoding/json. The text is also the key its verdict is remembered by:
// two lists with the same JSON text are the same list to the shape.
func listJSON(s pcommon.Slice) ([]byte, error) {
	n := 2
	for i := 0; i < s.Len(); i++ {
		el := s.At(i)
		if el.Type() != pcommon.ValueTypeStr || !plainJSON(el.Str()) {
			return json.Marshal(s.AsRaw())
		}
		n += len(el.Str()) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i := 0; i < s.Len(); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), s.At(i).Str()...), '"')
	}
	return append(b, ']'), nil
}

// plainJSON: encoding/json writes s between quotes unchanged.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
