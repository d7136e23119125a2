"""Realistic support-copilot traffic as real OpenTelemetry spans (opentelemetry-sdk, OTLP/gRPC):
every stage of the default pipeline, several models (one unpriced), tools with every outcome,
routes, tenants, prompt versions, releases, feedback, evals, failure categories, cache, retrieval,
reranking, chunk budgets, truncation, tools called. Deterministic (seeded) so tests are repeatable.
"""

from __future__ import annotations

import random
import time

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from genai_o11y.spec import load
from harness import tracer_provider

MS = 1_000_000
ROUTES = ["faq", "troubleshooting", "billing", "escalation"]
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini-2024-07-18", "openai"), ("claude-sonnet-4-5", "anthropic"), ("mistral-large", "mistral_ai")]
TOOLS_FOR = {"troubleshooting": ["search_kb"], "billing": ["lookup_order"], "escalation": ["create_ticket"], "faq": []}
TOOL_OUTCOMES = ["ok", "ok", "ok", "error", "timeout", "retry", "invalid_argument"]
#: The default spec's quality proxies (evals.proxies), one user action per request in turn.
PROXIES = [p.name for p in load().evals.proxies]
FAILURES = ["retrieval_miss", "hallucination_flag", "citation_mismatch", "parse_error", "guardrail_block", "wrong_tool"]


def send(endpoint: str, services: list[str], requests: int, seed: int = 7, releases=("2026.11.1", "2026.11.2"), tenants: int = 8) -> list[str]:
    """Send `requests` traces per service; returns the trace ids (hex)."""
    rnd = random.Random(seed)
    ids: list[str] = []
    for service in services:
        for release in releases:
            tp = tracer_provider(endpoint, {"service.name": service, "service.version": release, "deployment.environment.name": "production"})
            tracer = tp.get_tracer("genai-o11y-tests.traffic")
            for i in range(requests // len(releases)):
                ids.append(_request(tracer, rnd, i, release, tenants))
            tp.force_flush()
            tp.shutdown()
    return ids


def _span(tracer, name: str, start: int, ms: float, attrs: dict, error: str | None = None) -> int:
    s = tracer.start_span(name, start_time=start, attributes=attrs)
    if error:
        s.set_status(Status(StatusCode.ERROR, error))
        s.set_attribute("error.type", error)
    end = start + int(ms * MS)
    s.end(end_time=end)
    return end


def _request(tracer, rnd: random.Random, i: int, release: str, tenants: int) -> str:
    route = ROUTES[i % len(ROUTES)]
    model, provider = MODELS[i % len(MODELS)]
    version = "v7" if i % 5 else "v8"  # v8: a version the spec does not expect
    tenant = f"t_{i % tenants:04x}"
    prompt = {"genai_o11y.prompt.template": "answer", "genai_o11y.prompt.version": version, "genai_o11y.route": route}
    t0 = time.time_ns() - 5_000 * MS
    failed = i % 9 == 0
    tools = [] if i % 6 == 0 else TOOLS_FOR[route]  # every 6th answer skips its tool
    root = tracer.start_span("POST /ask", start_time=t0, attributes={
        "genai_o11y.route": route, "genai_o11y.tenant": tenant, "genai_o11y.task.type": ["support", "billing_question", "how_to"][i % 3],
        "genai_o11y.tools.called": ",".join(tools), **({"genai_o11y.failure.category": FAILURES[i % len(FAILURES)]} if i % 4 == 0 else {}),
    })
    ctx = trace.set_span_in_context(root)
    with trace.use_span(root, end_on_exit=False):
        t = t0
        t = _span(tracer, "rewrite", t, rnd.uniform(20, 80), {"genai_o11y.stage": "query_rewrite", "genai_o11y.prompt.template": "rewrite", "genai_o11y.prompt.version": "v3",
                                                              "gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 20, "genai_o11y.route": route})
        t = _span(tracer, "embeddings", t, rnd.uniform(10, 40), {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small", "gen_ai.provider.name": "openai",
                                                               "gen_ai.usage.input_tokens": 30, "genai_o11y.route": route, "genai_o11y.cache.hit": i % 3 == 0})
        results = 0 if i % 7 == 0 else rnd.randint(1, 12)
        t = _span(tracer, "retrieve", t, rnd.uniform(50, 900), {"genai_o11y.stage": "retrieval", "genai_o11y.route": route, "genai_o11y.retrieval.results": results,
                                                              "genai_o11y.retrieval.top_score": round(rnd.uniform(0.3, 0.95), 3), "genai_o11y.retriever.version": "bm25+dense-2",
                                                              "genai_o11y.index.version": ["idx-2026-11-01", "idx-2026-11-15"][i % 2], "genai_o11y.cache.hit": i % 4 == 0})
        t = _span(tracer, "rerank", t, rnd.uniform(10, 60), {"genai_o11y.stage": "rerank", "genai_o11y.route": route, "genai_o11y.rerank.displacement": round(rnd.uniform(0, 5), 2),
                                                           "genai_o11y.retriever.version": "bm25+dense-2"})
        t = _span(tracer, "assemble", t, rnd.uniform(1, 10), {"genai_o11y.stage": "prompt_assembly", **prompt, "genai_o11y.chunks.included": min(results, 6),
                                                            "genai_o11y.chunks.excluded.budget": max(0, results - 6), "genai_o11y.chunks.excluded.dedupe": i % 2,
                                                            "genai_o11y.chunks.excluded.policy": 1 if i % 10 == 0 else 0, "genai_o11y.prompt.truncated": results > 8})
        t = _span(tracer, "route", t, rnd.uniform(1, 5), {"genai_o11y.stage": "routing", "genai_o11y.route": route, "genai_o11y.route.reason": "classifier"})
        inp = rnd.randint(800, 4000)
        t = _span(tracer, f"chat {model}", t, rnd.uniform(400, 7000), {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
                                                                     "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": rnd.randint(30, 900),
                                                                     "gen_ai.usage.cache_read.input_tokens": inp // 3 if i % 2 else 0, **prompt},
                  error="RateLimitError" if i % 13 == 0 else None)
        for tool in tools:
            outcome = TOOL_OUTCOMES[i % len(TOOL_OUTCOMES)]
            attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "genai_o11y.route": route}
            if outcome in ("retry", "invalid_argument"):
                attrs["genai_o11y.tool.outcome"] = outcome
            t = _span(tracer, f"tool {tool}", t, rnd.uniform(30, 2500), attrs, error={"error": "ToolError", "timeout": "TimeoutError"}.get(outcome))
        t = _span(tracer, "validate", t, rnd.uniform(2, 30), {"genai_o11y.stage": "validation", "genai_o11y.route": route,
                                                            **({"genai_o11y.failure.category": "parse_error"} if i % 11 == 0 else {})})
        t = _span(tracer, "moderate", t, rnd.uniform(5, 50), {"genai_o11y.stage": "moderation", "genai_o11y.route": route,
                                                            **({"genai_o11y.failure.category": "guardrail_block"} if i % 17 == 0 else {})})
        t = _span(tracer, "postprocess", t, rnd.uniform(1, 10), {"genai_o11y.stage": "post_processing", "genai_o11y.route": route})
        # user feedback and an online eval, linked to the request's trace
        _span(tracer, "feedback", t, 1, {"genai_o11y.stage": "feedback", "genai_o11y.feedback.sentiment": "negative" if i % 5 == 0 else "positive", **prompt,
                                         "gen_ai.request.model": model, "gen_ai.provider.name": provider})
        _span(tracer, "eval faithfulness", t, 1, {"genai_o11y.stage": "evaluation", "gen_ai.evaluation.name": "faithfulness",
                                                  "gen_ai.evaluation.score.value": round(rnd.uniform(0.55, 0.98), 3), **prompt, "gen_ai.request.model": model})
        # a user action on the answer (a quality proxy), cycling through the default spec's proxies
        _span(tracer, "user_action", t, 1, {"genai_o11y.stage": "user_action", "genai_o11y.quality.proxy": PROXIES[i % len(PROXIES)], **prompt,
                                            "gen_ai.request.model": model, "genai_o11y.route": route})
        # every evaluator the default spec names (the quality board has a panel with its floor for each)
        _span(tracer, "eval answer_length_ok", t, 1, {"genai_o11y.stage": "evaluation", "gen_ai.evaluation.name": "answer_length_ok",
                                                      "gen_ai.evaluation.score.value": 1.0 if i % 7 else 0.0, **prompt, "gen_ai.request.model": model})
    if failed:
        root.set_status(Status(StatusCode.ERROR, "answer failed"))
    root.end(end_time=t + 2 * MS)
    del ctx
    return format(root.get_span_context().trace_id, "032x")
