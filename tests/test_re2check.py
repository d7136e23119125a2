"""re2check: a user's regex means the same to RE2 (the collector) and Python's re (the app-side
redactor), or is refused by name. By construction: the checker's table covers every opcode and anchor
Python's parser can put in a tree (a new one fails here), and every pattern it accepts, the shipped ones
included, compiles in Go's regexp and matches the same probes there as in Python."""

from __future__ import annotations

import json
import re
import subprocess
from re import _constants as C  # noqa: N812
from pathlib import Path

import pytest

from genai_o11y import re2check, toolchain
from genai_o11y.errors import SpecError
from genai_o11y.spec import load


def load_text() -> str:
    from importlib import resources

    return (resources.files("genai_o11y") / "spec" / "default.yaml").read_text()

PARSER_SOURCE = Path(re.__file__).with_name("_parser.py").read_text()


def _emitted(names) -> set[str]:
    """The constants of `names` that Python's regex parser refers to (what it can put in a tree)."""
    return {str(x) for x in names if re.search(rf"\b{x}\b", PARSER_SOURCE)}


#: Named in the parser's source but never put in a tree (its width computation reads it).
NOT_EMITTED = {"SUCCESS"}


def test_the_table_covers_every_opcode_and_anchor_the_parser_emits():
    ops = _emitted([*C.OPCODES, C.MAX_REPEAT, C.MIN_REPEAT]) - NOT_EMITTED
    assert ops <= set(re2check.OPCODES), ops - set(re2check.OPCODES)
    assert _emitted(C.ATCODES) <= set(re2check.AT_CODES), _emitted(C.ATCODES) - set(re2check.AT_CODES)
    assert all(hasattr(C, name) for name in [*re2check.OPCODES, *re2check.AT_CODES])  # no stale row
    # every inline flag letter Python knows is decided
    assert {re.IGNORECASE, re.MULTILINE, re.DOTALL, re.VERBOSE, re.ASCII, re.LOCALE} == set(re2check.FLAGS)


#: Python accepts these; RE2 refuses them or reads them differently. (pattern, words of the reason)
REFUSED = [
    (r"(a)?(?(1)b|c)", "conditional"),
    (r"(?P<n>x)(?P=n)", "back-references"),
    (r"(x)\1", "back-references"),
    ("x{1001}", "repeat counts over 1000 ({1001})"),
    ("x{2,1001}", "repeat counts"),
    ("[[:alpha:]]+", "POSIX"),
    (r"abc\Z", "\\Z"),
    ("(?x)a b", "verbose"),
    (r"(?a)\w+", "ASCII flag"),
    ("(?=x)y", "look-around"),
    ("(?<!x)y", "look-around"),
    ("a*+", "possessive"),
    ("(?>ab)", "atomic"),
    # RE2 syntax Python cannot compile (the app-side redactor could not run them)
    (r"\pL+", "Python's re"),
    (r"\p{Greek}", "Python's re"),
    (r"\Qa.b\E", "Python's re"),
    ("(unclosed", "does not compile"),
    ("[a-z&&b]", "different things"),  # Python warns of a set operation; RE2 reads && literally
    (r"\u00e9", "\\u"),  # Python's \u, \U and \N{...} escapes are not RE2
    (r"\N{LATIN SMALL LETTER E WITH ACUTE}", "\\N"),
]
#: Accepted: RE2 and Python agree (checked against Go's regexp below).
ACCEPTED = [r"(?i)foo", r"\d{3}-\d{4}", r"x{2,1000}", r"[^\s@]+@[^\s@]+", r"(?i:abc)d", r"(?P<name>x)y", r"^\w+$", r"(?s)a.b",
            r"(?m)^b", r"\bword\b", r"a|b|", r"\x41\xe9", r"[\w.-]+", r"(?:ab)+?c", r"\A\d+", r"[\[\]]"]
PROBES = ["secretword", "abc", "ABC", "a b", "123-4567", "jane.doe@example.com", "ünïcödé é", "xx", "x" * 1000, "a\nb",
          "word, words", "Aé", "[x]", "ab ab c", "&", "42", ""]


@pytest.mark.parametrize("pattern, why", REFUSED)
def test_constructs_the_engines_read_differently_are_refused_by_name(pattern, why):
    assert why in (re2check.problem(pattern) or ""), re2check.problem(pattern)


def test_a_spec_with_a_python_only_regex_is_refused_naming_the_field_and_line(tmp_path):
    text = load_text()
    old = next(line for line in text.splitlines() if line.startswith("  extra_patterns: []"))
    for pattern, why in REFUSED[:4]:
        f = tmp_path / "spec.yaml"
        f.write_text(text.replace(old, "  extra_patterns:\n    - name: EMPLOYEE_ID\n      regex: " + json.dumps(pattern), 1))
        line = 1 + f.read_text().splitlines().index("      regex: " + json.dumps(pattern))
        with pytest.raises(SpecError) as e:
            load(f)
        assert f"{f}:{line}: redaction.extra_patterns[0].regex: " in str(e.value) and why in str(e.value), str(e.value)


def _shipped() -> list[str]:
    """Every regex the default spec and redaction policy ship."""
    spec = load()
    policy = spec.policy_file()
    rules = policy.detectors + policy.span_name_rules
    pats = [r.error_type for r in spec.failures.infer if r.error_type] + [p.regex for p in spec.redaction.extra_patterns]
    return pats + [r.regex for r in rules] + [r.requires_match for r in rules if r.requires_match]


GO_MAIN = """package main

import (
	"encoding/json"
	"os"
	"regexp"
)

func main() {
	var in struct{ Patterns, Probes []string }
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	out := map[string]any{}
	for _, p := range in.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			out[p] = err.Error()
			continue
		}
		m := []bool{}
		for _, s := range in.Probes {
			m = append(m, re.MatchString(s))
		}
		out[p] = m
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""


def test_every_accepted_pattern_compiles_in_go_and_matches_as_in_python(tmp_path):
    shipped = _shipped()
    assert len(shipped) >= 20
    accepted = ACCEPTED + shipped
    assert all(re2check.problem(p) is None for p in accepted), [(p, re2check.problem(p)) for p in accepted if re2check.problem(p)]
    main = tmp_path / "main.go"
    main.write_text(GO_MAIN)
    run = subprocess.run([toolchain._go(), "run", str(main)], input=json.dumps({"Patterns": accepted, "Probes": PROBES}),
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout)
    assert not [p for p in accepted if isinstance(got[p], str)], {p: got[p] for p in accepted if isinstance(got[p], str)}
    # the app-side redactor compiles with re.ASCII (RE2's \w, \d, \s are ASCII)
    differ = {p: [s for s, g in zip(PROBES, got[p]) if g != bool(re.compile(p, re.ASCII).search(s))] for p in accepted}
    assert not any(differ.values()), {p: d for p, d in differ.items() if d}
