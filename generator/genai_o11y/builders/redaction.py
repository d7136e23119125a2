"""The redaction stage: the policy compiled to OTTL, applied once before the fan-out.

Per span (and likewise per span event and per resource):
1. identifiers (user, session, account ids) -> h_ + 16 hex of SHA-256("<salt>:<value>");
2. Tier 1 keys are set aside (cache), the rest is flattened (lists and maps become string leaves,
   so nothing nested escapes the detectors), masked by every detector, truncated;
3. Tier 1 keys are put back untouched; the span records how many values were masked
   (genai_o11y.redaction.count), never what.
`metadata-only` keeps Tier 1 keys only. Span names get the detectors plus id placeholders.
The salt comes from ${env:GENAI_O11Y_HASH_SALT}: unset, the collector refuses to start.
"""

from __future__ import annotations

from ..redaction_policy import Policy, Rule
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


def _mask_all(target: str, rules: tuple[Rule, ...]) -> list[str]:
    return [f'replace_all_patterns({target}, "value", {q(r.regex)}, {q(r.mask)})' for r in rules]


def _mask_one(target: str, rules: tuple[Rule, ...]) -> list[str]:
    return [f"replace_pattern({target}, {q(r.regex)}, {q(r.mask)})" for r in rules]


def _count(kv: str, tokens: list[str]) -> str:
    return " + ".join(f"(Len(Split({kv}, {q(t)})) - 1)" for t in tokens)


def _redacted(ctx: str, policy: Policy, limit: int, count_into: str | None) -> list[str]:
    attrs, cache = f"{ctx}.attributes", f'{ctx}.cache["tier1"]'
    t1 = q(policy.metadata_regex())
    s = [
        f"set({cache}, {attrs})",
        f"keep_matching_keys({cache}, {t1})",
        f"delete_matching_keys({attrs}, {t1})",
        f"flatten({attrs})",
        *_mask_all(attrs, policy.compiled_detectors()),
    ]
    if count_into:  # before truncation, so masks past the limit are counted too
        kv = f'{ctx}.cache["kv"]'
        s.append(f"set({kv}, ToKeyValueString({attrs}))")
        s.append(f"set({count_into}, Coalesce([{count_into}, 0]) + {_count(kv, policy.mask_tokens())})")
    s.append(f"truncate_all({attrs}, {limit})")
    s.append(f'merge_maps({attrs}, {cache}, "upsert")')
    return s


def statement_groups(spec: Spec, policy: Policy) -> list[dict]:
    """transform processor statement groups (resource, span, spanevent)."""
    ids = [_hash(f"span.attributes[{q(k)}]") for k in policy.identifier_keys]
    ev_ids = [_hash(f"spanevent.attributes[{q(k)}]") for k in policy.identifier_keys]
    res_ids = [_hash(f"resource.attributes[{q(k)}]") for k in policy.identifier_keys]
    name = _mask_one("span.name", policy.compiled_detectors()) + _mask_one("span.name", policy.span_name_rules)
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
