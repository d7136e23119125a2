// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

// Package genaicommon holds what genai-o11y's collector components share: attribute comparisons and
// number conversions with OTTL's semantics, so that each native component gives what the same
// logic in OTTL gives (collector.engine: ottl). See README.md.
package genaicommon

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Equal: v is want, of the same type, as OTTL's == compares an attribute with a literal (the
// string "true" is not the boolean; an integer also equals an integral double).
func Equal(v pcommon.Value, want any) bool {
	switch want := want.(type) {
	case string:
		return v.Type() == pcommon.ValueTypeStr && v.Str() == want
	case bool:
		return v.Type() == pcommon.ValueTypeBool && v.Bool() == want
	case int:
		return equalInt(v, int64(want))
	case int64:
		return equalInt(v, want)
	}
	return false
}

func equalInt(v pcommon.Value, want int64) bool {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int() == want
	case pcommon.ValueTypeDouble:
		return v.Double() == float64(want)
	}
	return false
}

// CheckEquals: a comparison's key is set and its value is a type Equal compares.
func CheckEquals(key string, value any) error {
	if key == "" {
		return errors.New("key: empty")
	}
	switch value.(type) {
	case string, bool, int, int64:
		return nil
	}
	return fmt.Errorf("value of %s: %v (%T) must be a string, bool or integer", key, value, value)
}

// AsInt converts as OTTL's Int(): strings are parsed, doubles truncated, booleans are 1 or 0; other
// types (and strings that are not integers) are not numbers.
func AsInt(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return int64(v.Double()), true
	case pcommon.ValueTypeStr:
		i, err := strconv.ParseInt(v.Str(), 10, 64)
		return i, err == nil
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// AsDouble converts as OTTL's Double(), and refuses what is not a finite number: one NaN or
// infinity (a judge whose output did not parse, "NaN" as a string) added to a cumulative sum would
// make the series NaN until the process restarts, and every mean and alert over it with it (the ottl
// engine's metrics carry the same condition: catalog.UsageMetric.signal_to_metrics).
func AsDouble(v pcommon.Value) (float64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		f := v.Double()
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeStr:
		f, err := strconv.ParseFloat(v.Str(), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
