"""Support copilot: query rewrite, embedding, retrieval, rerank, prompt assembly, routing, model call,
tool calls, validation, moderation, post-processing; then simulated user feedback and an online eval.
Every stage goes through genai_o11y.instrument (the way an app developer would use it)."""

from __future__ import annotations

import json

import hashlib
import random
import time
from dataclasses import dataclass

from ..instrument import Observability, PromptRegistry
from .model import RateLimitError, StandInModel, tokens
from .scenarios import HEALTHY, Scenario

KB = [
    ("kb-1", "Reset your password from Settings, Security, Reset password; links expire after 24 hours."),
    ("kb-2", "Orders ship within 2 business days; tracking numbers arrive by e-mail once shipped."),
    ("kb-3", "Refunds go back to the original payment method within 5 to 10 days after approval."),
    ("kb-4", "Invoices are in Billing, History; each can be downloaded as PDF."),
    ("kb-5", "To escalate, support opens a ticket and a human replies within one business day."),
    ("kb-6", "Two-factor authentication can be reset by support after identity verification."),
    ("kb-7", "Changing the shipping address is possible until the order is packed."),
    ("kb-8", "Annual plans can be cancelled with a pro-rata refund in the first 30 days."),
]
QUESTIONS = {
    "faq": ["how long do refunds take", "where do I find my invoices", "can I cancel my annual plan"],
    "troubleshooting": ["password reset link expired", "two-factor code not arriving to +44 20 7946 0958", "cannot log in after reset as bob@example.org"],
    "billing": ["where is my order 4411", "I was charged twice for order 5120, my e-mail is jane.doe@example.com",
                "change address of order 3307, call me on +1 202-555-0143"],
    "escalation": ["I want to talk to a human", "this is the third time I ask, escalate please"],
}
MODELS = {"faq": "gpt-4o-mini", "troubleshooting": "gpt-4o", "billing": "gpt-4o", "escalation": "gpt-4o-mini"}
PROVIDERS = {"gpt-4o": "openai", "gpt-4o-mini": "openai", "claude-sonnet-4-5": "anthropic", "text-embedding-3-small": "openai"}
TOOLS = {"troubleshooting": "search_kb", "billing": "lookup_order", "escalation": "create_ticket"}


def prompts() -> PromptRegistry:
    r = PromptRegistry()
    r.register("rewrite", "v3", "Rewrite the support question as a search query: $q")
    r.register("answer", "v7", "You are a support assistant. Answer from the context, cite sources.\nContext:\n$context\nQuestion: $q")
    r.register("answer", "v8", "Answer briefly.\nContext:\n$context\nQ: $q", current=False)
    r.register("answer", "v9-experimental", "EXPERIMENT: answer creatively.\n$context\n$q", current=False)
    return r


@dataclass
class Result:
    trace_id: str
    route: str
    ok: bool
    answer: str


class SupportCopilot:
    def __init__(self, obs: Observability, scenario: Scenario = HEALTHY, seed: int = 1, time_scale: float = 1.0, tenants: int = 20,
                 capture_content: bool = True) -> None:
        self.capture_content = capture_content
        self.obs = obs
        self.scenario = scenario
        self.model = StandInModel(time_scale)
        self.rnd = random.Random(seed)
        self.users = random.Random(seed + 1)  # what users do with answers: its own stream, so the rest of the demo is unchanged
        self.prompts = prompts()
        self.time_scale = time_scale
        self.tenants = [("h_" + hashlib.sha256(f"tenant-{i}".encode()).hexdigest()[:12]) for i in range(tenants)]

    def _sleep(self, ms: float) -> None:
        if self.time_scale:
            time.sleep(ms * self.time_scale / 1000)

    def ask(self, question: str | None = None, route_hint: str | None = None, case_id: str | None = None) -> Result:
        """One request; `question`/`route_hint` replay a frozen eval case, whose `case_id` the eval results then carry."""
        sc, rnd, obs = self.scenario, self.rnd, self.obs
        route_hint = route_hint or rnd.choice(list(QUESTIONS))
        question = question or rnd.choice(QUESTIONS[route_hint])
        tenant = self.tenants[int(rnd.paretovariate(1.2)) % len(self.tenants)]  # a few tenants dominate
        answer, ok = "", True
        try:
            with obs.request(tenant=tenant, task_type="support_chat") as req:
                with obs.query_rewrite("gpt-4o-mini", "openai", self.prompts.get("rewrite")) as s:
                    c = self.model.complete("gpt-4o-mini", self.prompts.get("rewrite").render(q=question), max_words=14)
                    s.usage(c.input_tokens, c.output_tokens)
                    query = c.text
                with obs.embedding("text-embedding-3-small", "openai") as s:
                    cached = rnd.random() < 0.3
                    if not cached:
                        self.model.embed(query)
                    s.usage(input_tokens=tokens(query)).cache_hit(cached)
                with obs.retrieval(retriever_version="bm25+dense-2", index_version=sc.index_version) as s:
                    self._sleep(40 + rnd.random() * 80)
                    docs = self._retrieve(question)
                    s.results(len(docs), top_score=docs[0][1] if docs else None, documents=[(d[0], d[1]) for d in docs])
                    if not docs:
                        s.fail("retrieval_miss")
                with obs.rerank() as s:
                    reranked = sorted(docs, key=lambda d: -d[1] * (0.8 + 0.4 * rnd.random()))
                    moved = [abs(i - reranked.index(d)) for i, d in enumerate(docs)]
                    s.displacement(sum(moved) / len(moved) if moved else 0.0)
                prompt = self.prompts.get("answer", sc.answer_prompt_version)
                with obs.prompt_assembly(prompt=prompt) as s:
                    kept = reranked[: sc.context_chunks]
                    dupes = sum(1 for i, d in enumerate(reranked) if d[0] in {x[0] for x in reranked[:i]})
                    budget = max(0, len(reranked) - sc.context_chunks)
                    s.chunks(included=len(kept), budget=budget, dedupe=dupes, policy=0).truncated(budget > 2)
                    context = "\n".join(text for _, _, text in kept)
                with obs.routing() as s:
                    route = route_hint
                    s.route(route, reason="keyword_classifier")
                model = (sc.route_model or {}).get(route, MODELS[route])
                with obs.model_call(model, PROVIDERS[model], prompt=prompt) as s:
                    if self.capture_content:  # content capture on: the sidecar redacts it (the PII in questions shows that)
                        # as the semantic conventions shape them, the input before the call (a failed call keeps it too)
                        s.attribute("gen_ai.input.messages", json.dumps([
                            {"role": "system", "parts": [{"type": "text", "content": prompt.render(context=context, q="")}]},
                            {"role": "user", "parts": [{"type": "text", "content": question}]},
                        ]))
                    c = self.model.complete(model, prompt.render(context=context, q=question), max_words=sc.answer_max_words,
                                            fail=rnd.random() < sc.model_error_ratio, cached_prefix=60)
                    s.usage(c.input_tokens, c.output_tokens, c.cached_input_tokens).response(model=c.model, finish_reasons=[c.finish_reason])
                    answer = c.text
                    if self.capture_content:
                        s.attribute("gen_ai.output.messages", json.dumps([
                            {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": c.finish_reason}]))
                tool = TOOLS.get(route)
                if tool and route not in sc.skip_tools_on:
                    with obs.tool_call(tool, call_id=f"call_{rnd.getrandbits(32):08x}") as s:
                        self._sleep(60 + rnd.random() * 200 + (sc.slow_tool_ms if tool in ("lookup_order", "search_kb") else 0))
                        roll = rnd.random()
                        if roll < 0.03:
                            s.outcome("invalid_argument")
                        elif roll < 0.05:
                            s.outcome("retry")
                with obs.validation() as s:
                    if rnd.random() < 0.02:
                        s.fail("parse_error")
                    elif sc.retrieval_drift and rnd.random() < 0.2:
                        s.fail("citation_mismatch")
                with obs.moderation() as s:
                    if rnd.random() < 0.005:
                        s.block()
                with obs.post_processing():
                    self._sleep(2)
            self._feedback_and_eval(req.trace_id, route, docs, answer, case_id)
            return Result(req.trace_id, route, True, answer)
        except RateLimitError:
            ok = False
            return Result(req.trace_id, route_hint, ok, "")

    def _retrieve(self, question: str) -> list[tuple[str, float, str]]:
        words = set(question.lower().split())
        scored = []
        for doc_id, text in KB:
            overlap = len(words & set(text.lower().replace(",", " ").replace(";", " ").split()))
            score = min(0.97, 0.45 + 0.12 * overlap + self.rnd.random() * 0.05)
            if self.scenario.retrieval_drift:
                score *= 0.45
            if score >= (0.2 if self.scenario.retrieval_drift else 0.45):  # a drifted index scores low but still returns
                scored.append((doc_id, round(score, 3), text))
        if self.scenario.retrieval_drift and self.rnd.random() < 0.5:
            return []
        return sorted(scored, key=lambda d: -d[1])[:8]

    def _feedback_and_eval(self, trace_id: str, route: str, docs: list, answer: str, case_id: str | None = None) -> None:
        sc, rnd = self.scenario, self.rnd
        quality = 0.85 - sc.feedback_penalty - (0.2 if not docs else 0.0) - (0.2 if route in sc.skip_tools_on else 0.0)
        if rnd.random() < 0.3:  # three users in ten leave feedback
            self.obs.record_feedback(trace_id, "positive" if rnd.random() < quality else "negative")
        self.obs.record_eval(trace_id, "faithfulness", round(max(0.0, min(1.0, quality + rnd.uniform(-0.1, 0.1))), 3), case_id=case_id)
        self.obs.record_eval(trace_id, "answer_length_ok", 1.0 if len(answer.split()) >= 15 else 0.0, case_id=case_id)
        if case_id is None:  # a replayed eval case has no user
            self._user_actions(trace_id, route, docs, quality)

    def _user_actions(self, trace_id: str, route: str, docs: list, quality: float) -> None:
        """What the user does with the answer (online quality proxies): bad answers are regenerated, rephrased,
        escalated or abandoned more; good ones copied and their sources opened more."""
        sc, rnd = self.scenario, self.users
        chances = {
            "regenerate": 0.03 + 0.05 * (1 - quality) + sc.user_retry_rate,
            "rephrase": 0.02 + 0.04 * (1 - quality) + sc.user_retry_rate / 2,
            "copy_answer": 0.25 * quality,
            "open_citation": 0.2 * quality if docs else 0.0,
            "escalate": (0.08 if route == "escalation" else 0.01) + 0.02 * (1 - quality),
            "abandon": 0.02 + 0.03 * (1 - quality),
        }
        for kind, p in chances.items():
            if rnd.random() < p:
                self.obs.record_proxy(trace_id, kind)


__all__ = ["SupportCopilot", "prompts", "Result"]
