// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"regexp"
	"regexp/syntax"
)

// starts: where a match of a regexp can begin. Go's regexp tries an unanchored pattern at every
// position of a run; most positions cannot begin a match (a phone number begins with '+', '(' or
// a digit that follows no word character, as its \b says). free: bytes that may begin a match at
// any position; afterBoundary: bytes that may begin one only where \b holds before them. The
// pattern anchored (^, with one byte of left context where there is one, so that its assertions
// see the same neighbours) is tried at those positions only, left to right, resuming after each
// match: the same leftmost-first, non-overlapping matches as FindAllStringIndex (the Go tests
// check it on random text).
type starts struct {
	free, afterBoundary [256]bool
	anchored, withLeft  *regexp.Regexp // ^(?:re) at the start of the text; ^(?s:.)(?:re) one byte after
	// alts: a pattern that is an alternation, alternative by alternative, in order: at one position
	// leftmost-first takes the first alternative that matches there, so each is tried only where it
	// can begin (a phone number's '+' form only at a '+').
	alts []*starts
}

// newStarts: nil when the analysis cannot tell (non-ASCII first characters, a pattern that can match
// empty, or one that begins at the start of the text anyway).
func newStarts(re *regexp.Regexp, parsed *syntax.Regexp) *starts {
	st := newStarts1(re, parsed)
	if st == nil {
		return nil
	}
	top := parsed
	for top.Op == syntax.OpCapture && top.Cap == 0 {
		top = top.Sub[0]
	}
	if top.Op == syntax.OpAlternate && parsed.Op != syntax.OpCapture {
		for _, sub := range top.Sub {
			alt, err := regexp.Compile(sub.String())
			if err != nil {
				return st
			}
			a := newStarts1(alt, sub)
			if a == nil {
				return st
			}
			st.alts = append(st.alts, a)
		}
	}
	return st
}

func newStarts1(re *regexp.Regexp, parsed *syntax.Regexp) *starts {
	st := &starts{}
	if nullable, ok := st.first(parsed, false); !ok || nullable {
		return nil
	}
	var err error
	if st.anchored, err = regexp.Compile(`^(?:` + re.String() + `)`); err != nil {
		return nil
	}
	if st.withLeft, err = regexp.Compile(`^(?s:.)(?:` + re.String() + `)`); err != nil {
		return nil
	}
	return st
}

// first adds the bytes that can begin a match of re (after a \b on the path when boundary); it
// returns whether re can match empty, and false when it cannot tell.
func (st *starts) first(re *syntax.Regexp, boundary bool) (nullable, ok bool) {
	add := func(set *[256]bool) {
		for b, in := range set {
			if in {
				if boundary {
					st.afterBoundary[b] = true
				} else {
					st.free[b] = true
				}
			}
		}
	}
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpEndText, syntax.OpNoWordBoundary, syntax.OpWordBoundary:
		return true, true
	case syntax.OpBeginText:
		return false, false // anchored already: nothing to gain
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true, true
		}
		set, ok := runeSet([]rune{re.Rune[0], re.Rune[0]}, re.Flags&syntax.FoldCase != 0)
		if !ok {
			return false, false
		}
		add(set)
		return false, true
	case syntax.OpCharClass:
		set, ok := runeSet(re.Rune, false)
		if !ok {
			return false, false
		}
		add(set)
		return false, true
	case syntax.OpCapture, syntax.OpPlus:
		return st.first(re.Sub[0], boundary)
	case syntax.OpStar, syntax.OpQuest:
		_, ok := st.first(re.Sub[0], boundary)
		return true, ok
	case syntax.OpRepeat:
		n, ok := st.first(re.Sub[0], boundary)
		return n || re.Min == 0, ok
	case syntax.OpAlternate:
		nullable := false
		for _, sub := range re.Sub {
			n, ok := st.first(sub, boundary)
			if !ok {
				return false, false
			}
			nullable = nullable || n
		}
		return nullable, true
	case syntax.OpConcat:
		b := boundary
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpWordBoundary {
				b = true
				continue
			}
			n, ok := st.first(sub, b)
			if !ok {
				return false, false
			}
			if !n {
				return false, true
			}
		}
		return true, true
	}
	return false, false
}

func isWordByte(c byte) bool { return isDigit(rune(c)) || isLetter(rune(c)) || c == '_' }

// can: whether a match may begin at byte p of s.
func (st *starts) can(s string, p int) bool {
	c := s[p]
	if st.free[c] {
		return true
	}
	return st.afterBoundary[c] && (p == 0 || isWordByte(s[p-1]) != isWordByte(c))
}

// findAll: re.FindAllStringIndex(s, -1), trying the anchored pattern only where a match can begin.
func (st *starts) findAll(s string) [][]int {
	var out [][]int
	for p := 0; p < len(s); p++ {
		if !st.can(s, p) {
			continue
		}
		end := -1
		if st.alts == nil {
			end = st.at(s, p)
		} else {
			for _, a := range st.alts {
				if a.can(s, p) {
					if end = a.at(s, p); end >= 0 {
						break
					}
				}
			}
		}
		if end < 0 {
			continue
		}
		out = append(out, []int{p, end})
		p = end - 1 // resume at the match's end (a match is never empty)
	}
	return out
}

// at: the end of the match that begins at byte p of s, -1 when none does.
func (st *starts) at(s string, p int) int {
	if p == 0 {
		if m := st.anchored.FindStringIndex(s); m != nil {
			return m[1]
		}
		return -1
	}
	if m := st.withLeft.FindStringIndex(s[p-1:]); m != nil {
		return p - 1 + m[1]
	}
	return -1
}
