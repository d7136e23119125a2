"""The redaction policy: key tiers and PII detectors, one source for the collector and the app.

The embedded default lives in genai_o11y/data/redaction_policy.yaml; a spec may point
`redaction.policy` at its own file (same format). `generate` writes the effective policy to
redaction/policy.yaml: that file is the policy in effect, with a `from_spec` section holding what
the spec adds (redaction.mode, max_content_chars, extra_patterns, metadata_keys), so the app-side
helper loaded from it (GENAI_O11Y_REDACTION_POLICY, setup(redaction_policy=...)) applies exactly
what the collector applies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import backtrack, re2check, yamlines
from .errors import Problem, SpecError

#: Where `genai-o11y generate` writes the policy in effect for a spec (the collector and the app-side helper both apply it)
GENERATED_FILE = "redaction/policy.yaml"

MASK_TOKEN = re.compile(r"<[A-Z_]+>")
BYTES_MASK = "<BYTES>"  # a bytes value outside Tier 1 is masked whole (opaque: never scanned, never passed)
RULE_KEYS = {"name", "regex", "mask", "requires_any", "requires_match", "high_confidence"}
#: The section of a generated policy file holding what the spec adds (see apply_settings).
FROM_SPEC = "from_spec"
MODES = ("metadata-only", "redacted", "full")
PATTERN_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
MAX_CHARS_RANGE = (64, 1_000_000)


#: Characters whose lowercase is in [a-z_ .] (the Kelvin sign lowercases to "k").
PLAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_ .\u212a")
#: The same shape checked on lowercased text (RE2, anchored).
PLAIN_TEXT_RE = "^[a-z_ .]*$"


def _plain(c: str, fold: bool) -> bool:
    return c in PLAIN_CHARS or (fold and (c.lower() in PLAIN_CHARS or c.upper() in PLAIN_CHARS))


def _item_never_plain(op, av, fold: bool) -> bool:
    """Sound, conservative: True only if this regex item always consumes a non-plain character."""
    from re import _constants as c

    if op is c.LITERAL:
        return not _plain(chr(av), fold)
    if op is c.IN:
        for kind, val in av:
            if kind is c.LITERAL and not _plain(chr(val), fold):
                continue
            if kind is c.RANGE and not any(_plain(chr(x), fold) for x in range(val[0], min(val[1], 0x2200) + 1)) and val[1] < 0x2200:
                continue
            if kind is c.CATEGORY and val is c.CATEGORY_DIGIT:
                continue
            return False  # a member that may be plain (or NEGATE, or a category we do not reason about)
        return True
    if op in (c.MAX_REPEAT, c.MIN_REPEAT):
        lo, _hi, sub = av
        return lo >= 1 and _seq_never_plain(sub, fold)
    if op is c.SUBPATTERN:
        _group, add, _del, sub = av
        return _seq_never_plain(sub, fold or bool(add & c.SRE_FLAG_IGNORECASE))
    if op is c.BRANCH:
        return all(_seq_never_plain(b, fold) for b in av[1])
    return False


def _seq_never_plain(seq, fold: bool) -> bool:
    return any(_item_never_plain(op, av, fold) for op, av in seq)


@lru_cache(maxsize=256)
def _can_match_plain(regex: str) -> bool:
    try:
        from re import _parser  # CPython's regex parser (3.11+); private, hence the fallback

        parsed = _parser.parse(regex, re.ASCII)
    except Exception:  # no parser, or an RE2 construct Python does not parse: assume it can
        return True
    fold = bool(parsed.state.flags & re.IGNORECASE)
    return not _seq_never_plain(list(parsed), fold)


@dataclass(frozen=True)
class Shape:
    """A Tier 1 key's value contract. `kind`: which value types may hold it (str: a string; num: an
    int, a double or a string; bool: a boolean; strlist: a string or a list, a list checked as its
    JSON text, as OTTL's IsMatch sees it); `body`: an RE2 regex the whole text must match (None for
    bool). The collector checks `^(?:body)$`; Python fullmatch()es the body (same semantics)."""

    kind: str
    body: str | None

    def regex(self) -> str | None:
        return None if self.body is None else f"^(?:{self.body})$"

    def conforms(self, value) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "num" and isinstance(value, (int, float)):
            return True
        if isinstance(value, str):
            text = value
        elif self.kind == "strlist" and isinstance(value, (list, tuple)):
            import json

            text = json.dumps(list(value), separators=(",", ":"), ensure_ascii=False)
        else:
            return False
        return _gate_re(self.body).fullmatch(text) is not None


_ID = r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}"
#: The named shapes a Tier 1 key may have (redaction/README.md; the policy's header lists them).
SHAPES: dict[str, Shape] = {
    "identifier": Shape("str", _ID),
    "model_id": Shape("str", r"[A-Za-z0-9_][A-Za-z0-9_.:/@+-]{0,127}"),
    "version": Shape("str", r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}"),
    "hash": Shape("str", r"(?:h_|[a-z0-9]{1,16}:)?[0-9a-fA-F]{8,128}"),
    "route": Shape("str", r"[A-Za-z0-9_./~{}:*-]{1,256}"),
    "host": Shape("str", r"[A-Za-z0-9_.:-]{1,255}"),
    "number": Shape("num", r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"),
    "bool": Shape("bool", None),
    "identifiers": Shape("strlist", r"[A-Za-z0-9_.:/ ,-]{0,1000}|\[(?:\"" + _ID + r"\"(?:,\"" + _ID + r"\")*)?\]"),
}
ENUM_VALUE = re.compile(r"^[A-Za-z0-9_.:/+-]{1,128}$")


def parse_shape(where: str, raw) -> tuple[Shape | None, list[Problem]]:
    """A shape from the policy or the spec: a name of SHAPES, or {enum: [...], list?: bool}."""
    if isinstance(raw, str):
        if raw in SHAPES:
            return SHAPES[raw], []
        return None, [Problem(where, f"unknown shape {raw!r} (one of: {', '.join(SHAPES)}, or {{enum: [values]}})")]
    if isinstance(raw, dict) and set(raw) <= {"enum", "list"} and "enum" in raw:
        vals = raw["enum"]
        if not isinstance(vals, list) or not vals or not all(isinstance(v, str) and ENUM_VALUE.match(v) for v in vals):
            return None, [Problem(f"{where}.enum", "must be a non-empty list of values made of letters, digits and _ . : / + -")]
        if not isinstance(raw.get("list", False), bool):
            return None, [Problem(f"{where}.list", "must be true or false")]
        alt = "|".join(re.escape(v) for v in sorted(vals))
        if raw.get("list"):
            return Shape("strlist", rf'\[(?:"(?:{alt})"(?:,"(?:{alt})")*)?\]'), []
        return Shape("str", alt), []
    return None, [Problem(where, "a shape is a name (identifier, model_id, version, hash, route, host, number, bool, identifiers) or {enum: [values], list: false}")]


@lru_cache(maxsize=256)
def _gate_re(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.ASCII)


@dataclass(frozen=True)
class Rule:
    """A detector. `requires_any` (lowercase literals) and `requires_match` (an RE2 regex) form its
    gate: a necessary condition checked on the lowercased text before the costly scan. A rule
    runs when the text contains one of the literals or matches the regex; a rule without either
    always runs. A gate must hold on every text the regex matches (tests check the corpus)."""

    name: str
    regex: str
    mask: str
    requires_any: tuple[str, ...] = ()
    requires_match: str | None = None
    high_confidence: bool = False  # also checked on Tier 1 values (a match makes the value content)

    @property
    def plain_capable(self) -> bool:
        """Whether the detector can match text made only of letters, `_`, space and `.` (the
        shape of most span names): False only when every match provably needs another character."""
        return _can_match_plain(self.regex)

    @property
    def gated(self) -> bool:
        return bool(self.requires_any) or self.requires_match is not None

    def gate_holds(self, lowered: str) -> bool:
        """Python twin of the collector's gate (on text already lowercased)."""
        if not self.gated:
            return True
        if any(lit in lowered for lit in self.requires_any):
            return True
        return self.requires_match is not None and _gate_re(self.requires_match).search(lowered) is not None

    @property
    def token(self) -> str:
        m = MASK_TOKEN.search(self.mask)
        return m.group(0) if m else self.mask

    def python(self) -> tuple[re.Pattern, str]:
        """The same rule for Python's re (ASCII \\b like RE2; Go's ${1} becomes \\g<1>)."""
        return re.compile(self.regex, re.ASCII), re.sub(r"\$\{(\d+)\}", r"\\g<\1>", self.mask)


@dataclass(frozen=True)
class Policy:
    metadata_keys: tuple[str, ...]
    identifier_keys: tuple[str, ...]
    detectors: tuple[Rule, ...]
    span_name_rules: tuple[Rule, ...]
    shapes: tuple[tuple[str, Shape], ...] = ()  # (Tier 1 key, its value contract); a key without one keeps any value
    mode: str = "redacted"  # the spec's redaction.mode (the app-side helper applies `full` as `redacted`)
    max_content_chars: int = 4096  # the spec's redaction.max_content_chars

    def shape_of(self) -> dict[str, Shape]:
        return dict(self.shapes)

    def shape_groups(self) -> list[tuple[Shape, list[str]]]:
        """The contracts, each with its keys (sorted), in a stable order."""
        groups: dict[Shape, list[str]] = {}
        for k, sh in self.shapes:
            groups.setdefault(sh, []).append(k)
        return sorted(((sh, sorted(ks)) for sh, ks in groups.items()), key=lambda g: g[1][0])

    def high_confidence_regex(self) -> str | None:
        """The high-confidence detectors as one regex (checked on Tier 1 string values)."""
        rs = [r.regex for r in self.detectors if r.high_confidence]
        # a leading global flag, scoped to its own alternative (Python rejects one mid-pattern)
        return "|".join(f"(?{r[2:r.index(')')]}:{r[r.index(')') + 1:]})" if re.match(r"\(\?[a-z]+\)", r) else f"(?:{r})" for r in rs) if rs else None

    def conforms(self, key: str, value) -> bool:
        """Whether a Tier 1 key's value keeps its contract: its shape holds and no high-confidence
        detector matches it (a string). Keys without a contract keep any value."""
        sh = dict(self.shapes).get(key)
        if sh is not None and not sh.conforms(value):
            return False
        hc = self.high_confidence_regex()
        return not (hc and isinstance(value, str) and _gate_re(hc).search(value))

    def with_metadata(self, extra: dict[str, Shape]) -> "Policy":
        """More Tier 1 keys (from the spec), each with its contract."""
        keys = self.metadata_keys + tuple(k for k in extra if k not in self.metadata_keys)
        shapes = tuple((k, sh) for k, sh in self.shapes if k not in extra) + tuple(extra.items())
        return replace(self, metadata_keys=keys, shapes=shapes)

    def metadata_regex(self) -> str:
        """One anchored alternation over the Tier 1 keys, sorted so RE2's parser factors the shared
        prefixes (about 4x cheaper per key in Go than the policy's order)."""
        parts = sorted({re.escape(k[:-2]) + r"\..*" if k.endswith(".*") else re.escape(k) for k in self.metadata_keys})
        return "^(?:" + "|".join(parts) + ")$"

    def metadata_split(self) -> tuple[str | None, str | None]:
        """The same keys as two anchored regexes, prefixes (`x.*`) and exact keys, either None when
        empty: removing prefix matches first leaves few keys for the longer exact alternation."""
        pre = sorted({re.escape(k[:-2]) for k in self.metadata_keys if k.endswith(".*")})
        exact = sorted({re.escape(k) for k in self.metadata_keys if not k.endswith(".*")})
        return ("^(?:" + "|".join(pre) + r")\." if pre else None, "^(?:" + "|".join(exact) + ")$" if exact else None)

    def metadata_keys_split(self) -> tuple[list[str], list[str]]:
        """The Tier 1 prefixes (`x` for `x.*`) and the exact keys, each sorted."""
        return (sorted({k[:-2] for k in self.metadata_keys if k.endswith(".*")}),
                sorted({k for k in self.metadata_keys if not k.endswith(".*")}))

    def is_metadata(self, key: str) -> bool:
        return re.match(self.metadata_regex(), key) is not None

    def compiled_detectors(self) -> tuple[Rule, ...]:
        """Detectors as applied: ungated ones sharing a mask (and capturing nothing) joined into one
        alternation, so each value is scanned once per kind of mask instead of once per detector.
        Gated detectors stay apart: each scans only where its own gate holds. Order is kept by the
        first detector of each group."""
        groups: dict[str, list[Rule]] = {}
        order: list[str] = []
        for r in self.detectors:
            key = r.mask if not r.gated and "${" not in r.mask and re.compile(r.regex).groups == 0 else f"{r.name}:{r.mask}"
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(r)
        out = []
        for key in order:
            rs = groups[key]
            if len(rs) == 1:
                out.append(rs[0])
            else:
                out.append(Rule("+".join(r.name for r in rs), "|".join(f"(?:{r.regex})" for r in rs), rs[0].mask,
                                high_confidence=all(r.high_confidence for r in rs)))
        return tuple(out)

    def mask_tokens(self) -> list[str]:
        return sorted({r.token for r in self.detectors + self.span_name_rules} | {BYTES_MASK})

    def with_extra(self, extra: list[Rule]) -> "Policy":
        return replace(self, detectors=self.detectors + tuple(extra))

    def with_settings(self, mode: str, max_content_chars: int, patterns: list[tuple[str, str]], metadata_keys: dict) -> "Policy":
        """What a spec adds to its policy file, as the collector applies it: the mode, the content
        limit, extra detectors (mask <NAME>) and more Tier 1 keys. The one place both the collector
        (builders.collector.policy_for) and the generated file's `from_spec` section go through."""
        extra_keys = {k: parse_shape(k, raw)[0] for k, raw in metadata_keys.items()}
        return replace(self.with_extra([Rule(name, regex, f"<{name}>") for name, regex in patterns]).with_metadata(extra_keys),
                       mode=mode, max_content_chars=max_content_chars)


def backtrack_problem(pattern: str) -> str | None:
    """Why Python's re (the app-side redactor) would take exponential time on some text with this
    regex, or None (backtrack.double_loop: a repeated part that can read the same text two ways)."""
    witness = backtrack.double_loop(pattern)
    if witness is None:
        return None
    return (f"backtracks exponentially in Python's re, which the app-side redactor uses (the collector's RE2 does not): a repeated "
            f"part can read the same text (made of characters such as {witness!r}) in two ways, as (a+)+ or L(?:[._+]L)+ with _ or + in L do; "
            "write it so each character has one reading")


def regex_problem(pattern: str) -> str | None:
    """A policy regex must mean the same to RE2 and Python's re, and stay safe in Python's."""
    return re2check.problem(pattern) or backtrack_problem(pattern)


def _gate_problems(where: str, d: dict) -> list[Problem]:
    out = []
    lits = d.get("requires_any", [])
    if not isinstance(lits, list) or not all(isinstance(x, str) and x for x in lits):
        out.append(Problem(f"{where}.requires_any", "must be a list of non-empty literal strings"))
    else:
        for lit in lits:
            if lit != lit.lower():
                out.append(Problem(f"{where}.requires_any", f"{lit!r} must be lowercase (the gate is checked on lowercased text)"))
            if '"' in lit or "\\" in lit:
                out.append(Problem(f"{where}.requires_any", f"{lit!r} must not contain quotes or backslashes"))
    pat = d.get("requires_match")
    if pat is not None:
        if not isinstance(pat, str) or not pat:
            out.append(Problem(f"{where}.requires_match", "must be a regex string"))
        else:
            why = regex_problem(pat)
            if why:
                out.append(Problem(f"{where}.requires_match", why))
            elif re.search(r"(?<!\\)[A-Z]", pat):
                out.append(Problem(f"{where}.requires_match", "must not contain uppercase letters (the gate is checked on lowercased text)"))
    return out


def _from_spec_problems(raw) -> list[Problem]:
    """The `from_spec` section of a generated policy file, checked as the spec checks those fields."""
    if not isinstance(raw, dict):
        return [Problem(FROM_SPEC, "must be a mapping (mode, max_content_chars, extra_patterns, metadata_keys)")]
    out = [Problem(f"{FROM_SPEC}.{k}", "unknown key (allowed: extra_patterns, max_content_chars, metadata_keys, mode)")
           for k in raw if k not in ("mode", "max_content_chars", "extra_patterns", "metadata_keys")]
    if raw.get("mode", "redacted") not in MODES:
        out.append(Problem(f"{FROM_SPEC}.mode", f"must be one of {', '.join(MODES)}"))
    mc = raw.get("max_content_chars", 4096)
    if isinstance(mc, bool) or not isinstance(mc, int) or not MAX_CHARS_RANGE[0] <= mc <= MAX_CHARS_RANGE[1]:
        out.append(Problem(f"{FROM_SPEC}.max_content_chars", f"must be an integer from {MAX_CHARS_RANGE[0]} to {MAX_CHARS_RANGE[1]}"))
    pats = raw.get("extra_patterns") or []
    if not isinstance(pats, list):
        out.append(Problem(f"{FROM_SPEC}.extra_patterns", "must be a list of {name, regex}"))
        pats = []
    for i, d in enumerate(pats):
        where = f"{FROM_SPEC}.extra_patterns[{i}]"
        if not isinstance(d, dict) or set(d) != {"name", "regex"}:
            out.append(Problem(where, "must have exactly name and regex"))
        elif not isinstance(d["name"], str) or not PATTERN_NAME.match(d["name"]):
            out.append(Problem(f"{where}.name", "must be upper case letters, digits and _ (the mask is <NAME>)"))
        elif not isinstance(d["regex"], str) or (why := regex_problem(d["regex"])):
            out.append(Problem(f"{where}.regex", why if isinstance(d["regex"], str) else "must be a regex string"))
    keys = raw.get("metadata_keys") or {}
    if not isinstance(keys, dict):
        out.append(Problem(f"{FROM_SPEC}.metadata_keys", "must be a mapping of exact attribute keys to their shape"))
    else:
        for k, sh in keys.items():
            if not isinstance(k, str) or not k or "*" in k:
                out.append(Problem(f"{FROM_SPEC}.metadata_keys.{k}", "must be an exact attribute key"))
            else:
                out.extend(parse_shape(f"{FROM_SPEC}.metadata_keys.{k}", sh)[1])
    return out


def from_spec_section(mode: str, max_content_chars: int, patterns: list[tuple[str, str]], metadata_keys: dict) -> dict:
    """The `from_spec` section (what Policy.with_settings applies) as the generated file writes it."""
    return {FROM_SPEC: {"mode": mode, "max_content_chars": max_content_chars,
                        "extra_patterns": [{"name": name, "regex": regex} for name, regex in patterns],
                        "metadata_keys": dict(metadata_keys)}}


def parse(text: str, source: str, allow_from_spec: bool = True) -> Policy:
    """A policy file. `from_spec` (written by `generate`) is refused where the spec supplies those
    settings itself (a spec's redaction.policy)."""
    raw, lines = yamlines.compose(text, source, "policy")
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise SpecError(source, [Problem("", "the policy must be a YAML mapping", 1)])
    allowed = {"version", "metadata_keys", "identifier_keys", "detectors", "span_name_rules", FROM_SPEC}
    for k in raw:
        if k not in allowed:
            problems.append(Problem(str(k), f"unknown key (allowed: {', '.join(sorted(allowed))})"))
    if FROM_SPEC in raw:
        if allow_from_spec:
            problems += _from_spec_problems(raw[FROM_SPEC])
        else:
            problems.append(Problem(FROM_SPEC, "a generated policy in effect: the spec's redaction section (mode, max_content_chars, "
                                               "extra_patterns, metadata_keys) sets these; delete this section from the copy"))
    if raw.get("version") != 1:
        problems.append(Problem("version", "must be 1"))
    v = raw.get("identifier_keys", [])
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        problems.append(Problem("identifier_keys", "must be a list of attribute keys"))
    meta = raw.get("metadata_keys") or {}
    shapes: list[tuple[str, Shape]] = []
    if not isinstance(meta, dict):
        problems.append(Problem("metadata_keys", "must be a mapping of exact attribute keys to their shape (e.g. gen_ai.request.model: model_id); prefixes (x.*) are not Tier 1"))
        meta = {}
    for k, raw_shape in meta.items():
        where = f"metadata_keys.{k}"
        if not isinstance(k, str) or not k or "*" in k:
            problems.append(Problem(where, "must be an exact attribute key (no prefixes or wildcards: a prefix would keep any invented key verbatim)"))
            continue
        sh, ps = parse_shape(where, raw_shape)
        problems.extend(ps)
        if sh is not None:
            shapes.append((k, sh))
    rules: dict[str, list[Rule]] = {}
    for key in ("detectors", "span_name_rules"):
        rules[key] = []
        for i, d in enumerate(raw.get(key) or []):
            where = f"{key}[{i}]"
            if not isinstance(d, dict) or not {"name", "regex", "mask"} <= set(d) or set(d) - RULE_KEYS:
                problems.append(Problem(where, "must have name, regex, mask and may have requires_any, requires_match"))
                continue
            gate = _gate_problems(where, d)
            if gate:
                problems.extend(gate)
                continue
            why = regex_problem(d["regex"])
            if why:
                problems.append(Problem(f"{where}.regex", why))
                continue
            if not isinstance(d.get("high_confidence", False), bool):
                problems.append(Problem(f"{where}.high_confidence", "must be true or false"))
                continue
            rules[key].append(Rule(str(d["name"]), d["regex"], str(d["mask"]), tuple(d.get("requires_any", [])), d.get("requires_match"),
                                   bool(d.get("high_confidence", False))))
    if not rules.get("detectors") and not problems:
        problems.append(Problem("detectors", "at least one detector is required"))
    if problems:
        raise SpecError(source, yamlines.with_lines(problems, lines))
    ids = tuple(raw.get("identifier_keys") or [])
    policy = Policy(tuple(k for k, _ in shapes), ids, tuple(rules["detectors"]), tuple(rules["span_name_rules"]), tuple(shapes))
    fs = raw.get(FROM_SPEC) if allow_from_spec else None
    if fs:
        policy = policy.with_settings(fs.get("mode", "redacted"), fs.get("max_content_chars", 4096),
                                      [(d["name"], d["regex"]) for d in fs.get("extra_patterns") or []], fs.get("metadata_keys") or {})
    return policy


def default_text() -> str:
    return resources.files("genai_o11y.data").joinpath("redaction_policy.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return parse(default_text(), "<embedded redaction policy>")


def load(path: str | Path | None, allow_from_spec: bool = True) -> Policy:
    if path is None:
        return default_policy()
    p = Path(path)
    try:
        return parse(p.read_text(encoding="utf-8"), str(p), allow_from_spec)
    except FileNotFoundError:
        raise SpecError(str(p), [Problem("", "redaction policy file not found")]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(str(p), [Problem("", f"redaction policy file unreadable: {type(e).__name__}: {e}")]) from None
