"""Every name shared between the collector config, rules and dashboards.

Attribute names of the GenAI semantic conventions come from the opentelemetry semantic-conventions
package, not typed by hand; our own extension attributes live under the `genai_o11y.` prefix.
Prometheus names are derived here once so that the collector, the rules and the panels agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as _ga
from opentelemetry.semconv._incubating.attributes import error_attributes as _err
from opentelemetry.semconv.attributes import service_attributes as _svc

COLLECTOR_VERSION = "0.161.0"
COLLECTOR_CORE_STABLE_VERSION = "1.67.0"
API_VERSION = "genai-o11y/v1"

# --- GenAI semantic conventions (current generation) -------------------------------------------
PROVIDER = _ga.GEN_AI_PROVIDER_NAME  # gen_ai.provider.name
OPERATION = _ga.GEN_AI_OPERATION_NAME  # gen_ai.operation.name
REQUEST_MODEL = _ga.GEN_AI_REQUEST_MODEL
RESPONSE_MODEL = _ga.GEN_AI_RESPONSE_MODEL
RESPONSE_ID = _ga.GEN_AI_RESPONSE_ID  # gen_ai.response.id: how an OTel event on a log record may name the call it is about
INPUT_TOKENS = _ga.GEN_AI_USAGE_INPUT_TOKENS
OUTPUT_TOKENS = _ga.GEN_AI_USAGE_OUTPUT_TOKENS
CACHE_READ_TOKENS = _ga.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS
REASONING_TOKENS = _ga.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS  # gen_ai.usage.reasoning.output_tokens: part of the output tokens
TOOL_NAME = _ga.GEN_AI_TOOL_NAME
TOOL_CALL_ID = _ga.GEN_AI_TOOL_CALL_ID
PROMPT_NAME = _ga.GEN_AI_PROMPT_NAME
FINISH_REASONS = _ga.GEN_AI_RESPONSE_FINISH_REASONS
CONVERSATION_ID = _ga.GEN_AI_CONVERSATION_ID
EVAL_NAME = _ga.GEN_AI_EVALUATION_NAME  # gen_ai.evaluation.name
EVAL_SCORE = _ga.GEN_AI_EVALUATION_SCORE_VALUE  # gen_ai.evaluation.score.value
EVAL_LABEL = _ga.GEN_AI_EVALUATION_SCORE_LABEL  # gen_ai.evaluation.score.label (e.g. pass, fail)
EVAL_EXPLANATION = _ga.GEN_AI_EVALUATION_EXPLANATION  # gen_ai.evaluation.explanation
#: The semantic conventions' evaluation event (a span event on the evaluated span); no older spelling.
EVAL_EVENT = "gen_ai.evaluation.result"
ERROR_TYPE = _err.ERROR_TYPE
SERVICE_NAME = _svc.SERVICE_NAME
SERVICE_VERSION = _svc.SERVICE_VERSION
ENVIRONMENT = "deployment.environment.name"

# Older generations apps still emit (accepted on input, rewritten to the names above).
LEGACY_SYSTEM = _ga.GEN_AI_SYSTEM  # gen_ai.system
LEGACY_PROMPT_TOKENS = _ga.GEN_AI_USAGE_PROMPT_TOKENS  # gen_ai.usage.prompt_tokens
LEGACY_COMPLETION_TOKENS = _ga.GEN_AI_USAGE_COMPLETION_TOKENS  # gen_ai.usage.completion_tokens

# --- genai-o11y extension attributes ---------------------------------------------------------------
STAGE = "genai_o11y.stage"
ROUTE = "genai_o11y.route"
ROUTE_REASON = "genai_o11y.route.reason"
PROMPT_TEMPLATE = "genai_o11y.prompt.template"
PROMPT_VERSION = "genai_o11y.prompt.version"
PROMPT_HASH = "genai_o11y.prompt.hash"
TENANT = "genai_o11y.tenant"
TASK_TYPE = "genai_o11y.task.type"
FAILURE_CATEGORY = "genai_o11y.failure.category"
TOOL_OUTCOME = "genai_o11y.tool.outcome"
FEEDBACK_SENTIMENT = "genai_o11y.feedback.sentiment"
FEEDBACK_SCORE = "genai_o11y.feedback.score"
COST_USD = "genai_o11y.cost.usd"
COST_UNPRICED = "genai_o11y.cost.unpriced"
TRACE_COST_USD = "genai_o11y.trace.cost.usd"
REDACTED_COUNT = "genai_o11y.redaction.count"
CACHE_HIT = "genai_o11y.cache.hit"  # bool: an app-level cache (semantic, response, embedding) answered
RETRIEVAL_RESULTS = "genai_o11y.retrieval.results"  # int: documents a retrieval returned
PROMPT_TRUNCATED = "genai_o11y.prompt.truncated"  # bool: prompt assembly cut content to fit the budget
TOOLS_CALLED = "genai_o11y.tools.called"  # on the request span: tool names called, comma-separated
REQUIRED_TOOL_MISSING = "genai_o11y.tool.required_missing"  # set by the collector: required tool not called
GUARDRAIL_BLOCK = "guardrail_block"  # the failure category of a blocked answer
RETRIEVAL_TOP_SCORE = "genai_o11y.retrieval.top_score"  # double: similarity score of the best document
RETRIEVAL_DOCUMENT_IDS = "genai_o11y.retrieval.document_ids"  # string[]: ids of the documents returned, best first
RETRIEVAL_DOCUMENT_SCORES = "genai_o11y.retrieval.document_scores"  # double[]: their scores, same order
#: A user action on an answer that hints at its quality (regenerate, rephrase, copy the answer, ...), on a span
#: of stage USER_ACTION in the answer's trace; the kinds are spec data (evals.proxies).
QUALITY_PROXY = "genai_o11y.quality.proxy"
EVAL_CASE_ID = "genai_o11y.eval.case_id"  # on eval results of a frozen eval case (`dataset build`'s case_id)
RETRIEVER_VERSION = "genai_o11y.retriever.version"
INDEX_VERSION = "genai_o11y.index.version"
RERANK_DISPLACEMENT = "genai_o11y.rerank.displacement"  # double: mean |rank before - rank after| of kept docs
CHUNKS_INCLUDED = "genai_o11y.chunks.included"  # int, on prompt assembly
#: Chunks left out of the prompt, by reason (int attributes on the prompt assembly span).
CHUNKS_EXCLUDED = {reason: f"genai_o11y.chunks.excluded.{reason}" for reason in ("budget", "dedupe", "policy")}
FAILED_AFTER_TOOLS = "genai_o11y.answer.failed_after_tools"
REQUEST_DELEGATED = "genai_o11y.request.delegated"  # an outer root span (HTTP server) the GenAI request runs inside  # set by the collector on request spans
OVERFLOW_VALUE = "_other"  # label value unknown values fold into
NONE_VALUE = "_none"  # label value when the attribute is absent

# --- stages ----------------------------------------------------------------------------------------
#: Stages an app may declare in its pipeline, in their usual order.
STAGE_CATALOG: tuple[str, ...] = (
    "query_rewrite",
    "embedding",
    "retrieval",
    "rerank",
    "prompt_assembly",
    "routing",
    "model_call",
    "tool_call",
    "validation",
    "moderation",
    "post_processing",
)
#: The stage of a user action on an answer (a quality proxy: regenerate, copy, escalate, ...).
USER_ACTION = "user_action"
#: The same user action as an OTel event (a span event on the answer's span, or a log record parented
#: by it or carrying its gen_ai.response.id), its kind in QUALITY_PROXY: counted as the user_action span.
USER_ACTION_EVENT = f"genai_o11y.{USER_ACTION}"
#: Stages that join a request's trace after the answer: never a request nor pipeline work themselves.
LINKED_STAGES: tuple[str, ...] = ("feedback", "evaluation", USER_ACTION)
#: Stages that always exist: the whole request (end to end), user feedback, offline evals and user actions.
#: The stage of a whole request, end to end (its root span).
REQUEST_STAGE = "request"
IMPLICIT_STAGES: tuple[str, ...] = (REQUEST_STAGE, *LINKED_STAGES)

#: Failure categories (genai_o11y.failure.category); other values fold into "_other" in metrics.
FAILURE_CATEGORIES: tuple[str, ...] = (
    "retrieval_miss",
    "wrong_tool",
    "tool_failure",
    "hallucination_flag",
    "citation_mismatch",
    "parse_error",
    GUARDRAIL_BLOCK,
    "timeout",
    "rate_limited",
    "context_overflow",
    "refusal",
)

# --- token kinds: the one catalog of what a model call is billed for --------------------------------
@dataclass(frozen=True)
class TokenKind:
    """A kind of token a model call reports and a price may name.

    `name` is the spec's price field (`models[].price_usd_per_1m_tokens.<name>`) and the metric's
    suffix; `attribute` the span attribute of the current GenAI semantic conventions that carries the
    count; `legacy` other instrumentations' spellings (normalised to `attribute` in both engines);
    `part_of` the kind whose count includes this one (the conventions count cached input inside
    input and reasoning inside output): priced at that kind's price unless the spec prices it, and
    then taken out of it, so no token is counted twice. Adding a kind: one entry here and one price
    field in spec/model.py; the normalisation, the cost (both engines), the oracle, the token metric
    and the token panels derive from this list."""

    name: str
    attribute: str
    legacy: tuple[tuple[str, str], ...]
    part_of: str | None
    description: str
    label: str

    @property
    def metric(self) -> str:
        return f"genai_o11y.tokens.{self.name}"

    @property
    def key(self) -> str:
        """Its counter's key in the metric catalog (catalog.PROM[key])."""
        return f"{self.name}_tokens"


TOKEN_KINDS: tuple[TokenKind, ...] = (
    TokenKind("input", INPUT_TOKENS,
              ((LEGACY_PROMPT_TOKENS, "GenAI semconv <= 1.26"), ("llm.usage.prompt_tokens", "OpenLLMetry"), ("llm.token_count.prompt", "OpenInference")),
              None, "Input tokens, cached ones included.", "input"),
    TokenKind("cached_input", CACHE_READ_TOKENS,
              (("gen_ai.usage.cache_read_input_tokens", "OpenLLMetry"), ("llm.token_count.prompt_details.cache_read", "OpenInference")),
              "input", "Input tokens served from the provider's prompt cache.", "cached input"),
    TokenKind("output", OUTPUT_TOKENS,
              ((LEGACY_COMPLETION_TOKENS, "GenAI semconv <= 1.26"), ("llm.usage.completion_tokens", "OpenLLMetry"), ("llm.token_count.completion", "OpenInference")),
              None, "Output tokens, reasoning ones included.", "output"),
    TokenKind("reasoning", REASONING_TOKENS,
              (("gen_ai.usage.reasoning_tokens", "OpenLLMetry"), ("llm.token_count.completion_details.reasoning", "OpenInference")),
              "output", "Output tokens the model spent reasoning (part of the output tokens).", "reasoning"),
)
TOKEN_KIND = {k.name: k for k in TOKEN_KINDS}


# --- metric names (OpenTelemetry names; Prometheus names derived below) ---------------------------
SPAN_METRICS_NAMESPACE = "genai_o11y.span"
METRIC_COST = "genai_o11y.cost"
METRIC_UNPRICED = "genai_o11y.unpriced.calls"
METRIC_TENANT_COST = "genai_o11y.tenant.cost"
METRIC_TENANT_CALLS = "genai_o11y.tenant.requests"
METRIC_FEEDBACK = "genai_o11y.feedback"
METRIC_EVAL_SCORE = "genai_o11y.evaluation.score"
METRIC_EVAL_RESULTS = "genai_o11y.evaluation.results"
METRIC_QUALITY_PROXIES = "genai_o11y.quality.proxies"
METRIC_FAILURES = "genai_o11y.failures"
METRIC_CACHE = "genai_o11y.cache.lookups"
METRIC_RETRIEVAL_RESULTS = "genai_o11y.retrieval.results"
METRIC_TRUNCATIONS = "genai_o11y.prompt.truncations"
METRIC_MISSING_TOOL = "genai_o11y.answers.missing_required_tool"
METRIC_FAILED_AFTER_TOOLS = "genai_o11y.answers.failed_after_tools"
METRIC_RETRIEVAL_SCORE = "genai_o11y.retrieval.top_score"
METRIC_RERANK_DISPLACEMENT = "genai_o11y.rerank.displacement"
METRIC_CHUNKS = "genai_o11y.prompt.chunks"  # .included, .excluded.<reason>
METRIC_RESPONSE_TOKENS = "genai_o11y.response.tokens"
RESPONSE_TOKEN_BUCKETS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
RERANK_DISPLACEMENT_BUCKETS = [0, 0.5, 1, 2, 4, 8, 16]
#: Histogram buckets of the non-latency histograms.
EVAL_SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
RETRIEVAL_RESULT_BUCKETS = [0, 1, 2, 3, 5, 10, 20, 50]


def prom_label(attribute: str) -> str:
    """Prometheus label name the exporter derives from an attribute key."""
    return "".join(c if c.isalnum() else "_" for c in attribute)


# Prometheus series names are derived from the metric catalog: catalog.PROM.

#: Grafana datasource UIDs, fixed so dashboards, provisioning and links agree.
DS_PROMETHEUS = "genai-o11y-prometheus"
DS_TEMPO = "genai-o11y-tempo"
DS_ALERTMANAGER = "genai-o11y-alertmanager"

#: Share of collector.memory_limit_mib at which the Go runtime starts collecting harder (GOMEMLIMIT):
#: below the memory limiter's soft limit (80%), so garbage is reclaimed before data is refused, and
#: the peak resident memory under sustained overload stays near the limit instead of overshooting
#: it between the limiter's 1 s checks. Half: the runtime's own memory (stacks, buffers, the binary)
#: comes on top, and at 60% the peak RSS under the benchmark's load reached 296 MiB of the 300 the
#: default 400 MiB limit allows (bench/RESULTS.md).
GOMEMLIMIT_SHARE = 0.5

# --- collector component ids the rules refer to ------------------------------------------------------
TEMPO_EXPORTER = "otlp_grpc/tempo"  # on whichever tier samples: the gateway (gateway.enabled) or the sidecar
GATEWAY_EXPORTER = "load_balancing"  # the sidecar's exporter to the gateway tier (gateway.enabled)
TAIL_SAMPLER = "tail_sampling"  # on whichever tier samples
REDACT_PROCESSORS = {"native": "genai_redaction", "ottl": "transform/redact"}  # by collector.engine
#: Label folding, ottl engine (the native engine folds the values genai_usage reads, in its own pass: its `fold`).
DIMENSIONS_PROCESSOR = "transform/dimensions"


#: The processors that normalise attributes and compute the cost, in pipeline order.
NORMALISE_PROCESSORS = {"native": ["genai_normalise"], "ottl": ["transform/normalise", "transform/cost"]}
#: The connector that makes the usage and quality metrics, and its stream-budget telemetry (GenAITenantBudgetExhausted).
USAGE_CONNECTORS = {"native": "genai_usage", "ottl": "signal_to_metrics"}
#: The counter of data points dropped past a stream budget, and its matcher (GenAITenantBudgetExhausted).
#: delta_to_cumulative's stream gauges carry no component label (its three processors report one
#: series), so the alert reads drops, which both engines count per data point.
BUDGET_DROPS = {
    "native": ("otelcol_genai_usage_datapoints_dropped", 'reason="limit"'),
    "ottl": ("otelcol_deltatocumulative_datapoints", 'error="limit"'),
}


def normalise_processors(engine: str) -> list[str]:
    return list(NORMALISE_PROCESSORS[engine])


def redact_processor(engine: str) -> str:
    return REDACT_PROCESSORS[engine]



# --- Prometheus scrape jobs (the rules' self-watch alerts select on them) ---------------------------
JOB_SIDECAR = "genai-o11y-sidecar"  # the sidecar's span-derived metrics (collector.metrics_endpoint)
JOB_COLLECTOR = "genai-o11y-collector"  # the collector's own telemetry (collector.telemetry_endpoint)
JOB_GATEWAY = "genai-o11y-gateway"  # the gateways' own telemetry (gateway.telemetry_port)
#: Alertmanager's own metrics, where genai-o11y runs it (compose, `make run`); on Kubernetes the cluster's
#: Alertmanager is scraped under its own job, and its stack watches its deliveries.
JOB_ALERTMANAGER = "genai-o11y-alertmanager"

# --- Grafana dashboards (uid -> title); runbooks and panels link by these uids ----------------------
BOARD_OVERVIEW = "genai-o11y-overview"
BOARD_STAGES = "genai-o11y-stages"
BOARD_COST = "genai-o11y-cost"
BOARD_TOOLS = "genai-o11y-tools"
BOARD_RETRIEVAL = "genai-o11y-retrieval"
BOARD_QUALITY = "genai-o11y-quality"
BOARD_FAILURES = "genai-o11y-failures"
BOARD_DRILLDOWN = "genai-o11y-drilldown"
BOARD_PIPELINE = "genai-o11y-pipeline"
DASHBOARDS: dict[str, str] = {
    BOARD_OVERVIEW: "GenAI / Overview",
    BOARD_STAGES: "GenAI / Stage latency waterfall",
    BOARD_COST: "GenAI / Cost attribution",
    BOARD_TOOLS: "GenAI / Tool reliability",
    BOARD_RETRIEVAL: "GenAI / Retrieval quality",
    BOARD_QUALITY: "GenAI / Quality and versions",
    BOARD_FAILURES: "GenAI / Failure taxonomy",
    BOARD_DRILLDOWN: "GenAI / Request drill-down",
    BOARD_PIPELINE: "GenAI / Telemetry pipeline",
}
