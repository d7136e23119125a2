"""Normalisation: attributes of other instrumentations -> current GenAI semantic conventions.

The pinned collector has no GenAI normaliser component: with `collector.engine: native` our own
genai_normalise processor applies these rules (native_config()), with `ottl` the transform
processor does (statements()). Rules, in order:
1. renames: a legacy key's value is copied to the current key when the current key is absent, then
   the legacy key is removed (one name per fact, so metrics, redaction and dashboards see one key);
2. values: provider names lower-cased and mapped to the semconv enumeration, token counts sent as
   strings converted to integers, the operation name derived from other instrumentations' span kinds;
3. our `genai_o11y.stage` inferred where the app did not set it (model call, embedding, retrieval,
   tool call, rerank, guardrail; a root span is the whole `request`).
"""

from __future__ import annotations

from .. import names as n
from .ottl import attr, one_of_regex, q

# (legacy key, current key, who emits it). First match wins when several legacy keys are present.
RENAMES: list[tuple[str, str, str]] = [
    (n.LEGACY_SYSTEM, n.PROVIDER, "GenAI semconv <= 1.36 (gen_ai.system)"),
    ("llm.provider", n.PROVIDER, "OpenInference"),
    ("llm.system", n.PROVIDER, "OpenInference"),
    ("llm.vendor", n.PROVIDER, "OpenLLMetry (old)"),
    (n.LEGACY_PROMPT_TOKENS, n.INPUT_TOKENS, "GenAI semconv <= 1.26"),
    (n.LEGACY_COMPLETION_TOKENS, n.OUTPUT_TOKENS, "GenAI semconv <= 1.26"),
    ("llm.usage.prompt_tokens", n.INPUT_TOKENS, "OpenLLMetry"),
    ("llm.usage.completion_tokens", n.OUTPUT_TOKENS, "OpenLLMetry"),
    ("llm.token_count.prompt", n.INPUT_TOKENS, "OpenInference"),
    ("llm.token_count.completion", n.OUTPUT_TOKENS, "OpenInference"),
    ("gen_ai.usage.cache_read_input_tokens", n.CACHE_READ_TOKENS, "OpenLLMetry"),
    ("llm.token_count.prompt_details.cache_read", n.CACHE_READ_TOKENS, "OpenInference"),
    ("llm.model_name", n.REQUEST_MODEL, "OpenInference"),
    ("embedding.model_name", n.REQUEST_MODEL, "OpenInference"),
    ("llm.request.model", n.REQUEST_MODEL, "OpenLLMetry (old)"),
    ("tool.name", n.TOOL_NAME, "OpenInference"),
    ("traceloop.entity.name", n.TOOL_NAME, "OpenLLMetry (tool spans only)"),
]
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


def _group(statements: list[str], conditions: list[str]) -> dict:
    """A span statement group that runs only on spans where one of `conditions` holds (each is a
    necessary condition of every statement in it): most spans skip most groups with a few lookups."""
    return {"context": "span", "conditions": conditions, "statements": statements}


def statements() -> list[dict]:
    """transform processor statement groups (span context), in order."""
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
    # values
    provider = attr(n.PROVIDER)
    groups.append(_group([f"set({provider}, ToLowerCase({provider}))"], [f"IsString({provider})"]))
    groups.append(_group(
        [f"set({provider}, {q(new)}) where {provider} == {q(old)}" for old, new in PROVIDER_VALUES.items()],
        [f"IsString({provider}) and IsMatch({provider}, {q(one_of_regex(PROVIDER_VALUES))})"],
    ))
    tokens = [n.INPUT_TOKENS, n.OUTPUT_TOKENS, n.CACHE_READ_TOKENS]
    groups.append(_group(
        [f"set({attr(key)}, Int({attr(key)})) where IsString({attr(key)}) or IsDouble({attr(key)})" for key in tokens],
        [f"IsString({attr(key)}) or IsDouble({attr(key)})" for key in tokens],
    ))
    groups.append(_group(
        [f"set({attr(n.REQUEST_MODEL)}, {attr(n.RESPONSE_MODEL)})"],
        [f"{attr(n.REQUEST_MODEL)} == nil and {attr(n.RESPONSE_MODEL)} != nil"],
    ))
    kinds = sorted({key for key, _v, _o in OPERATION_FROM})
    groups.append(_group(
        [f"set({attr(n.OPERATION)}, {q(op)}) where {attr(n.OPERATION)} == nil and {attr(key)} == {q(value)}" for key, value, op in OPERATION_FROM],
        [f"{attr(n.OPERATION)} == nil and ({' or '.join(f'{attr(k)} != nil' for k in kinds)})"],
    ))
    # stage; a root span is the whole request, unless the helper marked it as only wrapping one (HTTP server span)
    stage = [f"set({attr(n.STAGE)}, {q(st)}) where {attr(n.STAGE)} == nil and {attr(key)} == {q(value)}" for key, value, st in STAGE_FROM]
    stage.append(f"set({attr(n.STAGE)}, \"request\") where {attr(n.STAGE)} == nil and IsRootSpan() and {attr(n.REQUEST_DELEGATED)} == nil")
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
    return groups


TOOL_TIMEOUT_PATTERN = "(?i)timeout"


def native_config(services: list[str], environment: str) -> dict:
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
            "service_name": {"key": n.SERVICE_NAME, "value": services[0], "replace_pattern": "^unknown_service"},
        },
        "renames": renames,
        "delete_keys": sorted({legacy for legacy, _c, _w in RENAMES if legacy != "traceloop.entity.name"} | set(DROPPED_LEGACY)),
        "lowercase": [n.PROVIDER],
        "value_maps": [{"key": n.PROVIDER, "values": dict(PROVIDER_VALUES)}],
        "integers": [n.INPUT_TOKENS, n.OUTPUT_TOKENS, n.CACHE_READ_TOKENS],
        "fill_from": [{"from": n.RESPONSE_MODEL, "to": n.REQUEST_MODEL}],
        "derive": [{"key": n.OPERATION, "value": op, "when": {"key": key, "value": value}} for key, value, op in OPERATION_FROM]
        + [{"key": n.STAGE, "value": st, "when": {"key": key, "value": value}} for key, value, st in STAGE_FROM],
        "root": {"key": n.STAGE, "value": "request", "unless": n.REQUEST_DELEGATED},
        "tool_outcome": {
            "stage_key": n.STAGE, "stage_value": "tool_call", "key": n.TOOL_OUTCOME, "error_type_key": n.ERROR_TYPE,
            "timeout_pattern": TOOL_TIMEOUT_PATTERN, "timeout": "timeout", "error": "error", "ok": "ok",
        },
    }


def resource_statements(services: list[str], environment: str) -> list[str]:
    """Resource fixes: environment under its current key, a service name where the SDK had none."""
    env, old_env = f'resource.attributes["{n.ENVIRONMENT}"]', 'resource.attributes["deployment.environment"]'
    svc = f'resource.attributes["{n.SERVICE_NAME}"]'
    return [
        f"set({env}, {old_env}) where {env} == nil and {old_env} != nil",
        'delete_key(resource.attributes, "deployment.environment")',
        f"set({env}, {q(environment)}) where {env} == nil",
        f'set({svc}, {q(services[0])}) where {svc} == nil or IsMatch({svc}, "^unknown_service")',
    ]
