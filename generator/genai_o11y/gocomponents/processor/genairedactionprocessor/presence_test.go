// Copyright genai-o11y authors
// SPDX-License-Identifier: Apache-2.0

package genairedactionprocessor

import (
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// naivePresence: the definition presence must keep.
func naivePresence(s string) (p byteSet) {
	for _, c := range []byte(s) {
		p[c/64] |= 1 << (c % 64)
	}
	return p
}

// texts of every length around presenceTableMin, from every byte value (ASCII only in half of them).
func presenceTexts(rng *rand.Rand, n int) []string {
	out := []string{"", "A", "Z", "@", "\x80", "\xff"}
	for i := 0; i < n; i++ {
		b := make([]byte, rng.Intn(3*presenceTableMin))
		limit := 256
		if i%2 == 0 {
			limit = 128
		}
		for j := range b {
			b[j] = byte(rng.Intn(limit))
		}
		out = append(out, string(b))
	}
	return out
}

func TestPresenceIsTheSetOfBytes(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, s := range presenceTexts(rng, 4000) {
		if got, want := presence(s), naivePresence(s); got != want {
			t.Fatalf("presence(%q) = %v, want %v", s, got, want)
		}
	}
}

// The gates read the bytes of the lowercased text: for ASCII text they are derived from the text's own set.
func TestASCIILowerIsTheSetOfToLower(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	ascii, other := 0, 0
	for _, s := range presenceTexts(rng, 4000) {
		p := presence(s)
		lower, ok := p.asciiLower()
		isASCII := true
		for _, c := range []byte(s) {
			if c >= 0x80 {
				isASCII = false
			}
		}
		if ok != isASCII {
			t.Fatalf("asciiLower(%q): ok %v, ASCII %v", s, ok, isASCII)
		}
		if !ok {
			other++
			continue
		}
		ascii++
		if want := naivePresence(strings.ToLower(s)); lower != want {
			t.Fatalf("asciiLower(%q) = %v, want the bytes of ToLower %v", s, lower, want)
		}
	}
	if ascii < 1000 || other < 1000 {
		t.Fatalf("test too weak: %d ASCII texts, %d others", ascii, other)
	}
}

// countTokens counts each mask token as strings.Count does, in texts dense with tokens, their
// fragments and tokens that share a first byte.
func TestCountTokensIsStringsCount(t *testing.T) {
	for _, tokens := range [][]string{
		{"<EMAIL>", "<PHONE>", "<CARD>", "<API_KEY>", "<CREDENTIALS>", "<IP>"},
		{"<A>", "[B]", "aa", "aaa", "<A><A>"}, // several first bytes; tokens that overlap themselves and each other
	} {
		r := &redactor{tokens: tokens}
		seen := map[byte]bool{}
		for _, tk := range tokens {
			if !seen[tk[0]] {
				seen[tk[0]] = true
				r.tokenFirst += tk[:1]
			}
		}
		rng := rand.New(rand.NewSource(9))
		parts := append([]string{"<", ">", "[", "a", " ", "x", "EMA", "IL>"}, tokens...)
		counted := 0
		for i := 0; i < 3000; i++ {
			var b strings.Builder
			for j := rng.Intn(40); j > 0; j-- {
				b.WriteString(parts[rng.Intn(len(parts))])
			}
			s := b.String()
			want := 0
			for _, tk := range tokens {
				want += strings.Count(s, tk)
			}
			counted += want
			if got := r.countTokens(s); got != want {
				t.Fatalf("countTokens(%q) with %q = %d, strings.Count says %d", s, tokens, got, want)
			}
		}
		if counted < 3000 {
			t.Fatalf("test too weak: %d tokens in all texts", counted)
		}
	}
}

func BenchmarkPresence(b *testing.B) {
	for _, n := range []int{16, 64, 128, 256, 1024} {
		s := strings.Repeat("Hello, I am jane.roe@example.org and my order has not arrived. ", 1+n/60)[:n]
		b.Run("table"+strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sink = presence(s)
			}
		})
		b.Run("naive"+strconv.Itoa(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sink = naivePresence(s)
			}
		})
	}
}

var sink byteSet
