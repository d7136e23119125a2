// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiusageconnector

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// joinStore remembers, for recently seen spans, the span labels a log record of theirs takes (the
// join labels: the span labels of the span_event metrics that are not read from the record's
// resource). Keys: the span id, the response id (Join.ResponseIDKey) of spans carrying one, and the
// parent's span id (childKey: the last labelled child of a span, for a record on a span without labels).
// Bounded: at most max entries, each forgotten ttl after it was added; a full store forgets its
// oldest entry first (counted). Entries sit in a ring in insertion order, so the oldest are at its
// head; label sets are shared between entries (most spans of an app share a few).
type joinStore struct {
	max     int
	ttl     time.Duration
	byKey   map[joinKey]uint64 // key -> its entry's sequence number
	ring    []joinEntry
	head    int    // ring index of the oldest entry
	headSeq uint64 // its sequence number
	size    int
	sets    map[string]*labelSet
	// evicted: entries forgotten before their ttl because the store was full (since the last read)
	evicted int64
}

type joinEntry struct {
	key joinKey
	set *labelSet
	at  int64 // unix nanoseconds
}

// joinKey: a span id, or a response id's 64-bit hash (fixed size: no allocation per span, and
// cheaper map operations than strings; two response ids among the entries share a hash with a
// probability of about entries^2 / 2^65, 3e-10 at 100,000).
type joinKey struct {
	kind byte
	id   uint64
}

// labelSet: the join labels' values of a span, by position in usage.joinSlots.
type labelSet struct {
	key  string
	vals []pcommon.Value
	has  []bool
	none bool // no label (a span remembered without any)
	refs int
}

func newJoinStore(max int, ttl time.Duration) *joinStore {
	return &joinStore{max: max, ttl: ttl, byKey: map[joinKey]uint64{}, sets: map[string]*labelSet{}}
}

var responseSeed = maphash.MakeSeed()

// Keys: a span id, a response id and a parent's span id never collide (kind).
func spanKey(id pcommon.SpanID) joinKey { return joinKey{1, binary.LittleEndian.Uint64(id[:])} }
func responseKey(id string) joinKey     { return joinKey{2, maphash.String(responseSeed, id)} }

// childKey: the labels of the last span seen under this parent that carried any (a record on a span
// without join labels, such as the web framework's server span of a zero-code app, takes its call's).
func childKey(parent pcommon.SpanID) joinKey { return joinKey{3, binary.LittleEndian.Uint64(parent[:])} }

func (j *joinStore) index(seq uint64) int { return (j.head + int(seq-j.headSeq)) % len(j.ring) }

// put remembers the label set (encoded as enc; vals/has read from a) under key.
func (j *joinStore) put(key joinKey, enc []byte, slots []int, a *attrs, now int64) {
	if seq, ok := j.byKey[key]; ok { // seen again (the request view of a root span): same moment, keep its place
		e := &j.ring[j.index(seq)]
		if e.set.key != string(enc) {
			j.release(e.set)
			e.set = j.acquire(enc, slots, a)
		}
		return
	}
	if j.size == j.max {
		if now-j.ring[j.head].at <= int64(j.ttl) {
			j.evicted++
		}
		j.pop()
	}
	if j.size == len(j.ring) {
		grown := make([]joinEntry, min(j.max, max(64, 2*len(j.ring))))
		for i := 0; i < j.size; i++ {
			grown[i] = j.ring[(j.head+i)%len(j.ring)]
		}
		j.ring, j.head = grown, 0
	}
	seq := j.headSeq + uint64(j.size)
	j.ring[(j.head+j.size)%len(j.ring)] = joinEntry{key: key, set: j.acquire(enc, slots, a), at: now}
	j.byKey[key] = seq
	j.size++
}

// get: the label set remembered under key, unless older than the ttl.
func (j *joinStore) get(key joinKey, now int64) *labelSet {
	seq, ok := j.byKey[key]
	if !ok {
		return nil
	}
	e := &j.ring[j.index(seq)]
	if now-e.at > int64(j.ttl) {
		return nil
	}
	return e.set
}

// expire forgets the entries older than the ttl.
func (j *joinStore) expire(now int64) {
	for j.size > 0 && now-j.ring[j.head].at > int64(j.ttl) {
		j.pop()
	}
}

func (j *joinStore) pop() {
	e := &j.ring[j.head]
	if seq, ok := j.byKey[e.key]; ok && seq == j.headSeq {
		delete(j.byKey, e.key)
	}
	j.release(e.set)
	*e = joinEntry{}
	j.head = (j.head + 1) % len(j.ring)
	j.headSeq++
	j.size--
}

func (j *joinStore) acquire(enc []byte, slots []int, a *attrs) *labelSet {
	if s, ok := j.sets[string(enc)]; ok {
		s.refs++
		return s
	}
	s := &labelSet{key: string(enc), vals: make([]pcommon.Value, len(slots)), has: make([]bool, len(slots)), none: true, refs: 1}
	for i, slot := range slots {
		s.vals[i] = pcommon.NewValueEmpty()
		if a.has[slot] {
			a.vals[slot].CopyTo(s.vals[i])
			s.has[i], s.none = true, false
		}
	}
	j.sets[s.key] = s
	return s
}

func (j *joinStore) release(s *labelSet) {
	if s.refs--; s.refs == 0 {
		delete(j.sets, s.key)
	}
}
