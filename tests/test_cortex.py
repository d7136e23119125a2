"""Metrics beyond one Prometheus: the generated remote_write and Cortex config, proven on a real Cortex
(`make cortex-tools`) run here as separate processes: a distributor, three ingesters with replication
factor 3 on a memberlist ring, a querier, a store-gateway and a ruler, on filesystem blocks storage.

Real spans -> our collector (generated config) -> Prometheus 3 (generated rules; the generated
prometheus.yml with `backends.remote_write`) -> Cortex. Prometheus writes twice:
- to the spec's tenant, as generated: scraped series only, the ruler records ours from them;
- to a second tenant, everything Prometheus has (a test-only addition), so that Cortex holds exactly the
  samples of Prometheus' TSDB and every query can be compared at one evaluation time.
An ingester is killed (SIGKILL) between the two rounds of traffic; everything below runs after that.
"""

from __future__ import annotations

from contextlib import ExitStack

import json
import math
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

import traffic
from genai_o11y import artifacts, catalog, localstack, names, toolchain
from genai_o11y.builders import cortex, dashboards, prometheus_config, rules
from genai_o11y.builders.promql import NOT_PIPELINE
from genai_o11y.errors import SpecError
from genai_o11y.spec import load, parse
from harness import (OtlpSink, board_exprs, collector_ports, free_port, gateway_ports, gateway_spec, make_spec, run_collector, run_gateway, spec_dict,
                     tracer_provider, wait_for)
from harness import substitute as _substitute

#: every PromQL expression of every board of the default spec (as test_dashboards runs them)
BOARD_EXPRS = list(board_exprs(dashboards.build_all(load(), "the embedded default spec")))

pytestmark = [pytest.mark.collector, pytest.mark.cortex]

TENANT = "genai-o11y"
MIRROR = "mirror"  # the test's second remote_write: every series Prometheus stores
INGESTERS = 3


def _rule_exprs():
    """(group, name, expr) of every recording and alerting rule, from the rules `generate` writes."""
    for g in rules.build(make_spec())["groups"]:
        for r in g["rules"]:
            yield g["name"], r.get("record") or r["alert"], r["expr"]


RULE_EXPRS = list(_rule_exprs())


# --- static: the wrapper module, the spec option, the generated configs ----------------------------------

def test_the_wrapper_module_carries_cortexs_own_replaces():
    """go.mod's replace/exclude lines are those of the Cortex version it requires (read from Go's module
    download of that version's go.mod), so the build resolves what Cortex's own build resolves."""
    go = toolchain._go()
    version = toolchain.cortex_version()
    info = json.loads(subprocess.run([go, "mod", "download", "-json", f"{toolchain.CORTEX_MODULE}@{version}"], capture_output=True,
                                     text=True, timeout=120, cwd=toolchain.CORTEX_BUILD, check=True).stdout)
    def directives(text):
        return [line.strip() for line in text.splitlines() if re.match(r"^\s*(replace|exclude)\b", line)]
    theirs = directives(Path(info["GoMod"]).read_text())
    ours = directives((toolchain.CORTEX_BUILD / "go.mod").read_text())
    assert theirs and ours == theirs


def _spec_text(remote_write: dict) -> str:
    doc = spec_dict()
    doc["backends"]["remote_write"] = remote_write
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("remote_write,message", [
    ({"url": "http://cortex/api/v1/push"}, "backends.remote_write.tenant_id: rules_on_store needs the tenant"),
    ({"url": "cortex:8080"}, "backends.remote_write.url:"),
    ({"url": "http://cortex/api/v1/push", "tenant_id": "t", "headers": {"X-Scope-OrgID": "t"}}, "set backends.remote_write.tenant_id instead"),
    ({"url": "http://cortex/api/v1/push", "tenant_id": "t", "queue": {"max_shards": 0}}, "backends.remote_write.queue.max_shards:"),
    ({"url": "http://cortex/api/v1/push", "tenant_id": "t", "sharding": 1}, "backends.remote_write.sharding:"),
])
def test_bad_remote_write_is_named(remote_write, message):
    with pytest.raises(SpecError) as e:
        parse(_spec_text(remote_write), "spec.yaml")
    assert message in str(e.value), str(e.value)


def test_remote_write_reaches_every_generated_prometheus_config_and_promtool_accepts_it(tmp_path):
    spec = parse(_spec_text({"url": "http://cortex-distributor:8080/api/v1/push", "tenant_id": TENANT, "headers": {"X-Team": "llm"},
                             "queue": {"max_shards": 7}}), "spec.yaml")
    files = artifacts.build_all(spec, "spec.yaml")
    from genai_o11y.builders import compose

    cfg = yaml.safe_load(files[compose.PROMETHEUS_CONFIG])
    (rw,) = cfg["remote_write"]
    assert rw["url"] == "http://cortex-distributor:8080/api/v1/push"
    assert rw["headers"] == {"X-Scope-OrgID": TENANT, "X-Team": "llm"} and rw["queue_config"]["max_shards"] == 7
    (drop,) = rw["write_relabel_configs"]
    # by construction: every name our rules write is dropped, every name a scrape brings is kept
    recorded = {r["record"] for g in rules.build(spec)["groups"] for r in g["rules"] if "record" in r} | {"ALERTS", "ALERTS_FOR_STATE"}
    for name in recorded:
        assert re.fullmatch(drop["regex"], name), name
    scraped = set(re.findall(r"\b(genai_o11y_[a-z0-9_]+|otelcol_[a-z0-9_]+|up)\b", files[artifacts.RULES])) - recorded
    assert scraped and not [n for n in scraped if re.fullmatch(drop["regex"], n)]
    promtool = toolchain.go_tool_path("promtool")
    (tmp_path / "prometheus.yml").write_text(files[compose.PROMETHEUS_CONFIG].replace("/etc/prometheus/rules.yaml", str(tmp_path / "rules.yaml")))
    (tmp_path / "rules.yaml").write_text(files[artifacts.RULES])
    proc = subprocess.run([str(promtool), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # forwarding everything: no relabelling, and no ruler config (nothing would load the rules there)
    everything = parse(_spec_text({"url": "http://cortex/api/v1/push", "rules_on_store": False}), "spec.yaml")
    files = artifacts.build_all(everything, "spec.yaml")
    assert "write_relabel_configs" not in yaml.safe_load(files[compose.PROMETHEUS_CONFIG])["remote_write"][0]
    assert artifacts.CORTEX_CONFIG not in files
    # and the default spec writes nowhere
    assert "remote_write" not in yaml.safe_load(artifacts.build_all(make_spec(), "x")[compose.PROMETHEUS_CONFIG])


# --- the cluster -----------------------------------------------------------------------------------------

class Cortex:
    """The processes, their ports, and the query API of the querier for one tenant."""

    NAMES = [f"ingester-{i}" for i in range(1, INGESTERS + 1)] + ["distributor", "querier", "store-gateway", "ruler"]

    def __init__(self) -> None:
        self.procs: dict[str, localstack.Proc] = {}
        self.ports = {n: {"http": free_port(), "grpc": free_port(), "gossip": free_port()} for n in self.NAMES}

    def start(self, tmp: Path, config_file: Path, rules_dir: Path) -> None:
        names = self.NAMES
        seeds = [f"127.0.0.1:{self.ports[n]['gossip']}" for n in names]
        common = lambda n: [  # noqa: E731 - per-process flags; the rest is the generated file
            f"-server.http-listen-address=127.0.0.1", f"-server.http-listen-port={self.ports[n]['http']}",
            f"-server.grpc-listen-address=127.0.0.1", f"-server.grpc-listen-port={self.ports[n]['grpc']}",
            f"-memberlist.bind-addr=127.0.0.1", f"-memberlist.bind-port={self.ports[n]['gossip']}", f"-memberlist.nodename={n}",
            *[f"-memberlist.join={s}" for s in seeds],
            f"-blocks-storage.filesystem.dir={tmp / 'blocks'}", f"-blocks-storage.tsdb.dir={tmp / n / 'tsdb'}",
            f"-blocks-storage.bucket-store.sync-dir={tmp / n / 'sync'}",
            f"-store-gateway.sharding-ring.instance-addr=127.0.0.1", "-distributor.ring.instance-addr=127.0.0.1",
            "-log.level=warn",
        ]
        per = {n: [f"-ingester.lifecycler.addr=127.0.0.1", f"-ingester.lifecycler.port={self.ports[n]['grpc']}", f"-ingester.lifecycler.ID={n}",
                   # all three start at once here: each is ready when it is ACTIVE itself (Cortex's advice for simultaneous rollouts)
                   "-ingester.min-ready-duration=0s", "-ingester.readiness-check-ring-health=false"] for n in names if n.startswith("ingester")}
        per["ruler"] = [f"-ruler-storage.local.directory={rules_dir}", f"-ruler.rule-path={tmp / 'ruler-rules'}",
                        "-ruler.poll-interval=2s", "-ruler.ring.instance-addr=127.0.0.1"]
        # one store-gateway: no ring to wait for to settle (the default waits a minute for it)
        per["store-gateway"] = ["-store-gateway.sharding-ring.instance-id=store-gateway", "-store-gateway.sharding-ring.wait-stability-min-duration=0s"]
        targets = {n: n.split("-")[0] if n.startswith("ingester") else n for n in names}

        (tmp / "ruler-rules").mkdir(parents=True, exist_ok=True)

        t0 = time.monotonic()
        self.ready_after: dict[str, float] = {}

        def one(n):
            p = localstack.start_cortex(config_file, targets[n], n, tmp, common(n) + per.get(n, []), self.ports[n]["http"], timeout=120)
            self.ready_after[n] = time.monotonic() - t0
            return n, p

        with ThreadPoolExecutor(len(names)) as pool:
            futures = [pool.submit(one, n) for n in names]
            errors = []
            for f in futures:
                try:
                    n, p = f.result()
                    self.procs[n] = p
                except Exception as e:  # noqa: BLE001 - reported together below, after stopping what started
                    errors.append(e)
        if errors:
            self.stop()
            raise errors[0]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]['http']}"

    @property
    def push_url(self) -> str:
        return self.url("distributor") + "/api/v1/push"

    def get(self, path: str, tenant: str, name: str = "querier") -> dict:
        req = urllib.request.Request(self.url(name) + path, headers={"X-Scope-OrgID": tenant})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{name} {path[:200]}: HTTP {e.code}: {e.read()[:1000].decode(errors='replace')}") from None

    def query(self, expr: str, tenant: str, at: float) -> dict:
        out = self.get("/prometheus/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}), tenant)
        assert out["status"] == "success", out
        return out["data"]

    def metrics(self, name: str) -> str:
        with urllib.request.urlopen(self.url(name) + "/metrics", timeout=10) as r:
            return r.read().decode()

    def kill(self, name: str) -> None:
        p = self.procs[name].proc
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop(self) -> None:
        for p in self.procs.values():
            p.stop()


def prom_query(base: str, expr: str, at: float) -> dict:
    with urllib.request.urlopen(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}), timeout=30) as r:
        out = json.loads(r.read())
    assert out["status"] == "success", out
    return out["data"]


def as_vector(data: dict) -> dict[tuple, float]:
    """{sorted label pairs: value} of an instant query's result (a scalar is one unlabelled entry)."""
    if data["resultType"] == "scalar":
        return {(): float(data["result"][1])}
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in data["result"]}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_same_answer(prom: dict, cx: dict, what: str) -> None:
    p, c = as_vector(prom), as_vector(cx)
    assert set(p) == set(c), f"{what}: series differ\nonly in Prometheus: {sorted(set(p) - set(c))[:5]}\nonly in Cortex: {sorted(set(c) - set(p))[:5]}"
    wrong = [(k, p[k], c[k]) for k in p if not same(p[k], c[k])]
    assert not wrong, f"{what}: {len(wrong)} of {len(p)} values differ, e.g. {wrong[:3]}"


EVERYTHING = '{__name__=~".+"}[1h]'  # every sample of the run (an instant query of a range selector: raw samples, names kept)


def samples(data: dict) -> dict[tuple, list]:
    """{sorted label pairs: [(timestamp, value), ...]} of a range selector's raw samples."""
    assert data["resultType"] == "matrix", data["resultType"]
    return {tuple(sorted(s["metric"].items())): [tuple(v) for v in s["values"]] for s in data["result"]}


def sent_up_to(prom: str) -> float:
    """The oldest of the remote_write queues' highest sent sample timestamps (0 before any)."""
    with urllib.request.urlopen(prom + "/metrics", timeout=10) as r:
        text = r.read().decode()
    sent = [float(v) for v in re.findall(r"^prometheus_remote_storage_queue_highest_sent_timestamp_seconds\{[^}]*\} (\S+)$", text, re.M)]
    return min(sent) if len(sent) == 2 else 0.0


def quietly(fn):
    """fn(), or None when the cluster answers with an error (while waiting for it to be ready)."""
    try:
        return fn()
    except AssertionError:
        return None


def labelled_evals(endpoint: str, seed: int) -> None:
    """Evaluation spans with a pass/fail label (traffic.py's evals carry scores only), so the rules on
    labelled results have data too."""
    tp = tracer_provider(endpoint, {names.SERVICE_NAME: "support-copilot", names.SERVICE_VERSION: "2026.11.1", names.ENVIRONMENT: "production"})
    tracer = tp.get_tracer("genai-o11y-tests.cortex")
    for i in range(20):
        label = "pass" if (i + seed) % 4 else "fail"
        tracer.start_span(f"eval {i}", attributes={names.STAGE: "evaluation", names.EVAL_NAME: "faithfulness", names.EVAL_LABEL: label,
                                                   names.EVAL_SCORE: 1.0 if label == "pass" else 0.0}).end()
    tp.force_flush()
    tp.shutdown()


def recorded_regex(spec) -> str:
    return "|".join(prometheus_config.recorded_names(spec))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, otelcol):
    """Cortex + Alertmanager, then traffic through our collector into Prometheus and on to Cortex, an
    ingester killed between the two rounds; yields once Prometheus has sent both tenants every sample up
    to the evaluation time."""
    tmp = tmp_path_factory.mktemp("cortex")
    am = prom = None
    cx = Cortex()
    am_port = free_port()
    with OtlpSink() as tempo, localstack.WebhookReceiver() as hooks, ExitStack() as gws:
        # the shipped topology, as test_dashboards runs it: the sidecar routes to 2 gateways, Prometheus scrapes all three
        base = {"backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 2}
        gw_specs = [gateway_spec(make_spec(base), gateway_ports(tmp / f"gw{i}")) for i in range(2)]
        # started before the sidecar's ports are picked: a port picked free but not yet bound could be picked twice
        gateways = [gws.enter_context(run_gateway(otelcol, g, tmp / f"gw{i}")) for i, g in enumerate(gw_specs)]
        spec = make_spec(collector_ports({
            "backends.tempo.endpoint": tempo.endpoint, "gateway.decision_wait_seconds": 2,
            "gateway.enabled": True, "gateway.static_endpoints": [f"127.0.0.1:{g.gateway.otlp_grpc_port}" for g in gw_specs],
            "backends.remote_write": {"url": cx.push_url, "tenant_id": TENANT},
            "backends.alertmanager.url": f"http://127.0.0.1:{am_port}",
            "alerting.receivers.pager.webhook_url": hooks.url("pager"), "alerting.receivers.chat.webhook_url": hooks.url("chat"),
        }, tmp))
        files = artifacts.build_all(spec, "the test's spec")
        try:
            am = localstack.start_alertmanager(files[artifacts.ALERTMANAGER], tmp / "alertmanager", port=am_port)
            # the generated Cortex config and the generated rules, as `generate` writes them
            config_file = tmp / "cortex.yaml"
            config_file.write_text(files[artifacts.CORTEX_CONFIG])
            rules_dir = tmp / "rules"
            rel = Path(cortex.rules_path(TENANT)).relative_to(cortex.RULES_DIR)
            (rules_dir / rel).parent.mkdir(parents=True)
            (rules_dir / rel).write_text(files[artifacts.RULES])
            started = time.monotonic()
            cx.start(tmp, config_file, rules_dir)
            print(f"\nCortex: {len(cx.procs)} processes ready in {time.monotonic() - started:.0f} s ("
                  + ", ".join(f"{n} {t:.0f} s" for n, t in sorted(cx.ready_after.items(), key=lambda x: x[1])) + ")")
            with run_collector(otelcol, spec, tmp) as col:
                host = lambda url: url.split("//")[1].split("/")[0]  # noqa: E731
                cfg = prometheus_config.build(spec, [host(col.metrics_url)], [host(col.telemetry_url)], [am.url.split("//")[1]], ["rules.yaml"],
                                              scrape_interval="2s", evaluation_interval="5s", gateway_targets=[host(g.telemetry_url) for g in gateways])
                assert cfg["remote_write"] == prometheus_config.remote_write(spec)  # as generated, to the spec's tenant
                cfg["remote_write"].append({"url": cx.push_url, "name": "mirror", "headers": {"X-Scope-OrgID": MIRROR}})
                prom = localstack.start_prometheus(cfg, tmp / "prometheus", {"rules.yaml": files[artifacts.RULES]})
                traffic.send(col.otlp_grpc, ["support-copilot", "billing-bot"], requests=60, seed=1)
                labelled_evals(col.otlp_grpc, 1)
                wait_for(lambda: quietly(lambda: cx.query("count(up)", MIRROR, time.time())["result"]), timeout=60, interval=1, what="first samples in Cortex")
                killed = f"ingester-{INGESTERS}"
                cx.kill(killed)
                killed_at = time.time()
                # Prometheus keeps scraping and writing while the ingester is gone: 10 s of it delivered
                wait_for(lambda: sent_up_to(prom.url) > killed_at + 10, timeout=60, interval=1, what="remote_write past the kill")
                traffic.send(col.otlp_grpc, ["support-copilot", "billing-bot"], requests=60, seed=2)
                labelled_evals(col.otlp_grpc, 2)
                wait_for(lambda: localstack.prom_query(prom.url, "genai_o11y:requests:rate1h"), timeout=120, interval=2, what="LLM recording rules in Prometheus")
                # the second round scraped too: every pipeline stage's counter has risen since its first
                # sample (a board query of rates over the range is empty while a counter is flat)
                risen = f'sum(increase({catalog.PROM["calls"]}{{{names.prom_label(names.STAGE)}!~"{NOT_PIPELINE}"}}[15m])) > 0'
                wait_for(lambda: localstack.prom_query(prom.url, risen), timeout=120, interval=2, what="the second round's spans in Prometheus")
                # and the gateways' own counters have two samples since their decisions (the gateway row's rates)
                gw_queries = [q for q in (_substitute(e[2]) for e in BOARD_EXPRS) if spec.backends.prometheus.gateway_job in q]
                assert len(gw_queries) >= 10
                silent = list(gw_queries)

                def answering():
                    silent[:] = [q for q in silent if not localstack.prom_query(prom.url, q)]
                    return not silent

                try:
                    wait_for(answering, timeout=120, interval=2, what="every gateway panel's query answering on Prometheus")
                except AssertionError:
                    raise AssertionError("gateway panels with no answer on Prometheus:\n" + "\n".join(silent)) from None
                at = time.time()  # after the recording rules have written: their series are in the comparison
                # Prometheus has sent everything up to `at` to both tenants (its own account, per queue)
                wait_for(lambda: sent_up_to(prom.url) >= at, timeout=60, interval=1, what="Prometheus' remote_write queues past the evaluation time")
                yield {"spec": spec, "cx": cx, "prom": prom.url, "at": at, "killed": killed, "killed_at": killed_at, "am": am, "col": col}
        finally:
            for p in (prom, cx, am):
                if p is not None:
                    p.stop()


def test_a_killed_ingester_loses_no_sample(cluster):
    """Every sample Prometheus stored up to the evaluation time (timestamp and value, series by series) is
    in Cortex, for both tenants (the spec's: the scraped series; the mirror: everything), with one of three
    ingesters killed mid-run; Prometheus counted no sample it failed to send or dropped."""
    cx, prom, at, spec = cluster["cx"], cluster["prom"], cluster["at"], cluster["spec"]
    assert cx.procs[cluster["killed"]].proc.poll() is not None, "the ingester is still running"
    p = samples(prom_query(prom, EVERYTHING, at))
    recorded = re.compile(recorded_regex(spec))
    scraped = {k: v for k, v in p.items() if not recorded.fullmatch(dict(k)["__name__"])}
    assert len(scraped) > 100 and sum(map(len, scraped.values())) > 10_000, (len(scraped), sum(map(len, scraped.values())))
    assert len(p) > len(scraped), "no recorded series in Prometheus"
    after_kill = sum(1 for v in p.values() for t, _ in v if float(t) > cluster["killed_at"] + 10)
    assert after_kill > 1000, f"only {after_kill} samples written after the ingester was killed"
    print(f"\nPrometheus up to the evaluation time: {len(p)} series, {sum(map(len, p.values()))} samples "
          f"({len(scraped)} series, {sum(map(len, scraped.values()))} samples scraped; the rest recorded by its rules)")
    for tenant, want in ((MIRROR, p), (TENANT, scraped)):
        got = samples(cx.query(EVERYTHING, tenant, at))
        if tenant == TENANT:  # the ruler's own recordings are there too, not from Prometheus
            got = {k: v for k, v in got.items() if not recorded.fullmatch(dict(k)["__name__"])}
        missing = {k: sorted(set(v) - set(got.get(k, []))) for k, v in want.items()}
        extra = {k: sorted(set(v) - set(want.get(k, []))) for k, v in got.items()}
        missing, extra = {k: v for k, v in missing.items() if v}, {k: v for k, v in extra.items() if v}
        assert not missing and not extra, (
            f"{tenant}: {sum(map(len, missing.values()))} samples of {len(missing)} series missing in Cortex, e.g. {list(missing.items())[:2]}; "
            f"{sum(map(len, extra.values()))} samples of {len(extra)} series only in Cortex, e.g. {list(extra.items())[:2]}")
    with urllib.request.urlopen(prom + "/metrics", timeout=10) as r:
        text = r.read().decode()
    failed = re.findall(r"^prometheus_remote_storage_samples_failed_total\{[^}]*\} (\S+)$", text, re.M)
    assert len(failed) == 2 and all(float(v) == 0 for v in failed), failed
    dropped = re.findall(r'^prometheus_remote_storage_samples_dropped_total\{reason="(\w+)",remote_name="([\w-]+)"[^}]*\} (\S+)$', text, re.M)
    # only the generated relabelling drops (the recorded series, on the spec's queue), nothing else
    assert {(reason, queue) for reason, queue, v in dropped if float(v) > 0} == {("dropped_series", "genai-o11y-store")}, dropped


@pytest.mark.parametrize("uid,what,expr,legend,exemplar", BOARD_EXPRS, ids=[f"{e[0][11:]}:{e[1]}" for e in BOARD_EXPRS])
def test_every_dashboard_query_answers_as_on_prometheus(cluster, uid, what, expr, legend, exemplar):
    q = _substitute(expr)
    p = prom_query(cluster["prom"], q, cluster["at"])
    assert p["result"], f"{uid} / {what}: empty on Prometheus too, proves nothing:\n{q}"
    assert_same_answer(p, cluster["cx"].query(q, MIRROR, cluster["at"]), f"{uid} / {what}")


@pytest.mark.parametrize("group,name,expr", RULE_EXPRS, ids=[f"{g}:{n}" for g, n, _ in RULE_EXPRS])
def test_every_rule_expression_answers_as_on_prometheus(cluster, group, name, expr):
    """Alert conditions are empty while nothing is wrong: those are compared all the same, and listed by
    test_rule_expressions_with_data (an empty answer on both sides proves little)."""
    p = prom_query(cluster["prom"], expr, cluster["at"])
    assert_same_answer(p, cluster["cx"].query(expr, MIRROR, cluster["at"]), f"{group} / {name}")


def test_rule_expressions_with_data(cluster):
    """Every recording rule's expression has data (the comparison above is not vacuous); alert
    conditions that are empty (nothing is wrong in this traffic) are printed."""
    empty_records, empty_alerts = [], []
    for group, name, expr in RULE_EXPRS:
        if not prom_query(cluster["prom"], expr, cluster["at"])["result"]:
            (empty_records if ":" in name else empty_alerts).append(name)
    print(f"\nrule expressions with data: {len(RULE_EXPRS) - len(empty_records) - len(empty_alerts)} of {len(RULE_EXPRS)}; "
          f"alert conditions empty on both (nothing wrong): {len(empty_alerts)}: {', '.join(empty_alerts)}")
    allowed = {n for g, n, _ in RULE_EXPRS if g == "genai-o11y.llm-baselines"}  # 2-minute group: recorded inputs may be young
    assert not set(empty_records) - allowed, sorted(set(empty_records) - allowed)


_caught_up: dict = {}


def ruler_series(cluster) -> tuple[set, set]:
    """The recorded series (label sets) now on Prometheus and on the ruler's tenant, once the ruler has
    caught up (each group writes at its own interval, up to 2 min; waited for once per module)."""
    cx, spec = cluster["cx"], cluster["spec"]
    sel = f'{{__name__=~"{recorded_regex(spec)}", __name__!~"ALERTS.*"}}'

    def both():
        now = time.time()
        return set(as_vector(prom_query(cluster["prom"], sel, now))), set(as_vector(cx.query(sel, TENANT, now)))

    if not _caught_up:
        quietly(lambda: wait_for(lambda: (lambda p, c: p == c)(*both()), timeout=150, interval=5, what="the ruler's series"))
        _caught_up["done"] = True
    return both()


def test_the_ruler_runs_our_rules_unchanged(cluster):
    """Cortex's ruler loaded the rule file as generated (same groups, same rules, same intervals), every
    rule is healthy, it found our Alertmanager, and its recording rules write the series Prometheus'
    own evaluation writes (the same names with the same label sets)."""
    cx, spec = cluster["cx"], cluster["spec"]
    ours = rules.build(spec)["groups"]

    def loaded():
        groups = cx.get("/prometheus/api/v1/rules", TENANT, "ruler")["data"]["groups"]
        return groups if len(groups) == len(ours) and all(r.get("health") == "ok" for g in groups for r in g["rules"]) else None

    groups = wait_for(loaded, timeout=150, interval=3, what="every rule of every group evaluated by Cortex's ruler")
    by_name = {g["name"]: g for g in groups}
    for g in ours:
        got = by_name[g["name"]]
        assert [r["name"] for r in got["rules"]] == [r.get("record") or r["alert"] for r in g["rules"]]
        if "interval" in g:
            assert got["interval"] == int(g["interval"].rstrip("sm")) * (60 if g["interval"].endswith("m") else 1)
    discovered = re.findall(r'cortex_prometheus_notifications_alertmanagers_discovered\{user="' + TENANT + r'"\} (\S+)', cx.metrics("ruler"))
    assert discovered == ["1"], discovered
    prom_series, cx_series = ruler_series(cluster)
    names = lambda keys: {dict(k)["__name__"] for k in keys}  # noqa: E731
    assert len(names(prom_series)) > 20, sorted(names(prom_series))
    assert names(cx_series) == names(prom_series), sorted(names(prom_series) ^ names(cx_series))
    assert cx_series == prom_series, sorted(prom_series ^ cx_series)[:5]


@pytest.mark.parametrize("uid,what,expr,legend,exemplar", BOARD_EXPRS, ids=[f"{e[0][11:]}:{e[1]}" for e in BOARD_EXPRS])
def test_every_dashboard_query_has_its_series_on_the_rulers_tenant(cluster, uid, what, expr, legend, exemplar):
    """As deployed (the spec's tenant: scraped series from Prometheus, recorded ones from the ruler), every
    board query returns the same series as on Prometheus. Values of recorded series differ by the two
    evaluators' timing, so only the series are compared; the values are, on the mirror tenant, above."""
    ruler_series(cluster)
    q, now = _substitute(expr), time.time()
    p, c = as_vector(prom_query(cluster["prom"], q, now)), as_vector(cluster["cx"].query(q, TENANT, now))
    assert p, f"{uid} / {what}: empty on Prometheus"
    assert set(c) == set(p), f"{uid} / {what}: only on Prometheus {sorted(set(p) - set(c))[:3]}, only on Cortex {sorted(set(c) - set(p))[:3]}"


def test_the_ruler_holds_the_alerts_prometheus_holds(cluster):
    """Alerting rules evaluate on the ruler as on Prometheus: the same alerts are pending or firing on both
    (this traffic has errors enough for the error-budget burn alerts, and unpriced and unexpected values)."""
    cx = cluster["cx"]

    def active(alerts):
        return {(a["labels"]["alertname"], a["labels"].get("service_name", "")) for a in alerts if a["state"] in ("pending", "firing")}

    def both():
        return active(localstack.prom_alerts(cluster["prom"])), active(cx.get("/prometheus/api/v1/alerts", TENANT, "ruler")["data"]["alerts"])

    quietly(lambda: wait_for(lambda: (lambda p, c: p and p == c)(*both()), timeout=90, interval=3, what="the same active alerts"))
    on_prom, on_cortex = both()
    print(f"\nactive alerts on both: {sorted(on_prom)}")
    assert on_prom, "no alert is pending or firing on Prometheus: the comparison would prove nothing"
    assert on_cortex == on_prom, (sorted(on_prom - on_cortex), sorted(on_cortex - on_prom))


def test_query_latency_figures(cluster):
    """Figures, not asserts: every dashboard query once on each side (Cortex: querier -> 2 live ingesters
    of 3 + store-gateway; Prometheus: local TSDB), and what Prometheus sent. Printed for bench/RESULTS.md."""
    cx, prom, at = cluster["cx"], cluster["prom"], cluster["at"]
    took = {"prometheus": [], "cortex": []}
    for _uid, _what, expr, _legend, _exemplar in BOARD_EXPRS:
        q = _substitute(expr)
        t = time.perf_counter()
        prom_query(prom, q, at)
        took["prometheus"].append(time.perf_counter() - t)
        t = time.perf_counter()
        cx.query(q, MIRROR, at)
        took["cortex"].append(time.perf_counter() - t)
    for side, xs in took.items():
        xs.sort()
        print(f"\n{side}: {len(xs)} dashboard queries, median {1000 * xs[len(xs) // 2]:.1f} ms, p95 {1000 * xs[int(len(xs) * 0.95)]:.1f} ms, max {1000 * xs[-1]:.1f} ms")
    with urllib.request.urlopen(prom + "/metrics", timeout=10) as r:
        text = r.read().decode()
    sent = re.findall(r'^prometheus_remote_storage_samples_total\{remote_name="([\w-]+)"[^}]*\} (\S+)$', text, re.M)
    print("samples sent by remote_write (scrape every 2 s, queue defaults): " + ", ".join(f"{q} {float(v):.0f}" for q, v in sent))
    assert len(took["cortex"]) == len(BOARD_EXPRS) and len(sent) == 2
