"""A span processor that never blocks the app: ended spans go into a bounded queue, a daemon thread
exports them in batches. A full queue or a failed export drops spans and counts them; nothing is
raised into the app. (The SDK's BatchSpanProcessor also drops when full, but does not count.)
"""

from __future__ import annotations

import collections
import logging
import threading
import time

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("genai_o11y.instrument")

try:  # the counter is also exposed to apps that serve prometheus_client metrics
    from prometheus_client import Counter

    DROPPED = Counter("genai_o11y_helper_dropped_spans", "Spans the genai-o11y helper dropped (queue full or export failed).", ["reason"])
except ValueError:  # already registered (module reloaded)
    from prometheus_client import REGISTRY

    DROPPED = REGISTRY._names_to_collectors["genai_o11y_helper_dropped_spans_total"]  # noqa: SLF001


class NonBlockingSpanProcessor(SpanProcessor):
    def __init__(self, exporter: SpanExporter, max_queue: int = 4096, batch_size: int = 512, interval_s: float = 1.0) -> None:
        self.exporter = exporter
        self.max_queue = max_queue
        self.batch_size = max(1, min(batch_size, max_queue))
        self.interval_s = interval_s
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self.dropped_queue_full = 0
        self.dropped_export_failed = 0
        self.exported = 0
        self.ended = 0  # every span handed to on_end: exported + dropped + still queued
        self._thread = threading.Thread(target=self._run, name="genai-o11y-export", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self.dropped_queue_full + self.dropped_export_failed

    @property
    def undelivered(self) -> int:
        """Spans not (yet) accepted by the exporter's endpoint: dropped, or still queued (after shutdown:
        left behind because the flush timed out)."""
        return self.ended - self.exported

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1  # a span ending after shutdown counts too: it is lost
            if self._stop:
                return
            if len(self._queue) >= self.max_queue:
                self.dropped_queue_full += 1
                DROPPED.labels("queue_full").inc()
                return
            self._queue.append(span)
            self._idle.clear()
            full = len(self._queue) >= self.batch_size
        if full:
            self._wake.set()

    def _take(self) -> list[ReadableSpan]:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            if not batch:
                self._idle.set()
            return batch

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            while batch := self._take():
                try:
                    ok = self.exporter.export(batch) == SpanExportResult.SUCCESS
                except Exception:  # noqa: BLE001 - an exporter bug must not kill the thread
                    log.exception("span export raised")
                    ok = False
                if ok:
                    self.exported += len(batch)
                else:
                    self.dropped_export_failed += len(batch)
                    DROPPED.labels("export_failed").inc(len(batch))
            if self._stop:
                return

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self._wake.set()
        deadline = time.monotonic() + timeout_millis / 1000
        while time.monotonic() < deadline:
            if self._idle.wait(0.05):
                with self._lock:
                    if not self._queue:
                        return True
            self._wake.set()
        return False

    def shutdown(self) -> None:
        self.force_flush(5_000)
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        try:
            self.exporter.shutdown()
        except Exception:  # noqa: BLE001
            log.exception("exporter shutdown raised")
