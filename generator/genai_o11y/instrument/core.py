"""Stage spans for LLM pipelines, with the GenAI semantic conventions (names from the
opentelemetry semantic-conventions package, via genai_o11y.names) and our extension attributes.

    obs = instrument.setup(service_name="support-copilot", endpoint="127.0.0.1:4317")
    with obs.request(route="billing", tenant=tenant_hash, task_type="billing_question") as req:
        with obs.retrieval(retriever_version="bm25+dense-2", index_version="idx-11") as r:
            r.results(len(docs), top_score=docs[0].score)
        with obs.model_call("gpt-4o", provider="openai", prompt=registry.get("answer")) as m:
            m.usage(input_tokens=812, output_tokens=96)
        with obs.tool_call("lookup_order") as t:
            t.outcome("ok")
    obs.record_feedback(req.trace_id, "negative")
    obs.record_proxy(req.trace_id, "regenerate")      # the user asked for another answer

Nothing here raises into the app: the helper's own failures are logged and swallowed; the app's
exceptions inside a stage are recorded on the span (error status, error.type) and re-raised.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import math
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator

from opentelemetry import trace
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .. import names as n
from .prompts import Prompt

log = logging.getLogger("genai_o11y.instrument")
TOOL_OUTCOMES = ("ok", "error", "timeout", "retry", "invalid_argument")
#: GenAI operation keys other instrumentations set when they start a model span.
#: Stages whose span a client library's own instrumentation makes inside ours (a chat or an embeddings
#: call): that span becomes the stage span, ours a plain wrapper.
HANDED_OFF_STAGES = ("model_call", "embedding")
FOREIGN_GENAI_KEYS = (n.OPERATION, n.LEGACY_SYSTEM, n.PROVIDER, "llm.request.type", "openinference.span.kind")
DELEGATED = n.REQUEST_DELEGATED  # on an outer root span: the GenAI request is a child of it
#: What the request span takes from its last model call (the answer's), unless the app set it on the request.
REQUEST_FROM_MODEL_CALL = (n.REQUEST_MODEL, n.PROMPT_VERSION)


@dataclass
class RequestState:
    span: Any
    route: str | None
    tenant: str | None
    task_type: str | None
    tools_called: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # what feedback and evals inherit

    def common(self) -> dict[str, Any]:
        out = {}
        if self.route:
            out[n.ROUTE] = self.route
        if self.tenant:
            out[n.TENANT] = self.tenant
        if self.task_type:
            out[n.TASK_TYPE] = self.task_type
        return out


_REQUEST: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar("genai_o11y_request", default=None)
_MODEL_CALL: contextvars.ContextVar["Stage | None"] = contextvars.ContextVar("genai_o11y_model_call", default=None)


def _safe(fn):
    """Run a helper-side operation; log one line, never raise into the app (the traceback at debug)."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except Exception as e:  # noqa: BLE001
            log.warning("genai-o11y helper error in %s (ignored): %s: %s", fn.__name__, type(e).__name__, e)
            log.debug("genai-o11y helper error in %s", fn.__name__, exc_info=True)
            return None
    return wrapper


class Stage:
    """Handle of a stage span: attributes collected here are set on the span when the stage ends."""

    def __init__(self, span, stage: str, attrs: dict[str, Any]) -> None:
        self.span = span
        self.stage = stage
        self.attrs = attrs
        self.foreign_child = False  # another instrumentation made the model span inside this one

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    @_safe
    def set(self, **attrs: Any) -> "Stage":
        """Extra attributes, keys with dots given as double underscores: set(genai_o11y__index__version=...)."""
        for k, v in attrs.items():
            if v is not None:
                self.attrs[k.replace("__", ".")] = v
        return self

    @_safe
    def attribute(self, key: str, value: Any) -> "Stage":
        if value is not None:
            self.attrs[key] = value
        return self

    def fail(self, category: str, error_type: str | None = None) -> "Stage":
        """A silent failure of this stage (the answer is bad, nothing raised): a failure category."""
        self.attribute(n.FAILURE_CATEGORY, category)
        if error_type:
            self.attribute(n.ERROR_TYPE, error_type)
        return self

    def cache_hit(self, hit: bool) -> "Stage":
        return self.attribute(n.CACHE_HIT, bool(hit))

    # model_call
    def usage(self, input_tokens: int | None = None, output_tokens: int | None = None, cached_input_tokens: int | None = None,
              reasoning_tokens: int | None = None) -> "Stage":
        """Token counts as the semantic conventions count them: cached input is part of input,
        reasoning part of output (pass output including reasoning)."""
        self.attribute(n.INPUT_TOKENS, input_tokens)
        self.attribute(n.OUTPUT_TOKENS, output_tokens)
        self.attribute(n.REASONING_TOKENS, reasoning_tokens)
        return self.attribute(n.CACHE_READ_TOKENS, cached_input_tokens)

    def response(self, model: str | None = None, finish_reasons: list[str] | None = None, response_id: str | None = None) -> "Stage":
        self.attribute(n.RESPONSE_MODEL, model)
        self.attribute(n.FINISH_REASONS, finish_reasons)
        return self.attribute("gen_ai.response.id", response_id)

    # retrieval / rerank / prompt assembly
    def results(self, count: int, top_score: float | None = None, documents: list[tuple[str, float]] | None = None) -> "Stage":
        """What a retrieval returned; `documents` (id, score), best first, lets an eval case built from the
        trace name the chunks the answer was grounded on."""
        self.attribute(n.RETRIEVAL_RESULTS, int(count))
        if documents:
            self.attribute(n.RETRIEVAL_DOCUMENT_IDS, [str(d) for d, _s in documents])
            self.attribute(n.RETRIEVAL_DOCUMENT_SCORES, [float(s) for _d, s in documents])
        return self.attribute(n.RETRIEVAL_TOP_SCORE, None if top_score is None else float(top_score))

    def displacement(self, mean_rank_change: float) -> "Stage":
        return self.attribute(n.RERANK_DISPLACEMENT, float(mean_rank_change))

    def chunks(self, included: int, budget: int = 0, dedupe: int = 0, policy: int = 0) -> "Stage":
        self.attribute(n.CHUNKS_INCLUDED, int(included))
        for reason, count in (("budget", budget), ("dedupe", dedupe), ("policy", policy)):
            self.attribute(n.CHUNKS_EXCLUDED[reason], int(count))
        return self

    def truncated(self, yes: bool = True) -> "Stage":
        return self.attribute(n.PROMPT_TRUNCATED, bool(yes))

    # routing / tools / guardrails
    @_safe
    def route(self, name: str, reason: str | None = None) -> "Stage":
        self.attribute(n.ROUTE, name)
        self.attribute(n.ROUTE_REASON, reason)
        req = _REQUEST.get()
        if req is not None:
            req.route = name
            req.span.set_attribute(n.ROUTE, name)
        return self

    def outcome(self, outcome: str) -> "Stage":
        if outcome not in TOOL_OUTCOMES:
            log.warning("tool outcome %r is not one of %s", outcome, TOOL_OUTCOMES)
        return self.attribute(n.TOOL_OUTCOME, outcome)

    def block(self, category: str = n.GUARDRAIL_BLOCK) -> "Stage":
        """A guardrail blocked the answer."""
        return self.fail(category)


class EnrichingSpanProcessor(SpanProcessor):
    """Puts the request's route, tenant and task on spans other instrumentations start inside it,
    and turns a foreign model span started inside `model_call` or `embedding` into the stage span (no
    duplicate: the collector would derive the same stage from the library span's operation)."""

    def on_start(self, span: SdkSpan, parent_context=None) -> None:
        try:
            req = _REQUEST.get()
            attrs = span.attributes or {}
            if req is None or n.STAGE in attrs:
                return
            if not any(k in attrs for k in FOREIGN_GENAI_KEYS):
                return
            for k, v in req.common().items():
                span.set_attribute(k, v)
            mc = _MODEL_CALL.get()
            if mc is not None and not mc.foreign_child:
                mc.foreign_child = True
                span.set_attribute(n.STAGE, mc.stage)
                for k in (n.PROMPT_TEMPLATE, n.PROMPT_VERSION, n.PROMPT_HASH, n.PROMPT_NAME):
                    if k in mc.attrs:
                        span.set_attribute(k, mc.attrs[k])
        except Exception:  # noqa: BLE001
            log.exception("genai-o11y enrichment failed (ignored)")

    def on_end(self, span) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Observability:
    """Stage spans, prompt versions, feedback and evals for one app (see the module docstring)."""

    def __init__(self, tracer_provider=None, processor=None, trace_cache: int = 10_000) -> None:
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("genai_o11y.instrument", n.COLLECTOR_VERSION)
        self.processor = processor
        self._traces: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._trace_cache = trace_cache

    @property
    def dropped_spans(self) -> int:
        return self.processor.dropped if self.processor is not None else 0

    def delivery(self) -> tuple[int, int]:
        """(spans ended, spans the endpoint accepted); after provider.shutdown() the difference was lost."""
        p = self.processor
        return (p.ended, p.exported) if p is not None else (0, 0)

    # --- the request --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def request(self, name: str = "genai.request", route: str | None = None, tenant: str | None = None, task_type: str | None = None,
                user_id: str | None = None, session_id: str | None = None, **attrs: Any) -> Iterator[Stage]:
        parent = trace.get_current_span()
        if parent.get_span_context().is_valid and parent.is_recording():
            _safe(parent.set_attribute)(DELEGATED, True)  # an HTTP server span above: it is not the GenAI request
        base = {n.STAGE: "request", **{k.replace("__", "."): v for k, v in attrs.items() if v is not None}}
        if user_id:
            base["user.id"] = user_id  # hashed by the redaction policy before export
        if session_id:
            base["session.id"] = session_id
        with self.tracer.start_as_current_span(name, kind=SpanKind.INTERNAL, record_exception=False, set_status_on_exception=False) as span:
            state = RequestState(span, route, tenant, task_type)
            _safe(span.set_attributes)({**base, **state.common()})
            handle = Stage(span, "request", {})
            token = _REQUEST.set(state)
            try:
                yield handle
            except BaseException as e:
                _record_error(span, e)
                raise
            finally:
                _REQUEST.reset(token)
                _safe(self._finish_request)(span, state, handle)

    def _finish_request(self, span, state: RequestState, handle: Stage) -> None:
        span.set_attribute(n.TOOLS_CALLED, ",".join(dict.fromkeys(state.tools_called)))
        if handle.attrs:
            span.set_attributes(handle.attrs)
        # The request is labelled with the model and prompt version of its last model call, the one
        # that produced the answer (so request series and the missing-required-tool series split by
        # model and prompt version); values the app set on the request itself win.
        own = span.attributes or {}
        for k in REQUEST_FROM_MODEL_CALL:
            if k in state.meta and k not in own:
                span.set_attribute(k, state.meta[k])
        meta = {**state.common(), **state.meta}
        tid = format(span.get_span_context().trace_id, "032x")
        self._traces[tid] = {"span_id": span.get_span_context().span_id, **meta}
        while len(self._traces) > self._trace_cache:
            self._traces.popitem(last=False)

    # --- stages --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self, stage: str, name: str | None = None, **attrs: Any) -> Iterator[Stage]:
        """Any pipeline stage (see the sugar below); attrs become span attributes."""
        if stage not in n.STAGE_CATALOG:
            log.warning("stage %r is not one of %s", stage, ", ".join(n.STAGE_CATALOG))
        req = _REQUEST.get()
        base = {k: v for k, v in attrs.items() if v is not None}
        if req is not None:
            base = {**req.common(), **base}
        with self.tracer.start_as_current_span(name or stage, record_exception=False, set_status_on_exception=False) as span:
            handle = Stage(span, stage, base)
            mc_token = _MODEL_CALL.set(handle) if stage in HANDED_OFF_STAGES else None
            try:
                yield handle
            except BaseException as e:
                _record_error(span, e)
                if stage == "tool_call" and n.TOOL_OUTCOME not in handle.attrs:
                    handle.attrs[n.TOOL_OUTCOME] = "timeout" if "timeout" in type(e).__name__.lower() else "error"
                raise
            finally:
                if mc_token is not None:
                    _MODEL_CALL.reset(mc_token)
                _safe(self._finish_stage)(span, handle, req)

    def _finish_stage(self, span, handle: Stage, req: RequestState | None) -> None:
        attrs = dict(handle.attrs)
        if handle.stage == "model_call" and req is not None:  # what feedback and evals of this request inherit
            for k in (n.REQUEST_MODEL, n.PROVIDER, n.PROMPT_TEMPLATE, n.PROMPT_VERSION):
                if k in attrs:
                    req.meta[k] = attrs[k]
        if handle.foreign_child:
            # another instrumentation's span is the model call: ours stays a plain wrapper span
            for k in (n.OPERATION, n.PROVIDER, n.REQUEST_MODEL, *(kind.attribute for kind in n.TOKEN_KINDS)):
                attrs.pop(k, None)
        else:
            attrs[n.STAGE] = handle.stage
        if handle.stage == "tool_call":
            attrs.setdefault(n.TOOL_OUTCOME, "ok")
            if req is not None and n.TOOL_NAME in attrs:
                req.tools_called.append(str(attrs[n.TOOL_NAME]))
        span.set_attributes(attrs)

    def query_rewrite(self, model: str | None = None, provider: str | None = None, prompt: Prompt | None = None, **attrs: Any):
        return self.stage("query_rewrite", **_model_attrs(model, provider, prompt, None), **attrs)

    def embedding(self, model: str, provider: str | None = None, **attrs: Any):
        return self.stage("embedding", f"embeddings {model}", **{n.OPERATION: "embeddings", n.REQUEST_MODEL: model, n.PROVIDER: provider}, **attrs)

    def retrieval(self, retriever_version: str | None = None, index_version: str | None = None, data_source: str | None = None, **attrs: Any):
        return self.stage("retrieval", **{n.RETRIEVER_VERSION: retriever_version, n.INDEX_VERSION: index_version, "gen_ai.data_source.id": data_source}, **attrs)

    def rerank(self, model: str | None = None, **attrs: Any):
        return self.stage("rerank", **{n.REQUEST_MODEL: model}, **attrs)

    def prompt_assembly(self, prompt: Prompt | None = None, **attrs: Any):
        return self.stage("prompt_assembly", **_prompt_attrs(prompt), **attrs)

    def routing(self, **attrs: Any):
        return self.stage("routing", **attrs)

    def model_call(self, model: str, provider: str | None = None, prompt: Prompt | None = None, operation: str = "chat", **attrs: Any):
        """The model call. If the client library's own instrumentation (official OpenAI, OpenLLMetry)
        starts a model span inside, that span becomes the stage span and this one a plain wrapper."""
        return self.stage("model_call", f"{operation} {model}", **_model_attrs(model, provider, prompt, operation), **attrs)

    def tool_call(self, tool: str, call_id: str | None = None, **attrs: Any):
        return self.stage("tool_call", f"execute_tool {tool}", **{n.OPERATION: "execute_tool", n.TOOL_NAME: tool, n.TOOL_CALL_ID: call_id}, **attrs)

    def validation(self, **attrs: Any):
        return self.stage("validation", **attrs)

    def moderation(self, **attrs: Any):
        return self.stage("moderation", **attrs)

    def post_processing(self, **attrs: Any):
        return self.stage("post_processing", **attrs)

    # --- feedback and evals, linked to the trace --------------------------------------------------------

    @_safe
    def record_feedback(self, trace_id: str | int, sentiment: str, score: float | None = None, comment: str | None = None) -> None:
        """User feedback on the answer of `trace_id`: a span in that trace (stage feedback) carrying
        the request's route, model and prompt version, so feedback metrics split by them."""
        attrs = {n.FEEDBACK_SENTIMENT: sentiment, n.FEEDBACK_SCORE: score, "genai_o11y.feedback.comment": comment}
        self._linked("feedback", "feedback", trace_id, attrs)

    @_safe
    def record_proxy(self, trace_id: str | int, kind: str, response_id: str | None = None, **attrs: Any) -> None:
        """A user action on the answer of `trace_id` that hints at its quality (an online quality proxy):
        regenerate, rephrase, copy_answer, open_citation, escalate, abandon (the spec's evals.proxies;
        other kinds are recorded and fold into _other in metrics). A span in that trace (stage user_action,
        `genai_o11y.quality.proxy` = kind) carrying the request's route, model and prompt version, so the
        sidecar counts it by them; `response_id` (gen_ai.response.id) names the answer when a trace has several."""
        if not isinstance(kind, str) or not kind:
            log.warning("quality proxy kind %r is not a non-empty string (ignored)", kind)
            return
        extra = {k.replace("__", "."): v for k, v in attrs.items()}
        self._linked(n.USER_ACTION, f"user_action {kind}", trace_id, {**extra, n.QUALITY_PROXY: kind, "gen_ai.response.id": response_id})

    @_safe
    def record_eval(self, trace_id: str | int, name: str, score: float | None = None, label: str | None = None, explanation: str | None = None,
                    case_id: str | None = None) -> None:
        """An evaluation result (online eval, LLM-as-judge) of the answer of `trace_id`: a score, a label
        (pass/fail, evals.evaluators' pass_labels), or both; `case_id` when the request answered a frozen eval
        case (`genai-o11y dataset build`), so the release gate pairs runs by case. A score that is not a finite
        number (a judge whose output did not parse: NaN, an infinity) is left out with a warning: the result
        is sent with its label only, or not at all."""
        if score is not None:
            try:
                value = float(score)
            except (TypeError, ValueError):
                value = math.nan
            if math.isfinite(value):
                score = value
            else:
                log.warning("eval %r of trace %s: score %r is not a finite number (left out)", name, trace_id, score)
                score = None
        if score is None and label is None:
            log.warning("eval %r of trace %s has neither a finite score nor a label (not sent)", name, trace_id)
            return
        attrs = {n.EVAL_NAME: name, n.EVAL_SCORE: score, n.EVAL_LABEL: label, "gen_ai.evaluation.explanation": explanation,
                 n.EVAL_CASE_ID: case_id}
        self._linked("evaluation", f"evaluation {name}", trace_id, attrs)

    @_safe
    def _linked(self, stage: str, name: str, trace_id: str | int, attrs: dict[str, Any]) -> None:
        tid = int(trace_id, 16) if isinstance(trace_id, str) else int(trace_id)
        meta = dict(self._traces.get(format(tid, "032x"), {}))
        parent_id = meta.pop("span_id", None) or random.getrandbits(64)
        parent = SpanContext(trace_id=tid, span_id=parent_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
        ctx = trace.set_span_in_context(NonRecordingSpan(parent))
        span = self.tracer.start_span(name, context=ctx)
        span.set_attributes({n.STAGE: stage, **meta, **{k: v for k, v in attrs.items() if v is not None}})
        span.end()


def _prompt_attrs(prompt: Prompt | None) -> dict[str, Any]:
    if prompt is None:
        return {}
    return {n.PROMPT_TEMPLATE: prompt.name, n.PROMPT_VERSION: prompt.version, n.PROMPT_HASH: prompt.hash, n.PROMPT_NAME: prompt.name}


def _model_attrs(model: str | None, provider: str | None, prompt: Prompt | None, operation: str | None) -> dict[str, Any]:
    return {n.OPERATION: operation, n.REQUEST_MODEL: model, n.PROVIDER: provider, **_prompt_attrs(prompt)}


def _record_error(span, e: BaseException) -> None:
    try:
        span.record_exception(e)
        span.set_status(Status(StatusCode.ERROR, type(e).__name__))
        span.set_attribute(n.ERROR_TYPE, type(e).__name__)
    except Exception:  # noqa: BLE001
        log.exception("genai-o11y could not record an exception (ignored)")
