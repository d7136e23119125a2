"""Replay frozen eval cases (`genai-o11y dataset build` output) through the demo app and write its eval
results as eval records for `genai-o11y gate`: the candidate run of the loop production traces ->
eval cases -> re-run -> gate, for the demo. Your own app replays the same way: ask each case's
`question` on its `route` and report each eval with `record_eval(..., case_id=case["case_id"])`."""

from __future__ import annotations

import json
from pathlib import Path

from .. import names as n
from ..errors import UserError
from ..gate import json_lines
from . import scenarios
from .app import QUESTIONS, SupportCopilot


def load_cases(path: Path) -> tuple[list[dict], int]:
    """The replayable cases (a question and a known route) and how many were skipped (no question:
    content not captured, cut by redaction before the user's message, or a call that failed before its
    input was recorded)."""
    cases, skipped = [], 0
    for where, doc in json_lines(path, "eval cases from `genai-o11y dataset build`"):
        if "case_id" not in doc or "question" not in doc or "signals" not in doc:
            raise UserError(f"{where}: not an eval case (no case_id, question, signals): give the output of `genai-o11y dataset build`")
        if not doc["question"]:
            skipped += 1
            continue
        if doc.get("route") not in QUESTIONS:
            raise UserError(f"{where}: route {doc.get('route')!r} is not one the demo app serves ({', '.join(QUESTIONS)})")
        cases.append(doc)
    return cases, skipped


def replay(cases: list[dict], scenario: str, seed: int = 1) -> list[dict]:
    """Eval records (case_id, evaluator, score) of the demo answering each case under `scenario`."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ..instrument.core import EnrichingSpanProcessor, Observability

    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(EnrichingSpanProcessor())
    tp.add_span_processor(SimpleSpanProcessor(mem))
    app = SupportCopilot(Observability(tp), scenarios.get(scenario), seed=seed, time_scale=0)
    for case in cases:
        app.ask(question=case["question"], route_hint=case["route"], case_id=case["case_id"])
    records = []
    for s in mem.get_finished_spans():
        a = s.attributes
        if a.get(n.EVAL_NAME) and a.get(n.EVAL_CASE_ID):
            records.append({"case_id": a[n.EVAL_CASE_ID], "evaluator": a[n.EVAL_NAME], "score": float(a[n.EVAL_SCORE])})
    tp.shutdown()
    return sorted(records, key=lambda r: (r["case_id"], r["evaluator"]))


def dumps(records: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
