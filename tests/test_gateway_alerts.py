"""The gateway tier's alerts read metrics that exist: the real collector runs two gateway replicas
(builders/gateway.py) and a sidecar whose load_balancing exporter routes to them (collector.build with
gateway.enabled), a real Prometheus 3 scrapes all three with the generated scrape config (the gateway
job included) and evaluates the generated rules, and every vector selector of every alert that reads
the gateway job or the load balancer (parsed out of the expressions, so a new alert is checked too)
must return series. A misspelt metric name, a missing `_total`/unit suffix, a wrong label value or a
wrong job fails here. The promtool cases (alerts/tests/gateway.test.yaml) check the logic; this checks
the names. The gateway row of the pipeline board is built the same way: every selector of every query
that reads the gateway job or the load balancer must return series on the same collectors (the counters
that appear only once non-zero, the drop counters, must instead be names the collector binary declares)."""

from __future__ import annotations

import re

import harness
import pytest

from genai_o11y import localstack, names, render
from genai_o11y.builders import dashboards, pipeline_alerts, prometheus_config, rules

#: A vector selector: {__name__=~"..."...} (pipeline_alerts._m) or name{...}.
SELECTOR = re.compile(r'\{__name__=~"[^"]+"[^}]*\}|\b[a-z_][a-z0-9_]*\{[^}]*\}')


def selectors(expr: str) -> list[str]:
    return SELECTOR.findall(expr)


def test_selector_parser_finds_both_spellings():
    expr = 'sum(rate({__name__=~"(a_b)(_total)?",job="j"}[5m])) / x_count{job="j"} or absent(up{job="g"} == 1)'
    assert selectors(expr) == ['{__name__=~"(a_b)(_total)?",job="j"}', 'x_count{job="j"}', 'up{job="g"}']


def gateway_watching_alerts(spec):
    """The gateway tier's alerts and every other pipeline alert that reads the gateway job."""
    gw = spec.backends.prometheus.gateway_job
    out = {a.name: a for a in pipeline_alerts.gateway_alerts(spec)}
    out.update({a.name: a for a in pipeline_alerts.alerts(spec) if gw in a.expr})
    return out


def gateway_panel_queries(spec) -> dict[str, str]:
    """Every query of the pipeline board that reads the gateway job or the load balancer: "panel [ref]" -> expr."""
    board = dashboards.build_all(spec, "spec")[names.BOARD_PIPELINE]
    gw = spec.backends.prometheus.gateway_job
    return {what: expr for _uid, what, expr, _legend, _ex in harness.board_exprs({names.BOARD_PIPELINE: board})
            if gw in expr or "loadbalancer" in expr}


#: Counters the collector exposes only once non-zero (failures, late spans); the board shows 0 for them (zero_or).
ONCE_NON_ZERO = {*pipeline_alerts.DROPPED, pipeline_alerts.TS_LATE_SPANS}


def test_the_board_has_a_gateway_row_and_every_gateway_alert_links_a_panel_of_it():
    spec = harness.make_spec({"gateway.enabled": True})
    panels = gateway_panel_queries(spec)
    titles = {w.rsplit(" [", 1)[0] for w in panels}
    assert {pipeline_alerts.PANEL_GATEWAYS_UP, pipeline_alerts.PANEL_LB_BACKENDS, pipeline_alerts.PANEL_GATEWAY_DELAY} <= titles
    for a in pipeline_alerts.gateway_alerts(spec):
        linked = set(re.findall(r"panel \*([^*]+)\*", " ".join(a.runbook.confirm)))
        assert linked & titles, f"{a.name}: its runbook links no panel of the gateway row"
    assert gateway_panel_queries(harness.make_spec({"gateway.enabled": False})) == {}


def test_every_gateway_alert_selector_returns_series_from_the_real_collectors(otelcol, tmp_path):
    dead = harness.free_port()  # a resolved backend that is down: the load balancer's failures get counted
    with harness.OtlpSink() as tempo:
        base = harness.make_spec({"backends.tempo.endpoint": tempo.endpoint})
        gw_specs = [harness.gateway_spec(base, harness.gateway_ports(tmp_path / f"gw{i}")) for i in range(base.gateway.replicas)]
        endpoints = [f"127.0.0.1:{g.gateway.otlp_grpc_port}" for g in gw_specs]
        spec = harness.make_spec(harness.collector_ports({"gateway.enabled": True, "gateway.static_endpoints": [*endpoints, f"127.0.0.1:{dead}"],
                                                          "backends.tempo.endpoint": tempo.endpoint}, tmp_path / "sidecar"))
        alerts = gateway_watching_alerts(spec)
        (tmp_path / "sidecar").mkdir()
        assert len(pipeline_alerts.gateway_alerts(spec)) == 7 and len(alerts) > 7
        with harness.run_gateway(otelcol, gw_specs[0], tmp_path / "gw0") as g0, harness.run_gateway(otelcol, gw_specs[1], tmp_path / "gw1") as g1, \
                harness.run_collector(otelcol, spec, tmp_path / "sidecar") as side:
            host = lambda url: url.split("//")[1].split("/")[0]  # noqa: E731
            cfg = prometheus_config.build(spec, [host(side.metrics_url)], [host(side.telemetry_url)], [], ["rules.yaml"],
                                          scrape_interval="2s", evaluation_interval="5s",
                                          gateway_targets=[host(g.telemetry_url) for g in (g0, g1)])
            prom = localstack.start_prometheus(cfg, tmp_path / "prometheus", {"rules.yaml": render.to_yaml(rules.build(spec))})
            try:
                tp = harness.tracer_provider(side.otlp_grpc)
                tracer = tp.get_tracer("gateway-alerts")
                for i in range(60):
                    with tracer.start_as_current_span(f"request {i}"), tracer.start_as_current_span("model call"):
                        pass
                tp.force_flush()
                tp.shutdown()
                pending = {f"{name}: {sel}" for name, a in alerts.items() for sel in selectors(a.expr)}
                assert len(pending) >= 10
                panels = gateway_panel_queries(spec)
                assert len(panels) >= 10
                binary = otelcol.read_bytes()
                for what, expr in panels.items():
                    for sel in selectors(expr):
                        name = re.match(r'\{__name__=~"\(?([a-z0-9_]+)', sel) or re.match(r"([a-z0-9_]+)\{", sel)
                        if name.group(1) in ONCE_NON_ZERO:  # absent while nothing failed: a name the collector declares
                            assert name.group(1).encode() in binary, f"{what}: {name.group(1)} is no metric of the collector"
                        else:
                            pending.add(f"panel {what}: {sel}")

                def missing():
                    for item in sorted(pending):
                        sel = item.split(": ", 1)[1]
                        if localstack.prom_query(prom.url, sel):
                            pending.discard(item)
                    return not pending

                # the failed exports to the dead backend come after the sub-exporter's retries (collector.py)
                try:
                    harness.wait_for(missing, timeout=90, interval=2, what="a series for every selector")
                except AssertionError:
                    raise AssertionError("selectors of the gateway alerts with no series on the real collectors:\n" + "\n".join(sorted(pending))) from None
                up = localstack.prom_query(prom.url, f'up{{job="{spec.backends.prometheus.gateway_job}"}} == 1')
                assert len(up) == spec.gateway.replicas, up  # the gateway scrape job finds every replica
                assert not [r for r in localstack.prom_rule_health(prom.url) if r[0] in alerts], "gateway alerts evaluate with errors"

                # the expressions themselves on this real data (windows shortened to 20 s: the series are seconds old, and
                # Prometheus's rate over a 5m window of a younger series reads low): the dead backend's failures are seen,
                # all else is quiet
                def true(name, window="[20s]"):
                    return localstack.prom_query(prom.url, re.sub(r"\[\d+m\]", window, alerts[name].expr))

                harness.wait_for(lambda: true("GenAILoadBalancerExportFailing"), timeout=60, interval=2, what="the dead backend's failures")
                late = alerts["GenAIGatewayDecisionsLate"].expr.rsplit(" > ", 1)[0]  # the estimated decision delay, s
                wait = spec.gateway.decision_wait_seconds

                def on_time():  # a healthy gateway decides after decision_wait: one decision tick a second per shard
                    got = localstack.prom_query(prom.url, re.sub(r"\[\d+m\]", "[20s]", late))
                    return len(got) == spec.gateway.replicas and all(abs(float(r["value"][1]) - wait) < 0.1 * wait for r in got) and got

                harness.wait_for(on_time, timeout=60, interval=2, what=f"decision delays of {wait} s")
                assert {name: true(name) for name in alerts if name != "GenAILoadBalancerExportFailing" and true(name)} == {}

                # one replica killed: fewer than gateway.replicas up (and not "no gateway"); the alert is quiet until
                # the job has been scraped for a minute (start-up), so the kill waits for that history
                gw_job = spec.backends.prometheus.gateway_job
                harness.wait_for(lambda: localstack.prom_query(prom.url, f'count(up{{job="{gw_job}"}} offset 1m)'), timeout=90, interval=2,
                                 what="a minute of the gateways' scrapes")
                g1.proc.terminate()
                g1.proc.wait(timeout=15)
                down = harness.wait_for(lambda: true("GenAIGatewayReplicasDown"), timeout=30, interval=1, what="a replica seen down")
                assert [float(r["value"][1]) for r in down] == [spec.gateway.replicas - 1]
                assert true("GenAIGatewayDown") == []
            finally:
                prom.stop()


@pytest.mark.parametrize("enabled", [True, False])
def test_prometheus_scrapes_each_gateway_replica_as_the_gateway_job(enabled):
    spec = harness.make_spec({"gateway.enabled": enabled})
    jobs = prometheus_config.build(spec, ["s:1"], ["s:2"], [], [], gateway_targets=["a:1", "b:1"])["scrape_configs"]
    gw = [j for j in jobs if j["job_name"] == spec.backends.prometheus.gateway_job]
    assert gw == ([{"job_name": "genai-o11y-gateway", "scrape_protocols": prometheus_config.TELEMETRY_SCRAPE_PROTOCOLS,
                    "static_configs": [{"targets": ["a:1", "b:1"]}]}] if enabled else [])
