"""The redaction policy: key tiers and PII detectors, one source for the collector and the app.

The embedded default lives in genai_o11y/data/redaction_policy.yaml; a spec may point
`redaction.policy` at its own file (same format). `generate` writes the effective policy to
redaction/policy.yaml for review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from .errors import Problem, SpecError

MASK_TOKEN = re.compile(r"<[A-Z_]+>")
# RE2 has no look-around, back-references, possessive quantifiers or atomic groups.
NOT_RE2 = [
    (re.compile(r"\(\?<?[=!]"), "look-around is not supported by RE2"),
    (re.compile(r"\\[1-9]"), "back-references are not supported by RE2"),
    (re.compile(r"[*+?}]\+"), "possessive quantifiers are not supported by RE2"),
    (re.compile(r"\(\?>"), "atomic groups are not supported by RE2"),
]


@dataclass(frozen=True)
class Rule:
    name: str
    regex: str
    mask: str

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

    def metadata_regex(self) -> str:
        parts = [re.escape(k[:-2]) + r"\..*" if k.endswith(".*") else re.escape(k) for k in self.metadata_keys]
        return "^(" + "|".join(parts) + ")$"

    def is_metadata(self, key: str) -> bool:
        return re.match(self.metadata_regex(), key) is not None

    def compiled_detectors(self) -> tuple[Rule, ...]:
        """Detectors as applied: those sharing a mask (and capturing nothing) joined into one
        alternation, so each value is scanned once per kind of mask instead of once per detector.
        Order is kept by the first detector of each group."""
        groups: dict[str, list[Rule]] = {}
        order: list[str] = []
        for r in self.detectors:
            key = r.mask if "${" not in r.mask and re.compile(r.regex).groups == 0 else f"{r.name}:{r.mask}"
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
                out.append(Rule("+".join(r.name for r in rs), "|".join(f"(?:{r.regex})" for r in rs), rs[0].mask))
        return tuple(out)

    def mask_tokens(self) -> list[str]:
        return sorted({r.token for r in self.detectors + self.span_name_rules})

    def with_extra(self, extra: list[Rule]) -> "Policy":
        return Policy(self.metadata_keys, self.identifier_keys, self.detectors + tuple(extra), self.span_name_rules)


def parse(text: str, source: str) -> Policy:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(source, [Problem("", f"not valid YAML: {e}")]) from None
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise SpecError(source, [Problem("", "the policy must be a YAML mapping")])
    allowed = {"version", "metadata_keys", "identifier_keys", "detectors", "span_name_rules"}
    for k in raw:
        if k not in allowed:
            problems.append(Problem(str(k), f"unknown key (allowed: {', '.join(sorted(allowed))})"))
    if raw.get("version") != 1:
        problems.append(Problem("version", "must be 1"))
    for key in ("metadata_keys", "identifier_keys"):
        v = raw.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            problems.append(Problem(key, "must be a list of attribute keys"))
    rules: dict[str, list[Rule]] = {}
    for key in ("detectors", "span_name_rules"):
        rules[key] = []
        for i, d in enumerate(raw.get(key) or []):
            where = f"{key}[{i}]"
            if not isinstance(d, dict) or set(d) != {"name", "regex", "mask"}:
                problems.append(Problem(where, "must have exactly: name, regex, mask"))
                continue
            try:
                re.compile(d["regex"])
            except re.error as e:
                problems.append(Problem(f"{where}.regex", f"regex does not compile: {e}"))
                continue
            bad = [why for pat, why in NOT_RE2 if pat.search(d["regex"])]
            if bad:
                problems.append(Problem(f"{where}.regex", bad[0]))
                continue
            rules[key].append(Rule(str(d["name"]), d["regex"], str(d["mask"])))
    if not rules.get("detectors") and not problems:
        problems.append(Problem("detectors", "at least one detector is required"))
    if problems:
        raise SpecError(source, problems)
    ids = tuple(raw.get("identifier_keys") or [])
    meta = tuple(raw.get("metadata_keys") or [])
    return Policy(meta, ids, tuple(rules["detectors"]), tuple(rules["span_name_rules"]))


def default_text() -> str:
    return resources.files("genai_o11y.data").joinpath("redaction_policy.yaml").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return parse(default_text(), "<embedded redaction policy>")


def load(path: str | Path | None) -> Policy:
    if path is None:
        return default_policy()
    p = Path(path)
    try:
        return parse(p.read_text(encoding="utf-8"), str(p))
    except FileNotFoundError:
        raise SpecError(str(p), [Problem("", "redaction policy file not found")]) from None
