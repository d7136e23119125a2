// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genaicommon

import (
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestEqualIsTyped(t *testing.T) {
	cases := []struct {
		v    pcommon.Value
		want any
		eq   bool
	}{
		{pcommon.NewValueStr("request"), "request", true},
		{pcommon.NewValueStr("true"), true, false},
		{pcommon.NewValueBool(true), true, true},
		{pcommon.NewValueInt(3), 3, true},
		{pcommon.NewValueDouble(3), 3, true},
		{pcommon.NewValueStr("3"), 3, false},
		{pcommon.NewValueEmpty(), "", false},
	}
	for i, c := range cases {
		if Equal(c.v, c.want) != c.eq {
			t.Errorf("case %d: Equal(%v, %v) != %v", i, c.v.AsRaw(), c.want, c.eq)
		}
	}
}

func TestConversionsAreOTTLs(t *testing.T) {
	ints := map[string]struct {
		v  pcommon.Value
		n  int64
		ok bool
	}{
		"int": {pcommon.NewValueInt(7), 7, true}, "double truncated": {pcommon.NewValueDouble(-2.9), -2, true},
		"numeric string": {pcommon.NewValueStr("12"), 12, true}, "decimal string": {pcommon.NewValueStr("1.5"), 0, false},
		"bool": {pcommon.NewValueBool(true), 1, true}, "map": {pcommon.NewValueMap(), 0, false},
	}
	for name, c := range ints {
		if n, ok := AsInt(c.v); n != c.n || ok != c.ok {
			t.Errorf("AsInt %s: %d %v", name, n, ok)
		}
	}
	if f, ok := AsDouble(pcommon.NewValueStr("0.25")); f != 0.25 || !ok {
		t.Errorf("AsDouble string: %v %v", f, ok)
	}
	for _, v := range []pcommon.Value{pcommon.NewValueDouble(math.NaN()), pcommon.NewValueDouble(math.Inf(1)), pcommon.NewValueDouble(math.Inf(-1)),
		pcommon.NewValueStr("NaN"), pcommon.NewValueStr("nan"), pcommon.NewValueStr("+Inf"), pcommon.NewValueStr("-infinity"), pcommon.NewValueStr("1e999")} {
		if f, ok := AsDouble(v); ok {
			t.Errorf("AsDouble(%s) = %v, accepted: not a finite number", v.AsString(), f)
		}
	}
	if _, ok := AsDouble(pcommon.NewValueStr("n/a")); ok {
		t.Error("AsDouble of a non-number")
	}
	if f, ok := AsDouble(pcommon.NewValueBool(false)); f != 0 || !ok {
		t.Error("AsDouble bool")
	}
}
