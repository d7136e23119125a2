//go:build tools

// Package tools pins the Cortex binary this module builds (`go build github.com/cortexproject/cortex/cmd/cortex`).
package tools

import _ "github.com/cortexproject/cortex/cmd/cortex"
