// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaiqueuestorage

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Config of the genai_queue_storage extension; genai-o11y generates it from its spec.
type Config struct {
	// Directory holds one sub-directory per client (an exporter's queue, per signal).
	Directory string `mapstructure:"directory"`
	// CreateDirectory creates Directory at start if it does not exist.
	CreateDirectory bool `mapstructure:"create_directory"`
	// FSync makes every write durable (fdatasync) before it returns: survives a machine crash, not
	// only a process crash, at the cost of one sync per queue operation.
	FSync bool `mapstructure:"fsync"`
	// SegmentSizeMiB is the size at which a log file is closed and a new one started; a closed file
	// is deleted once nothing in it is live any more.
	SegmentSizeMiB int `mapstructure:"segment_size_mib"`
}

func createDefaultConfig() *Config {
	return &Config{SegmentSizeMiB: 32}
}

// Validate names the field that is wrong.
func (c *Config) Validate() error {
	var errs []error
	if c.Directory == "" {
		errs = append(errs, errors.New("directory: required (where the queue's files go)"))
	} else if !filepath.IsAbs(c.Directory) {
		errs = append(errs, fmt.Errorf("directory: %q is not an absolute path", c.Directory))
	}
	if c.SegmentSizeMiB < 1 || c.SegmentSizeMiB > 1024 {
		errs = append(errs, fmt.Errorf("segment_size_mib: %d is outside 1 - 1024", c.SegmentSizeMiB))
	}
	return errors.Join(errs...)
}
