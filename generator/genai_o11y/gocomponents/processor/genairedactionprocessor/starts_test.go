// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"math/rand"
	"reflect"
	"regexp"
	"testing"
)

// findAll with the start analysis finds exactly what FindAllStringIndex finds, for every detector
// of the policy that gets one, on random text made of the characters PII is made of.
func TestStartsFindWhatTheRegexpFinds(t *testing.T) {
	cfg := policyConfig(t)
	chars := []byte("0123456789 +-.()@_%abcxyzAEKZ:/=\u00e9\n,;'\"#")
	rng := rand.New(rand.NewSource(7))
	used := 0
	rules := append(append([]Rule(nil), cfg.Detectors...), cfg.SpanNameRules...)
	rules = append(rules, Rule{Name: "probe", Regex: `\bab+\b|\+?[0-9]{2}|(?:x\b)?y[0-9]`})
	for _, d := range rules {
		re := regexp.MustCompile(d.Regex)
		sc := newScanner(re)
		if sc.starts == nil {
			continue
		}
		used++
		for i := 0; i < 20000; i++ {
			b := make([]byte, rng.Intn(40))
			for j := range b {
				b[j] = chars[rng.Intn(len(chars))]
			}
			s := string(b)
			if i%3 == 0 { // a known-shaped sample in the noise
				s += []string{"+1 202-555-0143", "jane.doe@example.com", "(202) 555-0143", "030 1234 5678", "01 23 45 67 89"}[i%5] + s
			}
			want, got := re.FindAllStringIndex(s, -1), sc.starts.findAll(s)
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("%s on %q: want %v, got %v", d.Name, s, want, got)
			}
		}
	}
	if used < 3 {
		t.Fatalf("the start analysis applies to %d detectors only", used)
	}
}

func TestStartsAnalysis(t *testing.T) {
	sc := newScanner(regexp.MustCompile(`\+[0-9]{1,3}|\(?\b[0-9]{3}\)?`))
	st := sc.starts
	if st == nil || !st.free['+'] || !st.free['('] || st.free['5'] || !st.afterBoundary['5'] || st.free['a'] {
		t.Fatalf("%+v", st)
	}
	if !st.can("a +", 2) || st.can("15", 1) || !st.can("-5", 1) {
		t.Fatal("can")
	}
	for _, re := range []string{`^[0-9]+`, `[0-9]*`, `é[0-9]`} { // anchored, nullable, non-ASCII start: no analysis
		if s := newScanner(regexp.MustCompile(re)); s.starts != nil {
			t.Errorf("%s: %+v", re, s.starts)
		}
	}
}
