"""Alerts end to end, every component real: spans -> our collector (generated config) -> Prometheus 3
(generated rules) -> Alertmanager (generated config) -> a webhook receiver (pager, chat).

An error burst must page (pager receiver), a cost spike, users regenerating answers and users
copying fewer answers must open tickets (chat receiver), and nothing else may be delivered. The
cost and quality-proxy baselines are 24 hours of history written into Prometheus' TSDB with
promtool's backfill; the spike and the user actions themselves go through the collector (the
regenerations as the helper's user_action spans, the copies as user-action span events on the
answers). The spec
shortens `alerting.thresholds.sustain_minutes` to 1 so the test does not wait 15 minutes; the SLO
alerts keep their own `for`. Times from injection to delivery are printed (figures, not asserts).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from genai_o11y import localstack, names, render
from genai_o11y.builders import alertmanager
import harness
from harness import OtlpSink, collector_ports, make_spec, prometheus_for, run_collector, tracer_provider, wait_for

pytestmark = pytest.mark.collector

BASELINE_USD_PER_HOUR = 12.0
SPIKE_USD = 60.0  # 12 calls x 2M input tokens of gpt-4o at 2.50 USD / 1M: 5x the hourly baseline
PIPELINE_ALERTS = {"GenAISidecarDown", "GenAISidecarScrapeFailing", "GenAICollectorRefusingSpans", "GenAICollectorDroppingSpans",
                   "GenAIExportQueueNearFull", "GenAITempoExportFailing", "GenAILogsExportFailing", "GenAIPrometheusExportFailing",
                   "GenAIRedactionFailing"}


#: The quality-proxy baselines: requests per minute, and regenerations (5% of answers) and copies (60%)
#: per minute of their services. Live: 40% regenerated (GenAIQualityProxyRise), 20% copied (Fall).
BASELINE_REQUESTS_PER_MIN, BASELINE_REGENERATIONS_PER_MIN, BASELINE_COPIES_PER_MIN = 10, 0.5, 6.0


def _proxy_history(proxies: list[tuple[str, str, float]], env: str, end: datetime, hours: int = 24) -> str:
    """OpenMetrics families: the raw request and quality-proxy counters of each (service, proxy kind,
    per minute), one sample a minute."""
    series = {"genai_o11y_span_calls": [], "genai_o11y_quality_proxies": []}
    for service, kind, per_min in proxies:
        series["genai_o11y_span_calls"].append((service, f'{names.prom_label(names.STAGE)}="request"', BASELINE_REQUESTS_PER_MIN))
        series["genai_o11y_quality_proxies"].append((service, f'{names.prom_label(names.QUALITY_PROXY)}="{kind}"', per_min))
    lines = []
    for family, rows in series.items():
        lines.append(f"# TYPE {family} counter")
        for service, match, per_min in rows:
            t, k = end - timedelta(hours=hours), 0
            while t < end:
                lines.append(f'{family}_total{{{match},deployment_environment_name="{env}",service_name="{service}"}} {k * per_min} {t.timestamp():.3f}')
                t, k = t + timedelta(minutes=1), k + 1
    return "\n".join(lines) + "\n"


def _history(service: str, env: str, end: datetime, hours: int = 24, more: str = "") -> str:
    """OpenMetrics text: the recorded hourly cost of `service` at 12 USD/h, one sample a minute."""
    name = "genai_o11y:cost_usd_per_hour:rate1h"
    lines = [f"# TYPE {name} gauge"]
    t = end - timedelta(hours=hours)
    while t < end:
        lines.append(f'{name}{{deployment_environment_name="{env}",service_name="{service}"}} {BASELINE_USD_PER_HOUR} {t.timestamp():.3f}')
        t += timedelta(minutes=1)
    return "\n".join(lines) + "\n" + more + "# EOF\n"


class Traffic(threading.Thread):
    """Keeps `service` busy: `ok` good and `errors` failed requests every second until stopped; `proxies`
    of them are followed by a user action of kind `proxy`: a user_action span in the answer's trace
    (the helper's record_proxy), or with `as_event` the user-action event on the answer's span."""

    def __init__(self, endpoint: str, service: str, ok: int, errors: int, proxies: int = 0, proxy: str = "regenerate", as_event: bool = False) -> None:
        super().__init__(daemon=True)
        self.tp = tracer_provider(endpoint, {"service.name": service, "service.version": "2026.11.1"})
        self.tracer = self.tp.get_tracer("alerts-e2e")
        self.ok, self.errors, self.proxies, self.proxy, self.as_event = ok, errors, proxies, proxy, as_event
        self.stop = threading.Event()

    def set_rate(self, ok: int, errors: int) -> None:
        self.ok, self.errors = ok, errors

    def run(self) -> None:
        while not self.stop.is_set():
            for i in range(self.ok + self.errors):
                span = self.tracer.start_span("POST /ask")
                if i < self.errors:
                    span.set_status(Status(StatusCode.ERROR, "upstream model failed"))
                    span.set_attribute("error.type", "RateLimitError")
                if i < self.proxies and self.as_event:
                    span.add_event(names.USER_ACTION_EVENT, {names.QUALITY_PROXY: self.proxy})
                elif i < self.proxies:
                    self.tracer.start_span(f"user_action {self.proxy}", context=trace.set_span_in_context(span), attributes={
                        names.STAGE: names.USER_ACTION, names.QUALITY_PROXY: self.proxy}).end()
                span.end()
            self.tp.force_flush()
            self.stop.wait(1.0)
        self.tp.shutdown()


def _model_calls(endpoint: str, service: str, calls: int, input_tokens: int) -> None:
    tp = tracer_provider(endpoint, {"service.name": service, "service.version": "2026.11.1"})
    tracer = tp.get_tracer("alerts-e2e")
    for _ in range(calls):
        with tracer.start_as_current_span("POST /ask"):
            with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": 0,
            }):
                pass
    tp.force_flush()
    tp.shutdown()


def test_error_burst_pages_and_cost_spike_and_regenerations_ticket(otelcol, tmp_path):
    run = uuid.uuid4().hex[:6]
    svc_err, svc_cost, svc_px, svc_copy, env = f"checkout-bot-{run}", f"support-copilot-{run}", f"faq-bot-{run}", f"docs-bot-{run}", "production"
    with localstack.WebhookReceiver() as hook, OtlpSink() as tempo:
        spec = make_spec(collector_ports({
            "app.services": [svc_cost, svc_err, svc_px, svc_copy],
            "backends.tempo.endpoint": tempo.endpoint,
            "alerting.receivers.pager.webhook_url": hook.url("pager"),
            "alerting.receivers.chat.webhook_url": hook.url("chat"),
            "alerting.thresholds.sustain_minutes": 1,
            "gateway.decision_wait_seconds": 2,
        }, tmp_path))
        storage = tmp_path / "prometheus" / "data"
        now = datetime.now(timezone.utc)
        # the regeneration history ends an hour ago: the last hour is the live traffic's alone
        proxies = [(svc_px, "regenerate", BASELINE_REGENERATIONS_PER_MIN), (svc_copy, "copy_answer", BASELINE_COPIES_PER_MIN)]
        history = _history(svc_cost, env, now - timedelta(minutes=2), more=_proxy_history(proxies, env, now - timedelta(minutes=62)))
        localstack.backfill_openmetrics(history, storage, tmp_path / "backfill")

        with run_collector(otelcol, spec, tmp_path) as col:
            am = localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), tmp_path / "alertmanager")
            try:
                prom = prometheus_for(spec, col, tmp_path, alertmanagers=[am.url.split("//")[1]], storage=storage)
                try:
                    _run_scenario(spec, col, prom, hook, svc_err, svc_cost, svc_px, svc_copy)
                finally:
                    prom.stop()
            finally:
                am.stop()


def _run_scenario(spec, col, prom, hook, svc_err, svc_cost, svc_px, svc_copy) -> None:
    base = prom.url
    # Healthy traffic first, so every counter exists before the incident (a spike must be an increase).
    traffic = Traffic(col.otlp_grpc, svc_err, ok=10, errors=0)
    traffic.start()
    users = Traffic(col.otlp_grpc, svc_px, ok=5, errors=0)
    users.start()
    # copies as user-action span events on the answers: 1 of 5 answers (the baseline: 60%) from the start,
    # since the fall is measured on the last hour, which only the live traffic fills
    copiers = Traffic(col.otlp_grpc, svc_copy, ok=5, errors=0, proxies=1, proxy="copy_answer", as_event=True)
    copiers.start()
    try:
        _model_calls(col.otlp_grpc, svc_cost, calls=1, input_tokens=1000)
        for q in (f'genai_o11y_cost_usd_total{{service_name="{svc_cost}"}}', f'genai_o11y_span_calls_total{{service_name="{svc_err}"}}'):
            wait_for(lambda q=q: localstack.prom_query(base, q), timeout=60, interval=1, what=f"Prometheus scraping {q}")
        # The backfilled history is there: the baseline the spike is compared with.
        sel = f'genai_o11y:cost_usd_per_hour:baseline{{service_name="{svc_cost}"}}'
        found = wait_for(lambda: localstack.prom_query(base, sel), timeout=200, interval=2, what="the cost baseline from the backfilled history")
        assert float(found[0]["value"][1]) == pytest.approx(BASELINE_USD_PER_HOUR, rel=0.01)
        sel = f'genai_o11y:quality_proxy:ratio_baseline{{service_name="{svc_px}",{names.prom_label(names.QUALITY_PROXY)}="regenerate"}}'
        found = wait_for(lambda: localstack.prom_query(base, sel), timeout=200, interval=2, what="the regeneration baseline from the backfilled history")
        assert float(found[0]["value"][1]) == pytest.approx(BASELINE_REGENERATIONS_PER_MIN / BASELINE_REQUESTS_PER_MIN, rel=0.01)
        sel = f'genai_o11y:quality_proxy:ratio_baseline{{service_name="{svc_copy}",{names.prom_label(names.QUALITY_PROXY)}="copy_answer"}}'
        found = wait_for(lambda: localstack.prom_query(base, sel), timeout=200, interval=2, what="the copy baseline from the backfilled history")
        assert float(found[0]["value"][1]) == pytest.approx(BASELINE_COPIES_PER_MIN / BASELINE_REQUESTS_PER_MIN, rel=0.01)
        time.sleep(3)

        injected = time.time()
        traffic.set_rate(ok=5, errors=5)  # error burst: 50% of requests fail
        _model_calls(col.otlp_grpc, svc_cost, calls=12, input_tokens=2_000_000)  # cost spike: 60 USD at once
        users.proxies = 2  # users regenerate 40% of the answers (the baseline: 5%)
        page = wait_for(lambda: hook.first_firing("pager", "GenAIErrorBudgetBurnFast"), timeout=420, interval=1, what="the page for the error burst")
        ticket = wait_for(lambda: hook.first_firing("chat", "GenAICostSpike"), timeout=420, interval=1, what="the ticket for the cost spike")
        regen = wait_for(lambda: hook.first_firing("chat", "GenAIQualityProxyRise"), timeout=420, interval=1, what="the ticket for the regenerations")
        fall = wait_for(lambda: hook.first_firing("chat", "GenAIQualityProxyFall"), timeout=420, interval=1, what="the ticket for the copies")
    finally:
        for t in (traffic, users, copiers):
            t.stop.set()
            t.join(timeout=10)
    print(f"\nerror burst -> page at pager receiver: {page.received_at - injected:.1f} s")
    print(f"cost spike  -> ticket at chat receiver: {ticket.received_at - injected:.1f} s")
    print(f"regenerate  -> ticket at chat receiver: {regen.received_at - injected:.1f} s")
    print(f"copies fell -> ticket at chat receiver: {fall.received_at - injected:.1f} s (copies at 20% from the start, before the injection)")

    fast = next(a for a in page.alerts if a["labels"]["alertname"] == "GenAIErrorBudgetBurnFast")
    assert fast["labels"]["service_name"] == svc_err and fast["labels"]["severity"] == "critical"
    assert fast["annotations"]["runbook_url"].endswith("#genaierrorbudgetburnfast")
    assert "% of requests failed over the last 1h" in fast["annotations"]["description"]
    # its board, filtered to the alert's environment and service, as Prometheus rendered the annotation's template
    env = fast["labels"]["deployment_environment_name"]
    assert fast["annotations"]["dashboard_url"] == (f"{spec.alerting.grafana_url}/d/{names.BOARD_OVERVIEW}?from=now-1h&to=now"
                                                    f"&var-environment={env}&var-service={svc_err}"), fast["annotations"]
    spike = next(a for a in ticket.alerts if a["labels"]["alertname"] == "GenAICostSpike")
    assert spike["labels"]["service_name"] == svc_cost and spike["labels"]["severity"] == "warning"
    spent = float(spike["annotations"]["description"].split(" spent ")[1].split(" USD")[0])
    assert spent >= 3 * BASELINE_USD_PER_HOUR  # what the description reports is what crossed the threshold

    rise = next(a for a in regen.alerts if a["labels"]["alertname"] == "GenAIQualityProxyRise")
    assert rise["labels"]["service_name"] == svc_px and rise["labels"][names.prom_label(names.QUALITY_PROXY)] == "regenerate"
    per_request = float(rise["annotations"]["description"].split(" over the last hour is ")[1].split(":")[0])
    assert per_request > 2 * BASELINE_REGENERATIONS_PER_MIN / BASELINE_REQUESTS_PER_MIN  # what crossed the threshold
    dropped = next(a for a in fall.alerts if a["labels"]["alertname"] == "GenAIQualityProxyFall")
    assert dropped["labels"]["service_name"] == svc_copy and dropped["labels"][names.prom_label(names.QUALITY_PROXY)] == "copy_answer"
    per_request = float(dropped["annotations"]["description"].split(" over the last hour is ")[1].split(":")[0])
    assert per_request < BASELINE_COPIES_PER_MIN / BASELINE_REQUESTS_PER_MIN / 2  # what crossed the threshold

    # Nothing went to the wrong receiver, and the pipeline watching itself stayed quiet.
    pager = set().union(*(n.alertnames() for n in hook.received("pager")))
    chat = set().union(*(n.alertnames() for n in hook.received("chat")))
    assert not {"GenAICostSpike", "GenAIQualityProxyRise", "GenAIQualityProxyFall"} & pager and "GenAIErrorBudgetBurnFast" not in chat
    assert not (pager | chat) & PIPELINE_ALERTS, (pager, chat)
    # Every rule evaluated cleanly on real data (no label collisions, no type errors).
    assert localstack.prom_rule_health(base) == []


def _alert(name: str, **labels) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": name, "description": name, "runbook_url": f"https://example.invalid/#{name.lower()}"},
        "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def test_alertmanager_routes_and_inhibits(tmp_path):
    """The generated routing and inhibition, on a real Alertmanager: a page holds back the ticket of the
    same SLO (not of another SLO); 'no sidecar reports' holds back alerts computed from span data."""
    svc = {"service_name": "copilot", "deployment_environment_name": "production"}
    with localstack.WebhookReceiver() as hook_a, localstack.WebhookReceiver() as hook_b:
        ams = []
        try:
            for name, hook in (("a", hook_a), ("b", hook_b)):
                spec = make_spec({"alerting.receivers.pager.webhook_url": hook.url("pager"), "alerting.receivers.chat.webhook_url": hook.url("chat")})
                ams.append(localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), tmp_path / name))
            localstack.am_post_alerts(ams[0].url, [
                _alert("GenAIErrorBudgetBurnFast", severity="critical", genai_o11y_slo="availability", genai_o11y_data="spans", **svc),
                _alert("GenAIErrorBudgetBurnSlow", severity="warning", genai_o11y_slo="availability", genai_o11y_data="spans", **svc),
                _alert("GenAILatencyBudgetBurnSlow", severity="warning", genai_o11y_slo="latency", genai_o11y_stage="retrieval", genai_o11y_data="spans", **svc),
                _alert("GenAITenantBudgetExhausted", severity="info", job="genai-o11y-collector"),
            ])
            localstack.am_post_alerts(ams[1].url, [
                _alert("GenAISidecarDown", severity="critical", job="genai-o11y-sidecar"),
                _alert("GenAIQualityScoreDrop", severity="warning", genai_o11y_data="spans", gen_ai_evaluation_name="faithfulness", **svc),
                _alert("GenAISidecarScrapeFailing", severity="warning", job="genai-o11y-sidecar", instance="pod-b:8889"),
            ])
            wait_for(lambda: hook_a.first_firing("chat", "GenAILatencyBudgetBurnSlow"), timeout=120, interval=1, what="the latency ticket")
            wait_for(lambda: hook_b.first_firing("chat", "GenAISidecarScrapeFailing"), timeout=120, interval=1, what="the scrape ticket")
            time.sleep(3)  # anything else due in the same group_wait has been sent by now
        finally:
            for am in ams:
                am.stop()

    def names(hook, receiver):
        return set().union(*(n.alertnames() for n in hook.received(receiver)))

    assert names(hook_a, "pager") == {"GenAIErrorBudgetBurnFast"}
    assert names(hook_a, "chat") == {"GenAILatencyBudgetBurnSlow"}  # the availability ticket is held back by its page
    assert names(hook_b, "pager") == {"GenAISidecarDown"}
    assert names(hook_b, "chat") == {"GenAISidecarScrapeFailing"}  # the quality alert is blind while no sidecar reports
    assert not hook_a.received("null") and not hook_b.received("null")  # info is never sent


def test_logs_export_failing_goes_pending_through_the_real_collector(otelcol, tmp_path):
    """logs.export: otlp to a backend that is down: the sidecar's logs exporter retries (no send_failed
    while it does), its queue holds the records, and GenAILogsExportFailing (generated rules, real
    Prometheus scraping the real collector) goes pending for that exporter, before the queue fills."""
    import json
    import time
    import urllib.request

    from genai_o11y.builders.collector import LOGS_EXPORTER

    dead = f"127.0.0.1:{harness.free_port()}"
    spec = make_spec(collector_ports({"logs.export": "otlp", "logs.endpoint": dead}, tmp_path))
    body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "support-copilot"}}]},
                              "scopeLogs": [{"logRecords": [{"body": {"stringValue": "an event"}, "timeUnixNano": str(time.time_ns())}]}]}]}
    with run_collector(otelcol, spec, tmp_path) as col:
        req = urllib.request.Request(f"http://{col.otlp_http}/v1/logs", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200  # the app's export succeeds: the sidecar queues the records
        prom = prometheus_for(spec, col, tmp_path)
        try:
            wait_for(lambda: any(a["labels"]["alertname"] == "GenAILogsExportFailing" and a["labels"].get("exporter") == LOGS_EXPORTER
                                 for a in localstack.prom_alerts(prom.url)), timeout=60, what="GenAILogsExportFailing pending")
            assert harness.samples_at(col.telemetry_url, "otelcol_exporter_send_failed_log_records") == 0  # why send_failed alone is not enough
            assert localstack.prom_rule_health(prom.url) == []
        finally:
            prom.stop()


def test_a_receiver_that_fails_is_told_through_the_other(tmp_path):
    """The pager's URL is dead: Alertmanager (the generated config, real) fails every page, a real Prometheus
    with the generated scrape config and rules sees its failed notifications and GenAIAlertDeliveryFailing
    goes pending; the alert itself is routed to chat as well as the pager, so the receiver that works says so
    (a platform engineer's trial: a compose Alertmanager without its url_file secret failed every page
    while validate and check passed, and nothing watched it)."""
    from genai_o11y.builders import pipeline_alerts, prometheus_config, rules

    with localstack.WebhookReceiver() as hook:
        spec = make_spec({"alerting.receivers.pager.webhook_url": f"http://127.0.0.1:{harness.free_port()}/pager",
                          "alerting.receivers.chat.webhook_url": hook.url("chat")})
        am = localstack.start_alertmanager(render.to_yaml(alertmanager.build(spec)), tmp_path / "am")
        prom = None
        try:
            am_host = am.url.split("//")[1].split("/")[0]
            cfg = prometheus_config.build(spec, [], [], [am_host], ["rules.yaml"], scrape_interval="2s", evaluation_interval="5s")
            assert any(j["job_name"] == names.JOB_ALERTMANAGER for j in cfg["scrape_configs"])
            prom = localstack.start_prometheus(cfg, tmp_path / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))})
            localstack.am_post_alerts(am.url, [_alert("GenAIErrorBudgetBurnFast", severity="critical", service_name="copilot")])
            wait_for(lambda: any(a["labels"]["alertname"] == pipeline_alerts.DELIVERY_FAILING and a["labels"].get("integration") == "webhook"
                                 for a in localstack.prom_alerts(prom.url)), timeout=120, interval=2, what="GenAIAlertDeliveryFailing pending")
            assert localstack.prom_rule_health(prom.url) == []
            # routed to both receivers: the chat one, which works, gets it (the pager's fails too)
            localstack.am_post_alerts(am.url, [_alert(pipeline_alerts.DELIVERY_FAILING, severity="critical", integration="webhook")])
            wait_for(lambda: hook.first_firing("chat", pipeline_alerts.DELIVERY_FAILING), timeout=60, interval=1, what="the delivery alert in chat")
        finally:
            if prom is not None:
                prom.stop()
            am.stop()
