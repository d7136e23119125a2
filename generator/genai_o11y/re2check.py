"""One check for every regex a user writes (spec failure rules and redaction patterns, the redaction
policy's rules and gates): it must mean the same to both engines that run it, RE2 in the collector
(Go's regexp) and Python's `re` in the app-side redactor and the test oracles.

The pattern is parsed with Python's own regex parser and its tree is walked against a table of what
RE2 supports (OPCODES, AT_CODES, FLAGS): a construct not in the table is refused by name, so a
construct Python accepts and RE2 refuses (back-references, conditionals, look-around, possessive and
atomic groups, `\\Z`, verbose or ASCII flags, repeat counts over 1,000), or one the two read
differently (`[[:alpha:]]`, a nested-set warning in Python), never reaches the collector. RE2 syntax
Python cannot compile (`\\pL`, `\\Q...\\E`) is refused with what to write instead.
tests/test_re2check.py holds the table to every opcode Python's parser has, and compiles every
accepted pattern of its corpus with Go's regexp.
"""

from __future__ import annotations

import re
import warnings
from re import _constants as C  # noqa: N812
from re import _parser as P  # noqa: N812

#: RE2's largest repeat count ({n}, {n,m}).
MAX_REPEAT_COUNT = 1000

#: Every opcode Python's parser emits in a tree, with None (RE2 has it) or why RE2 refuses it.
OPCODES: dict[str, str | None] = {
    "LITERAL": None, "NOT_LITERAL": None, "ANY": None, "IN": None, "BRANCH": None, "SUBPATTERN": None,
    "MAX_REPEAT": None, "MIN_REPEAT": None, "AT": None, "CATEGORY": None, "NEGATE": None, "RANGE": None,
    "POSSESSIVE_REPEAT": "possessive quantifiers (a*+) are not supported by RE2",
    "ATOMIC_GROUP": "atomic groups ((?>...)) are not supported by RE2",
    "ASSERT": "look-around ((?=...), (?<=...)) is not supported by RE2",
    "ASSERT_NOT": "look-around ((?!...), (?<!...)) is not supported by RE2",
    "GROUPREF": "back-references (\\1, (?P=name)) are not supported by RE2",
    "GROUPREF_EXISTS": "conditional groups ((?(1)a|b)) are not supported by RE2",
}
#: Anchors (AT codes): RE2's \A, ^, $, \b, \B. Python's \Z is RE2's \z, which Python does not spell.
AT_CODES: dict[str, str | None] = {
    "AT_BEGINNING": None, "AT_BEGINNING_STRING": None, "AT_END": None, "AT_BOUNDARY": None, "AT_NON_BOUNDARY": None,
    "AT_END_STRING": "\\Z is not RE2 (RE2 spells it \\z, which Python does not know): use $ without (?m)",
}
#: Inline flags: RE2 has i, m and s (and U, which Python does not).
FLAGS: dict[int, str | None] = {
    re.IGNORECASE: None, re.MULTILINE: None, re.DOTALL: None,
    re.VERBOSE: "the verbose flag (?x) is not supported by RE2",
    re.ASCII: "the ASCII flag (?a) is not supported by RE2 (its \\w, \\d and \\s are ASCII already)",
    re.LOCALE: "the locale flag (?L) is not supported by RE2",
}
_RE2_ONLY = re.compile(r"\\[pP]|\\Q|\\z|\\C")


#: Escapes Python's parser turns into plain characters (so the tree cannot show them) that RE2 lacks.
PYTHON_ONLY_ESCAPES = {"u": "\\u", "U": "\\U", "N": "\\N{...}"}


def _escape_problem(pattern: str) -> str | None:
    i = 0
    while i < len(pattern) - 1:
        if pattern[i] == "\\":
            spelled = PYTHON_ONLY_ESCAPES.get(pattern[i + 1])
            if spelled:
                return f"the escape {spelled} is Python only (RE2 refuses it): write the character itself"
            i += 2
        else:
            i += 1
    return None


def problem(pattern: str) -> str | None:
    """Why `pattern` is not a regex both engines read alike, or None."""
    lexical = _escape_problem(pattern)
    if lexical:
        return lexical
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            tree = P.parse(pattern)
        except re.error as e:
            if _RE2_ONLY.search(pattern):
                return (f"regex does not compile in Python's re ({e}), which the app-side redactor uses: RE2-only syntax "
                        "(\\pL, \\p{Greek}, \\Q...\\E, \\z, \\C) has no Python spelling; write a character class or escape the characters")
            return f"regex does not compile: {e}"
        except FutureWarning as w:
            return (f"regex means different things to Python's re and RE2 ({w}): POSIX classes such as [[:alpha:]] are RE2 only; "
                    "write [a-zA-Z], and escape a literal [ inside a class as \\[")
    return _flags(tree.state.flags & ~re.UNICODE) or _walk(tree)


def _flags(flags: int) -> str | None:
    for flag, why in FLAGS.items():
        if flags & flag and why:
            return why
    return None


def _walk(items) -> str | None:
    for op, av in items:
        why = OPCODES.get(str(op), f"{op} is not known to be supported by RE2")
        if why:
            return why
        if op is C.AT:
            why = AT_CODES.get(str(av), f"{av} is not known to be supported by RE2")
            if why:
                return why
        elif op is C.IN:
            for kind, _val in av:
                why = OPCODES.get(str(kind), f"{kind} is not known to be supported by RE2")
                if why:
                    return why
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            if lo > MAX_REPEAT_COUNT or (hi != C.MAXREPEAT and hi > MAX_REPEAT_COUNT):
                count = f"{{{lo}}}" if lo == hi else f"{{{lo},{'' if hi == C.MAXREPEAT else hi}}}"
                return f"repeat counts over {MAX_REPEAT_COUNT} ({count}) are not supported by RE2"
            why = _walk(sub)
        elif op is C.SUBPATTERN:
            _group, add, delete, sub = av
            why = _flags(add | delete) or _walk(sub)
        elif op is C.BRANCH:
            for alt in av[1]:
                why = why or _walk(alt)
        if why:
            return why
    return None
