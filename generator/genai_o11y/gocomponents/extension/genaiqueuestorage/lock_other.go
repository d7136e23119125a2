// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

//go:build !unix

package genaiqueuestorage

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir on systems without flock: an exclusively created LOCK file, removed on close (a crashed
// process leaves it: remove it by hand).
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("genai_queue_storage: %s is in use (or left by a process that crashed: remove it): %w", path, err)
	}
	return f, nil
}

func unlockDir(f *os.File) error {
	f.Close()
	return os.Remove(f.Name())
}
