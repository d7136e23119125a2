// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiqueuestorage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/genai-o11y/genai-o11y/collector/internal/genaicommon/configtest"
)

const configEnv = "GENAI_QUEUE_STORAGE_CONFIG"

var ctx = context.Background()

func open(t *testing.T, dir string, segLimit int64) *logClient {
	t.Helper()
	c, err := openClient(dir, segLimit, false, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func value(key string, n int) []byte {
	return bytes.Repeat([]byte(key+"|"), n/(len(key)+1)+1)[:n]
}

func get(t *testing.T, c storage.Client, key string) []byte {
	t.Helper()
	v, err := c.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	sort.Strings(m)
	return m
}

// The storage.Client contract, as a Go map: Set overwrites, Get of a missing key is (nil, nil),
// Delete of a missing key is a no-op; a batch applies in order and its Gets see the mutations
// before them, not those after.
func TestMapSemantics(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	defer func() { c.Close(ctx) }()
	if v := get(t, c, "missing"); v != nil {
		t.Fatalf("missing key: %q", v)
	}
	if err := c.Delete(ctx, "missing"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, inMemoryMax, inMemoryMax + 1, directWrite, 3 << 20} {
		key := fmt.Sprint("k", n)
		if err := c.Set(ctx, key, value(key, n)); err != nil {
			t.Fatal(err)
		}
		if got := get(t, c, key); !bytes.Equal(got, value(key, n)) || got == nil {
			t.Fatalf("%s: %d bytes back, want %d", key, len(got), n)
		}
	}
	if err := c.Set(ctx, "k1", []byte("other")); err != nil {
		t.Fatal(err)
	}
	before, after := storage.GetOperation("k1"), storage.GetOperation("k1")
	gone := storage.GetOperation("k0")
	if err := c.Batch(ctx, before, storage.SetOperation("k1", []byte("third")), after, storage.DeleteOperation("k0"), gone); err != nil {
		t.Fatal(err)
	}
	if string(before.Value) != "other" || string(after.Value) != "third" || gone.Value != nil {
		t.Fatalf("in-batch reads: %q %q %v", before.Value, after.Value, gone.Value)
	}
	// an empty value is set, not missing, in the batch that sets it as after it
	empty := storage.GetOperation("k0")
	if err := c.Batch(ctx, storage.SetOperation("k0", []byte{}), empty); err != nil {
		t.Fatal(err)
	}
	if empty.Value == nil || len(empty.Value) != 0 || get(t, c, "k0") == nil {
		t.Fatalf("an empty value read as %#v in its batch, %#v after", empty.Value, get(t, c, "k0"))
	}
	// values read from the file, around values written straight from the caller's buffer, in one
	// frame: each at its own offset, now and after a reopen
	sizes := []int{inMemoryMax + 1, directWrite, inMemoryMax + 2, directWrite + 1, 70_000, inMemoryMax + 3}
	var mixed []*storage.Operation
	for i, n := range sizes {
		mixed = append(mixed, storage.SetOperation(fmt.Sprint("m", i), value(fmt.Sprint("m", i), n)))
	}
	if err := c.Batch(ctx, mixed...); err != nil {
		t.Fatal(err)
	}
	for _, reopen := range []bool{false, true} {
		if reopen {
			c.Close(ctx)
			c = open(t, dir, 1<<20)
		}
		for i, n := range sizes {
			if key := fmt.Sprint("m", i); !bytes.Equal(get(t, c, key), value(key, n)) {
				t.Fatalf("%s: read back wrong from one frame (reopened: %v)", key, reopen)
			}
		}
	}
	// a returned value is the caller's: changing it changes nothing stored
	v := get(t, c, "k1")
	v[0] = 'X'
	if string(get(t, c, "k1")) != "third" {
		t.Fatal("the stored value changed with the returned copy")
	}
	// the caller's buffer is not kept either
	buf := []byte("mine")
	if err := c.Set(ctx, "k2", buf); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'X'
	if string(get(t, c, "k2")) != "mine" {
		t.Fatal("the stored value changed with the caller's buffer")
	}
}

// What one run wrote, the next start reads: every value, small and large, overwritten and deleted.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 256<<10)
	want := map[string][]byte{}
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 400; i++ {
		key := fmt.Sprint(r.Intn(60))
		switch r.Intn(3) {
		case 0:
			if err := c.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			delete(want, key)
		default:
			v := value(fmt.Sprint(key, "-", i), r.Intn(40_000))
			if err := c.Set(ctx, key, v); err != nil {
				t.Fatal(err)
			}
			want[key] = v
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	c = open(t, dir, 256<<10)
	defer c.Close(ctx)
	for i := 0; i < 60; i++ {
		key := fmt.Sprint(i)
		if got := get(t, c, key); !bytes.Equal(got, want[key]) {
			t.Fatalf("%s: %d bytes after reopen, want %d", key, len(got), len(want[key]))
		}
	}
	if _, err := c.Get(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

// A start goes on writing in the newest segment: restarts (a crash loop's thousands) do not each
// leave a segment behind the oldest one, kept by a live value.
func TestRestartsDoNotAddSegments(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	if err := c.Set(ctx, "kept", value("kept", 10_000)); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	for i := 0; i < 50; i++ {
		c = open(t, dir, 1<<20)
		if i%2 == 0 {
			if err := c.Set(ctx, "qmv0", []byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		c.Close(ctx)
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Fatalf("%d segments after 50 restarts", n)
	}
	c = open(t, dir, 1<<20)
	defer c.Close(ctx)
	if string(get(t, c, "qmv0")) != "48" || !bytes.Equal(get(t, c, "kept"), value("kept", 10_000)) {
		t.Fatal("values lost")
	}
}

// A process killed mid-write leaves a torn last frame: the next start cuts it off and the batch it
// held is lost whole (neither of its two sets), every earlier batch is there, and the log goes on.
// Every cut point of the last frame is tried.
func TestTornLastFrameLosesThatBatchWhole(t *testing.T) {
	base := t.TempDir()
	c := open(t, base, 1<<30)
	if err := c.Batch(ctx, storage.SetOperation("a", []byte("1")), storage.SetOperation("big", value("big", 70_000))); err != nil {
		t.Fatal(err)
	}
	before := c.active.size
	if err := c.Batch(ctx, storage.SetOperation("a", []byte("2")), storage.SetOperation("b", value("b", 100_000))); err != nil {
		t.Fatal(err)
	}
	whole := c.active.size
	c.Close(ctx)
	seg := segments(t, base)
	if len(seg) != 1 {
		t.Fatalf("segments %v", seg)
	}
	full, _ := os.ReadFile(seg[0])
	for _, cut := range []int64{before + 1, before + frameHeader - 1, before + frameHeader, before + frameHeader + 3, (before + whole) / 2, whole - 1} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg[0])), full[:cut], 0o640); err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zap.WarnLevel)
		c, err := openClient(dir, 1<<30, false, zap.New(core))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := get(t, c, "a"), get(t, c, "b"); string(a) != "1" || b != nil {
			t.Fatalf("cut at %d: a=%q, b has %d bytes", cut, a, len(b))
		}
		if !bytes.Equal(get(t, c, "big"), value("big", 70_000)) {
			t.Fatalf("cut at %d: the first batch's value is lost", cut)
		}
		if logs.FilterMessageSnippet("cutting a segment off").Len() != 1 {
			t.Fatalf("cut at %d: no warning: %v", cut, logs.All())
		}
		if err := c.Set(ctx, "c", []byte("after")); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
		c = open(t, dir, 1<<30)
		if string(get(t, c, "c")) != "after" || string(get(t, c, "a")) != "1" {
			t.Fatalf("cut at %d: writes after the cut do not survive a second start", cut)
		}
		c.Close(ctx)
	}
}

// A flipped byte inside a frame fails its checksum: that frame and what follows in the segment
// are not applied (never a wrong value), what precedes is.
func TestCorruptFrameIsNotApplied(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<30)
	for i := 0; i < 3; i++ {
		if err := c.Set(ctx, fmt.Sprint("k", i), value(fmt.Sprint(i), 5000)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)
	seg := segments(t, dir)[0]
	raw, _ := os.ReadFile(seg)
	frame := len(raw) / 3
	raw[frame+frameHeader+100] ^= 0xff // inside the second frame's value
	os.WriteFile(seg, raw, 0o640)
	c = open(t, dir, 1<<30)
	defer c.Close(ctx)
	if get(t, c, "k0") == nil || get(t, c, "k1") != nil || get(t, c, "k2") != nil {
		t.Fatal("a frame failing its checksum was applied, or the one before it was not")
	}
}

// frame is a frame as append writes it, of the records given (already encoded).
func frame(records ...[]byte) []byte {
	payload := bytes.Join(records, nil)
	head := make([]byte, frameHeader)
	binary.LittleEndian.PutUint32(head[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(head[4:8], crc32.Checksum(payload, castagnoli))
	return append(head, payload...)
}

// A corrupt frame in a segment before the last (a disk error: a crash tears only the last) cuts that
// segment there; the later segments are replayed all the same, their records standing alone (a set
// holds its whole value), so what they hold is kept.
func TestACorruptFrameInAnEarlierSegmentKeepsTheLaterOnes(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 64 << 10
	c := open(t, dir, segLimit)
	keys := []string{"1a", "1b", "1c", "2a", "2b", "2c", "3a"}
	for _, k := range keys {
		if err := c.Set(ctx, k, value(k, 30_000)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	c.Close(ctx)
	first := segments(t, dir)[0]
	raw, _ := os.ReadFile(first)
	raw[len(raw)/2] ^= 0xff // inside 1b's frame
	os.WriteFile(first, raw, 0o640)
	core, logs := observer.New(zap.WarnLevel)
	c, err := openClient(dir, segLimit, false, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, k := range keys {
		got, lost := get(t, c, k), k == "1b" || k == "1c"
		if lost && got != nil || !lost && !bytes.Equal(got, value(k, 30_000)) {
			t.Fatalf("%s: %d bytes (lost: %v)", k, len(got), lost)
		}
	}
	if logs.FilterMessageSnippet("cutting a segment off").Len() != 1 {
		t.Fatalf("no warning: %v", logs.All())
	}
}

// A frame whose checksum holds but whose records do not all parse (a format this version does not
// know) is cut off like a torn one, and applies none of its records, not the ones before the bad one.
func TestAnUnparsableFrameAppliesNothing(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<30)
	if err := c.Batch(ctx, storage.SetOperation("a", []byte("old")), storage.SetOperation("b", []byte("kept"))); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	seg := segments(t, dir)[0]
	f, _ := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(frame([]byte("\x01\x01a\x03new"), []byte("\x02\x01b"), []byte("\x09\x01c")))
	f.Close()
	core, logs := observer.New(zap.WarnLevel)
	c, err := openClient(dir, 1<<30, false, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if a, b := string(get(t, c, "a")), string(get(t, c, "b")); a != "old" || b != "kept" {
		t.Fatalf("half a frame applied: a=%q b=%q", a, b)
	}
	if logs.FilterMessageSnippet("cutting a segment off").Len() != 1 {
		t.Fatalf("no warning: %v", logs.All())
	}
}

// Used as a queue (each item set once, read once, deleted, the metadata key rewritten on every
// operation), closed segments are deleted as their items go: the files hold the live items plus
// about a segment, not the history.
func TestQueueWorkloadKeepsTheDiskBounded(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 1 << 20
	c := open(t, dir, segLimit)
	defer c.Close(ctx)
	item := func(i int) string { return fmt.Sprint(i) }
	inFlight := 8
	maxFiles, maxBytes := 0, int64(0)
	for i := 0; i < 2000; i++ {
		meta := []byte(fmt.Sprint("w", i))
		if err := c.Batch(ctx, storage.SetOperation("qmv0", meta), storage.SetOperation(item(i), value(item(i), 20_000))); err != nil {
			t.Fatal(err)
		}
		if j := i - inFlight; j >= 0 {
			g := storage.GetOperation(item(j))
			if err := c.Batch(ctx, storage.SetOperation("qmv0", meta), g); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.Value, value(item(j), 20_000)) {
				t.Fatalf("item %d read back wrong", j)
			}
			if err := c.Batch(ctx, storage.SetOperation("qmv0", meta), storage.DeleteOperation(item(j))); err != nil {
				t.Fatal(err)
			}
		}
		files := segments(t, dir)
		var size int64
		for _, f := range files {
			st, _ := os.Stat(f)
			size += st.Size()
		}
		maxFiles, maxBytes = max(maxFiles, len(files)), max(maxBytes, size)
	}
	live := int64(inFlight+1) * 20_000
	if maxBytes > 2*live+segLimit+100_000 || maxFiles > 3 {
		t.Fatalf("the files grew to %d bytes in %d segments for %d live bytes", maxBytes, maxFiles, live)
	}
}

// dirBytes is the bytes of the segment files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range segments(t, dir) {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// A full queue whose items go out of order (retries, several consumers) and are replaced at once:
// the files stay within twice the queue plus a segment and a frame at every moment, also while a
// segment's live values are copied forward and the segment is not yet deleted (copies and originals
// both on disk). The volume is sized from that bound, and an emptyDir over its size gets the pod
// evicted.
func TestAFullQueueStaysWithinTheBoundWhileCopying(t *testing.T) {
	const segLimit = 256 << 10
	const queue = 16 * segLimit // bytes of items, as the queue's sizer counts them
	for _, size := range []int{20_000, 60_000, 150_000} {
		dir := t.TempDir()
		c := open(t, dir, segLimit)
		r := rand.New(rand.NewSource(int64(size)))
		item := func(i int) string { return fmt.Sprint(i) }
		bound := int64(2*queue + segLimit + size + 1000) // a frame: an item and the metadata
		var peak, inCopy int64
		c.beforeRemove = func() {
			inCopy = max(inCopy, dirBytes(t, dir))
		}
		var live []int
		held := 0
		for next := 0; next < 3000; {
			meta := storage.SetOperation("qmv0", value("m", 50))
			if held+size <= queue {
				if err := c.Batch(ctx, meta, storage.SetOperation(item(next), value(item(next), size))); err != nil {
					t.Fatal(err)
				}
				live, held, next = append(live, next), held+size, next+1
			} else {
				i := 0
				if r.Intn(2) == 0 {
					i = r.Intn(len(live))
				}
				if err := c.Batch(ctx, meta, storage.DeleteOperation(item(live[i]))); err != nil {
					t.Fatal(err)
				}
				live, held = append(live[:i], live[i+1:]...), held-size
			}
			peak = max(peak, dirBytes(t, dir))
		}
		c.Close(ctx)
		if peak > bound || inCopy > bound {
			t.Fatalf("items of %d bytes: the files reached %d bytes between batches, %d while copying; the bound is %d (%.2f segments over)",
				size, peak, inCopy, bound, float64(max(peak, inCopy)-bound)/segLimit)
		}
	}
}

// An item a retry keeps while thousands pass does not keep its segment (and the segments after it)
// alive: at rotation a closed segment half dead or more has its live values copied forward.
func TestAKeptItemIsCopiedForward(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 1 << 20
	c := open(t, dir, segLimit)
	if err := c.Set(ctx, "stuck", value("stuck", 30_000)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if err := c.Set(ctx, fmt.Sprint(i), value(fmt.Sprint(i), 20_000)); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n > 2 {
		t.Fatalf("%d segments for one live item", n)
	}
	c.Close(ctx)
	c = open(t, dir, segLimit)
	defer c.Close(ctx)
	if !bytes.Equal(get(t, c, "stuck"), value("stuck", 30_000)) {
		t.Fatal("the kept item is lost")
	}
}

// Values as small as their keys: compaction counts what a copy writes (the records), or the copies
// never come within twice the values and every write copies every segment forward.
func TestTinyValuesAreNotCopiedOverAndOver(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 64 << 10
	c := open(t, dir, segLimit)
	defer c.Close(ctx)
	var ops []*storage.Operation
	for i := 0; i < 20_000; i++ {
		ops = append(ops, storage.SetOperation(fmt.Sprintf("key-%08d", i), []byte{1}))
		if len(ops) == 100 {
			if err := c.Batch(ctx, ops...); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	first := c.active.id
	for i := 0; i < 200; i++ { // 200 small frames: 3 KB of a segment of 64 KiB
		if err := c.Set(ctx, "qmv0", []byte("meta")); err != nil {
			t.Fatal(err)
		}
	}
	if started := c.active.id - first; started > 1 {
		t.Fatalf("200 small writes started %d segments of %d bytes", started, segLimit)
	}
	if got := get(t, c, "key-00012345"); !bytes.Equal(got, []byte{1}) {
		t.Fatalf("a value read back as %v", got)
	}
}

// A copy-forward's frame (a segment's live values, megabytes) is written from a buffer that is not
// kept afterwards for the client's life.
func TestACopyForwardsBufferIsNotKept(t *testing.T) {
	c := open(t, t.TempDir(), 4<<20)
	defer c.Close(ctx)
	for i := 0; i < 600; i++ { // items of 30 KB, each third one kept: closed segments a third live
		key := fmt.Sprint(i)
		if err := c.Batch(ctx, storage.SetOperation("qmv0", []byte(key)), storage.SetOperation(key, value(key, 30_000))); err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			if err := c.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.index["0"].seg.id == 1 {
		t.Fatal("no segment was copied forward")
	}
	if cap(c.scratch) > scratchKeep {
		t.Fatalf("a frame buffer of %d bytes is kept", cap(c.scratch))
	}
}

// A delete is a record in a newer segment hiding a value in an older one: with the older segment
// kept alive by another value, the newer one (nothing live in it) must not go first, or the
// deleted value comes back at the next start.
func TestADeletedValueStaysDeletedAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 64 << 10
	c := open(t, dir, segLimit)
	if err := c.Batch(ctx, storage.SetOperation("keep", value("keep", 40_000)), storage.SetOperation("gone", value("gone", 30_000))); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.active.id == 1; i++ { // fill the first segment
		c.Set(ctx, "filler", value(fmt.Sprint(i), 1000))
	}
	if err := c.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for i := 0; c.active.id < 4; i++ { // the delete's segment closes, nothing live in it
		c.Set(ctx, "filler", value(fmt.Sprint(i), 1000))
	}
	c.Close(ctx)
	c = open(t, dir, segLimit)
	defer c.Close(ctx)
	if v := get(t, c, "gone"); v != nil {
		t.Fatalf("a deleted value came back: %d bytes", len(v))
	}
	if !bytes.Equal(get(t, c, "keep"), value("keep", 40_000)) {
		t.Fatal("the kept value is lost")
	}
}

// A Batch whose frame is written succeeds even when the segment work after it fails: the persistent
// queue takes an error as nothing written, and drops the item its (metadata set, item get) batch has
// just read. Here a directory in the way of the next segment's file stops the rotation; the failure
// is logged, and the rotation done at the next write once the way is clear.
func TestAFailedRotationDoesNotFailTheBatch(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 64 << 10
	core, logs := observer.New(zap.InfoLevel)
	c, err := openClient(dir, segLimit, false, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "7", value("7", 10_000)); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, segmentName(c.active.id+1))
	os.Mkdir(blocker, 0o750)
	g := storage.GetOperation("7")
	if err := c.Batch(ctx, storage.SetOperation("qmv0", []byte("m1")), storage.SetOperation("8", value("8", segLimit)), g); err != nil {
		t.Fatalf("the batch was written, but: %v", err)
	}
	if !bytes.Equal(g.Value, value("7", 10_000)) || !bytes.Equal(get(t, c, "8"), value("8", segLimit)) {
		t.Fatal("values lost")
	}
	if logs.FilterMessageSnippet("cannot close, start or delete segments").Len() != 1 {
		t.Fatalf("the failure is not logged: %v", logs.All())
	}
	if err := c.Set(ctx, "qmv0", []byte("m2")); err != nil { // still blocked: logged once
		t.Fatal(err)
	}
	os.Remove(blocker)
	if err := c.Set(ctx, "qmv0", []byte("m3")); err != nil {
		t.Fatal(err)
	}
	if len(segments(t, dir)) != 2 || logs.FilterMessageSnippet("cannot close").Len() != 1 || logs.FilterMessageSnippet("segments are closed, started and deleted again").Len() != 1 {
		t.Fatalf("not rotated after the way was cleared: %v, %v", segments(t, dir), logs.All())
	}
	c.Close(ctx)
	c = open(t, dir, segLimit)
	defer c.Close(ctx)
	if string(get(t, c, "qmv0")) != "m3" || !bytes.Equal(get(t, c, "8"), value("8", segLimit)) || !bytes.Equal(get(t, c, "7"), value("7", 10_000)) {
		t.Fatal("values lost after a restart")
	}
}

// With fsync, a new segment's name is synced too (its directory), before a frame goes in it: a
// synced frame in a file whose name was not could go whole with a machine crash.
func TestFsyncSyncsNewSegmentsNames(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exporter_otlp_traces")
	var synced []string
	defer func(f func(string) error) { syncDir = f }(syncDir)
	syncDir = func(d string) error {
		synced = append(synced, d)
		return nil
	}
	c, err := openClient(dir, 64<<10, true, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if len(synced) != 2 || synced[0] != root || synced[1] != dir {
		t.Fatalf("at start: synced %v", synced)
	}
	if err := c.Set(ctx, "1", value("1", 70_000)); err != nil { // past the segment size: a second segment
		t.Fatal(err)
	}
	if len(synced) != 3 || synced[2] != dir || c.active.id != 2 {
		t.Fatalf("at rotation: synced %v", synced)
	}
	syncDir = func(string) error { return errors.New("EIO") }
	if err := c.Set(ctx, "2", value("2", 70_000)); err != nil {
		t.Fatalf("the frame was written: %v", err)
	}
	if c.active.id != 2 || len(segments(t, dir)) != 2 {
		t.Fatalf("a segment whose name could not be synced is in use: %d, %v", c.active.id, segments(t, dir))
	}
}

// A segment whose file cannot be deleted stays the oldest until it is: while its file is there, the
// delete records in later segments that hide its values must stay too, or those values come back at
// the next start. Here a directory with a file in it stands where the segment's file was (the file
// itself moved aside, and put back once the delete has failed).
func TestASegmentThatCouldNotBeDeletedStaysTheOldest(t *testing.T) {
	dir := t.TempDir()
	const segLimit = 64 << 10
	c := open(t, dir, segLimit)
	defer func() { c.Close(ctx) }()
	if err := c.Set(ctx, "kept", value("kept", 20_000)); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "filler", value("filler", 40_000)); err != nil {
		t.Fatal(err)
	}
	first := c.active.f.Name()
	os.Rename(first, first+".aside")
	os.MkdirAll(filepath.Join(first, "x"), 0o750)
	// the filler goes: the first segment, closed, is a third live: "kept" is copied forward and the
	// segment's deletion fails
	if err := c.Batch(ctx, storage.DeleteOperation("filler"), storage.SetOperation("next", value("next", 10_000))); err != nil {
		t.Fatal(err)
	}
	if c.active.id < 2 || c.index["kept"].seg.id < 2 {
		t.Fatal("the first segment was not copied forward")
	}
	os.RemoveAll(first)
	os.Rename(first+".aside", first)
	if err := c.Delete(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // segments after the first fill, close and go dead
		if err := c.Set(ctx, "next", value(fmt.Sprint("next", i), 20_000)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)
	c = open(t, dir, segLimit)
	if v := get(t, c, "kept"); v != nil {
		t.Fatalf("a deleted value came back: %d bytes (segments %v)", len(v), segments(t, dir))
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("the first segment's file is still there: %v", err)
	}
}

// Against a map, over random batches with restarts and crashes: a crash cuts the last frame at a
// random byte, and the store then equals the map before that batch.
func TestRandomBatchesRestartsAndCrashesAgainstAMap(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewSource(7))
	model := map[string][]byte{}
	c := open(t, dir, 200<<10)
	for step := 0; step < 600; step++ {
		var ops []*storage.Operation
		next := map[string][]byte{}
		for k, v := range model {
			next[k] = v
		}
		for n := 1 + r.Intn(4); n > 0; n-- {
			key := fmt.Sprint(r.Intn(30))
			switch r.Intn(4) {
			case 0:
				ops = append(ops, storage.DeleteOperation(key))
				delete(next, key)
			case 1:
				ops = append(ops, storage.GetOperation(key))
			default:
				v := value(fmt.Sprint(step, key), []int{10, 3000, 70_000}[r.Intn(3)])
				ops = append(ops, storage.SetOperation(key, v))
				next[key] = v
			}
		}
		crash := r.Intn(25) == 0
		var sizeBefore int64
		var segPath string
		if crash {
			sizeBefore, segPath = c.active.size, c.active.f.Name()
		}
		if err := c.Batch(ctx, ops...); err != nil {
			t.Fatal(err)
		}
		switch {
		case crash && c.active.f.Name() == segPath && c.active.size > sizeBefore+1:
			c.Close(ctx)
			cut := sizeBefore + 1 + r.Int63n(c.active.size-sizeBefore-1)
			if err := os.Truncate(segPath, cut); err != nil {
				t.Fatal(err)
			}
			c = open(t, dir, 200<<10) // the batch is lost: the model stays
		case r.Intn(40) == 0:
			c.Close(ctx)
			c = open(t, dir, 200<<10)
			model = next
		default:
			model = next
		}
		for i := 0; i < 30; i++ {
			key := fmt.Sprint(i)
			if got := get(t, c, key); !bytes.Equal(got, model[key]) {
				t.Fatalf("step %d, key %s: %d bytes, want %d", step, key, len(got), len(model[key]))
			}
		}
	}
	c.Close(ctx)
}

// heldInMemory is the bytes of the values the index holds in memory.
func heldInMemory(c *logClient) int64 {
	var n int64
	for _, e := range c.index {
		n += int64(len(e.val))
	}
	return n
}

// Small values are held in memory only up to a budget: a full queue of small items (a quiet app's
// batches through an outage) is on disk, not on the heap, whether written or replayed at a start.
// Values read back right either way; freed budget holds the metadata again.
func TestSmallValuesHeldInMemoryAreBounded(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	const items = 3 * memBudget / inMemoryMax
	for i := 0; i < items; i++ {
		key := fmt.Sprint(i)
		if err := c.Batch(ctx, storage.SetOperation("qmv0", []byte(key)), storage.SetOperation(key, value(key, inMemoryMax))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		if held := heldInMemory(c); held > memBudget || held != c.memBytes {
			t.Fatalf("%s: %d bytes of values in memory (counted %d) for a budget of %d", when, held, c.memBytes, memBudget)
		}
		for i := 0; i < items; i++ {
			key := fmt.Sprint(i)
			if !bytes.Equal(get(t, c, key), value(key, inMemoryMax)) {
				t.Fatalf("%s: %s read back wrong", when, key)
			}
		}
	}
	check("written")
	c.Close(ctx)
	c = open(t, dir, 1<<20)
	defer c.Close(ctx)
	check("replayed")
	for i := 0; i < items; i++ {
		if err := c.Batch(ctx, storage.SetOperation("qmv0", []byte("m")), storage.DeleteOperation(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, "qmv0", []byte("last")); err != nil {
		t.Fatal(err)
	}
	if c.memBytes != 4 || string(c.index["qmv0"].val) != "last" {
		t.Fatalf("after the items went: %d bytes held, metadata held %q", c.memBytes, c.index["qmv0"].val)
	}
}

// Readers and writers at once (run with -race in CI's go test).
func TestConcurrentUse(t *testing.T) {
	c := open(t, t.TempDir(), 512<<10)
	defer c.Close(ctx)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				key := fmt.Sprint(w, "-", i)
				if err := c.Batch(ctx, storage.SetOperation("meta", []byte(key)), storage.SetOperation(key, value(key, 9000))); err != nil {
					t.Error(err)
					return
				}
				if got := get(t, c, key); !bytes.Equal(got, value(key, 9000)) {
					t.Errorf("%s read back wrong", key)
					return
				}
				if err := c.Delete(ctx, key); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
}

// One directory, one writer: a second client (this process or another) is refused, naming it.
func TestADirectoryHasOneWriter(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	if _, err := openClient(dir, 1<<20, false, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second client: %v", err)
	}
	c.Close(ctx)
	if _, err := c.Get(ctx, "a"); err == nil {
		t.Fatal("a closed client answered")
	}
	c2 := open(t, dir, 1<<20)
	c2.Close(ctx)
}

// A file in the directory this extension did not write is an error naming it, not data: also one
// whose name reads as a segment's number ("1.seg" next to 00000000000000000001.seg, which was
// replayed twice and then deleted as the dead first copy, losing what it held at the next start).
func TestAForeignFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.seg"), []byte("x"), 0o640)
	if _, err := openClient(dir, 1<<20, false, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "notes.seg") {
		t.Fatalf("foreign file: %v", err)
	}
	os.Remove(filepath.Join(dir, "notes.seg"))
	c := open(t, dir, 1<<20)
	if err := c.Set(ctx, "k", value("k", 10_000)); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	for _, name := range []string{"1.seg", "01.seg", "99999999999999999999999.seg"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o640)
		if c, err := openClient(dir, 1<<20, false, zap.NewNop()); err == nil || !strings.Contains(err.Error(), name) {
			if err == nil {
				c.Close(ctx)
			}
			t.Fatalf("foreign file %s: %v", name, err)
		}
		os.Remove(filepath.Join(dir, name))
	}
	c = open(t, dir, 1<<20)
	defer c.Close(ctx)
	if !bytes.Equal(get(t, c, "k"), value("k", 10_000)) {
		t.Fatal("the value is lost")
	}
}

// The extension: each component and signal gets its own directory (as file_storage names its
// files); the same client twice is refused; Shutdown closes what components left open; a missing
// directory is an error naming the setting.
func TestExtensionClients(t *testing.T) {
	root := t.TempDir()
	cfg := &Config{Directory: filepath.Join(root, "q"), CreateDirectory: true, SegmentSizeMiB: 1}
	ext := newExtension(cfg, zap.NewNop())
	if err := ext.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	lb := component.MustNewID("load_balancing")
	tempo := component.MustNewIDWithName("otlp_grpc", "tempo")
	a, err := ext.GetClient(ctx, component.KindExporter, lb, "traces")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ext.GetClient(ctx, component.KindExporter, tempo, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ext.GetClient(ctx, component.KindExporter, lb, "traces"); err == nil {
		t.Fatal("the same client twice")
	}
	a.Set(ctx, "k", []byte("lb"))
	b.Set(ctx, "k", []byte("tempo"))
	if string(get(t, a, "k")) != "lb" {
		t.Fatal("clients share keys")
	}
	for _, d := range []string{"exporter_load_balancing_traces", "exporter_otlp_grpc_tempo_traces"} {
		if st, err := os.Stat(filepath.Join(cfg.Directory, d)); err != nil || !st.IsDir() {
			t.Fatalf("%s: %v", d, err)
		}
	}
	if err := ext.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.GetClient(ctx, component.KindExporter, lb, "traces"); err != nil {
		t.Fatalf("after shutdown the client is free again: %v", err)
	}
	ext.Shutdown(ctx)
	missing := newExtension(&Config{Directory: filepath.Join(root, "none"), SegmentSizeMiB: 1}, zap.NewNop())
	if err := missing.Start(ctx, nil); err == nil || !strings.Contains(err.Error(), "create_directory") {
		t.Fatalf("missing directory: %v", err)
	}
}

func loadConfig(t *testing.T) *Config { return configtest.Config(t, configEnv, createDefaultConfig()) }

// The configs in testdata/ (configtest.Testdata): the generated one, the example, the invalid ones.
func TestTestdataConfigs(t *testing.T) {
	configtest.Testdata(t, configEnv, createDefaultConfig, loadConfig)
}

// The generated config (or the one $GENAI_QUEUE_STORAGE_CONFIG names) loads, and a client with its
// segment size works as a queue uses it.
func TestGeneratedConfigLoads(t *testing.T) {
	cfg := loadConfig(t)
	cfg.Directory = t.TempDir()
	ext := newExtension(cfg, zap.NewNop())
	if err := ext.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer ext.Shutdown(ctx)
	c, err := ext.GetClient(ctx, component.KindExporter, component.MustNewID("load_balancing"), "traces")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*cfg.SegmentSizeMiB; i++ {
		key := fmt.Sprint(i)
		if err := c.Batch(ctx, storage.SetOperation("qmv0", []byte(key)), storage.SetOperation(key, value(key, 1<<20))); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, clientDir(cfg.Directory, component.KindExporter, component.MustNewID("load_balancing"), "traces"))); n > 2 {
		t.Fatalf("%d segments after a queue emptied", n)
	}
}
