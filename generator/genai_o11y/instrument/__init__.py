"""genai_o11y for apps: stage spans, prompt versions, feedback and evals, redacted before export,
never blocking or raising into the app. See core.py for the API, README "Instrumenting an app"."""

from __future__ import annotations

import os

from .core import EnrichingSpanProcessor, Observability, Stage
from .processor import NonBlockingSpanProcessor
from .prompts import Prompt, PromptRegistry

__all__ = ["setup", "Observability", "Stage", "Prompt", "PromptRegistry", "NonBlockingSpanProcessor", "EnrichingSpanProcessor"]


def setup(service_name: str, endpoint: str = "127.0.0.1:4317", release: str | None = None, environment: str | None = None,
          redact: bool = True, exporter=None, max_queue: int = 4096, export_timeout_s: float = 2.0, set_global: bool = True,
          resource: dict | None = None, redaction_policy: str | os.PathLike | None = None) -> Observability:
    """A tracer provider exporting OTLP/gRPC to the sidecar, redacted by the policy (GENAI_O11Y_HASH_SALT
    must be set when `redact`), through a queue that never blocks the app; returns the helper.

    `redaction_policy` (else GENAI_O11Y_REDACTION_POLICY, else the embedded default) is the policy file
    the helper applies: give it the generated redaction/policy.yaml of your spec, so the app masks what
    the collector masks (its extra patterns, mode, max_content_chars). Fails closed: a missing salt or a
    missing or invalid policy file raises MissingSalt / BadPolicy (UserError, one line naming the cause
    or the file) before any span is exported."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    from .. import names as n

    attrs = {n.SERVICE_NAME: service_name, **(resource or {})}
    if release or os.environ.get("GENAI_O11Y_RELEASE"):
        attrs[n.SERVICE_VERSION] = release or os.environ["GENAI_O11Y_RELEASE"]
    if environment:
        attrs[n.ENVIRONMENT] = environment
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint if "://" in endpoint else f"http://{endpoint}", insecure=True, timeout=export_timeout_s)
    if redact:
        from ..redact import RedactingSpanExporter, Redactor

        exporter = RedactingSpanExporter(exporter, Redactor.from_file(redaction_policy))
    provider = TracerProvider(resource=Resource.create(attrs))
    provider.add_span_processor(EnrichingSpanProcessor())
    processor = NonBlockingSpanProcessor(exporter, max_queue=max_queue)
    provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    obs = Observability(provider, processor)
    obs.provider = provider
    return obs
