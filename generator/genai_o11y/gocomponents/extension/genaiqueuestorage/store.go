// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiqueuestorage

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// The log: segment files named by a 20-digit sequence number, each a run of frames. A frame is one
// Batch's (or Set's, Delete's) mutations, written at the end of the newest segment:
//
//	frame  := length uint32 LE (of payload) | crc32c uint32 LE (of payload) | payload
//	payload:= record*
//	record := op byte (1 set, 2 delete) | uvarint key length | key | [set: uvarint value length | value]
//
// A frame counts only if it is whole and its checksum holds: a process killed mid-write leaves a torn
// last frame, which the next start cuts off (the batch it held is lost whole, never half-applied, as
// a bbolt transaction that did not commit). The index (key -> where its value is) is in memory; it is
// rebuilt at start by replaying the segments in order. Small values are kept in memory too.
const (
	segmentSuffix = ".seg"
	frameHeader   = 8
	opSet         = 1
	opDelete      = 2
	// values up to this size are held in memory (the queue's metadata) while those held total at most
	// memBudget; others are read from the file when asked for (the queue's items, read once). Without
	// the budget a full queue of small items (a quiet app's batches of a few spans, through an outage)
	// was all in memory: 320 MiB of heap for the sidecar's 320 MiB queue, in a 400 MiB container.
	inMemoryMax = 4096
	memBudget   = 1 << 20
	// pieces at least this large are written straight from the caller's buffer, not copied first
	directWrite = 64 << 10
	// the frame buffer is kept for the next frame up to this capacity; a larger one (a copy-forward's
	// frame: a segment's live values under directWrite, megabytes) is let go, not kept for the
	// client's life
	scratchKeep = 256 << 10
	maxFrame    = 1<<32 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id        uint64
	f         *os.File
	size      int64
	live      int   // index entries whose value is in this segment
	liveBytes int64 // their records' bytes (recordSize): what copying them forward writes
}

type entry struct {
	seg *segment
	off int64 // the value's offset in seg
	n   int
	val []byte // the value, if held in memory (n <= inMemoryMax, within memBudget)
}

// logClient is one storage client: a directory of segments, its own lock, its own index.
type logClient struct {
	mu       sync.RWMutex
	dir      string
	fsync    bool
	segLimit int64
	logger   *zap.Logger

	index   map[string]entry
	sealed  []*segment // closed segments, oldest first; only the oldest is ever deleted (see maintain)
	active  *segment
	lock    *os.File
	scratch []byte
	// bytes of the values held in memory (at most memBudget)
	memBytes int64
	closed   bool
	onClose  func()
	// the last maintain's error (logged when it starts and when it ends)
	maintErr error
	// the tests' look at the files before a segment goes (when its copies are there too)
	beforeRemove func()
}

var errClosed = errors.New("genai_queue_storage: client closed")

func openClient(dir string, segLimit int64, fsync bool, logger *zap.Logger) (*logClient, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("genai_queue_storage: creating %s: %w", dir, err)
	}
	if fsync {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("genai_queue_storage: syncing %s: %w", filepath.Dir(dir), err)
		}
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	c := &logClient{dir: dir, fsync: fsync, segLimit: segLimit, logger: logger, index: map[string]entry{}, lock: lock}
	if err := c.replay(); err != nil {
		c.closeFiles()
		return nil, err
	}
	return c, nil
}

func segmentName(id uint64) string { return fmt.Sprintf("%020d%s", id, segmentSuffix) }

// replay rebuilds the index from the segments, oldest first; a torn or corrupt frame ends its
// segment (cut off there); segments with nothing live are deleted; writes go on at the end of the
// newest segment, or to a new one if it is full (a new one at every start would leave one more
// file per restart behind a live oldest segment: a crash-looping collector's thousands).
func (c *logClient) replay() error {
	names, err := filepath.Glob(filepath.Join(c.dir, "*"+segmentSuffix))
	if err != nil {
		return err
	}
	var ids []uint64
	for _, name := range names {
		// exactly the name segmentName gives: "1.seg" parses as segment 1 too, and replaying
		// segment 1 twice would have the first copy deleted as dead (the file itself)
		id, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), segmentSuffix), 10, 64)
		if err != nil || filepath.Base(name) != segmentName(id) {
			return fmt.Errorf("genai_queue_storage: %s: not a segment this extension wrote (remove it, or choose another directory)", name)
		}
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	next := uint64(1)
	for _, id := range ids {
		s, err := c.replaySegment(id)
		if err != nil {
			return err
		}
		c.sealed = append(c.sealed, s)
		next = id + 1
	}
	if n := len(c.sealed); n > 0 && c.sealed[n-1].size < c.segLimit {
		c.active, c.sealed = c.sealed[n-1], c.sealed[:n-1]
	} else if err := c.startSegment(next); err != nil {
		return err
	}
	c.tidy()
	return nil
}

func (c *logClient) replaySegment(id uint64) (*segment, error) {
	path := filepath.Join(c.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("genai_queue_storage: opening %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &segment{id: id, f: f, size: st.Size()}
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var head [frameHeader]byte
	var payload []byte
	reason := ""
	for off < s.size {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			reason = "a torn frame header"
			break
		}
		n := int64(binary.LittleEndian.Uint32(head[0:4]))
		if off+frameHeader+n > s.size {
			reason = "a torn frame"
			break
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			reason = "a torn frame"
			break
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(head[4:8]) {
			reason = "a frame whose checksum does not hold"
			break
		}
		if err := c.applyPayload(s, off+frameHeader, payload); err != nil {
			reason = err.Error()
			break
		}
		off += frameHeader + n
	}
	if reason != "" {
		c.logger.Warn("genai_queue_storage: cutting a segment off at a bad frame (a write the process did not finish; the batch it held is lost whole)",
			zap.String("segment", path), zap.Int64("offset", off), zap.Int64("bytes_dropped", s.size-off), zap.String("reason", reason))
		if err := f.Truncate(off); err != nil {
			f.Close()
			return nil, fmt.Errorf("genai_queue_storage: cutting %s at %d: %w", path, off, err)
		}
		s.size = off
	}
	return s, nil
}

// applyPayload applies a frame's records to the index; valueBase is the payload's offset in s. A
// frame applies whole or not at all: one whose checksum holds but whose records do not all parse
// (a format this version does not know) changes nothing.
func (c *logClient) applyPayload(s *segment, valueBase int64, payload []byte) error {
	if err := parseRecords(payload, nil); err != nil {
		return err
	}
	return parseRecords(payload, func(op byte, key []byte, valueOff int, val []byte) {
		if op == opDelete {
			c.drop(string(key))
			return
		}
		c.put(string(key), entry{seg: s, off: valueBase + int64(valueOff), n: len(val)}, val)
	})
}

// parseRecords calls fn (if not nil) with each record of payload, in order; valueOff is the value's
// offset in payload.
func parseRecords(payload []byte, fn func(op byte, key []byte, valueOff int, val []byte)) error {
	p := 0
	for p < len(payload) {
		op := payload[p]
		p++
		kl, k := binary.Uvarint(payload[p:])
		if k <= 0 || uint64(len(payload)-p-k) < kl {
			return errors.New("a record that does not parse")
		}
		p += k
		key := payload[p : p+int(kl)]
		p += int(kl)
		switch op {
		case opSet:
			vl, k := binary.Uvarint(payload[p:])
			if k <= 0 || uint64(len(payload)-p-k) < vl {
				return errors.New("a record that does not parse")
			}
			p += k
			if fn != nil {
				fn(op, key, p, payload[p:p+int(vl)])
			}
			p += int(vl)
		case opDelete:
			if fn != nil {
				fn(op, key, 0, nil)
			}
		default:
			return fmt.Errorf("an unknown operation %d", op)
		}
	}
	return nil
}

// put sets key's entry, holding a copy of val (its value) in memory if it is small and the budget allows.
func (c *logClient) put(key string, e entry, val []byte) {
	c.drop(key)
	if e.n <= inMemoryMax && c.memBytes+int64(e.n) <= memBudget {
		e.val = append(make([]byte, 0, e.n), val...)
		c.memBytes += int64(e.n)
	}
	c.index[key] = e
	e.seg.live++
	e.seg.liveBytes += recordSize(key, e.n)
}

// recordSize is the bytes of a set record of key and a value of n bytes. Live data is counted in
// records, not values: with values as small as their keys, copies of values alone never came within
// twice the values, and every write copied every segment forward.
func recordSize(key string, n int) int64 {
	return int64(1 + uvarintLen(uint64(len(key))) + len(key) + uvarintLen(uint64(n)) + n)
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

func (c *logClient) drop(key string) {
	if old, ok := c.index[key]; ok {
		old.seg.live--
		old.seg.liveBytes -= recordSize(key, old.n)
		c.memBytes -= int64(len(old.val))
		delete(c.index, key)
	}
}

func (c *logClient) startSegment(id uint64) error {
	path := filepath.Join(c.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("genai_queue_storage: creating %s: %w", path, err)
	}
	if c.fsync {
		if err := syncDir(c.dir); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("genai_queue_storage: creating %s: syncing its directory: %w", path, err)
		}
	}
	c.active = &segment{id: id, f: f}
	return nil
}

// syncDir makes the files created in dir durable (fsync: true): syncing a file does not sync its
// name in the directory, and a machine crash could take a new segment whole, frames synced into
// it included. A variable for the tests.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeOldest deletes the oldest closed segment. One whose file cannot be deleted stays the oldest
// (nothing live in it), tried again at the next write: while its file is there, the later segments
// holding the delete records that hide its values must stay too, or those values come back at the
// next start.
func (c *logClient) removeOldest() error {
	if c.beforeRemove != nil {
		c.beforeRemove()
	}
	s := c.sealed[0]
	if err := os.Remove(s.f.Name()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("genai_queue_storage: removing %s, nothing live in it: %w", s.f.Name(), err)
	}
	c.sealed = c.sealed[1:]
	s.f.Close()
	return nil
}

// Get returns a copy of the value (nil if the key is not set).
func (c *logClient) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errClosed
	}
	return c.read(key)
}

func (c *logClient) read(key string) ([]byte, error) {
	e, ok := c.index[key]
	if !ok {
		return nil, nil
	}
	if e.val != nil || e.n == 0 {
		return append(make([]byte, 0, e.n), e.val...), nil
	}
	buf := make([]byte, e.n)
	if _, err := e.seg.f.ReadAt(buf, e.off); err != nil {
		return nil, fmt.Errorf("genai_queue_storage: reading %q from %s: %w", key, e.seg.f.Name(), err)
	}
	return buf, nil
}

func (c *logClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *logClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Batch applies the operations in order, the mutations as one frame (all or nothing after a crash);
// a Get sees the mutations before it in the same batch.
func (c *logClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	mutates := false
	for _, op := range ops {
		if op.Type != storage.Get {
			mutates = true
			break
		}
	}
	if !mutates {
		c.mu.RLock()
		defer c.mu.RUnlock()
		if c.closed {
			return errClosed
		}
		for _, op := range ops {
			v, err := c.read(op.Key)
			if err != nil {
				return err
			}
			op.Value = v
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errClosed
	}
	// Gets after a mutation of their key in this batch see it
	var pending map[string]*storage.Operation
	var muts []*storage.Operation
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			if p, ok := pending[op.Key]; ok {
				if p.Type == storage.Set {
					op.Value = append([]byte{}, p.Value...) // set to empty is not missing (nil), as in read
				} else {
					op.Value = nil
				}
				continue
			}
			v, err := c.read(op.Key)
			if err != nil {
				return err
			}
			op.Value = v
		case storage.Set, storage.Delete:
			if pending == nil {
				pending = map[string]*storage.Operation{}
			}
			pending[op.Key] = op
			muts = append(muts, op)
		default:
			return fmt.Errorf("genai_queue_storage: unknown operation type %d on %q", op.Type, op.Key)
		}
	}
	if err := c.append(muts); err != nil {
		return err
	}
	c.tidy()
	return nil
}

// append writes one frame holding muts at the end of the active segment, then applies them to the index.
func (c *logClient) append(muts []*storage.Operation) error {
	// the frame's pieces: record headers and keys into scratch, large values straight from the caller
	type piece struct {
		b      []byte
		direct bool
	}
	c.scratch = c.scratch[:0]
	var pieces []piece
	var size int64
	valueOffsets := make([]int64, len(muts)) // within the payload
	var crc uint32
	flush := func(start int) {
		if len(c.scratch) > start {
			pieces = append(pieces, piece{b: c.scratch[start:]})
		}
	}
	start := 0
	var tmp [binary.MaxVarintLen64]byte
	for i, op := range muts {
		kind := byte(opSet)
		if op.Type == storage.Delete {
			kind = opDelete
		}
		c.scratch = append(c.scratch, kind)
		c.scratch = append(c.scratch, tmp[:binary.PutUvarint(tmp[:], uint64(len(op.Key)))]...)
		c.scratch = append(c.scratch, op.Key...)
		if kind == opSet {
			c.scratch = append(c.scratch, tmp[:binary.PutUvarint(tmp[:], uint64(len(op.Value)))]...)
			if len(op.Value) >= directWrite {
				flush(start)
				start = len(c.scratch)
				valueOffsets[i] = size + int64(start)
				pieces = append(pieces, piece{b: op.Value, direct: true})
				size += int64(len(op.Value))
				continue
			}
			valueOffsets[i] = size + int64(len(c.scratch))
			c.scratch = append(c.scratch, op.Value...)
		}
	}
	flush(start)
	size += int64(len(c.scratch))
	if size > maxFrame {
		return fmt.Errorf("genai_queue_storage: a batch of %d bytes is larger than a frame holds (4 GiB)", size)
	}
	// (a piece taken from scratch before it grew still points at the bytes it was taken with)
	for _, p := range pieces {
		crc = crc32.Update(crc, castagnoli, p.b)
	}
	var head [frameHeader]byte
	binary.LittleEndian.PutUint32(head[0:4], uint32(size))
	binary.LittleEndian.PutUint32(head[4:8], crc)

	s := c.active
	frameStart := s.size
	w := io.NewOffsetWriter(s.f, frameStart)
	err := writeAll(w, head[:])
	for _, p := range pieces {
		if err != nil {
			break
		}
		err = writeAll(w, p.b)
	}
	if err == nil && c.fsync {
		err = s.f.Sync()
	}
	if err != nil {
		// leave no partial frame behind: the next frame must start where this one did
		if terr := s.f.Truncate(frameStart); terr != nil {
			c.logger.Error("genai_queue_storage: could not cut a failed write off; starting a new segment", zap.String("segment", s.f.Name()), zap.Error(terr))
			s.size = frameStart
			c.sealed = append(c.sealed, s)
			if serr := c.startSegment(s.id + 1); serr != nil {
				c.active = nil
				c.closed = true
				return errors.Join(err, serr)
			}
		}
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%w: %s: %w", storage.ErrStorageFull, c.dir, err)
		}
		return fmt.Errorf("genai_queue_storage: writing to %s: %w", s.f.Name(), err)
	}
	s.size = frameStart + frameHeader + size
	if cap(c.scratch) > scratchKeep {
		c.scratch = nil
	}
	base := frameStart + frameHeader
	for i, op := range muts {
		if op.Type == storage.Delete {
			c.drop(op.Key)
			continue
		}
		c.put(op.Key, entry{seg: s, off: base + valueOffsets[i], n: len(op.Value)}, op.Value)
	}
	return nil
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b) // io.OffsetWriter loops until all is written or an error
	return err
}

// tidy runs maintain once a frame is written. The frame is the Batch's outcome: an error would tell
// the caller nothing was written (the persistent queue then drops the item its batch has just read),
// so a maintenance failure (a segment file that cannot be created, a disk too full for a copy) is
// logged when it starts and when it ends, and tried again after the next frame.
func (c *logClient) tidy() {
	err := c.maintain()
	switch {
	case err != nil && c.maintErr == nil:
		c.logger.Error("genai_queue_storage: cannot close, start or delete segments (the files grow past their bound until this is fixed; tried again at every write)", zap.Error(err))
	case err == nil && c.maintErr != nil:
		c.logger.Info("genai_queue_storage: segments are closed, started and deleted again")
	}
	c.maintErr = err
}

// maintain closes the active segment once it reaches the segment size (it stays readable) and
// starts a new one; then deletes closed segments, oldest first and only the oldest: a segment's
// delete records hide values in older segments, so it may go only when they have. The oldest is
// deleted when nothing in it is live, or after its live values are copied forward when they are
// half its size or less (items a retry keeps while later ones went), or when the files with its
// copies would hold more than twice the live records plus a segment (dead segments kept behind a
// live oldest one; counting the copies, which are on disk beside the segment until it goes, keeps
// the bound while copying too). So the files hold at most about twice what the queue holds (its
// values, with their keys: a record's few bytes more), plus the active segment.
func (c *logClient) maintain() error {
	if c.active.size >= c.segLimit {
		old := c.active
		if err := c.startSegment(old.id + 1); err != nil {
			c.active = old
			return err
		}
		c.sealed = append(c.sealed, old)
	}
	for n := len(c.sealed); n > 0 && len(c.sealed) > 0; n-- {
		s := c.sealed[0]
		if s.live > 0 && s.liveBytes*2 > s.size && !c.overgrown(s.liveBytes) {
			return nil
		}
		if s.live > 0 {
			var muts []*storage.Operation
			for key, e := range c.index {
				if e.seg == s {
					v, err := c.read(key)
					if err != nil {
						return err
					}
					muts = append(muts, storage.SetOperation(key, v))
				}
			}
			sort.Slice(muts, func(i, j int) bool { return muts[i].Key < muts[j].Key })
			if err := c.append(muts); err != nil {
				return err
			}
		}
		if err := c.removeOldest(); err != nil {
			return err
		}
		if c.active.size >= c.segLimit { // the copies filled it: close it (it is now the newest closed one)
			old := c.active
			if err := c.startSegment(old.id + 1); err != nil {
				c.active = old
				return err
			}
			c.sealed = append(c.sealed, old)
		}
	}
	return nil
}

// overgrown: the files, with copies of `copies` bytes more, would hold more than twice the live
// records plus a segment.
func (c *logClient) overgrown(copies int64) bool {
	disk, live := c.active.size, c.active.liveBytes
	for _, s := range c.sealed {
		disk += s.size
		live += s.liveBytes
	}
	return disk+copies > 2*live+c.segLimit
}

// Close releases the files and the directory lock; the data stays for the next start.
func (c *logClient) Close(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.closeFiles()
	if c.onClose != nil {
		c.onClose()
	}
	return err
}

func (c *logClient) closeFiles() error {
	var errs []error
	if c.active != nil {
		if c.fsync {
			errs = append(errs, c.active.f.Sync())
		}
		errs = append(errs, c.active.f.Close())
	}
	for _, s := range c.sealed {
		errs = append(errs, s.f.Close())
	}
	if c.lock != nil {
		errs = append(errs, unlockDir(c.lock))
	}
	return errors.Join(errs...)
}
