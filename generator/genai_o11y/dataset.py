"""`genai-o11y dataset build`: production traces -> eval cases.

Reads the OTLP JSON files the sidecar's eval-dataset pipeline writes (`evals.dataset` in the spec: the
file exporter, after redaction, keeping errors, negative feedback, eval scores past a floor and a share
of the rest) and writes one eval case per question (request traces that asked the same question on the
same route after the same conversation are one case, unless --keep-duplicates) as JSON Lines, sorted by
start time then trace id, so the same files give the same bytes. The case schema is `CASE_SCHEMA` (also
in the README).

A trace's spans may sit in several files (rotation) and arrive out of order; feedback and eval spans
join their request's trace by trace id. Content is what the trace store holds: redacted as the spec's
redaction mode allows, never more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from . import names as n
from .errors import UserError
from .gate import EVAL_EVENT, EVAL_LABEL, _attrs, json_lines, label_passes, number
from .spec.model import Evaluator

SCHEMA_VERSION = 2
#: redaction.max_content_chars by default: content as long is taken as cut there
MAX_CONTENT_CHARS = 4096
SIGNALS = ("error", "negative_feedback", "low_score", "user_action", "sampled")

#: The eval case, as JSON Schema (draft 2020-12). Every case validates against it (tested).
CASE_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "genai-o11y eval case",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "case_id", "trace_id", "trace_url", "started_at", "service", "release", "route", "tenant", "signals",
                 "question", "answer", "truncated", "prompt", "model", "retrieval", "tools", "feedback", "evals", "error", "cost_usd", "duration_ms",
                 "retriever_version", "index_version", "trace_count", "trace_ids"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "case_id": {"type": "string", "description": "Stable id of the case: the source trace id."},
        "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "trace_url": {"type": ["string", "null"], "description": "The trace in the trace store (backends.tempo.query_url)."},
        "started_at": {"type": "string", "description": "Start of the request span, RFC 3339 UTC."},
        "service": {"type": ["string", "null"]},
        "release": {"type": ["string", "null"], "description": "The request's service.version (resource attribute): the app's release."},
        "route": {"type": ["string", "null"]},
        "tenant": {"type": ["string", "null"], "description": f"{n.TENANT} as the app sent it: Tier 1 metadata, kept verbatim by redaction "
                                                            "(not hashed; the app sends a hash or an opaque id)."},
        "task_type": {"type": ["string", "null"]},
        "retriever_version": {"type": ["string", "null"], "description": f"{n.RETRIEVER_VERSION} (the helper's retrieval(retriever_version=...))."},
        "index_version": {"type": ["string", "null"], "description": f"{n.INDEX_VERSION} (the helper's retrieval(index_version=...))."},
        "signals": {"type": "array", "items": {"enum": list(SIGNALS)}, "description": "Why its traces are eval-worthy (of all of them: trace_ids)."},
        "question": {"type": ["string", "null"], "description": "The user's last message as exported (redacted); null when content is not captured, "
                                                           "or when the messages were cut (truncated) before it."},
        "answer": {"type": ["string", "null"], "description": "The model's last output message; null when not captured or cut (truncated)."},
        "truncated": {"type": "array", "items": {"enum": ["question", "answer"]},
                      "description": "Whose content redaction cut at max_content_chars: a question null for it cannot be replayed; "
                                     "one given is the last user message among the messages whole before the cut, or plain text's beginning."},
        "prompt": {"type": "object", "additionalProperties": False, "properties": {
            "template": {"type": ["string", "null"]}, "version": {"type": ["string", "null"]}, "hash": {"type": ["string", "null"]}}},
        "model": {"type": "object", "additionalProperties": False, "properties": {
            "provider": {"type": ["string", "null"]}, "request": {"type": ["string", "null"]}, "response": {"type": ["string", "null"]}}},
        "retrieval": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["chunk_id", "score"], "properties": {
            "chunk_id": {"type": "string"}, "score": {"type": ["number", "null"]}}}},
        "tools": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["name", "outcome", "duration_ms"], "properties": {
            "name": {"type": "string"}, "outcome": {"type": ["string", "null"]}, "duration_ms": {"type": "number"}}}},
        "feedback": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["sentiment"], "properties": {
            "sentiment": {"type": ["string", "null"]}, "score": {"type": ["number", "null"]}}}},
        "evals": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["evaluator", "score", "label"], "properties": {
            "evaluator": {"type": "string"}, "score": {"type": ["number", "null"]}, "label": {"type": ["string", "null"]}}}},
        "error": {"type": ["object", "null"], "additionalProperties": False, "properties": {
            "stage": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]}, "category": {"type": ["string", "null"]}}},
        "cost_usd": {"type": "number"},
        "duration_ms": {"type": "number"},
        "trace_count": {"type": "integer", "minimum": 1, "description": "How many traces the case stands for: the same question on the same route "
                                                                       "after the same conversation (`dataset build` merges them; --keep-duplicates: 1)."},
        "trace_ids": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                      "description": "Those traces, first to last; the case's other fields are the first's, its signals all of theirs."},
    },
}


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent: str
    name: str
    start: int
    end: int
    error: bool
    service: str | None
    release: str | None  # the resource's service.version
    attrs: dict
    events: list[tuple[str, dict]] = field(default_factory=list)


def _spans(path: Path, skipped: list[str]):
    for where, doc in json_lines(path, "OTLP JSON export requests, the file exporter's format", skipped):
        if not ({"resourceSpans", "resourceLogs", "resourceMetrics"} & set(doc)):
            raise UserError(f"{where}: not an OTLP JSON export request (no resourceSpans): is this the eval-dataset file exporter's output?")
        for rs in doc.get("resourceSpans", []):
            resource = _attrs(rs.get("resource", {}).get("attributes"))
            service, release = resource.get(n.SERVICE_NAME), resource.get(n.SERVICE_VERSION)
            release = None if release is None else str(release)
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    try:
                        yield Span(
                            trace_id=sp["traceId"], span_id=sp.get("spanId", ""), parent=sp.get("parentSpanId", ""), name=sp.get("name", ""),
                            start=int(sp["startTimeUnixNano"]), end=int(sp["endTimeUnixNano"]),
                            error=sp.get("status", {}).get("code") in (2, "STATUS_CODE_ERROR"), service=service, release=release,
                            attrs=_attrs(sp.get("attributes")), events=[(e.get("name", ""), _attrs(e.get("attributes"))) for e in sp.get("events", [])],
                        )
                    except (KeyError, ValueError, TypeError) as e:
                        raise UserError(f"{where}: span {sp.get('spanId', '?')} is missing or has a bad {e}") from None


#: A messages value as the semantic conventions shape it: a JSON array of message objects (a cut one starts the same).
_MESSAGES = re.compile(r"\s*\[\s*\{")
_SEPARATOR = re.compile(r"\s*,?\s*")
_ROLE = re.compile(r'"role"\s*:\s*"([^"\\]*)"')


def _cut(v: str, limit: int) -> bool:
    """Whether redaction may have cut `v` at max_content_chars: as long as the limit, in characters (the
    native engine, the app-side redactor) or UTF-8 bytes (OTTL; never splitting a character)."""
    return bool(limit) and (len(v) >= limit or len(v.encode()) >= limit - 3)


def _leading(v: str) -> tuple[list, str | None]:
    """The complete leading messages of a message array that does not parse (cut short), decoded one by
    one, and the role of the message it was cut in where that shows (else None)."""
    decoder, out, i = json.JSONDecoder(), [], v.index("[") + 1
    while True:
        i = _SEPARATOR.match(v, i).end()
        try:
            msg, i = decoder.raw_decode(v, i)
        except ValueError:
            role = _ROLE.search(v, i)
            return out, role.group(1) if role else None
        out.append(msg)


def _last_text(msgs: list, role: str | None) -> str | None:
    texts: list[str] = []
    for m in msgs:
        if isinstance(m, dict) and (role is None or m.get("role") in (role, None)):
            parts = m.get("parts") or [{"content": m.get("content")}]
            texts = [str(p.get("content")) for p in parts if isinstance(p, dict) and p.get("content") is not None]
    return "\n".join(texts) if texts else None


def _content(attrs: dict, keys: tuple[str, ...], role: str | None, limit: int) -> tuple[str | None, bool]:
    """A message's text from the attribute shapes instrumentations use: the semantic conventions'
    JSON messages (`gen_ai.input.messages`, last message of `role`), a plain string, OpenInference's
    `input.value`/`output.value`, OpenLLMetry's indexed `gen_ai.prompt.N.content`; and whether the value
    was cut at redaction's max_content_chars (`limit`). A message array cut short gives the last message of
    `role` among its complete leading ones only when the message cut shows another role (the one asked for
    may be the one cut, or after it): else None, never the system prompt's text."""
    for key in keys:
        v = attrs.get(key)
        if not isinstance(v, str) or not v:
            continue
        try:
            msgs = json.loads(v)
        except ValueError:
            if not _MESSAGES.match(v):
                return v, _cut(v, limit)  # plain text: its beginning, when cut
            msgs, cut_in = _leading(v)
            return (None if role is None or cut_in in (role, None) else _last_text(msgs, role)), True
        if isinstance(msgs, list) and any(isinstance(m, dict) for m in msgs):
            text = _last_text(msgs, role)
            if text or role is None:
                return text or v, False
            continue  # no message of `role` here (a system prompt alone): not the user's input
        return v, False
    for prefix in ("gen_ai.prompt", "gen_ai.completion"):
        idx = sorted({int(k.split(".")[2]) for k in attrs if k.startswith(prefix + ".") and k.split(".")[2].isdigit()})
        if idx and ((prefix == "gen_ai.prompt") == (role == "user")):
            v = attrs.get(f"{prefix}.{idx[-1]}.content")
            return (None, False) if v is None else (str(v), isinstance(v, str) and _cut(v, limit))
    return None, False


def _first(spans: list[Span], keys: tuple[str, ...], role: str | None, limit: int) -> tuple[str | None, bool, Span | None]:
    """The first of these spans' content that gives a text, whether it was cut, and the span; none: whether any was."""
    cut = False
    for s in spans:
        text, was_cut = _content(s.attrs, keys, role, limit)
        if text:
            return text, was_cut, s
        cut = cut or was_cut
    return None, cut, None


#: Input messages of these roles are the app's (instructions, retrieved context), made again on a replay:
#: not part of what makes two cases the same.
_APP_ROLES = ("system", "developer")


def _conversation(span: Span | None) -> str:
    """What the user sent on that span: its input messages but the app's, as canonical JSON ("" when none)."""
    v = span.attrs.get("gen_ai.input.messages") if span else None
    if not isinstance(v, str):
        return ""
    try:
        msgs = json.loads(v)
    except ValueError:
        msgs = _leading(v)[0] if _MESSAGES.match(v) else v
    if isinstance(msgs, list):
        msgs = [m for m in msgs if not (isinstance(m, dict) and m.get("role") in _APP_ROLES)]
    return json.dumps(msgs, sort_keys=True, ensure_ascii=False)


def _list_attr(attrs: dict, key: str) -> list | None:
    """A list attribute as exported: whole (Tier 1 keeps it), or flattened by redaction into `key.0`, `key.1`, ..."""
    v = attrs.get(key)
    if isinstance(v, list):
        return v
    items, i = [], 0
    while f"{key}.{i}" in attrs:
        items.append(attrs[f"{key}.{i}"])
        i += 1
    return items or None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fails(ev: Evaluator, score: float | None, label: str | None) -> bool:
    """An eval result that makes its trace eval-worthy: a score past the evaluator's floor (what the sidecar
    keeps), or a label outside its pass_labels (a failing case, as the gate counts it)."""
    if score is not None and ev.floor is not None and ((score < ev.floor) if ev.direction == "higher" else (score > ev.floor)):
        return True
    return label is not None and not label_passes(ev, label)


def _case(trace_id: str, spans: list[Span], evaluators: dict[str, Evaluator], tempo_url: str | None,
          actions: frozenset[str] = frozenset(), limit: int = MAX_CONTENT_CHARS) -> tuple[dict, tuple | None] | None:
    """The trace's case, and what makes it the same as another (None: nothing known)."""
    requests = [s for s in spans if s.attrs.get(n.STAGE) == "request"]
    roots = [s for s in spans if not s.parent and s.attrs.get(n.STAGE) not in n.LINKED_STAGES]
    root = min(requests or roots, key=lambda s: s.start, default=None)
    if root is None:
        return None  # only feedback/eval spans arrived: no request to make a case of
    work = [s for s in spans if s.attrs.get(n.STAGE) not in n.LINKED_STAGES]
    models = sorted((s for s in work if s.attrs.get(n.STAGE) == "model_call" or s.attrs.get(n.OPERATION) in ("chat", "text_completion")),
                    key=lambda s: s.start)
    answer_span = models[-1] if models else root
    evals = []
    for s in sorted(spans, key=lambda s: (s.start, s.span_id)):
        candidates = [s.attrs] + [a for name, a in s.events if name == EVAL_EVENT]
        for a in candidates:
            if a.get(n.EVAL_NAME):
                evals.append({"evaluator": str(a[n.EVAL_NAME]), "score": number(a.get(n.EVAL_SCORE)),
                              "label": None if a.get(EVAL_LABEL) is None else str(a.get(EVAL_LABEL))})
    feedback = [{"sentiment": s.attrs.get(n.FEEDBACK_SENTIMENT), "score": number(s.attrs.get(n.FEEDBACK_SCORE))}
                for s in sorted(spans, key=lambda s: s.start) if s.attrs.get(n.STAGE) == "feedback"]
    failed = sorted((s for s in work if s.error), key=lambda s: s.start)
    signals = []
    if failed:
        signals.append("error")
    if any(f["sentiment"] == "negative" for f in feedback):
        signals.append("negative_feedback")
    if any(e["evaluator"] in evaluators and _fails(evaluators[e["evaluator"]], e["score"], e["label"]) for e in evals):
        signals.append("low_score")
    if any(s.attrs.get(n.QUALITY_PROXY) in actions or any(name == n.USER_ACTION_EVENT and a.get(n.QUALITY_PROXY) in actions for name, a in s.events)
           for s in spans):
        signals.append("user_action")
    if not signals:
        signals.append("sampled")
    retrieval = []
    for s in sorted(work, key=lambda s: s.start):
        ids, scores = _list_attr(s.attrs, n.RETRIEVAL_DOCUMENT_IDS), _list_attr(s.attrs, n.RETRIEVAL_DOCUMENT_SCORES)
        if ids:
            scores = scores or []
            retrieval += [{"chunk_id": str(d), "score": number(scores[i]) if i < len(scores) else None} for i, d in enumerate(ids)]
    tools = [{"name": str(s.attrs.get(n.TOOL_NAME)), "outcome": s.attrs.get(n.TOOL_OUTCOME), "duration_ms": round((s.end - s.start) / 1e6, 3)}
             for s in sorted(work, key=lambda s: s.start) if s.attrs.get(n.STAGE) == "tool_call" and s.attrs.get(n.TOOL_NAME)]
    # where it failed: the failed span that started last is the innermost (a request fails because its model call did)
    culprit = max(failed, key=lambda s: (s.start, s.span_id)) if failed else None
    prompt_span = next((s for s in reversed(models) if s.attrs.get(n.PROMPT_VERSION)), None) or root

    def get(key: str):
        """The request's value of `key`, else the first stage span's."""
        return next((s.attrs[key] for s in [root] + work if s.attrs.get(key) is not None), None)

    question, question_cut, asked = _first([root] + models, ("gen_ai.input.messages", "input.value"), "user", limit)
    answer, answer_cut, _ = _first([answer_span, root], ("gen_ai.output.messages", "output.value"), None, limit)
    case = {
        "schema_version": SCHEMA_VERSION,
        "case_id": trace_id,
        "trace_id": trace_id,
        "trace_url": f"{tempo_url.rstrip('/')}/api/traces/{trace_id}" if tempo_url else None,
        "started_at": _iso(root.start),
        "service": root.service,
        "release": next((s.release for s in [root] + work if s.release), None),
        "route": get(n.ROUTE),
        "tenant": get(n.TENANT),
        "task_type": get(n.TASK_TYPE),
        "retriever_version": get(n.RETRIEVER_VERSION),
        "index_version": get(n.INDEX_VERSION),
        "signals": signals,
        "question": question,
        "answer": answer,
        "truncated": [f for f, cut in (("question", question_cut), ("answer", answer_cut)) if cut],
        "prompt": {"template": prompt_span.attrs.get(n.PROMPT_TEMPLATE), "version": prompt_span.attrs.get(n.PROMPT_VERSION),
                   "hash": prompt_span.attrs.get(n.PROMPT_HASH)},
        "model": {"provider": answer_span.attrs.get(n.PROVIDER), "request": answer_span.attrs.get(n.REQUEST_MODEL),
                  "response": answer_span.attrs.get(n.RESPONSE_MODEL)},
        "retrieval": retrieval,
        "tools": tools,
        "feedback": feedback,
        "evals": evals,
        "error": None if culprit is None else {"stage": culprit.attrs.get(n.STAGE), "type": culprit.attrs.get(n.ERROR_TYPE),
                                               "category": culprit.attrs.get(n.FAILURE_CATEGORY)},
        "cost_usd": round(sum(number(s.attrs.get(n.COST_USD)) or 0.0 for s in work), 9),
        "duration_ms": round((root.end - root.start) / 1e6, 3),
        "trace_count": 1,
        "trace_ids": [trace_id],
    }
    # the same question on the same route after the same conversation: one case (without a question, no two are known the same)
    return case, None if question is None else (case["service"], case["route"], question, _conversation(asked))


def _when(value: str | None, flag: str) -> int | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{flag}: not an ISO 8601 time ({value!r}; e.g. 2026-11-30T12:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return int(t.timestamp() * 1e9)


def build(paths: list[Path], evaluators: Iterable[Evaluator], tempo_url: str | None = None, route: str | None = None,
          tenant: str | None = None, signal: str | None = None, since: str | None = None, until: str | None = None,
          actions: frozenset[str] | set[str] = frozenset(), service: str | None = None, skipped: list[str] | None = None,
          max_content_chars: int = 0, dedupe: bool = True) -> list[dict]:
    """Eval cases from these files, filtered, in a stable order. `evaluators`: the spec's (a result past its
    floor, or labelled outside its pass_labels, is the signal low_score; others' results are carried, not
    judged). `actions`: the quality proxies (user actions) that make a trace eval-worthy (signal user_action;
    the spec's proxies that rise). `max_content_chars`: redaction's (the spec's; 0: the default's), to tell
    content it cut (`truncated`). `dedupe`: traces that asked the same question on the same route after the
    same conversation (input messages but the system's) are one case: the first trace's, with the signals of
    all and their count and ids (`trace_count`, `trace_ids`); the filters apply to traces, before. A file's
    partial last line (still being written, or cut short by a crash) is left out and said in `skipped` (file
    and line); any other bad line is an error."""
    if signal is not None and signal not in SIGNALS:
        raise UserError(f"--signal: unknown signal {signal!r}; known: {', '.join(SIGNALS)}")
    t0, t1 = _when(since, "--since"), _when(until, "--until")
    by_name = {ev.name: ev for ev in evaluators}
    traces: dict[str, list[Span]] = {}
    seen: set[tuple[str, str]] = set()
    for path in paths:
        for s in _spans(path, skipped if skipped is not None else []):
            if (s.trace_id, s.span_id) in seen:  # a span exported twice (a retry) counts once
                continue
            seen.add((s.trace_id, s.span_id))
            traces.setdefault(s.trace_id, []).append(s)
    cases = []
    for tid, spans in traces.items():
        made = _case(tid, spans, by_name, tempo_url, frozenset(actions), max_content_chars or MAX_CONTENT_CHARS)
        if made is None:
            continue
        c, same = made
        start = min(s.start for s in spans if s.attrs.get(n.STAGE) not in n.LINKED_STAGES)
        if (route and c["route"] != route) or (tenant and c["tenant"] != tenant) or (signal and signal not in c["signals"]) \
                or (service and c["service"] != service):
            continue
        if (t0 is not None and start < t0) or (t1 is not None and start >= t1):
            continue
        cases.append((start, tid, c, same))
    out: list[dict] = []
    first: dict[tuple, dict] = {}
    for _s, _t, c, same in sorted(cases, key=lambda x: (x[0], x[1])):
        if dedupe and same is not None and same in first:
            kept = first[same]
            kept["trace_ids"].append(c["trace_id"])
            kept["trace_count"] += 1
            kept["signals"] = [s for s in SIGNALS if s in kept["signals"] or s in c["signals"]]
            continue
        if same is not None:
            first[same] = c
        out.append(c)
    for c in out:  # sampled: kept for no other reason, by none of its traces
        if len(c["signals"]) > 1 and "sampled" in c["signals"]:
            c["signals"].remove("sampled")
    return out


def dumps(cases: list[dict]) -> str:
    return "".join(json.dumps(c, sort_keys=True, ensure_ascii=False) + "\n" for c in cases)


