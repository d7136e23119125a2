"""Drive the demo: requests at a steady rate from a few worker threads, healthy first, then the
scenario; counts what was sent and what failed. Stops when told to (an Event)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..instrument import Observability
from .app import SupportCopilot
from .scenarios import HEALTHY, Scenario


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    by_scenario: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, scenario: str, ok: bool) -> None:
        with self.lock:
            self.sent += 1
            self.failed += 0 if ok else 1
            self.by_scenario[scenario] = self.by_scenario.get(scenario, 0) + 1


class Traffic:
    """`rps` requests per second over `workers` threads; `switch(scenario)` changes what they inject."""

    def __init__(self, obs: Observability, rps: float = 4.0, workers: int = 4, time_scale: float = 1.0, seed: int = 1) -> None:
        self.obs = obs
        self.rps = rps
        self.stats = Stats()
        self.stop = threading.Event()
        self.scenario: Scenario = HEALTHY
        self.apps = [SupportCopilot(obs, HEALTHY, seed=seed + i, time_scale=time_scale) for i in range(workers)]
        self.threads = [threading.Thread(target=self._loop, args=(a,), daemon=True, name=f"demo-{i}") for i, a in enumerate(self.apps)]

    def switch(self, scenario: Scenario) -> None:
        self.scenario = scenario
        for a in self.apps:
            a.scenario = scenario

    def start(self) -> "Traffic":
        for t in self.threads:
            t.start()
        return self

    def _loop(self, app: SupportCopilot) -> None:
        period = len(self.apps) / self.rps
        next_at = time.monotonic()
        while not self.stop.is_set():
            r = app.ask()
            self.stats.add(self.scenario.name, r.ok)
            next_at += period
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def close(self, timeout: float = 15) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout)


def undelivered_reason(obs, endpoint: str, requests: int) -> str | None:
    """One line saying why the demo's traffic did not all reach the sidecar, or None when every span did
    (after obs.provider.shutdown(): what is not exported by then is lost)."""
    ended, delivered = obs.delivery()
    if ended == delivered:
        return None
    p = obs.processor
    parts = [f"{n} {why}" for n, why in ((p.dropped_export_failed, "failed to export (is the sidecar listening?)"),
                                          (p.dropped_queue_full, "dropped on a full queue"),
                                          (ended - delivered - p.dropped, "still queued at stop")) if n]
    return (f"{ended - delivered} of {ended} spans ({requests} requests) were not delivered to {endpoint}: " + ", ".join(parts))
