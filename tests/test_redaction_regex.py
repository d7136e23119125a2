"""The policy's regexes in Python's backtracking `re` (the app-side redactor): no catastrophic backtracking.

The collector runs them in Go's RE2 (linear); the helper runs the same text in Python's `re`, which
backtracks. EMAIL_OBFUSCATED's "local part with a . _ or +" used to be `L(?:[._+]L)+` with `_` and `+`
inside L: exponential on `a+a+a+...` (44 characters: 0.6 s; 60: minutes). It is now written so that each
character has one reading; the tests prove it matches what the old form matched (by enumeration and on
the corpus), and that every regex of the policy finishes on adversarial text of growing length, built
from the regex itself (each class of characters it distinguishes, alone and in every pair).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import urllib.parse
from re import _constants as C  # noqa: N812
from re import _parser

import pytest

import pii_corpus as corpus
from genai_o11y import redaction_policy
from genai_o11y.backtrack import class_regex as _class_item, double_loop
from genai_o11y.errors import SpecError

#: The local part of EMAIL_OBFUSCATED's third alternative, before and after the fix.
OLD_LOCAL = r"[A-Za-z0-9_%+-]+(?:[._+][A-Za-z0-9_%+-]+)+"
NEW_LOCAL = r"[A-Za-z0-9_%+-](?:[A-Za-z0-9%-]*[_+][A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*|[A-Za-z0-9_%+-]*(?:\.[A-Za-z0-9_%+-]+)+)"


def email_obfuscated() -> redaction_policy.Rule:
    return next(r for r in redaction_policy.default_policy().detectors if r.name == "EMAIL_OBFUSCATED")


def old_regex() -> str:
    new = email_obfuscated().regex
    assert new.count(NEW_LOCAL) == 1 and OLD_LOCAL not in new
    return new.replace(NEW_LOCAL, OLD_LOCAL)


# --- the fix matches what the old pattern matched ----------------------------------------------------

#: One character of each kind the local part tells apart: a word character outside the separators, a
#: non-word one, the two separators that are also local-part characters, the dot; and one it refuses.
LOCAL_ALPHABET = "a-_+. "


def test_the_local_part_matches_the_same_strings():
    """Every string over the local part's kinds of characters, up to 8 long: the same verdict."""
    old, new = re.compile(OLD_LOCAL, re.ASCII), re.compile(NEW_LOCAL, re.ASCII)
    n = 0
    for k in range(9):
        for t in itertools.product(LOCAL_ALPHABET, repeat=k):
            w = "".join(t)
            assert bool(old.fullmatch(w)) == bool(new.fullmatch(w)), repr(w)
            n += 1
    assert n == sum(len(LOCAL_ALPHABET) ** k for k in range(9))


def _texts():
    for w in ("".join(t) for k in range(6) for t in itertools.product(LOCAL_ALPHABET, repeat=k)):
        yield from (w + " at example.com", "x" + w + " at example dot com", w + " (at) b.example.org", "see " + w + " AT Mail.Example.COM.",
                    w + "%40example.com")
    for case in corpus.cases():
        yield case.text
        yield urllib.parse.unquote_plus(urllib.parse.quote_plus(case.text))
    for _d, text in corpus.decoy_texts():
        yield text


def test_the_detector_masks_the_same_text_as_before():
    """The whole detector, old and new, on every local part up to 5 long in several settings, and on
    the corpus and decoys: the same output, character for character."""
    old, new = re.compile(old_regex(), re.ASCII), re.compile(email_obfuscated().regex, re.ASCII)
    checked = masked = 0
    for text in _texts():
        a, b = old.subn("<EMAIL>", text), new.subn("<EMAIL>", text)
        assert a == b, text
        checked += 1
        masked += a[1] > 0
    assert checked > 10_000 and masked > 1_000  # the settings reach the alternative that changed


# --- adversarial text, built from each regex ------------------------------------------------------------

def _char_sets(seq, fold: bool, out: list) -> None:
    """Every literal and class of a parsed regex, as (regex for one character, fold)."""
    for op, av in seq:
        if op in (C.LITERAL, C.NOT_LITERAL):
            out.append((("[^" if op is C.NOT_LITERAL else "[") + re.escape(chr(av)) + "]", fold))
        elif op is C.IN:
            out.append(("[" + "".join(_class_item(k, v) for k, v in av) + "]", fold))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            _char_sets(av[2], fold, out)
        elif op is C.SUBPATTERN:
            _char_sets(av[3], fold or bool(av[1] & C.SRE_FLAG_IGNORECASE), out)
        elif op is C.BRANCH:
            for b in av[1]:
                _char_sets(b, fold, out)


def representatives(regex: str) -> list[str]:
    """One character of each kind the regex tells apart: printable ASCII (and tab, newline) grouped by
    which of its literals and classes take the character, and whether it is a word character (\\b)."""
    parsed = _parser.parse(regex, re.ASCII)
    sets: list = []
    _char_sets(list(parsed), bool(parsed.state.flags & re.IGNORECASE), sets)
    compiled = [re.compile(s, re.ASCII | (re.IGNORECASE if fold else 0)) for s, fold in sets]
    kinds: dict[tuple, str] = {}
    for ch in [chr(i) for i in range(32, 127)] + ["\t", "\n"]:
        kinds.setdefault(tuple(bool(c.fullmatch(ch)) for c in compiled) + (ch.isalnum() or ch == "_",), ch)
    return sorted(kinds.values())


def units(regex: str) -> list[str]:
    """The repeated units of the adversarial texts: each kind of character, and every ordered pair."""
    reps = representatives(regex)
    return reps + [a + b for a in reps for b in reps if a != b]


def policy_regexes() -> dict[str, str]:
    """Every regex the app-side redactor runs, as it runs them: the detectors as applied (ungated ones
    joined), the span name rules, the gates, the high-confidence check on Tier 1 values, the shapes."""
    p = redaction_policy.default_policy()
    out = {r.name: r.regex for r in p.compiled_detectors() + p.span_name_rules}
    out |= {f"{r.name} gate": r.requires_match for r in p.detectors + p.span_name_rules if r.requires_match}
    out["high confidence"] = p.high_confidence_regex()
    out |= {f"shape {ks[0]}": sh.body for sh, ks in p.shape_groups() if sh.body}
    return out


#: Runs each regex over each unit repeated to each length; prints one JSON line per regex as it ends
#: (the last line names the one still running when the parent gives up).
RUNNER = """
import json, re, sys, time
job = json.load(sys.stdin)
for name, regex, units in job["regexes"]:
    pat = re.compile(regex, re.ASCII)
    print(json.dumps({"start": name}), flush=True)
    secs = {}
    for n in job["lengths"]:
        t = time.process_time()
        for u in units:
            if len(u) == 1 or n <= job["pairs_up_to"]:
                pat.subn("x", (u * (n // len(u) + 1))[:n])
        secs[n] = time.process_time() - t
    print(json.dumps({"done": name, "seconds": secs}), flush=True)
"""


def run_adversarial(regexes: dict[str, str], lengths: list[int], pairs_up_to: int, timeout: float) -> tuple[dict, str | None]:
    """Per regex, the CPU seconds at each length; and the regex still running at the timeout (or None)."""
    job = {"regexes": [(name, rx, units(rx)) for name, rx in regexes.items()], "lengths": lengths, "pairs_up_to": pairs_up_to}
    proc = subprocess.Popen([sys.executable, "-c", RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(json.dumps(job), timeout=timeout)
        stuck = None
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        stuck = "timeout"
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    done = {x["done"]: {int(k): v for k, v in x["seconds"].items()} for x in lines if "done" in x}
    started = [x["start"] for x in lines if "start" in x]
    if stuck:
        stuck = next((s for s in started if s not in done), "?")
    return done, stuck


#: Every kind and pair of kinds up to PAIRS_UP_TO characters (doubling), single kinds up to 20k.
LENGTHS = [250, 500, 1000, 20_000]
PAIRS_UP_TO = 1000


def test_every_regex_of_the_policy_finishes_on_adversarial_text_of_growing_length():
    """In a subprocess with a generous timeout (a catastrophic regex never finishes: the old
    EMAIL_OBFUSCATED needs minutes for 60 characters). Growth per doubling stays polynomial: the
    searches are at worst quadratic (each \\b start may read to the end of a run of local-part
    characters), 4x per doubling; the bound is 16x, on regexes slow enough to time."""
    regexes = policy_regexes()
    assert len(regexes) >= 25 and "EMAIL_OBFUSCATED" in regexes
    done, stuck = run_adversarial(regexes, LENGTHS, PAIRS_UP_TO, timeout=600)
    assert stuck is None, f"{stuck} did not finish on adversarial text"
    assert set(done) == set(regexes)
    for name, secs in done.items():
        for a, b in ((250, 500), (500, 1000)):
            if secs[b] >= 0.2:
                assert secs[b] / max(secs[a], 1e-9) < 16, (name, secs)


def test_the_old_email_obfuscated_fails_the_same_check():
    """The check finds what it is for: the pattern before the fix does not finish on 250 characters."""
    done, stuck = run_adversarial({"old EMAIL_OBFUSCATED": old_regex()}, [250], 250, timeout=3)
    assert stuck == "old EMAIL_OBFUSCATED" and not done


# --- the structure: no double loop ------------------------------------------------------------------

def test_no_regex_of_the_policy_can_read_text_two_ways_in_a_loop():
    """The structural check (backtrack.double_loop, on the regex's position automaton): none in the
    policy; the old EMAIL_OBFUSCATED has one, on the local part's + (or % - _ and letters)."""
    found = {name: double_loop(rx) for name, rx in policy_regexes().items()}
    assert not {k: v for k, v in found.items() if v}, found
    assert "+" in (double_loop(old_regex()) or "")


#: Regexes the check flags (each exponential in Python's re) and ones it passes (each polynomial),
#: the traps included: Python's parser factors `a|ab` and merges `\w|\d`, and skips empty iterations.
FLAGGED = [r"(a+)+b", r"(a|a)*c", r"(\w+\s?)+@", r"(?:a{1,3})+b", r"(a*)*b", r"(?:[a-z]+\.?)+@"]
PASSED = [r"(a|ab)*c", r"\d+\d+x", r"(?:\.[a-z]+)*@", r"(?:a|b)*c", r"(\w|\d)+x", r"(a?)*b", r"(?:ab?)*c", r"[a-z]+(?:\.[a-z]+)+@",
          OLD_LOCAL.replace("(?:[._+]", "(?:[.]") + "@", NEW_LOCAL + "@"]


def test_the_check_agrees_with_pythons_engine():
    """What it flags does not finish on 80 characters built from the regex (as above); what it passes
    finishes on 500."""
    assert all(double_loop(rx) for rx in FLAGGED) and not any(double_loop(rx) for rx in PASSED)
    for rx in FLAGGED:
        done, stuck = run_adversarial({rx: rx}, [80], 80, timeout=2)
        assert stuck == rx, f"{rx} finished: {done}"
    done, stuck = run_adversarial({rx: rx for rx in PASSED}, [500], 500, timeout=120)
    assert stuck is None and set(done) == set(PASSED), stuck


def test_a_regex_that_backtracks_is_refused_naming_the_field(tmp_path):
    """In the spec's extra_patterns (path and line), a policy file's detectors and gates, and a generated
    file's from_spec: one problem each, naming the field."""
    from genai_o11y.spec import load

    from test_re2check import load_text

    bad = r"(\w+\s?)+@"
    text = load_text()
    old = next(line for line in text.splitlines() if line.startswith("  extra_patterns: []"))
    f = tmp_path / "spec.yaml"
    f.write_text(text.replace(old, "  extra_patterns:\n    - name: EMPLOYEE_ID\n      regex: " + json.dumps(bad), 1))
    line = 1 + f.read_text().splitlines().index("      regex: " + json.dumps(bad))
    with pytest.raises(SpecError) as e:
        load(f)
    assert f"{f}:{line}: redaction.extra_patterns[0].regex: " in str(e.value) and "backtracks exponentially in Python's re" in str(e.value), str(e.value)
    det = "version: 1\ndetectors:\n  - {name: K, regex: 'k[0-9]+', mask: '<K>'}\n"
    for text, field in [(f"version: 1\ndetectors:\n  - {{name: K, regex: '{bad}', mask: '<K>'}}\n", "detectors[0].regex"),
                        (f"version: 1\ndetectors:\n  - {{name: K, regex: 'k[0-9]+', mask: '<K>', requires_match: '(a+)+b'}}\n",
                         "detectors[0].requires_match"),
                        (det + f"span_name_rules:\n  - {{name: N, regex: '(a*)*b', mask: '<N>'}}\n", "span_name_rules[0].regex"),
                        (det + f"from_spec: {{extra_patterns: [{{name: E, regex: '{bad}'}}]}}\n", "from_spec.extra_patterns[0].regex")]:
        (tmp_path / "policy.yaml").write_text(text)
        with pytest.raises(SpecError) as e:
            redaction_policy.load(tmp_path / "policy.yaml")
        assert len(e.value.problems) == 1 and e.value.problems[0].path == field and "backtracks exponentially" in e.value.problems[0].message, e.value
