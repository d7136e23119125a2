"""Every recording rule has a reader, and every name a query reads is one the generator defines.

The PromQL of every recording rule, alert and dashboard query (panels, annotations, template
variables) is parsed by the real Prometheus 3 (`/api/v1/parse_query`, the parser its engine runs);
the metric and record names are the selectors of its syntax tree. A record no alert, other record
or dashboard query reads fails (rules nobody reads cost evaluations and mislead a reader of
rules.yaml); a name no generated definition makes (the collector config's metric definitions, both
engines, under the Prometheus exporter's naming, or a recording rule) fails, except the
collector's own telemetry (`otelcol_*`), Alertmanager's (`alertmanager_*`) and Prometheus's `up`.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from genai_o11y import catalog, localstack, names
from genai_o11y.builders import collector, dashboards, rules
from harness import make_spec

SPECS = {"native": {}, "ottl": {"collector.engine": "ottl"}}

#: The Prometheus exporter's unit suffixes for the units our metric definitions use; `{...}`
#: annotations (`{token}`) add none. A unit not listed fails the test (say how it is named).
UNIT_SUFFIX = {"ms": "milliseconds", "s": "seconds", "By": "bytes"}
#: Grafana's interval variables (a duration in PromQL) and its other variables (a regex).
GRAFANA_DURATION = re.compile(r"\$\{?__(rate_interval|interval|range)\}?")
GRAFANA_VAR = re.compile(r"\$\{?(\w+)\}?")


#: Marks a name selected by a regex (`{__name__=~"..."}`) in what parse() returns.
REGEX = "~"


def _known(name: str) -> bool:
    """Series no definition of ours makes: the collector's own telemetry, Alertmanager's own (GenAIAlertDeliveryFailing;
    tests/test_alerts_e2e.py runs it against a real Alertmanager) and the scrape's `up`."""
    return name.lstrip(REGEX + "(").startswith(("otelcol_", "alertmanager_")) or name == "up"


def _names(read: str, defined: set[str]) -> set[str]:
    """The defined names a selector's name reads (a regex: every one it matches)."""
    if read.startswith(REGEX):
        return {d for d in defined if re.fullmatch(read[len(REGEX):], d)}
    return {read} & defined


def _prom_names(name: str, unit: str | None, kind: str, monotonic: bool = True) -> list[str]:
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    if unit and not unit.startswith("{"):
        if unit not in UNIT_SUFFIX:
            raise AssertionError(f"{name}: unit {unit!r} has no known Prometheus suffix; add it to UNIT_SUFFIX")
        base += "_" + UNIT_SUFFIX[unit]
    if kind == "histogram":
        return [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
    return [f"{base}_total" if monotonic else base]


def defined_metrics(config: dict) -> set[str]:
    """Prometheus names of every metric the collector config defines (span metrics, genai_usage or signal_to_metrics)."""
    out: set[str] = set()
    for cid, c in config["connectors"].items():
        kind = cid.split("/")[0]
        if kind == "span_metrics":
            ns = c.get("namespace", "traces.span.metrics")
            out |= set(_prom_names(f"{ns}.calls", None, "sum"))
            out |= set(_prom_names(f"{ns}.duration", c.get("histogram", {}).get("unit", "ms"), "histogram"))
        elif kind == "genai_usage":
            for m in c["metrics"]:
                k = "histogram" if "histogram" in m else "sum"
                out |= set(_prom_names(m["name"], m.get("unit"), k, m.get("sum", {}).get("monotonic", True)))
        elif kind == "signal_to_metrics":
            for m in c["spans"]:
                k = "histogram" if "histogram" in m else "sum"
                out |= set(_prom_names(m["name"], m.get("unit"), k, m.get("sum", {}).get("monotonic", True)))
    return out


def _substitute(expr: str) -> str:
    expr = GRAFANA_DURATION.sub("5m", expr)
    return GRAFANA_VAR.sub(".*", expr)


def board_queries(boards: dict) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, annotation and template variable of every board."""
    out = []
    for uid, b in boards.items():
        panels = list(b["panels"])
        while panels:
            p = panels.pop()
            panels.extend(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("type") == "prometheus":
                    out.append((f"{uid}: {p['title']} [{t['refId']}]", _substitute(t["expr"])))
        for a in b["annotations"]["list"]:
            if "expr" in a:
                out.append((f"{uid}: annotation {a['name']}", _substitute(a["expr"])))
        for v in b["templating"]["list"]:
            if v.get("type") == "query":
                m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"] if isinstance(v["query"], str) else v["query"]["query"])
                assert m, f"{uid}: variable {v['name']}: not label_values(selector, label): {v['query']}"
                out.append((f"{uid}: variable {v['name']}", _substitute(m.group(1))))
    return out


def rule_exprs(spec) -> tuple[dict[str, list[str]], dict[str, str]]:
    """record -> its expressions (a record may have one per group), alert -> expression."""
    records: dict[str, list[str]] = {}
    alerts: dict[str, str] = {}
    for g in rules.build(spec)["groups"]:
        for r in g["rules"]:
            if "record" in r:
                records.setdefault(r["record"], []).append(r["expr"])
            else:
                alerts[r["alert"]] = r["expr"]
    return records, alerts


@pytest.fixture(scope="module")
def parse(tmp_path_factory):
    """PromQL -> the metric names its selectors read, by the real Prometheus's parser."""
    prom = localstack.start_prometheus({"global": {}}, tmp_path_factory.mktemp("parser"), {})
    cache: dict[str, set[str]] = {}

    def selectors(expr: str) -> set[str]:
        if expr not in cache:
            data = urllib.parse.urlencode({"query": expr}).encode()
            try:
                with urllib.request.urlopen(f"{prom.url}/api/v1/parse_query", data=data, timeout=10) as r:
                    tree = json.loads(r.read())["data"]
            except urllib.error.HTTPError as e:
                raise AssertionError(f"Prometheus cannot parse {expr!r}: {e.read().decode()[:500]}") from None
            found: set[str] = set()
            nodes = [tree]
            while nodes:
                node = nodes.pop()
                if isinstance(node, list):
                    nodes.extend(node)
                elif isinstance(node, dict):
                    if node.get("type") in ("vectorSelector", "matrixSelector") and "matchers" in node:
                        by_name = [m for m in node["matchers"] if m["name"] == "__name__"]
                        assert by_name and all(m["type"] in ("=", "=~") for m in by_name), f"a selector without a metric name in {expr!r}"
                        found |= {m["value"] if m["type"] == "=" else REGEX + m["value"] for m in by_name}
                    nodes.extend(node.values())
            cache[expr] = found
        return cache[expr]

    yield selectors
    prom.stop()


@pytest.mark.parametrize("engine", SPECS)
def test_every_recording_rule_has_a_reader(parse, engine):
    spec = make_spec(SPECS[engine])
    records, alerts = rule_exprs(spec)
    readers: dict[str, set[str]] = {}
    queries = [(f"alert {a}", e) for a, e in alerts.items()] + [(f"record {r}", e) for r, es in records.items() for e in es]
    for where, expr in queries + board_queries(dashboards.build_all(spec, "test")):
        for read in parse(expr):
            for name in _names(read, set(records)) - {where.removeprefix("record ")}:
                readers.setdefault(name, set()).add(where)
    unread = sorted(r for r in records if not readers.get(r))
    assert not unread, f"recording rules no alert, record or dashboard query reads: {unread}"
    assert len(records) > 30 and len(alerts) > 20  # the rules were read


@pytest.mark.parametrize("engine", SPECS)
def test_every_name_a_query_reads_is_defined(parse, engine):
    spec = make_spec(SPECS[engine])
    records, alerts = rule_exprs(spec)
    defined = defined_metrics(collector.build(spec)) | set(records)
    # the catalog's Prometheus names are ones the collector config makes (derived there independently)
    assert set(catalog.PROM.values()) <= defined, sorted(set(catalog.PROM.values()) - defined)
    queries = [(f"alert {a}", e) for a, e in alerts.items()] + [(f"record {r}", e) for r, es in records.items() for e in es]
    queries += board_queries(dashboards.build_all(spec, "test"))
    undefined = {}
    for where, expr in queries:
        for read in parse(expr):
            if not _names(read, defined) and not _known(read):
                undefined.setdefault(read, []).append(where)
    assert not undefined, f"names no metric definition or recording rule makes: {undefined}"
    read = set().union(*(parse(e) for _w, e in queries))
    assert {catalog.PROM[k.key] for k in names.TOKEN_KINDS} <= read  # the token counters are drawn, every kind
