"""The genai-o11y spec, version genai-o11y/v1.

One file describes the app (services, pipeline stages, models and their prices, prompt versions)
and the policy (SLOs, sampling, redaction, cardinality, backends, alert receivers). Every field
has a default except where only the user can know the answer. Unknown keys are errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator

from .. import names, re2check

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]*$")]
Endpoint = Annotated[str, Field(pattern=r"^[^\s:]*:\d{1,5}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
def _whole_variable(v: str) -> str:
    if "${" in v and not v.startswith("${"):
        raise ValueError(f"{v!r}: ${{env:NAME}} must be the whole URL, not part of it (Alertmanager, Prometheus and Grafana read a URL as written: "
                         "put the whole URL in the variable)")
    return v


Url = Annotated[str, Field(pattern=r"^(https?://\S+|\$\{env:[A-Za-z_][A-Za-z0-9_]*\})$"), AfterValidator(_whole_variable)]
USD = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=9)]
Percent = Annotated[float, Field(gt=0, lt=100)]


def _known_stage(s: str) -> str:
    if s not in names.STAGE_CATALOG:
        raise ValueError(f"unknown stage {s!r}; known stages: {', '.join(names.STAGE_CATALOG)}")
    return s


def _slo_stage(s: str) -> str:
    if s != "request" and s not in names.STAGE_CATALOG:
        raise ValueError(f"unknown stage {s!r}; known stages: request (end to end), {', '.join(names.STAGE_CATALOG)}")
    return s


StageName = Annotated[str, AfterValidator(_known_stage)]



class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: lists whose repeats a check across fields reports with more to say (checks.py)
    _repeats_checked_elsewhere: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_repeated_strings(cls, v, info: ValidationInfo):
        """Every list of strings in the spec is a set (routes, stages, services, tools' routes, endpoints,
        patterns...): a value listed twice is a typo, or a copy-paste that generates `a|a` selectors."""
        if info.field_name in cls._repeats_checked_elsewhere:
            return v
        if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            _require_unique(list(v), "")
        elif isinstance(v, dict):  # e.g. prompts.expected_versions: template -> versions
            for key, items in v.items():
                if isinstance(items, (list, tuple)) and all(isinstance(x, str) for x in items):
                    _require_unique(list(items), f"{key}:")
        return v


SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")


def _probe_path(v: str) -> str:
    if not v.startswith("/") or any(c.isspace() for c in v):
        raise ValueError(f"{v!r}: a URL path starting with '/', without spaces (e.g. /healthz)")
    return v


def _rpc_service(v: str) -> str:
    if not v or any(c.isspace() or c == "/" for c in v):
        raise ValueError(f"{v!r}: a fully-qualified gRPC service name, without '/' or spaces (e.g. grpc.health.v1.Health)")
    return v


class NotRequests(Strict):
    """Root spans without a stage that are not requests. A root span with no GenAI stage counts as one
    request (zero-code apps: the web framework's server span); an app's other roots would dilute the
    request error ratio and latency (a health probe every few seconds, a background job's query)."""

    span_kinds: list[Literal[SPAN_KINDS]] = Field(  # type: ignore[valid-type]
        ["client", "producer"], description="Root spans of these kinds are no request: a call made outside any request (a background job's "
        "database query, an HTTP call, a message sent). A model call is no exception: it has its stage and counts as its own request.")
    paths: list[Annotated[str, AfterValidator(_probe_path)]] = Field(
        ["/healthz", "/health", "/healthcheck", "/livez", "/readyz", "/ready", "/ping", "/metrics", "/favicon.ico"],
        description="Root spans whose http.route or url.path (http.target, query cut) is one of these paths (a trailing '/' allowed) "
        "are no request: health probes, metrics scrapes. Add the app's other endpoints that call no model.")
    rpc_services: list[Annotated[str, AfterValidator(_rpc_service)]] = Field(
        ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"],
        description="Root spans of calls to these gRPC services are no request: rpc.service is one of them, or rpc.method is "
        "'<service>/<method>' (the newer semantic conventions): Kubernetes' gRPC probes, the health service, server reflection.")


class App(Strict):
    """Who is observed."""

    services: list[Name] = Field(min_length=1, description="service.name values of the app's processes; the first is the default.")
    environment: Name = Field("production", description="deployment.environment.name set on telemetry that lacks it.")
    not_requests: NotRequests = Field(default_factory=NotRequests)

    @field_validator("services")
    @classmethod
    def _unique_services(cls, v: list[str]) -> list[str]:
        _require_unique(v, "service")
        return v


class Tool(Strict):
    """A tool the model may call."""

    name: Name
    required_for_routes: list[Name] = Field(default_factory=list, description="Routes whose answers must use this tool.")
    timeout_ms: int | None = Field(None, gt=0, description="Calls slower than this count as timeouts.")


class Pipeline(Strict):
    """The stages a request goes through, in order (drives the latency waterfall)."""

    stages: list[StageName] = Field(min_length=1, description=f"Stage names, in pipeline order, from: {', '.join(names.STAGE_CATALOG)}.")
    routes: list[Name] = Field(default_factory=list, description="Known routes; other values fold into '_other' in metrics. Empty: no folding.")
    tools: list[Tool] = Field(default_factory=list, description="Known tools; other values fold into '_other' in metrics. Empty: no folding.")

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, v: list[str]) -> list[str]:
        _require_unique(v, "stage")
        return v

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, v: list[Tool]) -> list[Tool]:
        _require_unique([t.name for t in v], "tool")
        return v


class Price(Strict):
    """USD per 1 million tokens, one field per token kind of names.TOKEN_KINDS."""

    input: USD
    output: USD
    cached_input: USD | None = Field(None, description="Price of input tokens served from the provider's prompt cache; default: the input price.")
    reasoning: USD | None = Field(
        None, description="Price of reasoning tokens (part of the output tokens, as the GenAI semantic conventions count them); default: the output price."
    )


MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class PriceTerm:
    """USD per token of one kind. `minus`: the kinds counted inside this one that have a term of
    their own (their tokens are taken out of this count, so no token is priced twice)."""

    kind: names.TokenKind
    usd_per_token: Decimal
    minus: tuple[names.TokenKind, ...] = ()


@dataclass(frozen=True)
class PriceTerms:
    """A model's price resolved once: cost = sum over terms of (tokens - minus tokens) * usd_per_token,
    in this order, plus per_call_usd. Every engine and the test oracle render from this."""

    terms: tuple[PriceTerm, ...]
    per_call_usd: Decimal | None


class Model(Strict):
    """A model the app calls, with its price."""

    name: Name = Field(description="gen_ai.request.model as the app reports it.")
    provider: Name = Field(description="gen_ai.provider.name, e.g. openai, anthropic, aws.bedrock.")
    aliases: list[Name] = Field(default_factory=list, description="Other names the same model is reported under (dated snapshots).")
    price_usd_per_1m_tokens: Price
    per_call_usd: USD | None = Field(None, description="A fee in USD per call on top of its tokens (charged on spans that report token counts).")

    def price_terms(self) -> PriceTerms:
        """The price as terms: each kind the spec prices, in names.TOKEN_KINDS order; a kind it does
        not price (cached input, reasoning) stays inside its `part_of` kind at that kind's price."""
        priced = {k.name: getattr(self.price_usd_per_1m_tokens, k.name) for k in names.TOKEN_KINDS}
        priced = {kind: usd for kind, usd in priced.items() if usd is not None}
        terms = tuple(
            PriceTerm(k, priced[k.name] / MILLION, tuple(j for j in names.TOKEN_KINDS if j.part_of == k.name and j.name in priced))
            for k in names.TOKEN_KINDS if k.name in priced
        )
        return PriceTerms(terms, self.per_call_usd)


class Prompts(Strict):
    expected_versions: dict[Name, Annotated[list[Name], Field(min_length=1)]] = Field(
        default_factory=dict, description="Prompt template -> versions expected in production (at least one: an empty list "
        "would alert on every version); any other version serving alerts."
    )


class Cardinality(Strict):
    """Budgets that keep the metrics backend healthy."""

    max_series_per_metric: int = Field(2000, ge=10, le=1_000_000, description="Label sets per span metric; further ones fold into one extra otel_metric_overflow=\"true\" series (totals stay exact).")
    max_tenants: int = Field(100, ge=0, le=100_000, description="Distinct tenants tracked in the per-tenant cost metrics; 0 disables them.")


class Availability(Strict):
    objective_percent: Percent = 99.5
    window_days: int = Field(30, ge=1, le=90)


class LatencySlo(Strict):
    stage: Annotated[str, AfterValidator(_slo_stage)] = Field(description="A pipeline stage, or 'request' for end to end.")
    threshold_ms: int = Field(gt=0)
    objective_percent: Percent = 99.0


class Slos(Strict):
    availability: Availability = Field(default_factory=Availability)
    latency: list[LatencySlo] = Field(default_factory=list)
    min_events: int = Field(20, ge=1, description="A burn-rate alert needs at least this many requests (or spans of the stage) in its long "
                                                   "window: with fewer, one failure is a 100% error ratio and would page.")


def _known_category(c: str) -> str:
    if c not in names.FAILURE_CATEGORIES:
        raise ValueError(f"unknown failure category {c!r}; known categories: {', '.join(names.FAILURE_CATEGORIES)}")
    return c


def _re2(v: str) -> str:
    why = re2check.problem(v)
    if why:
        raise ValueError(why if why.startswith("regex ") else f"regex {v!r}: {why}")
    if re.compile(v).fullmatch("") is not None:
        raise ValueError(f"regex {v!r} matches the empty string: it would match everywhere (or, empty, not compile in the collector)")
    return v


class FailureRule(Strict):
    """One row of the failure table: where the app set no genai_o11y.failure.category, the first row
    that matches the span sets it. Exactly one matcher per row."""

    category: Annotated[str, AfterValidator(_known_category)] = Field(description=f"One of: {', '.join(names.FAILURE_CATEGORIES)}.")
    error_type: Annotated[str, AfterValidator(_re2)] | None = Field(
        None, description="RE2 regex on error.type (after `<class 'openai.RateLimitError'>` and `openai.RateLimitError` become `RateLimitError`).")
    http_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=list, description="http.response.status_code (or http.status_code) values.")
    grpc_code: list[Annotated[int, Field(ge=0, le=16)]] = Field(default_factory=list, description="rpc.grpc.status_code values (4: DEADLINE_EXCEEDED, 8: RESOURCE_EXHAUSTED).")
    finish_reason: list[Name] = Field(default_factory=list, description="A value of gen_ai.response.finish_reasons (a list or one string).")


#: The default failure table: major providers' SDK errors (OpenAI, Anthropic, Google, AWS Bedrock,
#: httpx), HTTP and gRPC status codes, finish reasons. spec/default.yaml spells out the same table.
DEFAULT_FAILURE_RULES: list[dict] = [
    {"category": "rate_limited", "error_type": "(?i)(rate_?limit|too_?many_?requests|resource_?exhausted|throttl|quota_?exceeded)"},
    {"category": "timeout", "error_type": "(?i)(time_?out|timed_?out|deadline_?exceeded)"},
    {"category": "context_overflow", "error_type": "(?i)(context_?length|context_?window|too_?many_?tokens)"},
    {"category": "guardrail_block", "error_type": "(?i)(content_?filter|content_?policy)"},
    {"category": "rate_limited", "http_status": [429]},
    {"category": "timeout", "http_status": [408, 504]},
    {"category": "rate_limited", "grpc_code": [8]},
    {"category": "timeout", "grpc_code": [4]},
    {"category": "guardrail_block", "finish_reason": ["content_filter", "safety", "SAFETY"]},
    {"category": "refusal", "finish_reason": ["refusal"]},
    {"category": "context_overflow", "finish_reason": ["length", "max_tokens", "MAX_TOKENS"]},
]


class Failures(Strict):
    """Failure categories the collector infers where the app set none."""

    infer: list[FailureRule] = Field(
        default_factory=lambda: [FailureRule.model_validate(r) for r in DEFAULT_FAILURE_RULES],
        description="In order, the first matching row wins; empty: infer nothing.",
    )


class Sampling(Strict):
    """Tail sampling: what reaches Tempo. Metrics are taken before sampling and see everything."""

    keep_errors: bool = True
    keep_negative_feedback: bool = True
    keep_below_floor: bool = Field(False, description="Keep traces with an eval score past its evaluator's floor (evals.evaluators), so the quality "
                                                       "board's low-scoring traces are all in Tempo, not only the baseline share; off by default: one "
                                                       "more OTTL condition per span at each decision.")
    keep_quality_proxies: bool = Field(False, description="Keep traces a user regenerated, rephrased, escalated or abandoned (the evals.proxies "
                                                            "worse when they rise; the action must arrive within the decision wait); off by default.")
    keep_slo_breaches: bool = Field(True, description="Keep traces with a span slower than its stage's latency SLO (slos.latency; request: the "
                                                       "trace end to end), so the exemplars and slow traces a latency page points at are in Tempo; "
                                                       "one OTTL condition per latency SLO and span at each decision.")
    slow_trace_ms: int | None = Field(10_000, gt=0, description="Keep traces longer than this end to end; null: off.")
    expensive_span_usd: USD | None = Field(Decimal("0.05"), description="Keep traces with a span costing at least this; null: off.")
    baseline_percent: float = Field(10.0, ge=0, le=100, description="Share of all other traces kept.")


class Gateway(Strict):
    """The gateway tier: N collector replicas that hold traces for tail sampling. Each sidecar sends its
    spans there with the load_balancing exporter (routing key: trace id), so every span of a trace
    reaches the same replica whichever service emitted it. Disabled: each sidecar samples the spans of
    its own pod, which fragments traces that cross services."""

    _repeats_checked_elsewhere: ClassVar[frozenset[str]] = frozenset({"static_endpoints"})  # with its replica share

    enabled: bool = Field(True, description="Sidecars stateless, tail sampling on the gateway tier; false: each sidecar samples its own spans (fragments multi-service traces).")
    replicas: int = Field(2, ge=1, le=1000, description="Gateway replicas (compose deploy.replicas, the Helm chart, `genai-o11y up`).")
    host: Annotated[str, Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")] = Field(
        "genai-o11y-gateway", description="DNS name the sidecars resolve to every replica's address (the headless Service, the compose service).")
    static_endpoints: list[Endpoint] = Field(default_factory=list, description="host:port of every replica, when they have no DNS name that resolves to all of them "
                                             "(the sidecars' static resolver); empty: resolve `host` (dns resolver, every 5 s).")
    otlp_grpc_port: Port = Field(4317, description="OTLP/gRPC port the gateway listens on (cluster network) and the sidecars send to.")
    telemetry_port: Port = Field(8888, description="The gateway's own metrics (scrape job genai-o11y-gateway).")
    health_port: Port = Field(13133, description="health_check extension.")
    decision_wait_seconds: int = Field(30, ge=1, le=600, description="How long a trace is buffered before the tail-sampling decision (on whichever tier samples); late spans (feedback) must arrive within it. "
                                                                  "Keep it well above 5 s, the sidecars' longest retry interval: after a gateway outage their queued spans of one trace arrive up to that far apart.")
    num_traces: int = Field(50_000, ge=100, description="Traces each sampling collector holds in memory (tail_sampling num_traces).")
    memory_limit_mib: int = Field(1024, ge=64, description="Per replica: the memory limiter refuses data above this (soft limit 80%); GOMEMLIMIT is set to 50% of it.")
    queue_directory: str = Field("/var/lib/genai-o11y/gateway-queue", min_length=1, description="Persistent queue towards Tempo.")
    queue_mib: int = Field(640, ge=1, description="Serialized spans each replica's persistent queue towards Tempo holds (sizer: bytes) while Tempo "
                           "is unreachable; beyond it new data is dropped. The queue volume (Helm: the PersistentVolumeClaim's size) is derived from it.")


class Pattern(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] = Field(description="Upper-case name; the mask is <NAME>.")
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        from ..redaction_policy import backtrack_problem  # a detector: the app-side redactor runs it in Python's re too

        v = _re2(v)
        why = backtrack_problem(v)
        if why:
            raise ValueError(f"regex {v!r}: {why}")
        return v


class ContentStore(Strict):
    """Where `full` mode sends unredacted traces: a separate, access-restricted OTLP/gRPC backend."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] = "restricted"
    endpoint: Endpoint
    insecure: bool = False


class Redaction(Strict):
    mode: Literal["metadata-only", "redacted", "full"] = Field("redacted", description="metadata-only: content dropped; redacted: PII masked; full: also an unredacted copy to full_content_store only.")
    policy: str | None = Field(None, description="Redaction policy file (relative to the spec); default: the embedded policy.")
    full_content_store: ContentStore | None = Field(None, description="Required in `full` mode; never the main traces backend.")
    max_content_chars: int = Field(4096, ge=64, le=1_000_000, description="Longest content value kept, in characters (not bytes; never splitting one). The OTTL engine can only count bytes (UTF-8 safe).")
    extra_patterns: list[Pattern] = Field(default_factory=list, description="Organisation-specific detectors added to the built-in ones.")
    metadata_keys: dict[str, str | dict] = Field(default_factory=dict, description="More Tier 1 keys, each with its value contract (identifier, model_id, version, hash, route, host, number, bool, identifiers, or {enum: [values]}): kept verbatim while the value keeps its shape.")

    @field_validator("metadata_keys")
    @classmethod
    def _shapes(cls, v: dict) -> dict:
        from ..redaction_policy import parse_shape

        for key, raw in v.items():
            if not key or "*" in key:
                raise ValueError(f"{key!r}: must be an exact attribute key (no prefixes: a prefix would keep any invented key verbatim)")
            _, problems = parse_shape(key, raw)
            if problems:
                raise ValueError("; ".join(f"{p.path}: {p.message}" for p in problems))
        return v


class Tempo(Strict):
    endpoint: Endpoint = Field("tempo:4317", description="OTLP/gRPC endpoint the sidecar sends traces to.")
    insecure: bool = True
    query_url: Url = Field("http://tempo:3200", description="Tempo's HTTP API, for Grafana's Tempo datasource.")


class Prometheus(Strict):
    url: Url = "http://prometheus:9090"
    sidecar_job: Name = Field(names.JOB_SIDECAR, description="Scrape job of the sidecar's span metrics (collector.metrics_endpoint); the sidecar-down alerts select on it.")
    collector_job: Name = Field(names.JOB_COLLECTOR, description="Scrape job of the collector's own telemetry (collector.telemetry_endpoint); the pipeline alerts select on it.")
    gateway_job: Name = Field(names.JOB_GATEWAY, description="Scrape job of the gateways' own telemetry (gateway.telemetry_port); the gateway alerts select on it.")


class Alertmanager(Strict):
    url: Url = "http://alertmanager:9093"


class RemoteWriteQueue(Strict):
    """Prometheus' remote_write queue_config (defaults as Prometheus 3 ships them)."""

    capacity: int = Field(10000, ge=1, description="Samples buffered per shard before reading the WAL pauses.")
    min_shards: int = Field(1, ge=1)
    max_shards: int = Field(50, ge=1, description="Upper bound of parallel senders; the store must take max_shards x max_samples_per_send per send.")
    max_samples_per_send: int = Field(2000, ge=1)
    batch_send_deadline_seconds: float = Field(5, gt=0, le=300, description="A partial batch is sent after this long.")


class RemoteWrite(Strict):
    """Metrics beyond one Prometheus: every Prometheus we generate also writes to a horizontally scalable,
    Prometheus-compatible store (Cortex; README "Metrics beyond one Prometheus"), whose ruler runs our rules."""

    url: Url = Field(description="The store's remote-write endpoint, e.g. http://cortex-distributor:8080/api/v1/push.")
    tenant_id: Name | None = Field(None, description="Sent as X-Scope-OrgID (Cortex's tenant); the generated ruler config loads the rules for this tenant.")
    headers: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")], str] = Field(
        default_factory=dict, description="Extra HTTP headers, written as given into prometheus.yml (no secrets here); X-Scope-OrgID belongs in tenant_id.")
    queue: RemoteWriteQueue = Field(default_factory=RemoteWriteQueue)
    rules_on_store: bool = Field(
        True,
        description="true: the store's ruler evaluates alerts/rules.yaml, so Prometheus forwards only scraped series (recorded "
        "series and ALERTS stay local; the two never write the same series). false: forward everything, no ruler config.")

    @field_validator("headers")
    @classmethod
    def _no_tenant_header(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if k.lower() == "x-scope-orgid":
                raise ValueError("X-Scope-OrgID: set backends.remote_write.tenant_id instead (the ruler config needs it too)")
        return v


class Backends(Strict):
    tempo: Tempo = Field(default_factory=Tempo)
    prometheus: Prometheus = Field(default_factory=Prometheus)
    alertmanager: Alertmanager = Field(default_factory=Alertmanager)
    remote_write: RemoteWrite | None = Field(None, description="Optional: a Prometheus-compatible distributed store (Cortex) every generated Prometheus also writes to.")


class Receiver(Strict):
    webhook_url: Url


class Receivers(Strict):
    pager: Receiver = Field(default_factory=lambda: Receiver(webhook_url="http://webhook:8080/pager"))
    chat: Receiver = Field(default_factory=lambda: Receiver(webhook_url="http://webhook:8080/chat"))


Factor = Annotated[float, Field(gt=1, le=1000)]


class Thresholds(Strict):
    """When the LLM-specific alerts fire. Each compares the last hour with its own baseline: the
    average over the last `baseline_days` (absolute thresholds mean nothing for quality or cost)."""

    baseline_days: int = Field(7, ge=1, le=30, description="Length of the baseline the last hour is compared with.")
    sustain_minutes: int = Field(15, ge=1, le=240, description="How long a baseline alert's condition must hold before it notifies; twice as long for the noisier quality, feedback, truncation, tool and stage-latency signals.")
    min_requests_per_hour: int = Field(20, ge=1, description="Ratio alerts stay quiet with less traffic than this in the last hour.")
    quality_drop_percent: Percent = Field(10, description="Mean eval score this much below its baseline alerts.")
    negative_feedback_factor: Factor = Field(2.0, description="Negative-feedback share this many times its baseline alerts.")
    cost_spike_factor: Factor = Field(3.0, description="Cost per hour this many times the baseline hourly average alerts.")
    min_cost_usd_per_hour: USD = Field(Decimal("1"), description="Cost alerts stay quiet below this spend per hour.")
    guardrail_block_factor: Factor = Field(10.0, description="Guardrail block rate this many times its baseline alerts.")
    cache_hit_drop_percent: Percent = Field(50, description="Cache hit ratio this much below its baseline alerts.")
    missing_tool_factor: Factor = Field(2.0, description="Share of answers without a required tool this many times its baseline alerts.")
    truncation_factor: Factor = Field(2.0, description="Prompt truncation share this many times its baseline alerts.")
    zero_result_factor: Factor = Field(3.0, description="Share of zero-result retrievals this many times its baseline alerts.")
    stage_p99_factor: Factor = Field(2.0, description="A stage's p99 this many times its baseline p99 alerts (when most other stages hold).")


class Alerting(Strict):
    receivers: Receivers = Field(default_factory=Receivers)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    runbook_url: str = Field("https://github.com/genai-o11y/genai-o11y/blob/main/alerts/runbook.md", pattern=r"^https?://[^\s#]+$",
                             description="Where your team publishes the generated alerts/runbook.md (a wiki, your repository): every "
                                         "alert's runbook_url is this plus the alert's section. The default is this project's runbook, "
                                         "which is right for the default spec only: your thresholds, SLOs and routes are in yours.")
    grafana_url: str = Field("http://localhost:3000", pattern=r"^https?://[^\s#?]+$",
                             description="Grafana as the on-call opens it: every alert's dashboard_url annotation links the board its runbook "
                                         "checks first there, filtered to the alert's environment and service. The default is compose's "
                                         "published port.")


class Evaluator(Strict):
    """One evaluator (an LLM judge, a heuristic, a human label) as the release gate and the quality alerts read it."""

    name: Name = Field(description="gen_ai.evaluation.name the evaluator reports under.")
    direction: Literal["higher", "lower"] = Field("higher", description="Which way is better for its score.")
    floor: float | None = Field(None, description="The worst acceptable mean score (a ceiling when direction is lower); null: none.")
    pass_threshold: float | None = Field(None, description="A case passes when its score is at least this (at most, when lower is better); "
                                                            "null: the floor. Cases reported with a label pass when the label is in pass_labels.")
    pass_labels: list[Name] = Field(default_factory=lambda: ["pass", "correct", "relevant", "faithful", "yes", "true"],
                                    description="Labels (gen_ai.evaluation.score.label) that count as a pass.")
    tolerated_regression: float = Field(0.05, ge=0, description="Drop of the mean score (in score units) a candidate may show against the baseline.")
    tolerated_pass_rate_drop: float = Field(0.05, ge=0, le=1, description="Drop of the pass rate (a fraction) a candidate may show.")
    min_samples: int = Field(30, ge=1, description="Fewer scored cases than this give no verdict on this evaluator: the gate fails (not enough evidence). "
                                                   "The alerts read it per hour: the floor alert wants that share of it in its 15 minutes, the pass-rate "
                                                   "drop that many in the hour.")


class EvalDataset(Strict):
    """The sidecar's eval-dataset pipeline: eval-worthy traces, after redaction, written as OTLP JSON
    (the file exporter, rotated) for `genai-o11y dataset build`. Off by default: it holds traces for
    `gateway.decision_wait_seconds` like tail sampling does (on the gateway tier when it is enabled)."""

    enabled: bool = Field(False, description="Write eval-worthy traces to `path`.")
    path: str = Field("/var/lib/genai-o11y/evals/traces.jsonl", min_length=1,
                      description="The file; rotated files sit beside it. Its directory must exist and be writable: the collector does not start "
                                  "otherwise (compose mounts a volume there, `genai-o11y up` creates it under its work directory).")
    keep_errors: bool = Field(True, description="Traces with an error.")
    keep_negative_feedback: bool = Field(True, description="Traces with negative feedback (it must arrive within the decision wait).")
    keep_below_floor: bool = Field(True, description="Traces with an eval score past its evaluator's floor.")
    keep_quality_proxies: bool = Field(True, description="Traces a user regenerated, rephrased, escalated or abandoned (evals.proxies that rise; "
                                                          "the action must arrive within the decision wait).")
    sample_spans_per_second_per_route: int = Field(2, ge=0, description="Of the rest, up to this many spans per second of whole traces for each "
                                                                          "of pipeline.routes (tail sampling's rate limit: a stratified share, so rare routes are "
                                                                          "kept as often as busy ones); 0: none. Per gateway replica (per sidecar without the tier): the tier keeps replicas x this.")
    sample_burst_spans: int = Field(256, ge=1, le=1_000_000, description="The share's bucket depth in spans: the largest trace it can keep (a trace of more "
                                                                          "spans is never in the share; tail sampling's `burst_capacity`, 2 x the rate if "
                                                                          "unset, would shut out every trace longer than 4 spans at the default rate). "
                                                                          "Also the most the share keeps at once after a start.")
    max_megabytes: int = Field(100, ge=1, description="Rotate the file at this size.")
    max_backups: int = Field(10, ge=0, description="Rotated files kept.")


class QualityProxy(Strict):
    """A user action on an answer that hints at its quality without anyone rating it (the helper's
    `record_proxy`): its rate per request against its own baseline alerts when it moves the bad way."""

    name: Name = Field(description="genai_o11y.quality.proxy the action is reported under (e.g. regenerate).")
    worse_when: Literal["rise", "fall"] = Field("rise", description="rise: users do it when an answer is bad (regenerate, escalate); "
                                                                     "fall: when it is good (copy the answer, open a cited source).")
    tolerated_factor: Factor = Field(2.0, description="Its rate per request over the last hour this many times its baseline rate alerts "
                                                       "(for a proxy that falls: below the baseline divided by this).")
    min_rate: float = Field(0.02, ge=0, le=1, description="Per request: a rise must also exceed this rate, a fall needs a baseline at least "
                                                         "this high (a zero or tiny baseline does not page on one event).")
    min_requests_per_hour: int = Field(50, ge=1, description="Fewer requests than this in the last hour give no alert for this proxy.")


def _default_proxies() -> list[QualityProxy]:
    return [
        QualityProxy(name="regenerate"),
        QualityProxy(name="rephrase"),
        QualityProxy(name="copy_answer", worse_when="fall"),
        QualityProxy(name="open_citation", worse_when="fall"),
        QualityProxy(name="escalate", min_rate=0.01),
        QualityProxy(name="abandon"),
    ]


class Evals(Strict):
    """Evaluators: floors and tolerated regressions, read by `genai-o11y gate` (the release gate in CI)
    and by `dataset build` (which eval scores make a trace eval-worthy)."""

    evaluators: list[Evaluator] = Field(default_factory=list)
    proxies: list[QualityProxy] = Field(default_factory=_default_proxies,
                                        description="Online quality proxies (user actions on answers); other kinds fold into _other in metrics.")
    dataset: EvalDataset = Field(default_factory=EvalDataset)
    confidence_percent: Percent = Field(95, description="Confidence of the bootstrap interval a regression must clear to fail the gate.")
    bootstrap_resamples: int = Field(2000, ge=100, le=100000, description="Resamples for the confidence intervals (seeded: the same input gives the same report).")

    @field_validator("evaluators")
    @classmethod
    def _unique_evaluators(cls, v: list[Evaluator]) -> list[Evaluator]:
        _require_unique([e.name for e in v], "evaluator")
        return v

    @field_validator("proxies")
    @classmethod
    def _unique_proxies(cls, v: list[QualityProxy]) -> list[QualityProxy]:
        _require_unique([p.name for p in v], "quality proxy")  # `_other` (what unknown kinds fold into) fails Name's pattern
        return v


class Budget(Strict):
    """Spend the cost dashboard draws its budget line at."""

    daily_usd: USD | None = Field(Decimal("250"), description="LLM spend per day (USD) the team budgets for; null: no budget line.")


class EventJoin(Strict):
    """How an OTel event sent as a log record (an evaluation result, a quality proxy) gets the labels
    of the call it is about (model, route, prompt version): the sidecar remembers recently seen spans
    by span id and gen_ai.response.id, and a record parented by one (or carrying its response id)
    takes their labels. Only spans that passed the same sidecar are found (native engine)."""

    max_entries: int = Field(100_000, ge=0, le=10_000_000,
                             description="Spans remembered at most (the oldest forgotten first, counted); 0 turns the join off.")
    ttl_seconds: int = Field(600, ge=60, le=86_400,
                             description="How long a span is remembered: judges run asynchronously, so minutes, not seconds.")
    wait_seconds: int = Field(10, ge=0, le=300,
                              description="A record sent before its span waits this long for it: SDKs export log records every "
                              "second and spans every 5 seconds, so an inline judge's result reaches the sidecar first. 0: no wait.")
    max_waiting: int = Field(10_000, ge=1, le=1_000_000,
                             description="Records waiting at most (a copy each, about 1 KB); further ones count at once without their span's labels.")


class Collector(Strict):
    """The sidecar itself."""

    otlp_grpc_endpoint: Endpoint = "127.0.0.1:4317"
    otlp_http_endpoint: Endpoint = "127.0.0.1:4318"
    metrics_endpoint: Endpoint = Field("0.0.0.0:8889", description="Where Prometheus scrapes the span-derived metrics.")
    telemetry_endpoint: Endpoint = Field("0.0.0.0:8888", description="The collector's own metrics.")
    health_endpoint: Endpoint = "0.0.0.0:13133"
    memory_limit_mib: int = Field(400, ge=32, description="The memory limiter refuses data above this (soft limit 80%); GOMEMLIMIT is set to 50% of it.")
    gogc: int = Field(200, ge=25, le=1000, description="GOGC of the sidecar process: the heap grows this many percent over the live data before "
                      "the Go runtime collects. 200 halves the collections of Go's default 100 (a third of the sidecar's CPU per span at "
                      "400 spans/s went to the GC, most of it on the persistent queue's short-lived buffers); GOMEMLIMIT still caps the heap.")
    queue_directory: str = Field("/var/lib/genai-o11y/queue", min_length=1)
    queue_mib: int = Field(320, ge=1, description="Serialized data the sidecar's persistent queues hold in total (sizer: bytes, split between "
                           "them) while the gateways or backends are unreachable; beyond it new data is dropped. The queue volume (Helm "
                           "emptyDir sizeLimit) is derived from it: each queue's log files hold at most twice what it holds, plus a segment.")
    metrics_flush_interval_seconds: int = Field(15, ge=1, le=300, description="How often the span and usage metrics connectors send their cumulative "
                                                "values to the Prometheus exporter (and so how fresh a scrape is); each batch only updates them.")
    engine: Literal["native", "ottl"] = Field(
        "native",
        description="native: normalisation, redaction and label folding by our own components (genai_normalise, genai_redaction, "
        "and genai_usage, which folds the values it reads: one pass per span each, built into our distribution); ottl: the same as transform-processor statements, for a stock collector-contrib build.",
    )
    event_join: EventJoin = Field(default_factory=EventJoin)


class Logs(Strict):
    """Where the OTLP logs an app sends (GenAI events, content events of instrumentations) go: they are
    always accepted (an app's export never fails) and redacted like traces before they leave."""

    export: Literal["drop", "otlp"] = Field("drop", description="drop: every record dropped, counted; otlp: redacted, then sent to `endpoint` (OTLP/gRPC, retries and a persistent queue).")
    endpoint: Endpoint | None = Field(None, description="OTLP/gRPC endpoint of the logs backend; required with export: otlp.")
    insecure: bool = True


class Spec(Strict):
    apiVersion: Literal["genai-o11y/v1"]
    app: App
    pipeline: Pipeline
    models: list[Model] = Field(default_factory=list)
    prompts: Prompts = Field(default_factory=Prompts)
    cardinality: Cardinality = Field(default_factory=Cardinality)
    slos: Slos = Field(default_factory=Slos)
    failures: Failures = Field(default_factory=Failures)
    sampling: Sampling = Field(default_factory=Sampling)
    gateway: Gateway = Field(default_factory=Gateway)
    redaction: Redaction = Field(default_factory=Redaction)
    backends: Backends = Field(default_factory=Backends)
    logs: Logs = Field(default_factory=Logs)
    alerting: Alerting = Field(default_factory=Alerting)
    budget: Budget = Field(default_factory=Budget)
    evals: Evals = Field(default_factory=Evals)
    collector: Collector = Field(default_factory=Collector)

    # Checks across fields live in checks.py, so that each error names its exact field.

    # The redaction policy file, parsed once at load time: (the policy path it was read from, Policy)
    _policy: tuple = PrivateAttr(default=(None, None))

    def attach_policy(self, policy) -> None:
        self._policy = (self.redaction.policy, policy)

    def policy_file(self):
        """The parsed redaction policy file (the embedded one by default), before the spec's own
        additions (collector.policy_for adds them). Parsed at load time; a copy whose
        redaction.policy changed reads its file again."""
        from ..redaction_policy import load

        path, policy = self._policy
        if policy is None or path != self.redaction.policy:
            policy = load(self.redaction.policy, allow_from_spec=False)
            self._policy = (self.redaction.policy, policy)
        return policy

    @property
    def all_stages(self) -> list[str]:
        """Declared stages in order, then the implicit ones."""
        return list(self.pipeline.stages) + [s for s in names.IMPLICIT_STAGES]


def _require_unique(values: list[str], what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what + ' ' if what else ''}{v!r} is listed twice")
        seen.add(v)
