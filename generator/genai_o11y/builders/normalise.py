"""Normalisation: attributes of other instrumentations -> current GenAI semantic conventions.

The pinned collector has no GenAI normaliser component: with `collector.engine: native` our own
genai_normalise processor applies these rules (native_config()), with `ottl` the transform
processor does (statements()). Rules, in order:
1. renames: a legacy key's value is copied to the current key when the current key is absent, then
   the legacy key is removed (one name per fact, so metrics, redaction and dashboards see one key);
2. values: provider names lower-cased and mapped to the semconv enumeration, token counts sent as
   strings converted to integers, the operation name derived from other instrumentations' span kinds;
3. our `genai_o11y.stage` inferred where the app did not set it (model call, embedding, retrieval,
   tool call, rerank, guardrail; a root span with no other stage is the whole `request`; a root
   span that is something else also counts as the request in the metrics branch: collector.py);
4. errors: `error.type` from the exception event where the instrumentation recorded only that,
   spellings normalised (`<class 'openai.RateLimitError'>`, `openai.RateLimitError` -> `RateLimitError`),
   and `genai_o11y.failure.category` inferred from the spec's failure table where the app set none.
"""

from __future__ import annotations

import re

from .. import names as n
from ..spec.model import FailureRule, NotRequests
from .ottl import attr, one_of_regex, q

# (legacy key, current key, who emits it). First match wins when several legacy keys are present.
RENAMES: list[tuple[str, str, str]] = [
    (n.LEGACY_SYSTEM, n.PROVIDER, "GenAI semconv <= 1.36 (gen_ai.system)"),
    ("llm.provider", n.PROVIDER, "OpenInference"),
    ("llm.system", n.PROVIDER, "OpenInference"),
    ("llm.vendor", n.PROVIDER, "OpenLLMetry (old)"),
    # token counts: the spellings of names.TOKEN_KINDS
    *[(legacy, k.attribute, who) for k in n.TOKEN_KINDS for legacy, who in k.legacy],
    ("llm.model_name", n.REQUEST_MODEL, "OpenInference"),
    ("embedding.model_name", n.REQUEST_MODEL, "OpenInference"),
    ("llm.request.model", n.REQUEST_MODEL, "OpenLLMetry (old)"),
    ("tool.name", n.TOOL_NAME, "OpenInference"),
    ("traceloop.entity.name", n.TOOL_NAME, "OpenLLMetry (tool spans only)"),
]
#: Token counts, converted to integers where sent as strings or doubles.
TOKEN_KEYS = [k.attribute for k in n.TOKEN_KINDS]
# Keys removed after mapping that have no current equivalent we keep.
DROPPED_LEGACY = ["llm.usage.total_tokens", "llm.token_count.total", "gen_ai.usage.total_tokens"]

# Old / vendor spellings of gen_ai.provider.name values.
PROVIDER_VALUES: dict[str, str] = {
    "az.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google": "gcp.gen_ai",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}

# Operation names from other instrumentations' span kinds.
OPERATION_FROM: list[tuple[str, str, str]] = [
    ("llm.request.type", "chat", "chat"),
    ("llm.request.type", "completion", "text_completion"),
    ("llm.request.type", "embedding", "embeddings"),
    ("openinference.span.kind", "LLM", "chat"),
    ("openinference.span.kind", "EMBEDDING", "embeddings"),
    ("openinference.span.kind", "RETRIEVER", "retrieval"),
    ("openinference.span.kind", "TOOL", "execute_tool"),
    ("openinference.span.kind", "AGENT", "invoke_agent"),
    ("traceloop.span.kind", "tool", "execute_tool"),
    ("traceloop.span.kind", "agent", "invoke_agent"),
]

# Stage inferred from the operation (or another instrumentation's kind).
STAGE_FROM: list[tuple[str, str, str]] = [
    (n.OPERATION, "chat", "model_call"),
    (n.OPERATION, "text_completion", "model_call"),
    (n.OPERATION, "generate_content", "model_call"),
    (n.OPERATION, "embeddings", "embedding"),
    (n.OPERATION, "retrieval", "retrieval"),
    (n.OPERATION, "execute_tool", "tool_call"),
    ("openinference.span.kind", "RERANKER", "rerank"),
    ("openinference.span.kind", "GUARDRAIL", "moderation"),
]


#: Where an instrumentation recorded the failure only as an exception event (OpenInference), the first
#: exception event's type becomes error.type on a span that ended in error.
EXCEPTION_EVENT, EXCEPTION_TYPE = "exception", "exception.type"
#: error.type spellings -> one: Python's repr of a class (openai-v2's chat spans) and a dotted class
#: path (an exception event's type) become the class name. RE2; `${1}` is the first group.
ERROR_TYPE_REWRITES: list[tuple[str, str]] = [
    ("^<class '(?:[^']*\\.)?([^'.]+)'>$", "${1}"),
    ("^(?:[A-Za-z_][A-Za-z0-9_]*\\.)+([A-Z][A-Za-z0-9_]*)$", "${1}"),
]
#: The request model from an instrumentation's invocation parameters (a JSON string) where no model
#: is set: OpenInference's failed calls carry only these.
MODEL_FROM_JSON: list[tuple[str, str]] = [("llm.invocation_parameters", "model"), ("embedding.invocation_parameters", "model")]
#: Keys the failure table's matchers read.
HTTP_STATUS_KEYS = ["http.response.status_code", "http.status_code"]
GRPC_CODE_KEY = "rpc.grpc.status_code"


def _group(statements: list[str], conditions: list[str]) -> dict:
    """A span statement group that runs only on spans where one of `conditions` holds (each is a
    necessary condition of every statement in it): most spans skip most groups with a few lookups."""
    return {"context": "span", "conditions": conditions, "statements": statements}


def _failure_matchers(rule: FailureRule) -> list[tuple[list[str], str, list, bool]]:
    """(keys, regex, values, lists): the rule as data, for both engines. The rule holds where one of
    `keys` is a string matching `regex`, or equals one of `values` (typed), or, with `lists`, is a
    list holding one of them."""
    if rule.error_type:
        return [([n.ERROR_TYPE], rule.error_type, [], False)]
    if rule.http_status:
        return [(HTTP_STATUS_KEYS, "", list(rule.http_status), False)]
    if rule.grpc_code:
        return [([GRPC_CODE_KEY], "", list(rule.grpc_code), False)]
    return [([n.FINISH_REASONS], "", list(rule.finish_reason), True)]


def _ottl_value(v) -> str:
    return q(v) if isinstance(v, str) else str(v)


def failure_statements(rules: list[FailureRule]) -> list[str]:
    cat = attr(n.FAILURE_CATEGORY)
    out = []
    for rule in rules:
        for keys, regex, values, lists in _failure_matchers(rule):
            if regex:
                cond = " or ".join(f"(IsString({attr(k)}) and IsMatch({attr(k)}, {q(regex)}))" for k in keys)
                out.append(f"set({cat}, {q(rule.category)}) where {cat} == nil and ({cond})")
                continue
            scalar = " or ".join(f"{attr(k)} == {_ottl_value(v)}" for k in keys for v in values)
            out.append(f"set({cat}, {q(rule.category)}) where {cat} == nil and ({scalar})")
            if lists:  # a separate statement: ContainsValue fails on a value that is not a list
                contains = " or ".join(f"ContainsValue({attr(k)}, {_ottl_value(v)})" for k in keys for v in values)
                out.append(f"set({cat}, {q(rule.category)}) where {cat} == nil and " + " and ".join(f"IsList({attr(k)})" for k in keys) + f" and ({contains})")
    return out


def failure_keys(rules: list[FailureRule]) -> list[str]:
    return sorted({k for r in rules for keys, _r, _v, _l in _failure_matchers(r) for k in keys})


def statements(failure_rules: list[FailureRule] | None = None, not_requests: NotRequests | None = None) -> list[dict]:
    """transform processor statement groups (span and span event context), in order."""
    groups: list[dict] = []
    renames: list[str] = []
    for legacy, current, _who in RENAMES:
        cond = f"{attr(current)} == nil and {attr(legacy)} != nil"
        if legacy == "traceloop.entity.name":
            cond += ' and span.attributes["traceloop.span.kind"] == "tool"'
        renames.append(f"set({attr(current)}, {attr(legacy)}) where {cond}")
    legacy_keys = sorted({legacy for legacy, _c, _w in RENAMES if legacy != "traceloop.entity.name"} | set(DROPPED_LEGACY))
    renames += [f"delete_key(span.attributes, {q(legacy)})" for legacy in legacy_keys]
    groups.append(_group(renames, [f"{attr(k)} != nil" for k in [*legacy_keys, "traceloop.entity.name"]]))
    # error.type: from the exception event where missing, then one spelling
    et = attr(n.ERROR_TYPE)
    groups.append({
        "context": "spanevent",
        "conditions": [f"spanevent.name == {q(EXCEPTION_EVENT)} and spanevent.attributes[{q(EXCEPTION_TYPE)}] != nil and {et} == nil"
                       " and span.status.code == STATUS_CODE_ERROR"],
        "statements": [f"set({et}, spanevent.attributes[{q(EXCEPTION_TYPE)}])"],
    })
    groups.append(_group([f"replace_pattern({et}, {q(p)}, {q(r)})" for p, r in ERROR_TYPE_REWRITES], [f"IsString({et})"]))
    # values
    provider = attr(n.PROVIDER)
    groups.append(_group([f"set({provider}, ToLowerCase({provider}))"], [f"IsString({provider})"]))
    groups.append(_group(
        [f"set({provider}, {q(new)}) where {provider} == {q(old)}" for old, new in PROVIDER_VALUES.items()],
        [f"IsString({provider}) and IsMatch({provider}, {q(one_of_regex(PROVIDER_VALUES))})"],
    ))
    tokens = TOKEN_KEYS
    groups.append(_group(
        [f"set({attr(key)}, Int({attr(key)})) where IsString({attr(key)}) or IsDouble({attr(key)})" for key in tokens],
        [f"IsString({attr(key)}) or IsDouble({attr(key)})" for key in tokens],
    ))
    groups.append(_group(
        [f"set({attr(n.REQUEST_MODEL)}, {attr(n.RESPONSE_MODEL)})"],
        [f"{attr(n.REQUEST_MODEL)} == nil and {attr(n.RESPONSE_MODEL)} != nil"],
    ))
    model = attr(n.REQUEST_MODEL)
    groups.append(_group(
        [f"set({model}, ParseJSON({attr(k)})[{q(f)}]) where {model} == nil and IsString({attr(k)}) and IsString(ParseJSON({attr(k)})[{q(f)}])" for k, f in MODEL_FROM_JSON],
        [f"{model} == nil and ({' or '.join(f'{attr(k)} != nil' for k, _f in MODEL_FROM_JSON)})"],
    ))
    kinds = sorted({key for key, _v, _o in OPERATION_FROM})
    groups.append(_group(
        [f"set({attr(n.OPERATION)}, {q(op)}) where {attr(n.OPERATION)} == nil and {attr(key)} == {q(value)}" for key, value, op in OPERATION_FROM],
        [f"{attr(n.OPERATION)} == nil and ({' or '.join(f'{attr(k)} != nil' for k in kinds)})"],
    ))
    # stage; a root span is the whole request, unless the helper marked it as only wrapping one (HTTP server span)
    stage = [f"set({attr(n.STAGE)}, {q(st)}) where {attr(n.STAGE)} == nil and {attr(key)} == {q(value)}" for key, value, st in STAGE_FROM]
    stage.append(f"set({attr(n.STAGE)}, \"request\") where {attr(n.STAGE)} == nil and {root_condition(not_requests)}")
    groups.append(_group(stage, [f"{attr(n.STAGE)} == nil"]))
    # tool outcome: the app's own value wins; otherwise from the span status
    tool = f"{attr(n.STAGE)} == \"tool_call\" and {attr(n.TOOL_OUTCOME)} == nil"
    groups.append(_group(
        [
            f"set({attr(n.TOOL_OUTCOME)}, \"timeout\") where {tool} and IsString({attr(n.ERROR_TYPE)}) and IsMatch({attr(n.ERROR_TYPE)}, {q(TOOL_TIMEOUT_PATTERN)})",
            f"set({attr(n.TOOL_OUTCOME)}, \"error\") where {tool} and span.status.code == STATUS_CODE_ERROR",
            f"set({attr(n.TOOL_OUTCOME)}, \"ok\") where {tool}",
        ],
        [tool],
    ))
    # failure category: the app's own value wins; otherwise the first row of the spec's table that matches
    rules = list(failure_rules or [])
    if rules:
        cat = attr(n.FAILURE_CATEGORY)
        groups.append(_group(failure_statements(rules), [f"{cat} == nil and ({' or '.join(f'{attr(k)} != nil' for k in failure_keys(rules))})"]))
    return groups


TOOL_TIMEOUT_PATTERN = "(?i)timeout"

#: Where a root span's path is (app.not_requests.paths): the route template, the path, the older target (query included).
ROOT_PATH_KEYS = ("http.route", "url.path", "http.target")
#: rpc.service (a service name; older conventions) or rpc.method ('<service>/<method>'; newer ones)
ROOT_RPC_KEYS = ("rpc.service", "rpc.method")


def not_request_pattern(paths: list[str]) -> str:
    """One of `paths`, a trailing '/' and a query allowed (RE2, as both engines match it)."""
    return "^(?:" + "|".join(re.escape(p.rstrip("/") or "/") for p in paths) + ")/?(?:\\?.*)?$"


def not_request_rpc_pattern(services: list[str]) -> str:
    """One of `services`, alone (rpc.service) or followed by '/<method>' (rpc.method)."""
    return "^(?:" + "|".join(re.escape(s) for s in services) + ")(?:/[^/]*)?$"


def not_matching(not_requests: NotRequests) -> list[tuple[tuple[str, ...], str]]:
    """(keys, pattern) of the roots that are no request by an attribute's value."""
    out = []
    if not_requests.paths:
        out.append((ROOT_PATH_KEYS, not_request_pattern(not_requests.paths)))
    if not_requests.rpc_services:
        out.append((ROOT_RPC_KEYS, not_request_rpc_pattern(not_requests.rpc_services)))
    return out


def root_condition(not_requests: NotRequests | None) -> str:
    """OTTL: the span is a root that counts as a request when it has no stage (the native engine's `root`)."""
    cond = f"IsRootSpan() and {attr(n.REQUEST_DELEGATED)} == nil"
    if not_requests is None:
        return cond
    cond += "".join(f" and span.kind != SPAN_KIND_{k.upper()}" for k in not_requests.span_kinds)
    for keys, pattern in not_matching(not_requests):
        cond += "".join(f" and not (IsString({attr(k)}) and IsMatch({attr(k)}, {q(pattern)}))" for k in keys)
    return cond


def root_config(not_requests: NotRequests | None) -> dict:
    """genai_normalise's `root`: what root_condition() says."""
    out: dict = {"key": n.STAGE, "value": "request", "unless": n.REQUEST_DELEGATED}
    if not_requests is not None:
        out["not_kinds"] = list(not_requests.span_kinds)
        if matching := not_matching(not_requests):
            out["not_matching"] = [{"keys": list(keys), "pattern": pattern} for keys, pattern in matching]
    return out


def native_config(default_service: str | None, environment: str, failure_rules: list[FailureRule] | None = None,
                  not_requests: NotRequests | None = None) -> dict:
    """The genai_normalise processor's config (our component: gocomponents/genainormaliseprocessor):
    what resource_statements() and statements() say in OTTL, as data, applied in one pass per span.
    The cost step is added by cost.native_config()."""
    renames = []
    for legacy, current, _who in RENAMES:
        r: dict = {"from": legacy, "to": current}
        if legacy == "traceloop.entity.name":
            r["when"] = {"key": "traceloop.span.kind", "value": "tool"}
        renames.append(r)
    return {
        "resource": {
            "renames": [{"from": "deployment.environment", "to": n.ENVIRONMENT}],
            "defaults": [{"key": n.ENVIRONMENT, "value": environment}],
            **({"service_name": {"key": n.SERVICE_NAME, "value": default_service, "replace_pattern": "^unknown_service"}} if default_service else {}),
        },
        "renames": renames,
        "delete_keys": sorted({legacy for legacy, _c, _w in RENAMES if legacy != "traceloop.entity.name"} | set(DROPPED_LEGACY)),
        "error_type": {
            "key": n.ERROR_TYPE, "from_event": {"name": EXCEPTION_EVENT, "key": EXCEPTION_TYPE},
            "rewrites": [{"pattern": p, "replacement": r} for p, r in ERROR_TYPE_REWRITES],
        },
        "lowercase": [n.PROVIDER],
        "value_maps": [{"key": n.PROVIDER, "values": dict(PROVIDER_VALUES)}],
        "integers": TOKEN_KEYS,
        "fill_from": [{"from": n.RESPONSE_MODEL, "to": n.REQUEST_MODEL}],
        "from_json": [{"from": k, "field": f, "to": n.REQUEST_MODEL} for k, f in MODEL_FROM_JSON],
        "derive": [{"key": n.OPERATION, "value": op, "when": {"key": key, "value": value}} for key, value, op in OPERATION_FROM]
        + [{"key": n.STAGE, "value": st, "when": {"key": key, "value": value}} for key, value, st in STAGE_FROM],
        "root": root_config(not_requests),
        "tool_outcome": {
            "stage_key": n.STAGE, "stage_value": "tool_call", "key": n.TOOL_OUTCOME, "error_type_key": n.ERROR_TYPE,
            "timeout_pattern": TOOL_TIMEOUT_PATTERN, "timeout": "timeout", "error": "error", "ok": "ok",
        },
        "failure": {
            "key": n.FAILURE_CATEGORY,
            "rules": [
                {"category": r.category, "keys": keys, **({"pattern": regex} if regex else {"values": values}), **({"lists": True} if lists else {})}
                for r in (failure_rules or []) for keys, regex, values, lists in _failure_matchers(r)
            ],
        },
    }


def resource_statements(default_service: str | None, environment: str) -> list[str]:
    """Resource fixes: environment under its current key, a service name where the SDK had none (when
    there is a default_service: see collector.build's `shared`)."""
    env, old_env = f'resource.attributes["{n.ENVIRONMENT}"]', 'resource.attributes["deployment.environment"]'
    svc = f'resource.attributes["{n.SERVICE_NAME}"]'
    return [
        f"set({env}, {old_env}) where {env} == nil and {old_env} != nil",
        'delete_key(resource.attributes, "deployment.environment")',
        f"set({env}, {q(environment)}) where {env} == nil",
    ] + ([f'set({svc}, {q(default_service)}) where {svc} == nil or IsMatch({svc}, "^unknown_service")'] if default_service else [])
