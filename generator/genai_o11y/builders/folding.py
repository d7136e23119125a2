"""Label folding, the metrics branch's stage before the span and usage metrics, in both engines side by
side: fold_groups() (OTTL, for collector.engine: ottl) and dimensions_config() (the `fold` of our genai_usage
connector, the native engine) say the same thing; tests send random spans through each engine and require
identical series.

Bounded label values (stages, routes, tools, failure categories, proxy kinds, models: anything else
folds into `_other`), labels copied from the resource, the tools-called list joined, the derived
request flags (failed after tools, required tool missing) and, for signal_to_metrics, the family markers.
"""

from __future__ import annotations

import re

from .. import names as n
from ..catalog import RESOURCE_TO_LABEL, event_names, marker, marker_families, marker_statements
from ..spec import Spec
from .ottl import attr, one_of_regex, q


#: Failure categories that are the tool's, not the answer's (see "failed after tools").
NOT_ANSWER_FAILURES = ("tool_failure", "timeout")


def fold_groups(spec: Spec) -> list[dict]:
    """Metrics branch only: bound label values (traces keep the raw values), then the derived flags
    and the metric-family markers. Statements that only apply to model calls or to request spans
    sit in groups with that condition: one key lookup skips them on every other span."""
    every: list[str] = [f'set({attr(k)}, resource.attributes[{q(k)}]) where {attr(k)} == nil' for k in RESOURCE_TO_LABEL]
    every.append(f'set({attr(n.STAGE)}, {q(n.OVERFLOW_VALUE)}) where not IsMatch({attr(n.STAGE)}, {q(one_of_regex(spec.all_stages))})')
    model: list[str] = []
    for m in spec.models:
        for alias in m.aliases:
            model.append(f"set({attr(n.REQUEST_MODEL)}, {q(m.name)}) where {attr(n.REQUEST_MODEL)} == {q(alias)}")
    model_names = [m.name for m in spec.models]
    if model_names:
        model.append(
            f"set({attr(n.REQUEST_MODEL)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.REQUEST_MODEL)} != nil"
            f" and not IsMatch({attr(n.REQUEST_MODEL)}, {q(one_of_regex(model_names))})"
        )
    if spec.pipeline.routes:
        every.append(f"set({attr(n.ROUTE)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.ROUTE)} != nil and not IsMatch({attr(n.ROUTE)}, {q(one_of_regex(spec.pipeline.routes))})")
    if spec.pipeline.tools:
        tools = [t.name for t in spec.pipeline.tools]
        every.append(f"set({attr(n.TOOL_NAME)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.TOOL_NAME)} != nil and not IsMatch({attr(n.TOOL_NAME)}, {q(one_of_regex(tools))})")
    every.append(
        f"set({attr(n.QUALITY_PROXY)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.QUALITY_PROXY)} != nil"
        f" and not IsMatch({attr(n.QUALITY_PROXY)}, {q(one_of_regex(proxy_kinds(spec)))})"
    )
    every.append(
        f"set({attr(n.FAILURE_CATEGORY)}, {q(n.OVERFLOW_VALUE)}) where {attr(n.FAILURE_CATEGORY)} != nil"
        f" and not IsMatch({attr(n.FAILURE_CATEGORY)}, {q(one_of_regex(n.FAILURE_CATEGORIES))})"
    )
    # The app lists called tools on the request span, comma-separated or as a list: one form.
    called = attr(n.TOOLS_CALLED)
    every.append(f"set({called}, Concat({called}, \",\")) where IsList({called})")
    request_only = f'{attr(n.STAGE)} == "request"'
    # An answer that failed (error status or a failure category other than a tool's) after the
    # model called tools: "tool success followed by a failed answer".
    request = [
        f"set({attr(n.FAILED_AFTER_TOOLS)}, true) where {request_only} and {attr(n.TOOLS_CALLED)} != nil"
        f" and {attr(n.TOOLS_CALLED)} != \"\" and (span.status.code == STATUS_CODE_ERROR or ({attr(n.FAILURE_CATEGORY)} != nil"
        + "".join(f" and {attr(n.FAILURE_CATEGORY)} != {q(c)}" for c in NOT_ANSWER_FAILURES) + "))"
    ]
    request += required_tool_statements(spec)
    markers = marker_statements()
    request_marker = f"set({attr(marker('request'))}, true) where {marker_families()['request']}"
    assert request_marker in markers and marker_families()["request"] == request_only
    every += [m for m in markers if m != request_marker]
    request.append(request_marker)
    groups = [{"context": "span", "statements": every}]
    if model:
        groups.append({"context": "span", "conditions": [f"{attr(n.REQUEST_MODEL)} != nil"], "statements": model})
    groups.append({"context": "span", "conditions": [request_only], "statements": request})
    return groups


def proxy_kinds(spec: Spec) -> list[str]:
    """The quality proxies a label may name (evals.proxies); any other kind folds into _other. With none
    listed, the overflow value alone (so every kind folds, and neither engine sees an empty list)."""
    return [p.name for p in spec.evals.proxies] or [n.OVERFLOW_VALUE]


def dimensions_config(spec: Spec) -> dict:
    """The native engine's folding (the `fold` of our genai_usage connector, gocomponents/connector/genaiusageconnector/fold.go):
    what fold_groups() says in OTTL, as data, applied to the values the connector reads, in its one pass
    per span; the resource's labels are its copy_from_resource. The family markers are signal_to_metrics's
    alone (ottl engine)."""
    allowed = {n.STAGE: list(spec.all_stages), n.FAILURE_CATEGORY: list(n.FAILURE_CATEGORIES), n.QUALITY_PROXY: proxy_kinds(spec)}
    if spec.pipeline.routes:
        allowed[n.ROUTE] = list(spec.pipeline.routes)
    if spec.pipeline.tools:
        allowed[n.TOOL_NAME] = [t.name for t in spec.pipeline.tools]
    required = [{"name": t.name, "routes": list(t.required_for_routes)} for t in spec.pipeline.tools if t.required_for_routes]
    return {
        "overflow_value": n.OVERFLOW_VALUE,
        "allowed_values": allowed,
        "join_lists": [n.TOOLS_CALLED],
        # span events that feed metrics with their own attributes (a quality proxy's kind): folded too
        "fold_events": event_names(),
        "model": {
            "key": n.REQUEST_MODEL,
            "aliases": [{"alias": a, "name": m.name} for m in spec.models for a in m.aliases],
            "known": [m.name for m in spec.models],
        },
        "request": {
            "stage": {"key": n.STAGE, "value": "request"},
            "failed_after_tools": {"key": n.FAILED_AFTER_TOOLS, "called_key": n.TOOLS_CALLED, "failure_key": n.FAILURE_CATEGORY,
                                   "exempt": list(NOT_ANSWER_FAILURES)},
            "required_tools": {"key": n.REQUIRED_TOOL_MISSING, "route_key": n.ROUTE, "called_key": n.TOOLS_CALLED, "tools": required},
        },
    }


def fold_statements(spec: Spec) -> list[str]:
    """Every statement of fold_groups, in order."""
    return [st for g in fold_groups(spec) for st in g["statements"]]


def required_tool_statements(spec: Spec) -> list[str]:
    """Mark request spans of a route whose required tool was not called (genai_o11y.tools.called).

    The app lists the tools it called on the request span, comma-separated or as a list; a route's
    answer without its required tool is the silent failure "answered from the model's memory". A request
    that failed (error status, or a failure category other than a tool's) gave no answer: not marked.
    """
    called = attr(n.TOOLS_CALLED)  # joined into one string by fold_statements before this
    s = []
    for t in spec.pipeline.tools:
        if not t.required_for_routes:
            continue
        tool_re = f"(^|,)\\s*{re.escape(t.name)}\\s*(,|$)"
        s.append(
            f"set({attr(n.REQUIRED_TOOL_MISSING)}, {q(t.name)}) where {attr(n.STAGE)} == \"request\""
            f" and {attr(n.ROUTE)} != nil and IsMatch({attr(n.ROUTE)}, {q(one_of_regex(t.required_for_routes))})"
            f" and ({called} == nil or not IsMatch({called}, {q(tool_re)}))"
            # a request that failed gave no answer (genai_usage's fold does the same)
            f" and span.status.code != STATUS_CODE_ERROR and ({attr(n.FAILURE_CATEGORY)} == nil"
            + "".join(f" or {attr(n.FAILURE_CATEGORY)} == {q(c)}" for c in NOT_ANSWER_FAILURES) + ")"
        )
    return s
