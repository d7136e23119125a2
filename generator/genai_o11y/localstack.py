"""The real backends as local processes: Prometheus 3, Alertmanager and a webhook receiver standing in
for the pager and chat. Used by the end-to-end tests, and by `make run` without Docker.

Every process gets its own directory and free loopback ports, logs to a file, and is stopped (then
killed) on exit, so nothing is left behind.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import names as n, render, toolchain
from .builders import prometheus_config
from .errors import ToolMissing, UserError


def otlp_value(v):
    """An OTLP AnyValue as Python: str, bool, int, float, bytes, list (array), dict (kvlist), None (empty). Every kind
    by its oneof, not `a or b or ...`: a 0, 0.0, "" or false is a value (the local trace store wrote False for a
    score of 0.0, and for every list, an on-call's trial)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [otlp_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: otlp_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A loopback port nothing listens on, below the kernel's ephemeral range: a port the kernel hands out
    (bind to 0) is also what outgoing connections take as their source port, and one did between this pick
    and the collector's bind (`address already in use` at start, seen in CI)."""
    import random

    low, _high = _ephemeral_range()
    lo = 10000 if low > 11000 else 1024
    for _ in range(200):
        port = random.randint(lo, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a host whose range starts low: the kernel's pick
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- webhook receiver -----------------------------------------------------------------------------------

@dataclass
class Notification:
    receiver: str  # the URL path: /pager, /chat
    received_at: float
    payload: dict

    @property
    def alerts(self) -> list[dict]:
        return self.payload.get("alerts", [])

    def alertnames(self, status: str = "firing") -> set[str]:
        return {a["labels"].get("alertname", "") for a in self.alerts if a.get("status") == status}

    def alerts_by_service(self, status: str = "firing") -> set[tuple[str, str | None]]:
        """(alert name, the service it is about, None without the label) of each alert in the notification."""
        label = n.prom_label(n.SERVICE_NAME)
        return {(a["labels"].get("alertname", ""), a["labels"].get(label)) for a in self.alerts if a.get("status") == status}


class WebhookReceiver:
    """An HTTP server that records every Alertmanager webhook POST (path = receiver)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", on_notification=None) -> None:
        self.port = port or free_port()
        self.on_notification = on_notification
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"invalid": body.decode(errors="replace")}
                note = Notification(self.path, time.time(), payload)
                with outer._lock:
                    outer.notifications.append(note)
                if outer.on_notification:
                    outer.on_notification(note)
                self.send_response(200)
                self.end_headers()

            def do_GET(self):  # noqa: N802 - health check
                self.send_response(200 if self.path == "/healthz" else 404)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer((host, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, receiver: str) -> str:
        return f"http://127.0.0.1:{self.port}/{receiver}"

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self, receiver: str | None = None) -> list[Notification]:
        with self._lock:
            return [n for n in self.notifications if receiver is None or n.receiver == f"/{receiver}"]

    def first_firing(self, receiver: str, alertname: str) -> Notification | None:
        for n in self.received(receiver):
            if alertname in n.alertnames():
                return n
        return None


# --- processes --------------------------------------------------------------------------------------------

@dataclass
class Proc:
    name: str
    proc: subprocess.Popen
    log_path: Path
    url: str
    extra: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start(name: str, cmd: list[str], workdir: Path, url: str, ready_path: str, timeout: float = 60, env: dict | None = None) -> Proc:
    """Start `cmd` in `workdir`. Every path in `cmd` must be absolute: the process runs with cwd=workdir,
    so a relative one would resolve against the wrong directory (make run's `out/local` did)."""
    relative = [a for a in cmd if _relative_path_arg(a)]
    if relative:
        raise ValueError(f"{name}: relative path(s) handed to a process started in {workdir}: {relative}")
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{name}.log"
    # its own process group: Ctrl-C in a terminal signals the whole foreground group, and a collector that got
    # it directly stopped before the demo's last batch was flushed into it (85 of 464 spans lost). The caller
    # stops what it started, in order (Proc.stop).
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=workdir, env=env, process_group=0)
    p = Proc(name, proc, log, url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise UserError(f"{name} exited with {proc.returncode}; last log lines:\n{p.log()[-3000:]}")
        try:
            with urllib.request.urlopen(url + ready_path, timeout=1) as r:
                if r.status == 200:
                    return p
        except OSError:
            pass
        time.sleep(0.2)
    p.stop()
    raise UserError(f"{name} not ready at {url}{ready_path} after {timeout:.0f}s; last log lines:\n{p.log()[-3000:]}")


def _relative_path_arg(arg: str) -> bool:
    """`--flag=path` or a bare path argument that is relative (a URL or a plain value is not a path)."""
    value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else ("" if arg.startswith("-") else arg)
    return ("/" in value or value.endswith((".yaml", ".yml"))) and "://" not in value and not value.startswith("/") and not value[:1].isdigit()


def start_prometheus(config: dict, workdir: Path, rules: dict[str, str], port: int | None = None, storage: Path | None = None) -> Proc:
    """Prometheus 3 (built by `make prometheus`) with this config; rule files written beside it."""
    workdir = workdir.resolve()
    storage = storage.resolve() if storage else None
    binary = toolchain.go_tool_path("prometheus")
    if binary is None:
        raise ToolMissing("prometheus is not built: run `make prometheus`")
    workdir.mkdir(parents=True, exist_ok=True)
    for rel, text in rules.items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(text)
    (workdir / "prometheus.yml").write_text(render.to_yaml(config))
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(binary),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={storage or workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",  # the alerts' generatorURL: this address, not the machine's host name
        prometheus_config.FEATURE_FLAG,
        "--web.enable-lifecycle",
    ]
    return _start("prometheus", cmd, workdir, url, "/-/ready")


def start_alertmanager(config_text: str, workdir: Path, port: int | None = None) -> Proc:
    """Alertmanager (Debian's prometheus-alertmanager), clustering off."""
    workdir = workdir.resolve()
    binary = toolchain.alertmanager_path()
    if binary is None:
        raise ToolMissing("Alertmanager is missing: run `make alertmanager` (Debian package prometheus-alertmanager)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(config_text)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(binary),
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",  # the links in its notifications and UI
        "--cluster.listen-address=",
    ]
    return _start("alertmanager", cmd, workdir, url, "/-/ready")


def start_cortex(config_file: Path, target: str, name: str, workdir: Path, flags: list[str], http_port: int, timeout: float = 90) -> Proc:
    """One Cortex process (`-target=...`, built by `make cortex-tools`) with the shared config file and
    its own flags (ports, ring address, directories: flags override the file). Ready on /ready."""
    binary = toolchain.cortex_path()
    if binary is None:
        raise ToolMissing("Cortex is not built: run `make cortex-tools`")
    cmd = [str(binary), f"-config.file={config_file.resolve()}", f"-target={target}", *flags]
    return _start(name, cmd, workdir / name, f"http://127.0.0.1:{http_port}", "/ready", timeout=timeout)


def backfill_openmetrics(text: str, storage: Path, workdir: Path) -> None:
    """Write history into a Prometheus TSDB with `promtool tsdb create-blocks-from openmetrics`."""
    promtool = toolchain.go_tool_path("promtool")
    if promtool is None:
        raise ToolMissing("promtool is not built: run `make prometheus`")
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / "backfill.om"
    src.write_text(text)
    storage.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", str(src), str(storage)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise UserError(f"promtool backfill failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")


# --- Prometheus / Alertmanager HTTP APIs ----------------------------------------------------------------

def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def prom_query(base: str, expr: str) -> list[dict]:
    out = _get(f"{base}/api/v1/query?query={urllib.parse.quote(expr)}")
    if out.get("status") != "success":
        raise UserError(f"query failed: {expr}: {out}")
    return out["data"]["result"]


def prom_alerts(base: str) -> list[dict]:
    return _get(f"{base}/api/v1/alerts")["data"]["alerts"]


def prom_rule_health(base: str) -> list[tuple[str, str, str]]:
    """(rule name, health, last error) of every rule that is not healthy."""
    bad = []
    for g in _get(f"{base}/api/v1/rules")["data"]["groups"]:
        for r in g["rules"]:
            if r.get("health") not in ("ok", "unknown"):
                bad.append((r["name"], r.get("health", ""), r.get("lastError", "")))
    return bad


def am_post_alerts(base: str, alerts: list[dict]) -> None:
    req = urllib.request.Request(f"{base}/api/v2/alerts", data=json.dumps(alerts).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 200:
            raise UserError(f"alertmanager refused alerts: {r.status}")

