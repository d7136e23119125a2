"""Checks across fields, run after the model validates; each names the exact field it is about."""

from __future__ import annotations

from typing import Iterator

from .model import Spec

Loc = tuple


def run(spec: Spec) -> Iterator[tuple[Loc, str]]:
    yield from _model_names(spec)
    yield from _slo_stages(spec)
    yield from _tool_routes(spec)
    yield from _full_mode(spec)
    yield from _failure_rules(spec)
    yield from _gateway(spec)
    yield from _logs(spec)
    yield from _remote_write(spec)


def _gateway(spec: Spec):
    g = spec.gateway
    if g.static_endpoints and len(g.static_endpoints) != g.replicas:
        yield ("gateway", "static_endpoints"), (f"lists {len(g.static_endpoints)} endpoint(s) but gateway.replicas is {g.replicas}: "
                                                "the sidecars would send to a different set of gateways than runs")
    if len(set(g.static_endpoints)) != len(g.static_endpoints):
        yield ("gateway", "static_endpoints"), "an endpoint is listed twice: its replica would take twice its share of the traces"


def _logs(spec: Spec):
    if spec.logs.export == "otlp" and spec.logs.endpoint is None:
        yield ("logs", "endpoint"), "export: otlp needs logs.endpoint (the OTLP/gRPC endpoint of the logs backend)"
    if spec.logs.export == "drop" and spec.logs.endpoint is not None:
        yield ("logs", "export"), "logs.endpoint is set but export is drop: set export: otlp to send logs there"


def _remote_write(spec: Spec):
    rw = spec.backends.remote_write
    if rw is not None and rw.rules_on_store and rw.tenant_id is None:
        yield ("backends", "remote_write", "tenant_id"), "rules_on_store needs the tenant whose rules the store's ruler evaluates (tenant_id)"


def _failure_rules(spec: Spec):
    for i, r in enumerate(spec.failures.infer):
        given = [k for k in ("error_type", "http_status", "grpc_code", "finish_reason") if getattr(r, k)]
        if len(given) != 1:
            yield ("failures", "infer", i), (f"exactly one of error_type, http_status, grpc_code, finish_reason per row (got {', '.join(given) or 'none'})")


def _full_mode(spec: Spec):
    r = spec.redaction
    if r.mode == "full" and r.full_content_store is None:
        yield ("redaction", "mode"), "mode 'full' needs redaction.full_content_store (a separate, restricted backend)"
    if r.full_content_store is not None and r.full_content_store.endpoint == spec.backends.tempo.endpoint:
        yield ("redaction", "full_content_store", "endpoint"), "must not be the main traces backend (backends.tempo.endpoint)"


def _model_names(spec: Spec):
    seen: dict[str, str] = {}
    for i, m in enumerate(spec.models):
        for j, name in enumerate([m.name, *m.aliases]):
            loc = ("models", i, "name") if j == 0 else ("models", i, "aliases", j - 1)
            if name in seen:
                yield loc, f"model name {name!r} is used by both {seen[name]!r} and {m.name!r}"
            else:
                seen[name] = m.name


def _slo_stages(spec: Spec):
    stages = set(spec.pipeline.stages) | {"request"}
    for i, slo in enumerate(spec.slos.latency):
        if slo.stage not in stages:
            yield ("slos", "latency", i, "stage"), f"{slo.stage!r} is not a stage of pipeline.stages (nor 'request')"


def _tool_routes(spec: Spec):
    if not spec.pipeline.routes:
        return
    for i, t in enumerate(spec.pipeline.tools):
        for j, r in enumerate(t.required_for_routes):
            if r not in spec.pipeline.routes:
                yield ("pipeline", "tools", i, "required_for_routes", j), f"route {r!r} is not in pipeline.routes"
