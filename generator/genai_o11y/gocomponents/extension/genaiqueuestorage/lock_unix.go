// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

//go:build unix

package genaiqueuestorage

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir/LOCK: two collectors (or two clients) writing one queue
// directory would each believe the other's items are theirs.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("genai_queue_storage: %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("genai_queue_storage: %s is in use by another process or component (%v): each collector needs a queue directory of its own", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	defer f.Close()
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
