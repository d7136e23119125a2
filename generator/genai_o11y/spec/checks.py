"""Checks across fields, run after the model validates; each names the exact field it is about."""

from __future__ import annotations

from typing import Iterator

from .model import Spec

Loc = tuple


def _checks():
    """Each check with the top-level sections of the spec it reads: it runs only when they are valid."""
    return [
        (_model_names, {"models"}),
        (_slo_stages, {"slos", "pipeline"}),
        (_tool_routes, {"pipeline"}),
        (_full_mode, {"redaction", "backends"}),
        (_failure_rules, {"failures"}),
        (_gateway, {"gateway"}),
        (_logs, {"logs"}),
        (_remote_write, {"backends"}),
    ]


def run(spec: Spec, invalid: set[str] = frozenset()) -> Iterator[tuple[Loc, str]]:
    """The problems across fields; the checks that read a section in `invalid` (one with errors of its
    own, replaced by a stand-in to validate the rest) do not run: see skipped()."""
    for check, reads in _checks():
        if not reads & invalid:
            yield from check(spec)


def skipped(invalid: set[str]) -> list[str]:
    """What the checks run() leaves out for these invalid sections do, in words (their docstrings)."""
    return [check.__doc__ for check, reads in _checks() if reads & invalid]


def _gateway(spec: Spec):
    """gateway.static_endpoints against gateway.replicas"""
    g = spec.gateway
    if g.static_endpoints and len(g.static_endpoints) != g.replicas:
        yield ("gateway", "static_endpoints"), (f"lists {len(g.static_endpoints)} endpoint(s) but gateway.replicas is {g.replicas}: "
                                                "the sidecars would send to a different set of gateways than runs")
    if len(set(g.static_endpoints)) != len(g.static_endpoints):
        yield ("gateway", "static_endpoints"), "an endpoint is listed twice: its replica would take twice its share of the traces"


def _logs(spec: Spec):
    """logs.export against logs.endpoint"""
    if spec.logs.export == "otlp" and spec.logs.endpoint is None:
        yield ("logs", "endpoint"), "export: otlp needs logs.endpoint (the OTLP/gRPC endpoint of the logs backend)"
    if spec.logs.export == "drop" and spec.logs.endpoint is not None:
        yield ("logs", "export"), "logs.endpoint is set but export is drop: set export: otlp to send logs there"


def _remote_write(spec: Spec):
    """backends.remote_write.rules_on_store against its tenant_id"""
    rw = spec.backends.remote_write
    if rw is not None and rw.rules_on_store and rw.tenant_id is None:
        yield ("backends", "remote_write", "tenant_id"), "rules_on_store needs the tenant whose rules the store's ruler evaluates (tenant_id)"


def _failure_rules(spec: Spec):
    """one matcher per failures.infer row"""
    for i, r in enumerate(spec.failures.infer):
        given = [k for k in ("error_type", "http_status", "grpc_code", "finish_reason") if getattr(r, k)]
        if len(given) != 1:
            yield ("failures", "infer", i), (f"exactly one of error_type, http_status, grpc_code, finish_reason per row (got {', '.join(given) or 'none'})")


def _full_mode(spec: Spec):
    """redaction.mode full against its content store and backends.tempo"""
    r = spec.redaction
    if r.mode == "full" and r.full_content_store is None:
        yield ("redaction", "mode"), ("mode 'full' needs redaction.full_content_store, a separate, restricted OTLP/gRPC backend: "
                                      "{name: restricted, endpoint: host:4317, insecure: false}")
    if r.full_content_store is not None and r.full_content_store.endpoint == spec.backends.tempo.endpoint:
        yield ("redaction", "full_content_store", "endpoint"), "must not be the main traces backend (backends.tempo.endpoint)"


def _model_names(spec: Spec):
    """model names and aliases unique"""
    seen: dict[str, str] = {}  # name -> where it was first (models[i].name or models[i].aliases[j], with the model's name)
    for i, m in enumerate(spec.models):
        for j, name in enumerate([m.name, *m.aliases]):
            loc = ("models", i, "name") if j == 0 else ("models", i, "aliases", j - 1)
            if name in seen:
                yield loc, f"model name {name!r} is already {seen[name]}"
            else:
                seen[name] = f"models[{i}].name" if j == 0 else f"models[{i}].aliases[{j - 1}] (of {m.name!r})"


def _slo_stages(spec: Spec):
    """slos.latency stages against pipeline.stages"""
    stages = set(spec.pipeline.stages) | {"request"}
    for i, slo in enumerate(spec.slos.latency):
        if slo.stage not in stages:
            yield ("slos", "latency", i, "stage"), f"{slo.stage!r} is not a stage of pipeline.stages (nor 'request')"


def _tool_routes(spec: Spec):
    """pipeline.tools' routes against pipeline.routes"""
    if not spec.pipeline.routes:
        return
    for i, t in enumerate(spec.pipeline.tools):
        for j, r in enumerate(t.required_for_routes):
            if r not in spec.pipeline.routes:
                yield ("pipeline", "tools", i, "required_for_routes", j), f"route {r!r} is not in pipeline.routes"
