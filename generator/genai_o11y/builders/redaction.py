"""The redaction stage: the policy compiled to OTTL, applied once before the fan-out.

Per span (and likewise per span event and per resource):
1. identifiers (user, session, account ids) -> h_ + 16 hex of SHA-256("<salt>:<value>");
2. the keys that are not Tier 1 move to a cache map, are flattened (lists and maps become string
   leaves, so nothing nested escapes the detectors), masked by every detector whose gate holds,
   truncated and merged back; Tier 1 keys are never touched;
3. the span records how many values were masked (genai_o11y.redaction.count), never what.
`metadata-only` keeps Tier 1 keys only. Span names get the detectors plus id placeholders.
The salt comes from ${env:GENAI_O11Y_HASH_SALT}: unset, the collector refuses to start.
"""

from __future__ import annotations

import re

from ..redaction_policy import PLAIN_TEXT_RE, Policy, Rule
from ..spec import Spec
from .ottl import q

SALT_ENV = "GENAI_O11Y_HASH_SALT"
SALT_REF = "${env:" + SALT_ENV + "}"  # expanded by the collector: must not be escaped
SALT_MARK = "@@GENAI_O11Y_SALT@@"  # placeholder in statements until after confmap escaping
COUNT = "genai_o11y.redaction.count"


def salt_check() -> list[dict]:
    """resource processor actions that fail collector startup when the salt is unset (null value)."""
    key = f"{SALT_ENV}_must_be_set"
    return [{"key": key, "value": SALT_REF, "action": "insert"}, {"key": key, "action": "delete"}]


def _hash(target: str) -> str:
    inner = f'SHA256(Concat([{q(SALT_MARK)}, String({target})], ":"))'
    return f'set({target}, Concat(["h_", Substring({inner}, 0, 16)], "")) where {target} != nil'


def _literal(text: str) -> str:
    """An RE2 pattern matching `text` literally (Go finds a literal pattern with a plain index
    search, so a literal gate costs a fraction of a detector's scan)."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


def gate(rule: Rule, lowered: str) -> str | None:
    """The OTTL condition for a rule's gate on `lowered` (text already lowercased); None: ungated."""
    if not rule.gated:
        return None
    lits = [a for a in rule.requires_any if not any(b != a and b in a for b in rule.requires_any)]
    parts = [f"IsMatch({lowered}, {q(_literal(lit))})" for lit in lits]
    if rule.requires_match is not None:
        parts.append(f"IsMatch({lowered}, {q(rule.requires_match)})")
    return " or ".join(parts)


def _where(guard: str, rule: Rule, lowered: str) -> str:
    g = gate(rule, lowered)
    return f"{guard} and ({g})" if g else guard


def _count(kv: str, tokens: list[str]) -> str:
    return " + ".join(f"(Len(Split({kv}, {q(t)})) - 1)" for t in tokens)


def _redacted(ctx: str, policy: Policy, limit: int, count_into: str | None) -> list[str]:
    """Tier 1 stays in the attributes; the rest moves to cache["rest"], is flattened, masked and
    truncated there, then merged back (Tier 1 wins a key clash). Spans whose keys are all Tier 1
    (most stage spans) pay one key scan and nothing else."""
    attrs, rest, kv = f"{ctx}.attributes", f'{ctx}.cache["rest"]', f'{ctx}.cache["kv"]'
    t1 = q(policy.metadata_regex())
    # The guard: a flag set once (a nil cache entry costs nothing to test; Len() on a map boxes it)
    flag = f'{ctx}.cache["content"]'
    has = f"{flag} != nil"
    rules = policy.compiled_detectors()
    pre, exact = policy.metadata_split()
    s = [
        f"set({rest}, {attrs})",
        *([f"delete_matching_keys({rest}, {q(pre)})"] if pre else []),
        *([f"delete_matching_keys({rest}, {q(exact)}) where Len({rest}) > 0"] if exact else []),
        f"set({flag}, true) where Len({rest}) > 0",
        f"keep_matching_keys({attrs}, {t1}) where {has}",
        f"flatten({rest}) where {has}",
        f"set({kv}, ToLowerCase(ToKeyValueString({rest}))) where {has}",
        *[f'replace_all_patterns({rest}, "value", {q(r.regex)}, {q(r.mask)}) where {_where(has, r, kv)}' for r in rules],
    ]
    if count_into:  # before truncation, so masks past the limit are counted too
        s.append(f"set({kv}, ToKeyValueString({rest})) where {has}")
        s.append(f"set({count_into}, Coalesce([{count_into}, 0]) + {_count(kv, policy.mask_tokens())}) where {has}")
    s.append(f"truncate_all({rest}, {limit}) where {has}")
    s.append(f'merge_maps({attrs}, {rest}, "insert") where {has}')
    return s


def _span_name(policy: Policy) -> list[str]:
    """Most span names are plain (`retrieval`, `execute_tool search_kb`): a plain name skips every
    rule that needs a character outside letters, `_`, space and `.` (one anchored check)."""
    name, plain = 'span.cache["name"]', 'span.cache["plain"]'
    rules = policy.compiled_detectors() + policy.span_name_rules
    out = [f"set({name}, ToLowerCase(span.name))", f"set({plain}, IsMatch({name}, {q(PLAIN_TEXT_RE)}))"]
    for r in rules:
        conds = ([] if r.plain_capable else [f"{plain} == false"]) + ([f"({g})"] if (g := gate(r, name)) else [])
        out.append(f"replace_pattern(span.name, {q(r.regex)}, {q(r.mask)})" + (f" where {' and '.join(conds)}" if conds else ""))
    return out


def statement_groups(spec: Spec, policy: Policy) -> list[dict]:
    """transform processor statement groups (resource, span, spanevent)."""
    ids = [_hash(f"span.attributes[{q(k)}]") for k in policy.identifier_keys]
    ev_ids = [_hash(f"spanevent.attributes[{q(k)}]") for k in policy.identifier_keys]
    res_ids = [_hash(f"resource.attributes[{q(k)}]") for k in policy.identifier_keys]
    name = _span_name(policy)
    count = f"span.attributes[{q(COUNT)}]"
    t1 = q(policy.metadata_regex())
    if spec.redaction.mode == "metadata-only":
        return [
            {"context": "resource", "statements": res_ids + [f"keep_matching_keys(resource.attributes, {t1})"]},
            {
                "context": "span",
                "statements": ids
                + [
                    'set(span.cache["n"], Len(span.attributes))',
                    f"keep_matching_keys(span.attributes, {t1})",
                    f'set({count}, span.cache["n"] - Len(span.attributes))',
                ]
                + name,
            },
            {"context": "spanevent", "statements": ev_ids + [f"keep_matching_keys(spanevent.attributes, {t1})"]},
        ]
    limit = spec.redaction.max_content_chars
    return [
        {"context": "resource", "statements": res_ids + _redacted("resource", policy, limit, None)},
        {"context": "span", "statements": ids + _redacted("span", policy, limit, count) + name},
        {"context": "spanevent", "statements": ev_ids + _redacted("spanevent", policy, limit, count)},
    ]


def insert_salt(value):
    """Replace the salt placeholder with the env reference, after confmap escaping."""
    if isinstance(value, str):
        return value.replace(SALT_MARK, SALT_REF)
    if isinstance(value, list):
        return [insert_salt(v) for v in value]
    if isinstance(value, dict):
        return {k: insert_salt(v) for k, v in value.items()}
    return value
