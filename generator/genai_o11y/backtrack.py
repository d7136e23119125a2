"""Exponential backtracking in Python's `re` (the app-side redactor), found from a regex's structure.

Go's RE2 (the collector) is linear; Python's `re` backtracks, and a regex whose automaton can read
the same text along two different paths from a state back to itself (exponential degree of
ambiguity, EDA) takes time exponential in the length of text that makes it fail: `(a+)+b`,
`L(?:[._+]L)+` with `_` and `+` in L. This is the classic check on the regex's position automaton
(Glushkov): in the automaton of pairs of positions reading the same character, a strongly connected
component holding a pair (q, q) and a pair (p, p') with p != p' is such a double loop.

Over-approximations make it conservative: anchors and \\b read nothing (epsilon), repeats of more
than UNROLL copies are loops. Characters are ASCII (the redactor's re.ASCII) plus one non-ASCII
letter, grouped by which sets of the regex take them (one representative each).
"""

from __future__ import annotations

import re
import sys
from re import _constants as C  # noqa: N812
from re import _parser

#: Bounded repeats up to this many copies are unrolled (exact); longer ones become loops.
UNROLL = 16
_CHARS = [chr(i) for i in range(32, 127)] + ["\t", "\n", "\u00e9"]


def class_regex(kind, v) -> str:
    if kind is C.LITERAL:
        return re.escape(chr(v))
    if kind is C.RANGE:
        return re.escape(chr(v[0])) + "-" + re.escape(chr(v[1]))
    if kind is C.NEGATE:
        return "^"
    return {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s", C.CATEGORY_NOT_SPACE: r"\S",
            C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}[v]


class _Glushkov:
    """Positions (one per character set read), each with the characters it takes (a bit mask over the
    representative characters) and the positions that may follow it."""

    def __init__(self, regex: str):
        parsed = _parser.parse(regex, re.ASCII)
        self.leaves: list[tuple[str, bool]] = []
        self._collect(list(parsed), bool(parsed.state.flags & re.IGNORECASE))
        sets = [re.compile(s, re.ASCII | (re.IGNORECASE if fold else 0)) for s, fold in self.leaves]
        reps: dict[tuple, str] = {}
        for ch in _CHARS:
            reps.setdefault(tuple(bool(s.fullmatch(ch)) for s in sets), ch)
        self.reps = list(reps.values())
        self._set_masks = [sum(1 << i for i, ch in enumerate(self.reps) if s.fullmatch(ch)) for s in sets]
        self.mask: list[int] = []  # position -> characters
        self.follow: list[dict[int, int]] = []  # position -> {next position: how many routes lead there}
        self._leaf = 0
        _nullable, self.first, _last = self._build(list(parsed), bool(parsed.state.flags & re.IGNORECASE))

    # the character sets, in the order _build meets them (a repeat unrolled reuses its body's sets)
    def _collect(self, seq, fold: bool) -> None:
        for op, av in seq:
            if op in (C.LITERAL, C.NOT_LITERAL):
                self.leaves.append((("[^" if op is C.NOT_LITERAL else "[") + re.escape(chr(av)) + "]", fold))
            elif op is C.IN:
                self.leaves.append(("[" + "".join(class_regex(k, v) for k, v in av) + "]", fold))
            elif op is C.ANY:
                self.leaves.append(("[^\n]", fold))
            elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
                self._collect(av[2], fold)
            elif op is C.SUBPATTERN:
                self._collect(av[3], fold or bool(av[1] & C.SRE_FLAG_IGNORECASE))
            elif op is C.BRANCH:
                for b in av[1]:
                    self._collect(b, fold)
            elif op in (C.ATOMIC_GROUP,):
                self._collect(av, fold)

    def _position(self, leaf: int) -> int:
        self.mask.append(self._set_masks[leaf])
        self.follow.append({})
        return len(self.mask) - 1

    def _link(self, last: dict[int, int], first: dict[int, int]) -> None:
        """One place where `first` may follow `last`: as many more routes for each pair as there are
        ways to leave the one and reach the other (a pair linked twice, as a loop inside a loop, or
        across two empty alternatives, can be read two ways). Counts stop at 2: two is ambiguous."""
        for p, a in last.items():
            for q, b in first.items():
                self.follow[p][q] = min(2, self.follow[p].get(q, 0) + a * b)

    @staticmethod
    def _add(x: dict[int, int], y: dict[int, int], times: int = 1) -> dict[int, int]:
        out = dict(x)
        for k, v in y.items():
            out[k] = min(2, out.get(k, 0) + v * times)
        return {k: v for k, v in out.items() if v}

    def _concat(self, left, right):
        """(nullable routes, first, last) of `left` then `right`, linking them."""
        n1, f1, l1 = left
        n2, f2, l2 = right
        self._link(l1, f2)
        return min(2, n1 * n2), self._add(f1, f2, n1), self._add(l2, l1, n2)

    def _build(self, seq, fold: bool):
        """(ways to read nothing, first positions, last positions: each with its number of routes)."""
        out = (1, {}, {})
        for op, av in seq:
            out = self._concat(out, self._item(op, av, fold))
        return out

    def _item(self, op, av, fold: bool):
        if op in (C.LITERAL, C.NOT_LITERAL, C.IN, C.ANY):
            p = self._position(self._leaf)
            self._leaf += 1
            return 0, {p: 1}, {p: 1}
        if op is C.SUBPATTERN:
            return self._build(av[3], fold or bool(av[1] & C.SRE_FLAG_IGNORECASE))
        if op is C.BRANCH:
            out = (0, {}, {})
            for b in av[1]:
                n, f, l = self._build(b, fold)
                out = (min(2, out[0] + n), self._add(out[1], f), self._add(out[2], l))
            return out
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, body = av
            hi = sys.maxsize if hi >= C.MAXREPEAT else hi
            loop = hi > UNROLL
            copies = hi if not loop else max(1, min(lo, UNROLL))
            start = self._leaf
            out = (1, {}, {})
            for i in range(copies):
                self._leaf = start
                n, f, l = self._build(body, fold)
                if loop and i == copies - 1:
                    self._link(l, f)  # the last copy repeats
                if i >= lo:  # an optional copy: it, or nothing
                    n = min(2, n + 1)
                out = self._concat(out, (n, f, l))
            if copies == 0:  # x{0}: nothing
                self._build(body, fold)
            return out
        if op is C.ATOMIC_GROUP:
            return self._build(av, fold)
        return 1, {}, {}  # anchors and \b read nothing; look-around, back-references: refused elsewhere (re2check)


def double_loop(regex: str) -> str | None:
    """A text on which `regex` backtracks exponentially in Python's re (a witness: the repeated part),
    or None when its automaton has no double loop."""
    g = _Glushkov(regex)
    n = len(g.mask)
    start = n  # the initial state
    follow = g.follow + [g.first]
    mask = g.mask

    def succ(pair):
        p, q = pair
        for p2 in follow[p]:
            for q2 in follow[q]:
                common = mask[p2] & mask[q2]
                if common:
                    yield (p2, q2), common

    # pairs reachable from a diagonal pair (q, q) of a reachable state
    seen = {(s, s) for s in range(n)}
    stack = list(seen)
    edges: dict[tuple, list] = {}
    while stack:
        node = stack.pop()
        out = edges[node] = list(succ(node))
        for nxt, _c in out:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    # strongly connected components (Tarjan, iterative)
    index: dict = {}
    low: dict = {}
    on: set = set()
    st: list = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        st.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt, _c in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    st.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    advanced = True
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    x = st.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == node:
                        break
                members = set(comp)
                diag = [x for x in comp if x[0] == x[1]]
                split = any(follow[p][p2] > 1 for p, _ in diag for (p2, q2), _c in edges[(p, p)] if p2 == q2 and (p2, q2) in members)
                if diag and (split or any(x[0] != x[1] for x in comp)):
                    return _witness(g, comp)
    return None


def _witness(g: _Glushkov, comp: list) -> str:
    """Characters read inside the double loop, as a hint of the text that makes it backtrack."""
    chars = set()
    members = set(comp)
    for p, q in comp:
        for p2 in g.follow[p]:
            for q2 in g.follow[q]:
                if (p2, q2) in members and g.mask[p2] & g.mask[q2]:
                    m = g.mask[p2] & g.mask[q2]
                    chars.add(next(ch for i, ch in enumerate(g.reps) if m >> i & 1))
    return "".join(sorted(chars))
