"""Zero code of ours: three apps, each instrumented only by one third-party OpenAI instrumentation
(the official opentelemetry-instrumentation-openai-v2, OpenLLMetry, OpenInference), make chat and
embedding calls against a fake OpenAI API on loopback (about one call in ten answered HTTP 429).
Their spans go through the real collector (generated config) into a real Prometheus 3 (generated
rules), alerts through a real Alertmanager to a webhook receiver.

With the OpenAI span as each trace's only (root) span: every panel such an app can fill has data
(requests, error ratio, latency end to end, cost per request, failures by category ...), the
failure board shows rate_limited, error.type has one spelling, and an error burst pages the
availability SLO (GenAIErrorBudgetBurnFast) for each app. The spec's availability objective is 99%
here so that the page threshold (14.4 x 1% of requests failing) lies between the 10% of 429s
before the burst (no page) and the burst (every other call fails).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from genai_o11y import catalog, localstack, names, render
from genai_o11y.builders import alertmanager, dashboards
from harness import OtlpSink, collector_ports, make_spec, prometheus_for, run_collector, wait_for

pytestmark = pytest.mark.collector

APP = Path(__file__).parent / "third_party_app.py"
WHICH = ["openai-v2", "openllmetry", "openinference"]
SUBST = {"$__rate_interval": "2m", "$__range": "15m", "${datasource}": "", "$trace_id": ""}

#: (board, panel) -> which targets must return data: "all", or the number of targets that must.
#: The panels an app with only an OpenAI instrumentation can fill (no route, tenant, prompt
#: version, tools, retrieval or feedback: those boards say what fills them).
FILLED = {
    ("genai-o11y-overview", "Requests per second"): "all",
    ("genai-o11y-overview", "Error ratio"): "all",
    ("genai-o11y-overview", "Cost per hour"): "all",
    ("genai-o11y-overview", "Latency end to end"): "all",
    ("genai-o11y-overview", "Error ratio over time"): "all",
    ("genai-o11y-overview", "Tokens per second"): "all",
    ("genai-o11y-overview", "Top failing operations"): "all",
    ("genai-o11y-cost", "Cost by model"): "all",
    ("genai-o11y-cost", "Cost per request"): "all",
    ("genai-o11y-cost", "Tokens by kind"): "all",
    ("genai-o11y-stages", "Latency by stage"): "all",
    ("genai-o11y-stages", "Share of end-to-end latency"): 2,  # embedding and model_call
    ("genai-o11y-stages", "p95 per stage in pipeline order"): 2,
    ("genai-o11y-stages", "Stage waterfall (mean)"): "all",  # bars for embedding and model_call; every stage starts (0 where none ran before)
    ("genai-o11y-stages", "Stage waterfall (p95)"): "all",
    ("genai-o11y-stages", "p95 by stage and model"): "all",
    ("genai-o11y-stages", "Stage error ratio"): "all",
    ("genai-o11y-stages", "Stage calls per second"): "all",
    ("genai-o11y-failures", "Failures by category"): "all",
    ("genai-o11y-failures", "Failure share of requests by category"): "all",
    ("genai-o11y-failures", "Failures by category and stage"): "all",
    ("genai-o11y-failures", "Failures by model"): "all",
    ("genai-o11y-failures", "Errors by error type"): "all",
    ("genai-o11y-failures", "Guardrail blocks"): "all",  # 0: traffic and no block
    ("genai-o11y-drilldown", "Slow requests (exemplars)"): "all",
    # by a label such an app does not set: one series with the `_none` value (route, tenant, prompt version, task type, release)
    ("genai-o11y-stages", "p95 by stage and route"): "all",
    ("genai-o11y-stages", "p95 by stage and release"): "all",
    ("genai-o11y-cost", "Cost by route"): "all",
    ("genai-o11y-cost", "Cost by tenant"): "all",
    ("genai-o11y-cost", "Cost by prompt version"): "all",
    ("genai-o11y-cost", "Cost by task type"): "all",
    ("genai-o11y-cost", "Spend over 24 hours against the daily budget"): "all",
    ("genai-o11y-quality", "Response length by prompt version"): "all",
    ("genai-o11y-quality", "Calls by prompt version"): "all",
    ("genai-o11y-failures", "Failures by prompt version"): "all",
    # 0 where there are requests and no tool call (zero-filled ratios and rates)
    ("genai-o11y-tools", "Tool calls per request"): "all",
    ("genai-o11y-tools", "Answers without a required tool"): "all",
    ("genai-o11y-tools", "Tool success followed by a failed answer"): "all",
    ("genai-o11y-quality", "Quality proxies per request"): "all",  # 0 for each of the spec's proxies
    # the sidecar's own telemetry: there whatever the app sends
    ("genai-o11y-pipeline", "Sidecars up"): "all",
    ("genai-o11y-pipeline", "Spans received"): "all",
    ("genai-o11y-pipeline", "Spans refused"): "all",
    ("genai-o11y-pipeline", "Spans dropped"): "all",
    ("genai-o11y-pipeline", "Export queue"): "all",
    ("genai-o11y-pipeline", "Redaction in/out"): "all",
    ("genai-o11y-pipeline", "Collector memory"): "all",
    ("genai-o11y-pipeline", "Tail sampling decisions"): "all",
    ("genai-o11y-pipeline", "Series per metric"): "all",
}


def _panel_queries(spec, service: str, panels: dict | None = None) -> dict:
    """(board, panel) -> (need, its PromQL with the variables filled), for `panels` (default FILLED)."""
    boards = dashboards.build_all(spec, "test")
    out = {}
    for (uid, title), need in (panels or FILLED).items():
        panel = next(p for p in boards[uid]["panels"] if p["title"] == title)
        exprs = []
        for t in panel.get("targets", []):
            if "expr" not in t:
                continue  # Tempo searches, alert lists: not PromQL
            e = t["expr"]
            for k, v in SUBST.items():
                e = e.replace(k, v)
            e = e.replace("$service", service)
            for v in ("environment", "model", "route", "tenant", "prompt_version"):
                e = e.replace(f"${v}", ".*")
            exprs.append(e)
        out[(uid, title)] = (need, exprs)
    return out


def test_each_instrumentation_alone_fills_the_boards_and_pages(otelcol, tmp_path):
    run = uuid.uuid4().hex[:6]
    services = {w: f"zero-code-{w}-{run}" for w in WHICH}
    with localstack.WebhookReceiver() as hook, OtlpSink() as tempo:
        spec = make_spec(collector_ports({
            "app.services": list(services.values()),
            "backends.tempo.endpoint": tempo.endpoint,
            "alerting.receivers.pager.webhook_url": hook.url("pager"),
            "alerting.receivers.chat.webhook_url": hook.url("chat"),
            "slos.availability.objective_percent": 99.0,
            "gateway.decision_wait_seconds": 2,
            "sampling.baseline_percent": 100,
        }, tmp_path))
        with run_collector(otelcol, spec, tmp_path) as col:
            am = localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), tmp_path / "alertmanager")
            prom = None
            apps = {}
            try:
                prom = prometheus_for(spec, col, tmp_path, alertmanagers=[am.url.split("//")[1]])
                for w, svc in services.items():
                    ctl = tmp_path / f"app-{w}"
                    ctl.mkdir()
                    log = (tmp_path / f"app-{w}.log").open("w")
                    apps[w] = (subprocess.Popen([sys.executable, str(APP), w, col.otlp_grpc, svc, str(ctl)], stdout=log, stderr=subprocess.STDOUT), ctl)
                _scenario(spec, prom.url, tempo, hook, services, apps, tmp_path)
            finally:
                for proc, ctl in apps.values():
                    (ctl / "stop").touch()
                for proc, _ctl in apps.values():
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                if prom is not None:
                    prom.stop()
                am.stop()


def _app_log(tmp_path: Path, w: str) -> str:
    return (tmp_path / f"app-{w}.log").read_text(errors="replace")[-3000:]


def _scenario(spec, base: str, tempo: OtlpSink, hook, services: dict, apps: dict, tmp_path: Path) -> None:
    for w, (proc, ctl) in apps.items():
        wait_for(lambda: (ctl / "calls").exists() or proc.poll() is not None, timeout=60, what=f"{w} app making calls")
        assert proc.poll() is None, f"{w} app exited:\n{_app_log(tmp_path, w)}"
    calls = catalog.PROM["calls"]
    stage = names.prom_label(names.STAGE)
    # Rates need two scrapes of every series: wait until each app's requests (roots) have a rate.
    for w, svc in services.items():
        q = f'sum(rate({calls}{{service_name="{svc}",{stage}="request",status_code="STATUS_CODE_ERROR"}}[2m])) > 0'
        wait_for(lambda q=q: localstack.prom_query(base, q), timeout=180, interval=2, what=f"{w}: failed requests with a rate")
    # The request-level recording rules (the availability SLI the burn-rate alerts read) fill, at about one in ten.
    for w, svc in services.items():
        # a ratio of a handful of requests says nothing about one in ten: read it once 60 are in its window
        enough = f'sum(increase({calls}{{service_name="{svc}",{stage}="request"}}[5m])) >= 60'
        wait_for(lambda q=enough: localstack.prom_query(base, q), timeout=180, interval=2, what=f"{w}: 60 requests in the SLI's window")
        q = catalog.request_errors("5m") + f'{{service_name="{svc}"}}'
        sli = wait_for(lambda q=q: localstack.prom_query(base, q), timeout=120, interval=2, what=f"{w}: the availability SLI")
        assert 0.02 < float(sli[0]["value"][1]) < 0.3, (w, sli)
        wait_for(lambda svc=svc: localstack.prom_query(base, catalog.REC_STAGE_ERRORS_5M + f'{{service_name="{svc}"}}'), timeout=120, interval=2,
                 what=f"{w}: the stage SLIs")

    for w, svc in services.items():
        # Every panel such an app can fill has data, for this app alone.
        empty = []
        for (uid, title), (need, exprs) in _panel_queries(spec, svc).items():
            with_data = [e for e in exprs if localstack.prom_query(base, e)]
            if (need == "all" and len(with_data) < len(exprs)) or (need != "all" and len(with_data) < need):
                empty.append(f"{uid} / {title}: {len(with_data)} of {len(exprs)} queries with data")
        assert not empty, f"{w}: panels without data:\n" + "\n".join(empty)
        # ... and FILLED is every such panel: one that has data for this app but is not listed fails (by construction,
        # over every panel of every board, so a panel that starts filling from a plain app cannot be forgotten here)
        every = {(uid, p["title"]): "all" for uid, b in dashboards.build_all(spec, "test").items() for p in b["panels"]}
        unlisted = [key for key, (_need, exprs) in _panel_queries(spec, svc, every).items()
                    if key not in FILLED and any(localstack.prom_query(base, e) for e in exprs)]
        assert not unlisted, f"{w}: panels with data that FILLED does not list (add them): {unlisted}"
        # One request per trace: the root model call or embedding, counted as a request and as its stage.
        by_stage = {r["metric"].get(stage): float(r["value"][1]) for r in localstack.prom_query(base, f'sum by ({stage}) ({calls}{{service_name="{svc}"}})')}
        assert by_stage["request"] == by_stage["model_call"] + by_stage["embedding"], (w, by_stage)
        assert set(by_stage) == {"request", "model_call", "embedding"}, (w, by_stage)
        # Tokens and cost counted once, on the model call (the request view carries none).
        assert not localstack.prom_query(base, f'{catalog.PROM["input_tokens"]}{{service_name="{svc}",{stage}="request"}}')
        # The failure board shows rate_limited; error.type has one spelling.
        cats = {r["metric"].get(names.prom_label(names.FAILURE_CATEGORY)) for r in localstack.prom_query(base, f'{catalog.PROM["failures"]}{{service_name="{svc}"}}')}
        assert cats == {"rate_limited"}, (w, cats)
        err_types = {r["metric"].get("error_type") for r in localstack.prom_query(base, f'{calls}{{service_name="{svc}",status_code="STATUS_CODE_ERROR"}}')}
        assert err_types == {"RateLimitError"}, (w, err_types)
        # Failed calls still carry their model (OpenInference sends it only in the invocation parameters).
        models = {r["metric"].get(names.prom_label(names.REQUEST_MODEL)) for r in localstack.prom_query(base, f'{catalog.PROM["failures"]}{{service_name="{svc}"}}')}
        assert models <= {"gpt-4o", "text-embedding-3-small"} and models, (w, models)

    # The OpenAI span is the only span, and the root, of every trace these apps sent.
    for w, svc in services.items():
        spans = [s for s in tempo.spans() if s.resource.get("service.name") == svc]
        assert spans, w
        assert all(not s.parent_span_id for s in spans), w
        assert len({s.trace_id for s in spans}) == len(spans), f"{w}: one span per trace"
        assert all(s.attributes.get(names.STAGE) in ("model_call", "embedding") for s in spans), w

    # No page at one call in ten failing (below 14.4 x the 1% budget); then an error burst pages each app.
    assert not [a for nt in hook.received("pager") for a in nt.alerts if a["labels"].get("service_name") in services.values()]
    injected = time.time()
    for _proc, ctl in apps.values():
        (ctl / "burst").touch()

    def paged() -> dict | None:
        got = {a["labels"].get("service_name"): (nt, a) for nt in hook.received("pager") for a in nt.alerts
               if a["labels"]["alertname"] == "GenAIErrorBudgetBurnFast" and a.get("status", "firing") == "firing"}
        return got if set(services.values()) <= set(got) else None

    pages = wait_for(paged, timeout=480, interval=2, what="a page for each app's error burst")
    for w, svc in services.items():
        nt, alert = pages[svc]
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["genai_o11y_slo"] == "availability", alert
        print(f"\n{w}: error burst -> page at pager receiver: {nt.received_at - injected:.1f} s")
    chat = {a["labels"]["alertname"] for nt in hook.received("chat") for a in nt.alerts if a["labels"].get("service_name") in services.values()}
    assert "GenAIErrorBudgetBurnFast" not in chat
    assert localstack.prom_rule_health(base) == []
