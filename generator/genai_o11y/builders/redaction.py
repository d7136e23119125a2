"""The redaction stage: the policy compiled to OTTL, applied once before the fan-out.

Per span (and likewise per span event and per resource):
1. identifiers (user, session, account ids) -> h_ + 16 hex of SHA-256("<salt>:<value>");
2. the keys that are not Tier 1 move to a cache map, are flattened (lists and maps become string
   leaves, so nothing nested escapes the detectors), masked by every detector whose gate holds,
   truncated and merged back; Tier 1 keys are never touched;
3. the span records how many values were masked (genai_o11y.redaction.count), never what.
`metadata-only` keeps Tier 1 keys only. Span names get the detectors plus id placeholders.

Cost shapes the layout: only spans with non-Tier-1 keys enter the span content group, and only
span names with a character other than letters, `_`, space and `.` enter the group of rules that
need one (see redaction/README.md and bench/RESULTS.md).
The salt comes from ${env:GENAI_O11Y_HASH_SALT}: unset, the collector refuses to start.
"""

from __future__ import annotations

import re

from ..redaction_policy import Policy, Rule, Shape
from ..spec import Spec
from .ottl import q

SALT_ENV = "GENAI_O11Y_HASH_SALT"
SALT_REF = "${env:" + SALT_ENV + "}"  # expanded by the collector: must not be escaped
SALT_MARK = "@@GENAI_O11Y_SALT@@"  # placeholder in statements until after confmap escaping
COUNT = "genai_o11y.redaction.count"
PENDING = "genai_o11y.redaction.pending"  # set and removed within the stage: never exported
NAMESPACE = "genai_o11y"  # our own attributes: most keys of an instrumented span
#: A span name made only of these (checked on the original name) cannot match the rules that need
#: another character (Rule.plain_capable); stricter than redaction_policy.PLAIN_TEXT_RE on the
#: lowercased name, against which that analysis is tested, hence safe.
PLAIN_NAME_RE = "^[A-Za-z_ .]*$"


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


def _count(kv: str, tokens: list[str]) -> str:
    return " + ".join(f"(Len(Split({kv}, {q(t)})) - 1)" for t in tokens)


def conforms(p: str, shape: Shape | None, hc_copy: str | None) -> str:
    """The OTTL condition for "the Tier 1 value at path p keeps its contract" (Policy.conforms).
    hc_copy: the same value in a copy of the Tier 1 attributes where the high-confidence detectors
    replaced their matches (_hc_copy): a string that changed there holds a match."""
    if shape is None:
        ok = "true"
    elif shape.kind == "bool":
        ok = f"IsBool({p})"
    elif shape.kind == "num":
        ok = f"(IsInt({p}) or IsDouble({p}) or (IsString({p}) and IsMatch({p}, {q(shape.regex())})))"
    elif shape.kind == "strlist":
        ok = f"(IsString({p}) or IsList({p})) and IsMatch({p}, {q(shape.regex())})"
    else:
        ok = f"IsString({p}) and IsMatch({p}, {q(shape.regex())})"
    if hc_copy is None or (shape is not None and shape.kind == "bool"):
        return ok
    return f"{ok} and not (IsString({p}) and {hc_copy} != {p})"


HC_MARK = "<HC>"  # what _hc_copy puts where a high-confidence detector matched (only in the cache copy)


def _hc_copy(ctx: str, policy: Policy) -> list[str]:
    """cache["t1"]: the Tier 1 attributes with every high-confidence detector match replaced (one
    regex for all of them, once per map), for conforms()."""
    hc = policy.high_confidence_regex()
    if hc is None:
        return []
    t1 = f'{ctx}.cache["t1"]'
    return [f"set({t1}, {ctx}.attributes)", f"keep_matching_keys({t1}, {q(policy.metadata_regex())})",
            f'replace_all_patterns({t1}, "value", {q(hc)}, {q(HC_MARK)})']


def violations(ctx: str, policy: Policy) -> list[tuple[str, str]]:
    """(Tier 1 key, the OTTL condition for "its value in ctx.attributes breaks its contract"), per
    key: such a value is content. Needs _hc_copy(ctx) first in the same group."""
    hc = policy.high_confidence_regex()
    shapes = policy.shape_of()
    out = []
    for k in sorted(policy.metadata_keys):
        if k.endswith(".*") or (k not in shapes and hc is None):
            continue
        p = f"{ctx}.attributes[{q(k)}]"
        copy = f'{ctx}.cache["t1"][{q(k)}]' if hc is not None else None
        out.append((k, f"{p} != nil and not ({conforms(p, shapes.get(k), copy)})"))
    return out


def _drop_violations(attrs: str, policy: Policy) -> list[str]:
    """metadata-only: a Tier 1 value that breaks its contract is content, hence dropped."""
    ctx = attrs.split(".")[0]
    return _hc_copy(ctx, policy) + [f"delete_key({attrs}, {q(k)}) where {cond}" for k, cond in violations(ctx, policy)]


def _split(ctx: str, policy: Policy) -> list[str]:
    """cache["rest"] = the attributes that are not Tier 1 (prefixes first, then the exact keys),
    and the Tier 1 values that break their contract, which leave the attributes for content."""
    rest = f'{ctx}.cache["rest"]'
    attrs = f"{ctx}.attributes"
    pre, exact = policy.metadata_split()
    bad = violations(ctx, policy)
    return [
        *_hc_copy(ctx, policy),
        f"set({rest}, {attrs})",
        *([f"delete_matching_keys({rest}, {q(pre)})"] if pre else []),
        *([f"delete_matching_keys({rest}, {q(exact)}) where Len({rest}) > 0"] if exact else []),
        *[f"set({rest}[{q(k)}], {attrs}[{q(k)}]) where {cond}" for k, cond in bad],
        *[f"delete_key({attrs}, {q(k)}) where {rest}[{q(k)}] != nil" for k, _ in bad],
    ]


def _mark(policy: Policy) -> list[str]:
    """Marks a span that carries any attribute outside Tier 1, as cheaply as OTTL allows (every span
    runs this): our own namespace goes first with an anchored literal (a prefix test in Go, no
    regex steps), the other prefixes on what is left, then the exact keys by hash (`keep_keys`):
    if that drops a key, the key was neither under a Tier 1 prefix nor a Tier 1 key."""
    rest, n = 'span.cache["rest"]', 'span.cache["n"]'
    prefixes, exact = policy.metadata_keys_split()
    own = [p for p in prefixes if p == NAMESPACE]
    others = [p for p in prefixes if p != NAMESPACE]
    s = _hc_copy("span", policy) + [f"set(span.attributes[{q(PENDING)}], true) where {cond}" for _k, cond in violations("span", policy)]
    s += [f"set({rest}, span.attributes)"]
    s += [f'delete_matching_keys({rest}, {q("^" + re.escape(p) + "[.]")})' for p in own]
    if others:
        s.append(f'delete_matching_keys({rest}, {q("^(?:" + "|".join(re.escape(p) for p in others) + ")[.]")}) where Len({rest}) > 0')
    if not exact:
        return s + [f"set(span.attributes[{q(PENDING)}], true) where Len({rest}) > 0"]
    return s + [
        f"set({n}, Len({rest}))",
        f"keep_keys({rest}, [{', '.join(q(k) for k in exact)}])",
        f"set(span.attributes[{q(PENDING)}], true) where Len({rest}) < {n}",
    ]


STRING_MARK = "#s#"  # put before every string value of a cache copy, so that bytes values are the unmarked JSON strings
BYTES_MASK = "<BYTES>"  # the native engine's BytesMask
#: In the JSON text of a flat map (OTTL's String()): an entry whose value is a marked string, a number, a bool or
#: null. Every `"` inside a JSON string is escaped, so matching from the left keeps to entry boundaries.
_JSON_NOT_BYTES = r'"(?:[^"\\]|\\.)*":(?:"' + STRING_MARK + r'(?:[^"\\]|\\.)*"|-?[0-9][-+.eE0-9]*|true|false|null),?'
#: A JSON string value made only of base64 characters: in a map whose strings are marked, a bytes value.
_JSON_BYTES_VALUE = r':"[A-Za-z0-9+/=]*"'
#: The same entries once every value is a string (stringify_all: numbers, NaN, ±Infinity, bools, empty values).
_JSON_NOT_BYTES_STRINGIFIED = (r'"(?:[^"\\]|\\.)*":"(?:' + STRING_MARK + r'(?:[^"\\]|\\.)*|-?[0-9][-+.eE0-9]*|NaN|-?Infinity|true|false|)",?')
#: A double that is NaN or infinite (JSON has no such number: String() would fail), in ToKeyValueString's text.
_KV_NOT_FINITE = r'=(?:NaN|-?Infinity)(?: |$)'  # pcommon's AsString of a double


def mask_bytes(ctx: str, target: str, guard: str | None = None) -> list[str]:
    """Bytes values of the flat map `target` become <BYTES>, as in the native engine. OTTL has no
    converter that tells a bytes value from a string, so: a copy of the map with every string value
    marked, as JSON (bytes values are base64 strings there, the only unmarked ones); if one is
    there, every other entry is cut from the JSON text, what is left (the bytes values) is
    replaced by <BYTES>, parsed back and merged over the map. A NaN or infinite double has no JSON
    form: where the copy holds one, every value of the copy is made a string first (stringify_all)
    and the numbers' and bools' forms are cut too (a bytes value whose base64 reads as a number, or
    `true`, then passes: binary data of a few bytes). Text the JSON step cannot parse fails the
    statement, hence the batch (error_mode propagate): refused, never passed."""
    copy, js, found, nf = f'{ctx}.cache["b"]', f'{ctx}.cache["j"]', f'{ctx}.cache["bytes"]', f'{ctx}.cache["nf"]'

    def where(*conds: str) -> str:
        cs = [c for c in (guard, *conds) if c]
        return f" where {' and '.join(cs)}" if cs else ""

    return [
        f"set({copy}, {target})" + where(),
        f'replace_all_patterns({copy}, "value", "^", {q(STRING_MARK)})' + where(),
        f"set({nf}, true)" + where(f"IsMatch(ToKeyValueString({copy}), {q(_KV_NOT_FINITE)})"),
        f"stringify_all({copy})" + where(f"{nf} != nil"),
        f"set({js}, String({copy}))" + where(),
        f"set({found}, true)" + where(f"IsMatch({js}, {q(_JSON_BYTES_VALUE + '[,}]')})"),
        f'replace_pattern({js}, {q(_JSON_NOT_BYTES)}, "")' + where(f"{found} != nil", f"{nf} == nil"),
        f'replace_pattern({js}, {q(_JSON_NOT_BYTES_STRINGIFIED)}, "")' + where(f"{found} != nil", f"{nf} != nil"),
        f'replace_pattern({js}, ",}}$", "}}")' + where(f"{found} != nil"),
        f"replace_pattern({js}, {q(_JSON_BYTES_VALUE)}, {q(':' + chr(34) + BYTES_MASK + chr(34))})" + where(f"{found} != nil"),
        f'merge_maps({target}, ParseJSON({js}), "update")' + where(f"{found} != nil"),
    ]


def _content(ctx: str, policy: Policy, limit: int, count_into: str | None, guard: str | None) -> list[str]:
    """cache["rest"] flattened, masked where each detector's gate holds, counted, truncated and
    merged back (Tier 1 wins a key clash). `guard`: a condition on every statement (None: the
    group's own condition already selected the spans that carry content)."""
    attrs, rest, kv = f"{ctx}.attributes", f'{ctx}.cache["rest"]', f'{ctx}.cache["kv"]'
    t1 = q(policy.metadata_regex())

    def where(*conds: str | None) -> str:
        cs = [c for c in (guard, *conds) if c]
        return f" where {' and '.join(cs)}" if cs else ""

    s = [
        f"keep_matching_keys({attrs}, {t1})" + where(),
        f"flatten({rest})" + where(),
        *mask_bytes(ctx, rest, guard),
        f"set({kv}, ToLowerCase(ToKeyValueString({rest})))" + where(),
        *[f'replace_all_patterns({rest}, {q(mode)}, {q(r.regex)}, {q(r.mask)})' + where(f"({g})" if (g := gate(r, kv)) else None)
          for r in policy.compiled_detectors() for mode in ("key", "value")],
    ]
    if count_into:  # before truncation, so masks past the limit are counted too
        s.append(f"set({kv}, ToKeyValueString({rest}))" + where())
        s.append(f"set({count_into}, Coalesce([{count_into}, 0]) + {_count(kv, policy.mask_tokens())})" + where())
    s.append(f"truncate_all({rest}, {limit})" + where())
    s.append(f'merge_maps({attrs}, {rest}, "insert")' + where())
    return s


def _redacted(ctx: str, policy: Policy, limit: int, count_into: str | None) -> list[str]:
    """One group (resource, span events: few per batch): the content work guarded by a cache flag."""
    flag = f'{ctx}.cache["content"]'  # a nil cache entry costs nothing to test; Len() on a map boxes it
    return _split(ctx, policy) + [f'set({flag}, true) where Len({ctx}.cache["rest"]) > 0'] + _content(ctx, policy, limit, count_into, f"{flag} != nil")


def _labels(ctx: str, paths: list[str], policy: Policy) -> list[str]:
    """Short descriptive string fields (schema URLs, scope name and version, event names, trace
    states): every detector where its gate holds on the lowercased field, in every mode."""
    low = f'{ctx}.cache["l"]'
    out = []
    for path in paths:
        out.append(f'set({low}, ToLowerCase({path})) where {path} != ""')
        out += [f"replace_pattern({path}, {q(r.regex)}, {q(r.mask)}) where {path} != \"\"" + (f" and ({g})" if (g := gate(r, low)) else "")
                for r in policy.compiled_detectors()]
    return out


def _status_message(spec: Spec, policy: Policy) -> list[str]:
    """The status message is content: masked and truncated (bytes, UTF-8 safe: OTTL cannot count
    characters), or dropped in metadata-only mode."""
    msg = "span.status.message"
    if spec.redaction.mode == "metadata-only":
        return [f'set({msg}, "") where {msg} != ""']
    limit = spec.redaction.max_content_chars
    return _labels("span", [msg], policy) + [f"set({msg}, Substring({msg}, 0, {limit}, true)) where Len({msg}) > {limit}"]


#: Fields the OTTL engine cannot redact (no OTTL path reaches them, or no function can tell their
#: type): generate() prints these, and the redaction README lists them.
OTTL_LIMITS = [
    "span links: OTTL has no path to a link's attributes or trace state, so the OTTL engine removes every link (trace and span ids included)",
    "max_content_chars counts bytes (UTF-8 safe) in the OTTL engine: OTTL's truncate_all and Substring cannot count characters",
    "resource entity references (experimental in OTLP): OTTL has no path to them, so the OTTL engine removes them (groupbyattrs rebuilds each resource from its redacted attributes after the redaction stage), and with them the resource and scope schema URLs (the native engine keeps all of these, redacted)",
    "percent-encoded text (URLs, query strings) is not decoded: only e-mail addresses (%40) are caught encoded; the native engine also checks such text decoded",
    "values the stage cannot classify (Tier 1 values out of shape) are masked as content but not counted in a metric: no GenAIRedactionUnclassified alert",
    "a log record's body that is a list becomes the map of its leaves ({\"body.0\": ...}): OTTL cannot flatten a list in place (the native engine keeps the list, redacted)",
]


def _others(spec: Spec, policy: Policy) -> list[dict]:
    """Every string field outside attributes and span names (the OTLP trace model, field by field):
    resource and scope schema URLs, scope name, version and attributes, trace state, status message,
    event names; links are removed (OTTL_LIMITS)."""
    scope_attrs = ([_hash(f"scope.attributes[{q(k)}]") for k in policy.identifier_keys]
                   + (_drop_violations("scope.attributes", policy) + [f"keep_matching_keys(scope.attributes, {q(policy.metadata_regex())})"]
                      if spec.redaction.mode == "metadata-only"
                      else _redacted("scope", policy, spec.redaction.max_content_chars, None)))
    return [
        {"context": "resource", "statements": _labels("resource", ["resource.schema_url"], policy)},
        {"context": "scope", "statements": scope_attrs + _labels("scope", ["scope.name", "scope.version", "scope.schema_url"], policy)},
        {"context": "span", "statements": _labels("span", ["span.trace_state"], policy) + _status_message(spec, policy)
         + ["set(span.links, nil) where Len(span.links) > 0"]},
        {"context": "spanevent", "statements": _labels("spanevent", ["spanevent.name"], policy)},
    ]


def _span_name_groups(policy: Policy, limit: int) -> list[dict]:
    """Most span names are plain (`retrieval`, `execute_tool search_kb`): the rules that provably
    need a character outside letters, `_`, space and `.` run in a group only names with such a
    character enter; the few rules that can match letters alone run on every name. Each rule is
    also gated on the lowercased name."""
    name = 'span.cache["name"]'
    rules = policy.compiled_detectors() + policy.span_name_rules

    def stmts(rs) -> list[str]:
        return [f"set({name}, ToLowerCase(span.name))"] + [
            f"replace_pattern(span.name, {q(r.regex)}, {q(r.mask)})" + (f" where {g}" if (g := gate(r, name)) else "") for r in rs
        ]

    other = [r for r in rules if not r.plain_capable]
    groups = []
    if other:
        groups.append({"context": "span", "conditions": [f"not IsMatch(span.name, {q(PLAIN_NAME_RE)})"], "statements": stmts(other)})
    plain = [r for r in rules if r.plain_capable]
    # a name is truncated like content (bytes, UTF-8 safe: OTTL cannot count characters)
    cut = f"set(span.name, Substring(span.name, 0, {limit}, true)) where Len(span.name) > {limit}"
    groups.append({"context": "span", "statements": (stmts(plain) if plain else []) + [cut]})
    return groups


def statement_groups(spec: Spec, policy: Policy) -> list[dict]:
    """transform processor statement groups (resource, span, spanevent)."""
    ids = [_hash(f"span.attributes[{q(k)}]") for k in policy.identifier_keys]
    ev_ids = [_hash(f"spanevent.attributes[{q(k)}]") for k in policy.identifier_keys]
    res_ids = [_hash(f"resource.attributes[{q(k)}]") for k in policy.identifier_keys]
    names = _span_name_groups(policy, spec.redaction.max_content_chars)
    count = f"span.attributes[{q(COUNT)}]"
    t1 = q(policy.metadata_regex())
    if spec.redaction.mode == "metadata-only":
        return [
            {"context": "resource", "statements": res_ids + _drop_violations("resource.attributes", policy) + [f"keep_matching_keys(resource.attributes, {t1})"]},
            {
                "context": "span",
                "statements": ids
                + [
                    'set(span.cache["n"], Len(span.attributes))',
                    *_drop_violations("span.attributes", policy),
                    f"keep_matching_keys(span.attributes, {t1})",
                    f'set({count}, span.cache["n"] - Len(span.attributes))',
                ],
            },
            *names,
            {"context": "spanevent", "statements": ev_ids + _drop_violations("spanevent.attributes", policy) + [f"keep_matching_keys(spanevent.attributes, {t1})"]},
            *_others(spec, policy),
        ]
    limit = spec.redaction.max_content_chars
    pending = f"span.attributes[{q(PENDING)}]"
    return [
        {"context": "resource", "statements": res_ids + _redacted("resource", policy, limit, None)},
        # Every span: ids hashed, and a mark on the few that carry values outside Tier 1 ...
        {"context": "span", "statements": ids + _mark(policy)},
        # ... which alone enter the content work (the cache does not outlive a group: split again).
        {
            "context": "span",
            "conditions": [f"{pending} != nil"],
            "statements": [f"delete_key(span.attributes, {q(PENDING)})", *_split("span", policy),
                           f'delete_key(span.cache["rest"], {q(PENDING)})', *_content("span", policy, limit, count, None)],
        },
        *names,
        {"context": "spanevent", "statements": ev_ids + _redacted("spanevent", policy, limit, count)},
        *_others(spec, policy),
    ]


def _log_body(spec: Spec, policy: Policy, count: str) -> list[dict]:
    """A log record's body is content whatever its shape: a string masked (gated, as labels are),
    counted and truncated; a map flattened, masked, counted and truncated like attributes outside
    Tier 1; a list the same, as the map {"body.0": ..., "body.1": ...} (OTTL cannot keep a list's
    shape while flattening it); a bytes body (the one value that is none of OTTL's Is* types)
    becomes <BYTES>. metadata-only drops the body."""
    body, rest, kv = "log.body", 'log.cache["rest"]', 'log.cache["kv"]'
    texty = f"(IsString({body}) or IsMap({body}) or IsList({body}) or IsInt({body}) or IsDouble({body}) or IsBool({body}))"
    if spec.redaction.mode == "metadata-only":
        return [{"context": "log", "statements": [f"set({body}, nil) where {body} != nil and not (IsInt({body}) or IsDouble({body}) or IsBool({body}))"]}]
    limit = spec.redaction.max_content_chars
    tokens = policy.mask_tokens()

    def structured(load: str) -> list[str]:
        return [
            load,
            f"flatten({rest})",
            *mask_bytes("log", rest),
            f"set({kv}, ToLowerCase(ToKeyValueString({rest})))",
            *[f'replace_all_patterns({rest}, {q(mode)}, {q(r.regex)}, {q(r.mask)})' + (f" where ({g})" if (g := gate(r, kv)) else "")
              for r in policy.compiled_detectors() for mode in ("key", "value")],
            f"set({kv}, ToKeyValueString({rest}))",
            f"set({count}, Coalesce([{count}, 0]) + {_count(kv, tokens)})",
            f"truncate_all({rest}, {limit})",
            f"set({body}, {rest})",
        ]

    return [
        {"context": "log", "conditions": [f"IsString({body})"], "statements": _labels("log", [body], policy) + [
            f"set({count}, Coalesce([{count}, 0]) + {_count(body, tokens)})",
            f"set({body}, Substring({body}, 0, {limit}, true)) where Len({body}) > {limit}",
        ]},
        {"context": "log", "conditions": [f"IsMap({body})"], "statements": structured(f"set({rest}, {body})")},
        {"context": "log", "conditions": [f"IsList({body})"], "statements": structured(f'set({rest}["body"], {body})')},
        {"context": "log", "statements": [f"set({body}, {q(BYTES_MASK)}) where {body} != nil and not {texty}"]},
    ]


def log_statement_groups(spec: Spec, policy: Policy) -> list[dict]:
    """transform processor statement groups for logs (resource, scope, log): the same policy as for
    spans, field by field of the OTLP logs model (OTTL_LIMITS apply as for traces)."""
    ids = [_hash(f"log.attributes[{q(k)}]") for k in policy.identifier_keys]
    res_ids = [_hash(f"resource.attributes[{q(k)}]") for k in policy.identifier_keys]
    count = f"log.attributes[{q(COUNT)}]"
    t1 = q(policy.metadata_regex())
    limit = spec.redaction.max_content_chars
    others = _others(spec, policy)
    resource_labels, scope_group = others[0], others[1]
    labels = {"context": "log", "statements": _labels("log", ["log.severity_text", "log.event_name"], policy)}
    if spec.redaction.mode == "metadata-only":
        attrs = {"context": "log", "statements": ids + [
            'set(log.cache["n"], Len(log.attributes))',
            *_drop_violations("log.attributes", policy),
            f"keep_matching_keys(log.attributes, {t1})",
            f'set({count}, log.cache["n"] - Len(log.attributes)) where Len(log.attributes) < log.cache["n"]',
        ]}
        resource = {"context": "resource", "statements": res_ids + _drop_violations("resource.attributes", policy) + [f"keep_matching_keys(resource.attributes, {t1})"]}
    else:
        attrs = {"context": "log", "statements": ids + _redacted("log", policy, limit, count)}
        resource = {"context": "resource", "statements": res_ids + _redacted("resource", policy, limit, None)}
    return [resource, resource_labels, scope_group, attrs, *_log_body(spec, policy, count), labels]


def _rule(r: Rule) -> dict:
    out: dict = {"name": r.name, "regex": r.regex, "mask": r.mask}
    if r.requires_any:
        out["requires_any"] = list(r.requires_any)
    if r.requires_match is not None:
        out["requires_match"] = r.requires_match
    if r.high_confidence:
        out["high_confidence"] = True
    return out


def span_name_rules(policy: Policy) -> list[Rule]:
    """The rules applied to span names, in the order both engines apply them (the rules that need a
    character other than letters, `_`, space and `.` first, then the others)."""
    rules = policy.compiled_detectors() + policy.span_name_rules
    return [r for r in rules if not r.plain_capable] + [r for r in rules if r.plain_capable]


def native_config(spec: Spec, policy: Policy) -> dict:
    """The genai_redaction processor's config (our component: gocomponents/genairedactionprocessor):
    the same policy as the OTTL engine, applied in one pass per span. The caller escapes `$` for
    confmap, then inserts the salt's env reference: an unset variable fails startup (salt: empty)."""
    return {
        "mode": "metadata-only" if spec.redaction.mode == "metadata-only" else "redacted",
        "salt": SALT_MARK,  # insert_salt() after confmap escaping
        "identifier_keys": list(policy.identifier_keys),
        "metadata_keys": list(policy.metadata_keys),
        # Tier 1 value contracts: a value that breaks its shape, or holds a high-confidence match, is content
        "metadata_shapes": [{"kind": sh.kind, **({"regex": sh.regex()} if sh.regex() else {}), "keys": keys} for sh, keys in policy.shape_groups()],

        "detectors": [_rule(r) for r in policy.compiled_detectors()],
        "span_name_rules": [_rule(r) for r in span_name_rules(policy)],
        "max_content_chars": spec.redaction.max_content_chars,
        "count_attribute": COUNT,
        "mask_tokens": policy.mask_tokens(),
    }


def insert_salt(value):
    """Replace the salt placeholder with the env reference, after confmap escaping."""
    if isinstance(value, str):
        return value.replace(SALT_MARK, SALT_REF)
    if isinstance(value, list):
        return [insert_salt(v) for v in value]
    if isinstance(value, dict):
        return {k: insert_salt(v) for k, v in value.items()}
    return value
