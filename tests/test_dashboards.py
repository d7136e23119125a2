"""Dashboards: valid against Grafana's dashboard schema, deterministic, and every query proven on real
data: real spans -> our collector (generated config) -> Prometheus 3 (generated rules). A panel
whose query returns nothing, or whose legend names a label the result lacks, fails."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import harness
import pytest

from genai_o11y import artifacts, catalog, localstack, names, render
from genai_o11y.builders import dashboards
from genai_o11y.builders.dashboards import provisioning
from genai_o11y.spec import load
from harness import OtlpSink, collector_ports, make_spec, prometheus_for, run_collector, wait_for
import traffic

REPO = Path(__file__).resolve().parent.parent
BOARDS = dashboards.build_all(load(), "the embedded default spec")
VARS = harness.BOARD_VARS
EXPRS = list(harness.board_exprs(BOARDS))
_substitute = harness.substitute


# --- static --------------------------------------------------------------------------------------------

def test_every_board_matches_grafanas_dashboard_schema(repo):
    import jsonschema

    schema = json.loads(harness.schema_file("grafana-foundation-sdk_dashboard.jsonschema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    files = sorted((repo / "dashboards").glob("*.json"))
    assert {f.stem for f in files} == set(BOARDS), "committed dashboards differ from the generated set"
    for f in files:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(json.loads(f.read_text()))]
        assert not errors, f"{f.name}:\n" + "\n".join(errors[:20])


SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")


def test_every_selector_takes_the_boards_filters():
    """Two panels a runbook names (Top failing operations, Share of end-to-end latency) ignored the service and
    environment pickers and mixed every service together (an on-call's trial). By construction: every selector of
    every query of every board, of a series that carries a label a variable of that board filters, has that
    variable's matcher; a variable for a label some series lack (model, route, ...) keeps those series."""
    from genai_o11y.builders.dashboards.common import FILTERS, OR_UNSET, filter_matcher, labels_of

    from genai_o11y.builders.dashboards.common import WHOLE_SERVICE

    # about the whole service whatever else is picked: the daily budget is the service's; a release or a prompt
    # version starting to serve is marked on every board
    whole_service = {"Spend over 24 hours against the daily budget [A]", "annotation Prompt version change", "annotation Release"}
    checked, missing = 0, []
    for uid, what, expr, _legend, _ex in EXPRS:
        board_vars = {v["name"] for v in BOARDS[uid]["templating"]["list"]} - (set(WHOLE_SERVICE) if what in whole_service else set())
        for metric, body in SELECTOR.findall(expr):
            labels = labels_of(metric)
            for var, label in FILTERS:
                if var in board_vars and label in labels:
                    checked += 1
                    if filter_matcher(var, label) not in body:
                        missing.append(f"{uid} / {what}: {metric}{{{body}}} lacks {filter_matcher(var, label)}")
    assert not missing, "\n".join(missing)
    assert checked > 1000  # the selectors were found
    assert filter_matcher("model", "gen_ai_request_model") == 'gen_ai_request_model=~"$model|"' and "service" not in OR_UNSET


def test_boards_are_complete():
    assert len(BOARDS) == 9
    for uid, b in BOARDS.items():
        assert b["uid"] == uid and "DO NOT EDIT" in b["description"]
        assert [v["name"] for v in b["templating"]["list"]][:7] == ["datasource", *VARS]
        ids = [p["id"] for p in b["panels"]]
        assert ids == list(range(1, len(ids) + 1)), uid
        titles = [p["title"] for p in b["panels"]]
        assert len(titles) == len(set(titles)), f"{uid}: duplicate panel titles"
        cells = set()
        for p in b["panels"]:
            assert len(p.get("description", "")) >= 30, f"{uid} / {p['title']}: every panel says what it shows and what a bad value means"
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{uid} / {p['title']} overlaps another panel"
                    cells.add((x, y))


def test_every_panel_the_runbook_names_is_on_its_board(repo):
    """A runbook step "**Board** (`/d/uid`), panel *Title*" leads to a panel that exists (checked over every reference)."""
    text = (repo / "alerts" / "runbook.md").read_text()
    refs = re.findall(r"\(`/d/([\w-]+)`\), panel \*([^*]+)\*", text)
    assert len(refs) >= 30 and ("genai-o11y-quality", "Quality proxies per request") in refs
    missing = [(uid, title) for uid, title in refs if title not in {p["title"] for p in BOARDS[uid]["panels"]}]
    assert not missing, missing


def test_every_board_links_into_the_drilldown():
    for uid, b in BOARDS.items():
        assert b["links"] and b["links"][0]["tags"] == ["genai-o11y"]
        if uid != "genai-o11y-drilldown":
            urls = [lk["url"] for p in b["panels"] for lk in p.get("links", [])]
            assert any("/d/genai-o11y-drilldown" in u for u in urls), uid


def test_every_board_says_which_signals_fill_it():
    for uid, b in BOARDS.items():
        note = b["panels"][0]
        assert note["title"] == "What fills this board" and note["type"] == "text", uid
        assert note["options"]["content"].startswith("**Fills from** ") and len(note["options"]["content"]) > 80, uid
        assert "Fills from " in b["description"], uid
    # the boards a plain OpenAI app leaves empty say so, and what would fill them
    assert "leaves this board empty" in BOARDS["genai-o11y-retrieval"]["panels"][0]["options"]["content"]
    assert "`gen_ai.operation.name=execute_tool`" in BOARDS["genai-o11y-tools"]["panels"][0]["options"]["content"]


def test_failure_ratios_and_rates_fall_back_to_zero_where_there_is_traffic():
    """`x or on (...) 0 * traffic`: 0 with traffic and no failure, "No data" only without traffic."""
    zero_filled = {
        "genai-o11y-overview": ["Error ratio", "Error ratio over time", "Negative-feedback rate"],
        "genai-o11y-failures": ["Failures by category", "Failure share of requests by category", "Failures by prompt version",
                                "Failures by model", "Errors by error type", "Guardrail blocks"],
        "genai-o11y-tools": ["Tool outcome rates", "Tool calls per request", "Answers without a required tool", "Tool success followed by a failed answer"],
        "genai-o11y-quality": ["Feedback positive rate by prompt version", "Feedback positive rate by model", "Feedback positive rate by release",
                               "Quality proxies per request"],
    }
    for uid, titles in zero_filled.items():
        for title in titles:
            p = next(p for p in BOARDS[uid]["panels"] if p["title"] == title)
            assert re.search(r"\nor on \([\w, ]*\)\n  (label_replace\()*0 \* sum", p["targets"][0]["expr"]), f"{uid} / {title}"


def test_stage_boards_follow_the_pipeline_order():
    spec = load()
    waterfall = next(p for p in BOARDS["genai-o11y-stages"]["panels"] if p["title"] == "Share of end-to-end latency")
    order = [re.search(r'genai_o11y_stage="(\w+)"', t["expr"]).group(1) for t in waterfall["targets"]]
    assert order == list(spec.pipeline.stages)


def test_the_stage_waterfall_is_a_waterfall_beside_a_slow_trace():
    """Mean and p95 bar charts (a transparent bar up to where the stage starts, then the stage), sorted
    by pipeline position; the slow-trace search uses the spec's request latency SLO."""
    panels = {p["title"]: p for p in BOARDS["genai-o11y-stages"]["panels"]}
    for title in ("Stage waterfall (mean)", "Stage waterfall (p95)"):
        p = panels[title]
        assert p["type"] == "barchart" and p["options"]["stacking"] == "normal" and p["options"]["xField"] == "genai_o11y_stage"
        assert [t["format"] for t in p["targets"]] == ["table", "table"] and all(t["instant"] for t in p["targets"])
        assert [t["id"] for t in p["transformations"]] == ["merge", "sortBy", "organize"]
        assert p["transformations"][1]["options"]["sort"] == [{"field": "position", "desc": False}]
        starts = p["transformations"][2]["options"]["renameByName"]["Value #A"]
        (hidden,) = p["fieldConfig"]["overrides"]
        assert hidden["matcher"]["options"]["names"] == [starts]
        assert {"id": "color", "value": {"mode": "fixed", "fixedColor": "transparent"}} in hidden["properties"]
    slow, trace = panels["Slow traces (Tempo)"], panels["Waterfall of a slow trace"]
    assert slow["type"] == "table" and slow["datasource"]["type"] == "tempo"
    assert "trace:duration > 8000ms" in slow["targets"][0]["query"]
    # a row opens this board with that trace id (and the same time range and filters): the trace panel draws it
    (link,) = slow["fieldConfig"]["defaults"]["links"]
    assert link["url"].startswith("/d/genai-o11y-stages?${__url_time_range}") and "var-trace_id=${__data.fields.traceID}" in link["url"]
    assert all(f"${{{v}:queryparam}}" in link["url"] for v in ["datasource", *VARS])
    assert trace["type"] == "traces" and trace["targets"][0]["query"] == "$trace_id"
    assert "trace_id" in [v["name"] for v in BOARDS["genai-o11y-stages"]["templating"]["list"]]
    # the two waterfalls side by side, the slow traces and the picked trace side by side under them
    g = {t: panels[t]["gridPos"] for t in ("Stage waterfall (mean)", "Stage waterfall (p95)", "Slow traces (Tempo)", "Waterfall of a slow trace")}
    assert g["Stage waterfall (mean)"]["y"] == g["Stage waterfall (p95)"]["y"] < g["Slow traces (Tempo)"]["y"] == g["Waterfall of a slow trace"]["y"]
    no_slo = make_spec({"slos.latency": [{"stage": "retrieval", "threshold_ms": 800, "objective_percent": 99.0}]})
    other = {p["title"]: p for p in dashboards.build_all(no_slo, "x")["genai-o11y-stages"]["panels"]}
    assert "trace:duration > 5000ms" in other["Slow traces (Tempo)"]["targets"][0]["query"]


def test_spec_changes_reach_the_panels():
    """The price table and the daily budget are read from the spec, not typed into the boards."""
    spec = make_spec({"budget.daily_usd": 1234, "models": [{"name": "m-x", "provider": "p", "price_usd_per_1m_tokens": {"input": 7, "output": 9, "reasoning": 11}, "per_call_usd": 0.002}]})
    cost = dashboards.build_all(spec, "x")["genai-o11y-cost"]
    text = json.dumps(cost)
    assert "vector(1234)" in text and "m-x: input 7, output 9, reasoning 11, per call 0.002" in text
    # the token panels draw every kind of the catalog
    kinds = next(p for p in cost["panels"] if p.get("title") == "Tokens by kind")
    assert [t["expr"].split("{")[0].split("(")[-1] for t in kinds["targets"]] == [catalog.PROM[k.key] for k in names.TOKEN_KINDS]


def test_provisioning_fixes_datasource_uids():
    ds = provisioning.datasources(load())["datasources"]
    by_type = {d["type"]: d for d in ds}
    assert by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [{"name": "trace_id", "datasourceUid": "genai-o11y-tempo"}]
    assert by_type["tempo"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "genai-o11y-prometheus"
    assert by_type["tempo"]["jsonData"]["serviceMap"]["datasourceUid"] == "genai-o11y-prometheus"
    assert "$$__tags" in json.dumps(by_type["tempo"])  # Grafana expands $VAR in provisioning files
    assert by_type["alertmanager"]["uid"] == "genai-o11y-alertmanager"
    text = render.to_json(BOARDS)
    assert "genai-o11y-tempo" in text and "${datasource}" in text
    prov = provisioning.providers()["providers"][0]
    assert prov["options"]["path"] == provisioning.DASHBOARDS_PATH and prov["folder"] == "GenAI"
    files = artifacts.build_all(load(), "x")
    assert artifacts.DATASOURCES in files and artifacts.DASHBOARD_PROVIDERS in files


# --- every query on real data --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory, otelcol):
    """The shipped topology (gateway.enabled): a sidecar whose load_balancing exporter routes to 2 gateway
    replicas (static resolver), which sample and export to the Tempo stand-in; Prometheus scrapes all three,
    so the gateway row of the pipeline board is queried on real data too."""
    tmp = tmp_path_factory.mktemp("dashboards")
    with OtlpSink() as tempo, ExitStack() as stack:
        base = {"backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 2}
        gw_specs = [harness.gateway_spec(make_spec(base), harness.gateway_ports(tmp / f"gw{i}")) for i in range(2)]
        gateways = [stack.enter_context(harness.run_gateway(otelcol, g, tmp / f"gw{i}")) for i, g in enumerate(gw_specs)]
        spec = make_spec(collector_ports({**base, "gateway.enabled": True,
                                          "gateway.static_endpoints": [f"127.0.0.1:{g.gateway.otlp_grpc_port}" for g in gw_specs]}, tmp))
        with run_collector(otelcol, spec, tmp) as col:
            prom = prometheus_for(spec, col, tmp, gateways=gateways)
            try:
                # Two rounds a minute apart, so rates have two points and recording rules have inputs.
                traffic.send(col.otlp_grpc, ["support-copilot", "billing-bot"], requests=60, seed=1)
                time.sleep(20)
                ids = traffic.send(col.otlp_grpc, ["support-copilot", "billing-bot"], requests=60, seed=2)
                wait_for(lambda: localstack.prom_query(prom.url, catalog.REC_STAGE_ERRORS_5M), timeout=120, interval=2, what="recording rules")
                wait_for(lambda: localstack.prom_query(prom.url, "genai_o11y:requests:rate1h"), timeout=120, interval=2, what="LLM recording rules")
                wait_for(lambda: len(tempo.spans()) > 100, timeout=60, what="sampled traces at the Tempo sink")
                yield prom.url, tempo, ids, col
            finally:
                prom.stop()


@pytest.mark.collector
@pytest.mark.parametrize("uid,what,expr,legend,exemplar", EXPRS, ids=[f"{e[0][11:]}:{e[1]}" for e in EXPRS])
def test_query_returns_series_with_its_legend_labels(live, uid, what, expr, legend, exemplar):
    base, _tempo, _ids, col = live
    q = _substitute(expr)
    result = localstack.prom_query(base, q)
    assert result, f"{uid} / {what}: no data for\n{q}"
    needed = set(re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend))
    for series in result:
        missing = needed - set(series["metric"])
        assert not missing, f"{uid} / {what}: legend uses {sorted(missing)}, absent from {series['metric']}"
    if exemplar:
        # span_metrics attaches exemplars to the data points flushed after new spans: keep a little
        # traffic flowing (as any live system has) until a scrape has stored some
        def exemplar_trace_ids():
            traffic.send(col.otlp_grpc, ["support-copilot"], requests=4, seed=int(time.time()))
            now = time.time()
            url = f"{base}/api/v1/query_exemplars?" + urllib.parse.urlencode({"query": q, "start": now - 900, "end": now})
            with urllib.request.urlopen(url, timeout=10) as r:
                data = json.loads(r.read())["data"]
            return {e["labels"].get("trace_id") for s in data for e in s["exemplars"]} - {None}

        assert wait_for(exemplar_trace_ids, timeout=60, interval=2, what=f"{uid} / {what}: exemplars with a trace_id")


#: what increase() and rate() count from: every series a counter or histogram of the catalog has
COUNTED = sorted(series for key, series in catalog.PROM.items() if series.endswith(("_total", "_count")))


@pytest.mark.collector
def test_every_counted_series_starts_from_zero(live):
    """A label set's first scrape must not be its first value, or increase()/rate() never count it (a new
    route's first cost, a tenant's first tokens, a series back after max_stale): every series of every
    catalog counter and histogram that real traffic made has a 0 as its first sample (Prometheus' start
    time zero sample, prometheus_config.FEATURES). Series the traffic does not make are listed, and
    must stay a minority."""
    base, *_ = live
    absent, late = [], []
    for name in COUNTED:
        with urllib.request.urlopen(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": f"{name}[1h]"}), timeout=10) as r:
            result = json.loads(r.read())["data"]["result"]
        if not result:
            absent.append(name)
        late += [f"{name}{s['metric']}: first sample {s['values'][0][1]}" for s in result if float(s["values"][0][1]) != 0]
    assert not late, "series whose first sample is not 0 (increase() loses it):\n" + "\n".join(late[:20])
    assert len(absent) < len(COUNTED) / 2, f"the traffic made too few catalog series to judge; absent: {absent}"


def _query_at(base: str, expr: str, at: float) -> list[dict]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"})
    with urllib.request.urlopen(url, timeout=30) as r:
        out = json.loads(r.read())
    assert out["status"] == "success", out
    return out["data"]["result"]


@pytest.mark.collector
@pytest.mark.parametrize("title", ["Stage waterfall (mean)", "Stage waterfall (p95)"])
def test_stage_waterfall_starts_each_stage_where_the_ones_before_end(live, title):
    """On real data, at one instant: one row per pipeline stage in pipeline order (by its position
    label), its bar equal to the stage's own mean / p95 computed here independently, and its start
    equal to the sum of the bars of the stages before it."""
    import math

    base, _tempo, _ids, _col = live
    stages = list(load().pipeline.stages)
    panel = next(p for p in BOARDS["genai-o11y-stages"]["panels"] if p["title"] == title)
    starts_q, lengths_q = (_substitute(t["expr"]) for t in panel["targets"])
    # the instant of the newest stored scrape of the span metrics: everything up to it is stored, and a
    # scrape still in flight (timestamped later) cannot land between the queries below and give the later
    # ones more samples (seen once with `now`: a start 0.2 ms off the sum of the bars before it)
    newest = _query_at(base, f"max(timestamp({catalog.PROM['calls']}))", time.time())
    at = float(newest[0]["value"][1])

    def rows(expr):
        out = {}
        for s in _query_at(base, expr, at):
            out[s["metric"]["genai_o11y_stage"]] = (s["metric"]["position"], float(s["value"][1]))
        return out

    starts, lengths = rows(starts_q), rows(lengths_q)
    assert sorted(starts, key=lambda s: starts[s][0]) == stages, starts
    assert sorted(lengths, key=lambda s: lengths[s][0]) == stages, lengths
    assert [starts[s][0] for s in stages] == [f"{k:02d}" for k in range(1, len(stages) + 1)]
    # the stages' own values, written out here rather than taken from the builder
    m, w = 'genai_o11y_stage=~"' + "|".join(stages) + '"', "15m"
    if "mean" in title:
        own_q = (f"sum by (genai_o11y_stage) (rate(genai_o11y_span_duration_milliseconds_sum{{{m}}}[{w}]))"
                 f" / sum by (genai_o11y_stage) (rate(genai_o11y_span_duration_milliseconds_count{{{m}}}[{w}]))")
    else:
        own_q = f"histogram_quantile(0.95, sum by (le, genai_o11y_stage) (rate(genai_o11y_span_duration_milliseconds_bucket{{{m}}}[{w}])))"
    own = {s["metric"]["genai_o11y_stage"]: float(s["value"][1]) for s in _query_at(base, own_q, at)}
    assert set(own) == set(stages) and all(v > 0 for v in own.values()), own
    running = 0.0
    for s in stages:
        assert math.isclose(lengths[s][1], own[s], rel_tol=1e-9), (s, lengths[s], own[s])
        assert math.isclose(starts[s][1], running, rel_tol=1e-9, abs_tol=1e-9), (s, starts[s], running)
        running += own[s]
    # a waterfall: each stage starts where the one before it ends
    for prev, nxt in zip(stages, stages[1:]):
        assert math.isclose(starts[nxt][1], starts[prev][1] + lengths[prev][1], rel_tol=1e-9)


@pytest.mark.collector
def test_slow_trace_search_keeps_the_slow_traces_of_real_traffic(live):
    """`trace:duration > N ms` on what reached Tempo: some traces of the test traffic are slower than the
    request SLO threshold (the table has rows) and most are not (it filters). Trace duration as Tempo
    computes it: first span start to last span end."""
    _base, tempo, _ids, _col = live
    slow = next(p for p in BOARDS["genai-o11y-stages"]["panels"] if p["title"] == "Slow traces (Tempo)")
    threshold_ms = int(re.search(r"trace:duration > (\d+)ms", slow["targets"][0]["query"]).group(1))
    assert threshold_ms == next(s.threshold_ms for s in load().slos.latency if s.stage == "request")
    # and every other stage's latency SLO on its own spans: the traces tail sampling keeps (sampling.keep_slo_breaches)
    stage_parts = dict(re.findall(r'span\.genai_o11y\.stage = "(\w+)" && duration > (\d+)ms', slow["targets"][0]["query"]))
    assert stage_parts == {s.stage: str(s.threshold_ms) for s in load().slos.latency if s.stage != "request"}
    bounds: dict[str, list[int]] = {}
    for s in tempo.spans():
        assert s.start_ns and s.end_ns >= s.start_ns
        b = bounds.setdefault(s.trace_id, [s.start_ns, s.end_ns])
        b[0], b[1] = min(b[0], s.start_ns), max(b[1], s.end_ns)
    durations_ms = [(end - start) / 1e6 for start, end in bounds.values()]
    slow_ones = [d for d in durations_ms if d > threshold_ms]
    assert slow_ones, f"no trace at the sink is slower than {threshold_ms} ms (longest {max(durations_ms):.0f} ms)"
    assert len(slow_ones) < len(durations_ms) / 2, (len(slow_ones), len(durations_ms))


@pytest.mark.collector
def test_template_variables_have_values(live):
    base, _tempo, _ids, _col = live
    for v in BOARDS["genai-o11y-overview"]["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"])
        assert m, v["query"]
        result = localstack.prom_query(base, _substitute(f"count by ({m.group(2)}) ({m.group(1)})"))
        values = {s["metric"].get(m.group(2)) for s in result} - {None, ""}
        assert values, f"variable {v['name']}: no values"


@pytest.mark.collector
def test_tempo_searches_use_attributes_real_spans_carry(live):
    _base, tempo, _ids, _col = live
    spans = tempo.spans()
    span_keys = set().union(*(s.attributes.keys() for s in spans))
    resource_keys = set().union(*(s.resource.keys() for s in spans))
    queries = [t["query"] for b in BOARDS.values() for p in b["panels"] for t in p.get("targets", []) if t.get("datasource", {}).get("type") == "tempo"]
    assert len(queries) == 8  # the drill-down's four; the stage board's slow-trace search and the picked trace; the quality board's two
    for q in queries:
        # every attribute a search names is carried by real spans, and those one spanset `{...}` names
        # together are carried by one span (a TraceQL spanset matches span by span)
        for spanset in re.findall(r"\{([^}]*)\}", q):
            keys = re.findall(r"\b(span|resource)\.([A-Za-z0-9_.]+)\s*(?:=~|!=|=|<|>)", spanset)
            for scope, key in keys:
                assert key in (span_keys if scope == "span" else resource_keys), f"{scope}.{key} is on no span that reached Tempo"
            span_level = {k for sc, k in keys if sc == "span"}
            if span_level:
                assert any(span_level <= set(s.attributes) for s in spans), f"no single span carries {sorted(span_level)}: {q}"


@pytest.mark.parametrize("spec_file", [None, *sorted((REPO / "tests" / "spec" / "valid").glob("*.yaml"))], ids=lambda p: p.name if p else "default")
def test_every_runbook_link_names_a_board_and_panel_that_exist(spec_file):
    """The runbook sends the on-call to `/d/<uid>` and a panel by title: both must exist in the boards
    generated from the same spec (a renamed panel or board fails here, not during an incident)."""
    spec = load(spec_file)
    files = artifacts.build_all(spec, "spec")
    boards = dashboards.build_all(spec, "spec")
    titles = {uid: {p["title"] for p in b["panels"]} for uid, b in boards.items()}
    text = files[artifacts.RUNBOOK]
    links = re.findall(r"\(`/d/([a-z0-9-]+)`\)(?:, panel \*([^*]+)\*)?", text)
    assert len(links) >= 20, "the runbook links the boards"
    for uid, panel in links:
        assert uid in boards, f"runbook links /d/{uid}, which no board has"
        assert not panel or panel in titles[uid], f"runbook links panel {panel!r} on /d/{uid}, which has no such panel"
    # every board link inside the boards too
    for uid, b in boards.items():
        for link in [*b.get("links", []), *(l for p in b["panels"] for l in p.get("links", []))]:
            target = re.match(r"/d/([a-z0-9-]+)", link.get("url", ""))
            assert not target or target.group(1) in boards, f"{uid}: link to {link['url']}"


def test_the_failure_share_counts_a_request_failure_once(tmp_path):
    """A rate limit on the model call ends the request in the same error: the sidecar infers the category on both
    spans, and the share panel read 62% where 30% of requests failed (an on-call's trial). Evaluated by promtool on
    series where 30% of requests fail rate-limited (the request span and the model call both carry it), 10% more had a
    rate-limited model call retried (the request succeeded), and retrieval misses (no error) on 20%: 0.4 and 0.2 per
    request (the panel read 0.7 and 0.2 before)."""
    import subprocess

    import yaml

    from genai_o11y import toolchain

    promtool = toolchain.go_tool_path("promtool")
    if promtool is None:
        pytest.fail("promtool is not built: run `make prometheus` (make test does)")
    panel = next(p for p in BOARDS[names.BOARD_FAILURES]["panels"] if p["title"] == "Failure share of requests by category")
    expr = _substitute(panel["targets"][0]["expr"]).replace("$__rate_interval", "5m")
    f, calls = catalog.PROM["failures"], catalog.PROM["calls"]
    base = 'service_name="svc",deployment_environment_name="prod"'
    series = [  # per minute: 100 requests, 30 of them ending rate-limited; 40 model calls rate-limited (10 retried, 30 not)
        (f'{calls}{{{base},genai_o11y_stage="request"}}', "0+100x20"),
        (f'{f}{{{base},genai_o11y_stage="request",genai_o11y_failure_category="rate_limited"}}', "0+30x20"),
        (f'{f}{{{base},genai_o11y_stage="model_call",genai_o11y_failure_category="rate_limited",gen_ai_request_model="m"}}', "0+40x20"),
        (f'{f}{{{base},genai_o11y_stage="retrieval",genai_o11y_failure_category="retrieval_miss"}}', "0+20x20"),
    ]
    test = {"tests": [{"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
                       "promql_expr_test": [{"expr": f"round({expr}, 0.001)", "eval_time": "15m", "exp_samples": [
                           {"labels": '{genai_o11y_failure_category="rate_limited"}', "value": 0.4},
                           {"labels": '{genai_o11y_failure_category="retrieval_miss"}', "value": 0.2}]}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    proc = subprocess.run([str(promtool), "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
