// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

//go:build linux

package genaiqueuestorage

import (
	"bytes"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A write failing mid-frame (here the file size limit, RLIMIT_FSIZE: the write stops part way, as
// on a full disk) fails its batch and leaves nothing of it behind: the file is cut back to where
// the frame started, the index is unchanged, the next batch writes there, and a restart reads the
// file whole, with nothing to cut.
func TestAWriteFailingMidFrameLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	defer func() { c.Close(ctx) }()
	if err := c.Set(ctx, "a", value("a", 60_000)); err != nil {
		t.Fatal(err)
	}
	before := c.active.size

	signal.Ignore(syscall.SIGXFSZ) // else the signal ends the process
	defer signal.Reset(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = uint64(before) + 30_000
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot limit the file size: %v", err)
	}
	err := c.Batch(ctx, storage.SetOperation("a", []byte("half")), storage.SetOperation("b", value("b", 60_000)))
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil {
		t.Fatal("a write past the file size limit succeeded")
	}
	if st, _ := os.Stat(c.active.f.Name()); st.Size() != before || c.active.size != before {
		t.Fatalf("the failed frame was not cut off: the file has %d bytes, the segment %d, before %d", st.Size(), c.active.size, before)
	}
	if !bytes.Equal(get(t, c, "a"), value("a", 60_000)) || get(t, c, "b") != nil {
		t.Fatal("the failed batch changed the index")
	}
	if err := c.Set(ctx, "c", []byte("after")); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	core, logs := observer.New(zap.WarnLevel)
	c, err = openClient(dir, 1<<20, false, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(get(t, c, "a"), value("a", 60_000)) || get(t, c, "b") != nil || string(get(t, c, "c")) != "after" {
		t.Fatal("after a restart: the failed batch is there, or the ones around it are not")
	}
	if logs.Len() != 0 {
		t.Fatalf("the file was not left whole: %v", logs.All())
	}
}
