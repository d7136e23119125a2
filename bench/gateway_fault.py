"""One gateway killed mid-run: traces lost or split, and the time until traces are whole again after it
returns. Prints figures, asserts nothing (figures go to bench/RESULTS.md and the gateway runbook).

The topology of tests/test_gateway_e2e.py with the shipped gateway settings (decision wait 30 s): 3
services each with its own sidecar process, 2 gateways (the sidecars' load_balancing exporter, static
resolver listing both, as `genai-o11y up` runs it), the trace sink. Every trace fails in its last
service, so the policy keeps every one: a trace missing at the sink is lost, one with some of its spans
is split, one with a span twice is duplicated. Traffic at a steady rate; gateway 2 is SIGKILLed at
--kill-at s (what it held in its decision buffer dies with it), restarted --down s later on the same
ports; recovery: when the traces sent during the outage (queued in the sidecars) arrive, and from when on
every trace sent is whole. Arrival times are the sink's, polled every 0.5 s.

--resolver dns: the sidecars find the gateways by name, as compose and the Helm chart deploy them (the dns
resolver, looking the name up every 5 s), instead of the static list `make run` uses. Locally a name needs
several addresses: `localhost` where it resolves to 127.0.0.1 and ::1 (one gateway on each, same port);
otherwise, where `unshare --mount` works (root, or user namespaces), the sidecar processes alone see a
private /etc/hosts (bind-mounted in their own mount namespace; the machine's file is untouched) in which
the shipped gateway.host lists 127.0.0.1 and 127.0.0.2; else the run stops with the reason. With the
private file the killed replica's address leaves the name at the kill and returns after the restart, as
Docker DNS and a headless Service drop a stopped or unready replica; with `localhost` it stays listed.

--retries backends (a changed setting, printed): the load balancer's retries and queue moved into its
per-replica exporters (in memory), the way to avoid the duplicated spans of the shipped at-least-once delivery.

Run: .venv/bin/python bench/gateway_fault.py [--resolver static|dns] [--retries balancer|backends] [--rate 20] [--kill-at 45] [--down 20] [--after 40]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from opentelemetry import trace  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

from genai_o11y import names as n  # noqa: E402
from genai_o11y import toolchain  # noqa: E402
from genai_o11y.builders import collector as collector_builder  # noqa: E402
from harness import (OtlpSink, collector_ports, gateway_ports, gateway_spec, make_spec, run_collector,  # noqa: E402
                     run_gateway, tracer_provider)
from test_gateway_e2e import SERVICES, SPANS, _remote  # noqa: E402


def one_trace(tracers) -> str:
    t0 = time.time_ns()
    root = tracers[SERVICES[0]].start_span("POST /ask", start_time=t0, attributes={"genai_o11y.stage": "request"})
    rw = tracers[SERVICES[0]].start_span("rewrite", context=trace.set_span_in_context(root), start_time=t0, attributes={"genai_o11y.stage": "query_rewrite"})
    rw.end()
    ret = tracers[SERVICES[1]].start_span("retrieve", context=_remote(root), attributes={"genai_o11y.stage": "retrieval"})
    tool = tracers[SERVICES[2]].start_span("search_kb", context=_remote(ret), attributes={"genai_o11y.stage": "tool_call"})
    tool.set_status(Status(StatusCode.ERROR, "tool failed"))
    tool.end()
    ret.end()
    root.end()
    return format(root.get_span_context().trace_id, "032x")


class Names:
    """How the sidecars' dns resolver finds the gateways here: hostname, one address per replica, the
    binary to start the sidecars with, and set(addresses) to change what the name lists (None: fixed)."""

    def __init__(self, hostname: str, addrs: list[str], sidecar_binary: Path, how: str, hosts_file: Path | None = None) -> None:
        self.hostname, self.addrs, self.sidecar_binary, self.how, self.hosts_file = hostname, addrs, sidecar_binary, how, hosts_file

    def set(self, addrs: list[str]) -> None:
        if self.hosts_file is None:
            return
        text = "127.0.0.1 localhost\n" + "".join(f"{a} {self.hostname}\n" for a in addrs)
        with self.hosts_file.open("r+") as f:  # in place: the bind mount follows the inode
            f.truncate(0)
            f.write(text)


def dns_names(binary: Path, tmp: Path, hostname: str) -> Names | str:
    """A name with two loopback addresses the sidecars' resolver can look up, or why there is none."""
    local = sorted({ai[4][0] for ai in socket.getaddrinfo("localhost", None, type=socket.SOCK_STREAM)})
    if len(local) >= 2:
        return Names("localhost", local[:2], binary, f"`localhost` resolves to {' and '.join(local[:2])}: one gateway on each (the name keeps both)")
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--mount", "true"], capture_output=True).returncode != 0:
        return (f"`localhost` resolves to {local} only, and `unshare --mount` is unavailable (needs root or user namespaces): "
                "no name with several addresses to resolve")
    hosts = tmp / "hosts"
    hosts.write_text("")
    wrapper = tmp / "sidecar-with-private-hosts"
    wrapper.write_text(f'#!/bin/sh\nexec {unshare} --mount sh -c \'mount --bind "$0" /etc/hosts && exec "$@"\' {hosts} {binary} "$@"\n')
    wrapper.chmod(0o755)
    names = Names(hostname, ["127.0.0.1", "127.0.0.2"], wrapper,
                  f"`localhost` resolves to {local} only: the sidecars see a private /etc/hosts (own mount namespace) listing "
                  f"`{hostname}` at 127.0.0.1 and 127.0.0.2; the killed replica leaves it at the kill and returns after the restart", hosts)
    names.set(names.addrs)
    return names


def lb_backends(url: str) -> int | None:
    """The sidecar's load_balancing exporter: how many gateways its resolver returns now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            m = re.search(r"^otelcol_loadbalancer_num_backends\{[^}]*\} (\S+)$", r.read().decode(), re.M)
    except OSError:
        return None
    return int(float(m.group(1))) if m else None


#: --retries backends: each per-replica exporter's in-memory queue (batches).
BACKEND_QUEUE = 5000


def retries_in_backends(lb: dict) -> None:
    """The alternative to the shipped load balancer (README: at-least-once): no retry or queue at its level, so a
    batch split over two replicas is never resent whole; each replica's exporter queues in memory and retries."""
    lb["protocol"]["otlp"]["sending_queue"] = {"enabled": True, "queue_size": BACKEND_QUEUE, "num_consumers": 2}
    lb["protocol"]["otlp"]["retry_on_failure"] = dict(collector_builder.GATEWAY_RETRY)
    lb["retry_on_failure"] = {"enabled": False}
    lb["sending_queue"] = {"enabled": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=20, help="traces per second (4 spans each)")
    ap.add_argument("--kill-at", type=float, default=45, help="seconds into the run (past the decision wait: a full buffer dies)")
    ap.add_argument("--down", type=float, default=20)
    ap.add_argument("--after", type=float, default=40, help="seconds of traffic after the restart")
    ap.add_argument("--resolver", choices=["static", "dns"], default="static", help="how the sidecars find the gateways (compose and Helm: dns)")
    ap.add_argument("--retries", choices=["balancer", "backends", "both"], default="balancer",
                    help="balancer (shipped): retries and the persistent queue at the load-balancer level; backends (a changed "
                         "setting, printed): none there, an in-memory queue and endless retries in each per-replica exporter; "
                         "both (a changed setting, printed): the shipped balancer plus those per-replica queues")
    args = ap.parse_args()
    binary = toolchain.collector_path()
    assert binary, "make collector"
    tmp = Path(tempfile.mkdtemp(prefix="gwfault-"))
    shipped = make_spec()
    wait = shipped.gateway.decision_wait_seconds
    names = None
    if args.resolver == "dns":
        names = dns_names(binary, tmp, shipped.gateway.host)
        if isinstance(names, str):
            print(f"# gateway fault, dns resolver: skipped: {names}")
            return
    print(f"# gateway fault: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"decision wait {wait} s (shipped), {args.rate:g} traces/s × {len(SPANS)} spans, kill at {args.kill_at:g} s, "
          f"down {args.down:g} s, {args.after:g} s after; resolver {args.resolver}" + (f" ({names.how})" if names else ""))
    if args.retries == "backends":
        print("# CHANGED SETTING (not shipped): load_balancing retry_on_failure and sending_queue off; protocol.otlp: an in-memory "
              f"queue of {BACKEND_QUEUE} batches, retries forever at most {collector_builder.GATEWAY_RETRY['max_interval']} apart")
    if args.retries == "both":
        print("# CHANGED SETTING (not shipped): protocol.otlp also queues in memory (bytes, a quarter of the memory limit) and "
              "retries forever; the load balancer's persistent queue and retries as shipped")
    with OtlpSink() as sink, ExitStack() as stack:
        base = {"backends.tempo.endpoint": sink.endpoint, "gateway.enabled": True}
        gw_ports = [gateway_ports(tmp / f"gw{i}") for i in range(2)]
        hosts = ["127.0.0.1", "127.0.0.1"]
        if names is None:
            base["gateway.static_endpoints"] = [f"127.0.0.1:{p['gateway.otlp_grpc_port']}" for p in gw_ports]
        else:  # one name, one port, an address per replica
            hosts = names.addrs
            gw_ports[1]["gateway.otlp_grpc_port"] = gw_ports[0]["gateway.otlp_grpc_port"]
            base.update({"gateway.static_endpoints": [], "gateway.host": names.hostname, "gateway.otlp_grpc_port": gw_ports[0]["gateway.otlp_grpc_port"]})
        gw_specs = [gateway_spec(make_spec(base), p) for p in gw_ports]
        stack.enter_context(run_gateway(binary, gw_specs[0], tmp / "gw0", host=hosts[0]))
        victim_cm = run_gateway(binary, gw_specs[1], tmp / "gw1", host=hosts[1])
        victim = victim_cm.__enter__()
        sidecars = {}
        for svc in SERVICES:
            d = tmp / svc
            d.mkdir(parents=True, exist_ok=True)
            spec = make_spec(collector_ports(base, d))
            config = collector_builder.build(spec)
            if args.retries == "backends":
                retries_in_backends(config["exporters"][n.GATEWAY_EXPORTER])
            if args.retries == "both":
                config["exporters"][n.GATEWAY_EXPORTER]["protocol"]["otlp"].update(
                    {"sending_queue": {"enabled": True, "sizer": "bytes", "queue_size": spec.collector.memory_limit_mib * collector_builder.MIB // 4,
                                       "num_consumers": 2},
                     "retry_on_failure": dict(collector_builder.GATEWAY_RETRY)})
            sidecars[svc] = stack.enter_context(run_collector(names.sidecar_binary if names else binary, spec, d, config=config))
        providers = {svc: tracer_provider(sidecars[svc].otlp_grpc, {"service.name": svc}) for svc in SERVICES}
        tracers = {svc: tp.get_tracer("gateway-fault") for svc, tp in providers.items()}
        sent: list[tuple[float, str]] = []
        start = time.time()
        arrived: dict[str, float] = {}  # trace id -> when its first span reached the sink (s into the run)
        ring: list[tuple[float, int | None]] = []  # (s into the run, backends the first sidecar's resolver returns) on change
        done = threading.Event()

        def poll() -> None:
            while not done.is_set():
                t = time.time() - start
                for s in sink.spans():
                    arrived.setdefault(s.trace_id, t)
                nb = lb_backends(sidecars[SERVICES[0]].telemetry_url)
                if not ring or ring[-1][1] != nb:
                    ring.append((t, nb))
                done.wait(0.5)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        killed_at = restarted_at = None
        restarted_cm = None
        total = args.kill_at + args.down + args.after
        i = 0
        while True:
            now = time.time() - start
            if now >= total:
                break
            if killed_at is None and now >= args.kill_at:
                os.kill(victim.proc.pid, signal.SIGKILL)
                victim.proc.wait()
                if names is not None:
                    names.set(names.addrs[:1])  # the name drops the stopped replica (where this run controls it)
                killed_at = now
            if restarted_at is None and killed_at is not None and now >= args.kill_at + args.down:
                restarted_cm = run_gateway(binary, gw_specs[1], tmp / "gw1b", host=hosts[1])
                restarted_cm.__enter__()
                if names is not None:
                    names.set(names.addrs)  # healthy again: listed again (a headless Service lists it once ready)
                restarted_at = time.time() - start
            sent.append((now, one_trace(tracers)))
            i += 1
            time.sleep(max(0.0, start + i / args.rate - time.time()))
        for tp in providers.values():
            tp.force_flush(30_000)
        # every trace decided: the wait, the sidecars' retries (1-30 s backoff), the batches
        time.sleep(wait + 45)
        done.set()
        poller.join()
        spans = sink.spans()
        if restarted_cm is not None:
            restarted_cm.__exit__(None, None, None)
        try:
            victim_cm.__exit__(None, None, None)
        except Exception:
            pass
    by_trace = defaultdict(list)
    for s in spans:
        by_trace[s.trace_id].append((s.resource.get("service.name"), s.attributes.get("genai_o11y.stage"), s.span_id))
    want = sorted(SPANS)

    def state(tid: str) -> str:
        got = by_trace.get(tid, [])
        if not got:
            return "lost"
        distinct = sorted({(a, b) for a, b, _ in got})
        if len(got) > len({sid for _, _, sid in got}):
            return "duplicated" if distinct == want else "split+dup"
        return "whole" if sorted((a, b) for a, b, _ in got) == want else "split"

    phases = [("before the kill", 0, killed_at), ("gateway 2 down", killed_at, restarted_at), ("after the restart", restarted_at, total)]
    print("\n| phase | traces sent | whole | lost | split | duplicated |\n|---|---|---|---|---|---|")
    for name, a, b in phases:
        states = [state(t) for ts, t in sent if a <= ts < b]
        c = {k: states.count(k) for k in ("whole", "lost", "split", "duplicated", "split+dup")}
        print(f"| {name} ({a:.0f}–{b:.0f} s) | {len(states)} | {c['whole']} | {c['lost']} | {c['split'] + c['split+dup']} | {c['duplicated'] + c['split+dup']} |")
    bad_after = [ts for ts, t in sent if ts >= restarted_at and state(t) != "whole"]
    bad_before_kill = [ts for ts, t in sent if ts < killed_at and state(t) != "whole"]
    recovered = (max(bad_after) - restarted_at) if bad_after else 0.0
    print(f"\nkilled at {killed_at:.1f} s, restarted at {restarted_at:.1f} s; recovery: every trace sent later than "
          f"{recovered:.1f} s after the restart arrived whole ({len(bad_after)} traces after the restart were not)")
    print(f"traces sent before the kill and not whole: {len(bad_before_kill)} (the victim's decision buffer: up to {wait} s of its share)")
    down = [t for ts, t in sent if killed_at <= ts < restarted_at and t in arrived]
    if down:
        print(f"traces sent while gateway 2 was down: {len(down)} arrived, the last {max(arrived[t] for t in down) - restarted_at:.1f} s after the restart "
              f"(the sidecars' queue drains, retries at most 5 s apart, then the decision wait)")
        held = sorted(arrived[t] - ts for ts, t in sent if killed_at <= ts < restarted_at and t in arrived)
        prompt = sum(1 for x in held if x <= wait + 5)
        print(f"traces sent while gateway 2 was down: {prompt} of {len(held)} reached the sink within the decision wait + 5 s of being sent "
              f"(the survivor's share, not held up by the dead replica's; median send to sink {held[len(held) // 2]:.1f} s)")
    lag = sorted(arrived[t] - ts for ts, t in sent if ts >= restarted_at and t in arrived)
    if lag:
        print(f"traces sent after the restart: median {lag[len(lag) // 2]:.1f} s from send to the sink (the decision wait is {wait} s)")
    if names is not None:
        changes = ", ".join(f"{n} at {t:.1f} s" for t, n in ring)
        print(f"the first sidecar's load balancer, backends over the run: {changes} (the dns resolver looks the name up every "
              f"{collector_builder.GATEWAY_RESOLVE_INTERVAL})")


if __name__ == "__main__":
    main()
