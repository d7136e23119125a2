// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// scanner answers "can this regexp match somewhere in s?" without scanning all of s when the
// pattern allows it. Go's regexp tries a pattern that does not start with a literal at every
// position of the text (tens of nanoseconds per byte). Most detectors are bounded in length and
// need a byte from a small set (a digit, '+', ':'): every match then lies within maxLen bytes of
// such an anchor byte, so only windows around the anchors are matched. The answer is sound (no
// false negative): a match of s lies wholly inside one window, with at least one byte of context on
// each side, so its assertions (\b, ^, $) see the same neighbours. A window may match where s does
// not (an assertion at a window's edge); callers then run the full-text scan, which decides.
//
// Better still, when every byte a match can contain is ASCII and known (its alphabet: e-mail
// addresses are letters, digits and ._%+-@, phone numbers digits, spaces and +.-()), a match lies
// wholly inside one run of alphabet bytes, and only runs holding a needed byte can hold one. Such a
// run, with the byte on each side (not in the alphabet, so in no match) for the assertions, matches
// exactly where the text does at those positions: matching and replacing run on those runs only.
type scanner struct {
	re      *regexp.Regexp
	need    *byteSet   // every match contains one of these bytes (nil: unknown)
	anchors *[256]bool // nil: no usable anchor set, scan the whole text
	maxLen  int
	alpha   *[256]bool // every byte of every match is one of these (nil: unknown)
	needs   *[256]bool // need, as a table (with alpha)
	digits  int        // every match holds at least this many ASCII digits (with alpha: runs with fewer are skipped)
	letters int        // ... and this many ASCII letters
	starts  *starts    // where a match can begin (with alpha; nil: anywhere)
	needOne int        // the one byte every match needs, when needs has one (found by IndexByte); -1 otherwise
}

// byteSet is a set of bytes, as four 64-bit words.
type byteSet [4]uint64

// presence: the set of bytes s contains (one pass; callers compute it once per text). Setting a bit
// in one of four words per byte makes every byte wait for the previous one's store to the same word
// (about 4 ns per byte of content); a text longer than presenceTableMin marks a table instead (stores
// only) and folds it into the set once.
func presence(s string) (p byteSet) {
	if len(s) < presenceTableMin {
		for i := 0; i < len(s); i++ {
			c := s[i]
			p[c>>6] |= 1 << (c & 63)
		}
		return p
	}
	var seen [256]bool
	for i := 0; i < len(s); i++ {
		seen[s[i]] = true
	}
	for c := range seen {
		if seen[c] {
			p[c>>6] |= 1 << (c & 63)
		}
	}
	return p
}

// presenceTableMin: from this length the table costs less than its fixed fold (measured: BenchmarkPresence).
const presenceTableMin = 128

// asciiLower: the bytes of strings.ToLower(s) from s's own set, when s is ASCII (ToLower maps A-Z to
// a-z and nothing else): bits 65-90 of the second word move to 97-122. ok is false for non-ASCII text.
func (a *byteSet) asciiLower() (lower byteSet, ok bool) {
	if a[2]|a[3] != 0 {
		return lower, false
	}
	const upper = uint64(1<<26-1) << 1 // 'A' (65) .. 'Z' (90), as bits of the word for 64-127
	lower = *a
	lower[1] = a[1]&^upper | (a[1]&upper)<<32
	return lower, true
}

// holds: every byte of b is in a.
func (a *byteSet) holds(b *byteSet) bool {
	return a[0]&b[0] == b[0] && a[1]&b[1] == b[1] && a[2]&b[2] == b[2] && a[3]&b[3] == b[3]
}

func (a *byteSet) add(b *byteSet) {
	a[0], a[1], a[2], a[3] = a[0]|b[0], a[1]|b[1], a[2]|b[2], a[3]|b[3]
}

func (a *byteSet) intersects(b *byteSet) bool {
	return a[0]&b[0]|a[1]&b[1]|a[2]&b[2]|a[3]&b[3] != 0
}

func toByteSet(set *[256]bool) *byteSet {
	var b byteSet
	for c, in := range set {
		if in {
			b[c>>6] |= 1 << (c & 63)
		}
	}
	return &b
}

// anchorsWorthIt: an anchor set larger than this (letters, say) would make windows cover most text.
const anchorsWorthIt = 16

func newScanner(re *regexp.Regexp) *scanner {
	s := &scanner{re: re}
	parsed, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return s
	}
	if startsAtBeginning(parsed) { // Go's regexp tries such a pattern at position 0 only: nothing to gain
		return s
	}
	n, bounded := maxBytes(parsed)
	set, ok := required(parsed)
	if ok {
		s.need = toByteSet(set)
		if alpha := new([256]bool); alphabet(parsed, alpha) && !matchesEmpty(re) {
			s.alpha, s.needs, s.needOne = alpha, set, -1
			if count(set) == 1 {
				for c, in := range set {
					if in {
						s.needOne = c
					}
				}
			}
			s.digits, s.letters = minCount(parsed, isDigit), minCount(parsed, isLetter)
			s.starts = newStarts(re, parsed)
		}
	}
	if !bounded || !ok || count(set) > anchorsWorthIt {
		return s
	}
	s.anchors, s.maxLen = set, n
	return s
}

// startsAtBeginning: every match of re starts at the beginning of the text (^ without (?m), \A).
func startsAtBeginning(re *syntax.Regexp) bool {
	for re.Op == syntax.OpConcat || re.Op == syntax.OpCapture {
		if len(re.Sub) == 0 {
			return false
		}
		re = re.Sub[0]
	}
	return re.Op == syntax.OpBeginText
}

// match reports whether re may match s (true when it does; rarely true when it does not).
// present: the bytes of s (presence(s)); a text without any byte every match needs is skipped
// without running the regexp.
func (sc *scanner) match(s string, present *byteSet) bool {
	if sc.need != nil && !present.intersects(sc.need) {
		return false
	}
	if sc.alpha != nil {
		for lo, hi := sc.nextRun(s, 0); lo >= 0; lo, hi = sc.nextRun(s, hi) {
			if sc.re.MatchString(s[lo:hi]) {
				return true
			}
		}
		return false
	}
	if sc.anchors == nil || len(s) <= 4*sc.maxLen+2 {
		return sc.re.MatchString(s)
	}
	start, end := -1, -1 // the current merged window [start, end)
	for i := 0; i < len(s); i++ {
		if !sc.anchors[s[i]] {
			continue
		}
		lo, hi := i-sc.maxLen-1, i+sc.maxLen+2
		if lo < 0 {
			lo = 0
		}
		if hi > len(s) {
			hi = len(s)
		}
		if start >= 0 && lo <= end {
			end = hi
			continue
		}
		if start >= 0 && sc.re.MatchString(s[start:end]) {
			return true
		}
		start, end = lo, hi
	}
	return start >= 0 && sc.re.MatchString(s[start:end])
}

// nextRun: from byte `from` on, the next run of alphabet bytes holding a needed byte, widened by
// one byte on each side (context for assertions); lo = -1 when there is none.
// Runs with fewer digits than every match holds are skipped (a card number needs 13).
func (sc *scanner) nextRun(s string, from int) (lo, hi int) {
	for i := from; i < len(s); i++ {
		if sc.needOne >= 0 { // one needed byte ('@' for e-mail): a vectorised search
			j := strings.IndexByte(s[i:], byte(sc.needOne))
			if j < 0 {
				return -1, -1
			}
			i += j
		} else if !sc.needs[s[i]] {
			continue
		}
		lo, hi = i, i+1
		for lo > from && sc.alpha[s[lo-1]] {
			lo--
		}
		for hi < len(s) && sc.alpha[s[hi]] {
			hi++
		}
		if sc.digits > 0 || sc.letters > 0 {
			d, l := 0, 0
			for j := lo; j < hi && (d < sc.digits || l < sc.letters); j++ {
				if isDigit(rune(s[j])) {
					d++
				} else if isLetter(rune(s[j])) {
					l++
				}
			}
			if d < sc.digits || l < sc.letters {
				i = hi
				continue
			}
		}
		return max(lo-1, 0), min(hi+1, len(s))
	}
	return -1, -1
}

func isDigit(r rune) bool  { return '0' <= r && r <= '9' }
func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// minDigits: the fewest ASCII digits a match of re holds.
func minDigits(re *syntax.Regexp) int { return minCount(re, isDigit) }

// minCount: the fewest characters of a class (ASCII digits, ASCII letters) a match of re holds (0
// when unknown). Sound: a character class counts only when all of it is in the class (and under
// case folding, so are its other cases), a literal only when it is.
func minCount(re *syntax.Regexp, in func(rune) bool) int {
	fold := re.Flags&syntax.FoldCase != 0
	member := func(r rune) bool {
		if !in(r) {
			return false
		}
		if fold && isLetter(r) {
			return r != 'k' && r != 'K' && r != 's' && r != 'S' // these also fold to non-ASCII runes
		}
		return true
	}
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			if member(r) {
				n++
			}
		}
		return n
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return 0
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r > 0x7f || !member(r) {
					return 0
				}
			}
		}
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minCount(re.Sub[0], in)
	case syntax.OpRepeat:
		return re.Min * minCount(re.Sub[0], in)
	case syntax.OpConcat:
		n := 0
		for _, sub := range re.Sub {
			n += minCount(sub, in)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, sub := range re.Sub {
			if m := minCount(sub, in); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0
}

// replaceAll is re.ReplaceAllString(s, mask) ($ expanded as in Expand), run on the alphabet runs
// only when the scanner has an alphabet.
func (sc *scanner) replaceAll(s, mask string) string {
	if sc.alpha == nil {
		return sc.re.ReplaceAllString(s, mask)
	}
	literal := !strings.Contains(mask, "$") // no ${1} to expand: the cheaper search without submatches
	var out []byte
	last := 0
	for lo, hi := sc.nextRun(s, 0); lo >= 0; lo, hi = sc.nextRun(s, hi) {
		window := s[lo:hi]
		if literal {
			for _, m := range sc.findAll(window) {
				if out == nil {
					out = make([]byte, 0, len(s))
				}
				out = append(append(out, s[last:lo+m[0]]...), mask...)
				last = lo + m[1]
			}
			continue
		}
		for _, m := range sc.re.FindAllStringSubmatchIndex(window, -1) {
			if out == nil {
				out = make([]byte, 0, len(s))
			}
			out = append(out, s[last:lo+m[0]]...)
			out = sc.re.ExpandString(out, mask, window, m)
			last = lo + m[1]
		}
	}
	if out == nil {
		return s
	}
	return string(append(out, s[last:]...))
}

// findAll: re.FindAllStringIndex(s, -1), anchored at the positions where a match can begin when
// that is known (starts).
func (sc *scanner) findAll(s string) [][]int {
	if sc.starts != nil {
		return sc.starts.findAll(s)
	}
	return sc.re.FindAllStringIndex(s, -1)
}

// alphabet adds to set every byte a match of re can contain; false when that is not a known set of
// ASCII bytes (any character, a negated or non-ASCII class, a case fold to non-ASCII runes).
func alphabet(re *syntax.Regexp, set *[256]bool) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if !addRunes(set, []rune{r, r}, re.Flags&syntax.FoldCase != 0) {
				return false
			}
		}
		return true
	case syntax.OpCharClass:
		return addRunes(set, re.Rune, false)
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat, syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !alphabet(sub, set) {
				return false
			}
		}
		return true
	}
	return false
}

func addRunes(set *[256]bool, ranges []rune, fold bool) bool {
	add, ok := runeSet(ranges, fold)
	if !ok {
		return false
	}
	for b, in := range add {
		set[b] = set[b] || in
	}
	return true
}

// matchesEmpty: the regexp matches the empty string (then a match need not lie in any run).
func matchesEmpty(re *regexp.Regexp) bool { return re.MatchString("") }

func count(set *[256]bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

const unbounded = -1

// maxBytes: the longest match of re in bytes, and whether it is bounded.
func maxBytes(re *syntax.Regexp) (int, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, true
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 && r > 0x7f {
				n += utf8.UTFMax
			} else {
				n += utf8.RuneLen(r)
			}
		}
		return n, true
	case syntax.OpCharClass:
		w := 1
		for i := 1; i < len(re.Rune); i += 2 {
			if l := utf8.RuneLen(re.Rune[i]); l > w {
				w = l
			} else if l < 0 {
				w = utf8.UTFMax
			}
		}
		return w, true
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return utf8.UTFMax, true
	case syntax.OpCapture:
		return maxBytes(re.Sub[0])
	case syntax.OpQuest:
		return maxBytes(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return 0, false
	case syntax.OpRepeat:
		if re.Max < 0 {
			return 0, false
		}
		n, ok := maxBytes(re.Sub[0])
		return n * re.Max, ok
	case syntax.OpConcat, syntax.OpAlternate: // the sum of the parts, or the longest branch
		total := 0
		for _, sub := range re.Sub {
			n, ok := maxBytes(sub)
			if !ok {
				return 0, false
			}
			if re.Op == syntax.OpConcat {
				total += n
			} else {
				total = max(total, n)
			}
		}
		return total, true
	}
	return 0, false
}

// required: a set of bytes such that every match of re contains at least one of them (ok=false:
// none found). Only ASCII bytes are used, so a byte of the set in the text is that character.
func required(re *syntax.Regexp) (*[256]bool, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil, false
		}
		return runeSet([]rune{re.Rune[0], re.Rune[0]}, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCharClass:
		return runeSet(re.Rune, false)
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return required(re.Sub[0])
	case syntax.OpConcat:
		var best *[256]bool
		for _, sub := range re.Sub {
			if set, ok := required(sub); ok && (best == nil || count(set) < count(best)) {
				best = set
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		union := new([256]bool)
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				return nil, false
			}
			for b, in := range set {
				union[b] = union[b] || in
			}
		}
		return union, true
	}
	return nil, false
}

// runeSet: the bytes of a rune class given as ranges (lo, hi, ...), if all of it is ASCII.
func runeSet(ranges []rune, fold bool) (*[256]bool, bool) {
	set := new([256]bool)
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if hi > 0x7f || lo < 0 {
			return nil, false
		}
		for r := lo; r <= hi; r++ {
			set[byte(r)] = true
			if fold {
				switch {
				case r == 'k' || r == 'K' || r == 's' || r == 'S':
					// they also fold to non-ASCII runes (Kelvin sign, long s): not representable
					return nil, false
				case 'a' <= r && r <= 'z':
					set[byte(r-'a'+'A')] = true
				case 'A' <= r && r <= 'Z':
					set[byte(r-'A'+'a')] = true
				}
			}
		}
	}
	return set, true
}
