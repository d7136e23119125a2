// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiqueuestorage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

type queueStorage struct {
	cfg    *Config
	logger *zap.Logger

	mu      sync.Mutex
	clients map[string]*logClient
}

var _ storage.Extension = (*queueStorage)(nil)

func newExtension(cfg *Config, logger *zap.Logger) *queueStorage {
	return &queueStorage{cfg: cfg, logger: logger, clients: map[string]*logClient{}}
}

func (e *queueStorage) Start(context.Context, component.Host) error {
	if e.cfg.CreateDirectory {
		if err := os.MkdirAll(e.cfg.Directory, 0o750); err != nil {
			return fmt.Errorf("genai_queue_storage: directory %s: %w", e.cfg.Directory, err)
		}
	}
	st, err := os.Stat(e.cfg.Directory)
	if err != nil {
		return fmt.Errorf("genai_queue_storage: directory %s: %w (create it, or set create_directory: true)", e.cfg.Directory, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("genai_queue_storage: directory %s is not a directory", e.cfg.Directory)
	}
	return nil
}

func (e *queueStorage) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	open := make([]*logClient, 0, len(e.clients))
	for _, c := range e.clients {
		open = append(open, c)
	}
	e.mu.Unlock()
	var firstErr error
	for _, c := range open {
		if err := c.Close(ctx); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// clientDir is the client's own directory: kind, component type and name, storage name (as
// file_storage names its files), characters a file name cannot hold replaced by '~'.
func clientDir(root string, kind component.Kind, id component.ID, name string) string {
	parts := []string{strings.ToLower(kind.String()), id.Type().String()}
	if id.Name() != "" {
		parts = append(parts, id.Name())
	}
	if name != "" {
		parts = append(parts, name)
	}
	return filepath.Join(root, unsafeChars.ReplaceAllString(strings.Join(parts, "_"), "~"))
}

// GetClient opens (replaying what a previous run left) the client's directory.
func (e *queueStorage) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	dir := clientDir(e.cfg.Directory, kind, id, name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.clients[dir]; ok {
		return nil, fmt.Errorf("genai_queue_storage: a client for %s is already open", dir)
	}
	c, err := openClient(dir, int64(e.cfg.SegmentSizeMiB)<<20, e.cfg.FSync, e.logger.With(zap.String("client", filepath.Base(dir))))
	if err != nil {
		return nil, err
	}
	c.onClose = func() {
		e.mu.Lock()
		delete(e.clients, dir)
		e.mu.Unlock()
	}
	e.clients[dir] = c
	return c, nil
}
