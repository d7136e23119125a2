"""App-side redaction: the same policy the collector applies, before anything leaves the process.

Defence in depth, and for apps that export without our sidecar. Semantics match the collector's
redaction stage (tests run both against one corpus):
- Tier 1 keys are kept verbatim while their value keeps its contract (shape, and no high-confidence
  detector match), else the value is content; identifier keys are replaced by a keyed hash;
- every other string value (and its key) is passed through the detectors (masks keep the kind) and
  truncated to max_chars characters; bytes values become <BYTES>;
- `metadata-only` drops everything that is not Tier 1;
- every other string field of a span is redacted too: its name, trace state, status message, event
  names, links (trace state, attributes), the instrumentation scope (name, version, schema URL,
  attributes) and the resource's schema URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from typing import Any, Mapping

from . import redaction_policy
from .errors import SpecError, UserError
from .redaction_policy import BYTES_MASK, Policy

SALT_ENV = "GENAI_O11Y_HASH_SALT"
#: The policy file the app-side helper applies (a generated redaction/policy.yaml); unset: the embedded default.
POLICY_ENV = "GENAI_O11Y_REDACTION_POLICY"
COUNT_KEY = "genai_o11y.redaction.count"


_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


class MissingSalt(UserError):
    pass


class BadPolicy(UserError):
    """The redaction policy file given to the helper is missing or invalid (one line, naming the file)."""


def hash_id(value: Any, salt: str) -> str:
    """The collector's identifier hash: h_ + first 16 hex of SHA-256("<salt>:<value>")."""
    return "h_" + hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]


class Redactor:
    def __init__(self, policy: Policy | None = None, mode: str | None = None, max_chars: int | None = None, salt: str | None = None):
        """`mode` and `max_chars` default to the policy's (a generated redaction/policy.yaml carries the
        spec's in `from_spec`; the embedded policy: redacted, 4096)."""
        self.policy = policy or redaction_policy.default_policy()
        self.mode = mode or self.policy.mode
        self.max_chars = max_chars or self.policy.max_content_chars
        self.salt = salt if salt is not None else os.environ.get(SALT_ENV)
        if not self.salt:
            raise MissingSalt(f"{SALT_ENV} is not set: identifiers (user, session, account ids) are hashed with it; set a secret, stable salt")
        self._rules = [(r, *r.python()) for r in self.policy.compiled_detectors()]
        self._name_rules = [(r, *r.python()) for r in self.policy.span_name_rules]
        self._ids = set(self.policy.identifier_keys)
        self._meta_cache: dict[str, bool] = {}
        self._keys: dict[str, tuple[str, int]] = {}
        self._conform_cache: dict[tuple[str, str], bool] = {}
        self._tokens = self.policy.mask_tokens()

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, salt: str | None = None) -> "Redactor":
        """The policy in effect from a generated redaction/policy.yaml (or any policy file); `path`
        None reads GENAI_O11Y_REDACTION_POLICY, and without it the embedded default policy.
        A missing or bad file raises BadPolicy, one line naming the file."""
        path = path or os.environ.get(POLICY_ENV) or None
        try:
            policy = redaction_policy.load(path)
        except SpecError as e:
            where = f" (from {POLICY_ENV})" if path == os.environ.get(POLICY_ENV) else ""
            first = e.problems[0] if e.problems else None
            detail = (f"{first.path + ': ' if first and first.path else ''}{first.message}" if first else str(e))
            more = f" (+{len(e.problems) - 1} more problems)" if len(e.problems) > 1 else ""
            line = f":{first.line}" if first and first.line else ""
            raise BadPolicy(f"redaction policy {path}{line}{where}: {detail}{more}") from None
        return cls(policy, salt=salt)

    def _is_meta(self, key: str) -> bool:
        hit = self._meta_cache.get(key)
        if hit is None:
            hit = self._meta_cache[key] = self.policy.is_metadata(key)
        return hit

    def _conforms(self, key: str, value: Any) -> bool:
        """A Tier 1 value keeps its contract (shape, no high-confidence detector match); else it is content."""
        if not isinstance(value, str):
            return self.policy.conforms(key, value)
        hit = self._conform_cache.get((key, value))
        if hit is None:
            if len(self._conform_cache) >= 4096:
                self._conform_cache.clear()
            hit = self._conform_cache[(key, value)] = self.policy.conforms(key, value)
        return hit

    def mask(self, text: str) -> tuple[str, int]:
        """Text with every detector applied, and how many values were masked. Text that may be
        percent-encoded (URLs, query strings: `%XX`, or `+` for a space beside an `=`) is also masked
        decoded; the decoded result wins when it masked something and leaves fewer letters and
        digits visible (as in the collector)."""
        out, n = self._mask(text)
        if ("%" in text and _PERCENT.search(text)) or ("+" in text and "=" in text):  # %XX, or a query string's + for a space
            decoded = urllib.parse.unquote_plus(text, errors="replace")
            if decoded != text:
                masked, k = self._mask(decoded)
                if masked != decoded and self._visible(masked) < self._visible(out):
                    return masked, k
        return out, n

    def _visible(self, text: str) -> int:
        """ASCII letters and digits outside mask tokens (the collector's measure)."""
        for t in self._tokens:
            text = text.replace(t, "")
        return sum(1 for c in text if c.isascii() and c.isalnum())

    def _mask(self, text: str) -> tuple[str, int]:
        n = 0
        lowered = text.lower()  # the gates (as in the collector): skip detectors that cannot match
        for rule, pattern, repl in self._rules:
            if rule.gate_holds(lowered):
                text, k = pattern.subn(repl, text)
                n += k
        return text, n

    def label(self, text: str | None) -> str | None:
        """A short descriptive field (schema URL, scope name or version, event name, trace state
        value): the detectors, in every mode."""
        return self.mask(text)[0] if text else text

    def message(self, text: str | None) -> str | None:
        """Free text outside attributes (a span's status message): content."""
        if not text:
            return text
        if self.mode == "metadata-only":
            return None
        return self.mask(text)[0][: self.max_chars]

    def span_name(self, name: str) -> str:
        """The detectors (also on the name percent-decoded, as `mask`), the id placeholders, and
        max_content_chars characters at most, as in the collector."""
        name, _ = self.mask(name)
        lowered = name.lower()
        for rule, pattern, repl in self._name_rules:
            if rule.gate_holds(lowered):
                name = pattern.sub(repl, name)
        return name[: self.max_chars]

    def attributes(self, attrs: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """Redacted attributes and the count of masked values. Non-Tier-1 lists and maps are
        flattened to dotted keys (`k.0`, `k.role`), as the collector's `flatten` does."""
        out: dict[str, Any] = {}
        count = 0
        for key, value in attrs.items():
            if key in self._ids and value is not None:
                out[key] = hash_id(value, self.salt)
            elif self._is_meta(key) and self._conforms(key, value):
                out[key] = value
            elif self.mode == "metadata-only":
                count += 1
            else:
                for k, v in _flatten(key, value):
                    k, n = self._key(k)  # a key is free text too
                    count += n
                    if isinstance(v, (bytes, bytearray)):
                        v = BYTES_MASK
                    if isinstance(v, str):
                        v, n = self.mask(v)
                        count += n + (v == BYTES_MASK)
                        v = v[: self.max_chars]  # characters, as in the collector
                    out.setdefault(k, v)  # Tier 1 wins a key clash (it came first or comes later)
        return out, count

    def _key(self, key: str) -> tuple[str, int]:
        hit = self._keys.get(key)
        if hit is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            hit = self._keys[key] = self.mask(key)
        return hit


def _flatten(key: str, value: Any):
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _flatten(f"{key}.{i}", v)
    else:
        yield key, value


class RedactingSpanExporter:
    """Wraps any opentelemetry-sdk SpanExporter: spans are redacted by the policy before export.

    Use it for apps that export without our sidecar, or as defence in depth with it:
        BatchSpanProcessor(RedactingSpanExporter(OTLPSpanExporter(...)))
    """

    def __init__(self, inner, redactor: Redactor | None = None, name_cache: int = 4096):
        self.inner = inner
        self.redactor = redactor or Redactor()
        self._resources: dict[int, tuple[Any, Any]] = {}  # id(resource) -> (resource, redacted): one per provider
        self._scopes: dict[int, tuple[Any, Any]] = {}  # id(scope) -> (scope, redacted): one per tracer
        self._names: dict[str, str] = {}  # span names repeat: redact each once
        self._name_cache = name_cache

    def _resource(self, resource):
        from opentelemetry.sdk.resources import Resource

        hit = self._resources.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        attrs, _ = self.redactor.attributes(dict(resource.attributes))
        redacted = Resource(attrs, self.redactor.label(resource.schema_url))
        self._resources[id(resource)] = (resource, redacted)
        return redacted

    def _scope(self, scope):
        if scope is None:
            return None
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        hit = self._scopes.get(id(scope))
        if hit is not None and hit[0] is scope:
            return hit[1]
        r = self.redactor
        attrs, _ = r.attributes(dict(scope.attributes or {}))
        redacted = InstrumentationScope(r.label(scope.name) or "", r.label(scope.version), r.label(scope.schema_url), attrs)
        self._scopes[id(scope)] = (scope, redacted)
        return redacted

    def _name(self, name: str) -> str:
        out = self._names.get(name)
        if out is None:
            out = self.redactor.span_name(name)
            if len(self._names) >= self._name_cache:
                self._names.clear()
            self._names[name] = out
        return out

    def _context(self, ctx):
        """A span context with its trace state's values (and keys) masked; ids, flags kept."""
        if ctx is None or not ctx.trace_state:
            return ctx
        from opentelemetry.trace import SpanContext, TraceState

        label = self.redactor.label
        state = TraceState([(label(k), label(v)) for k, v in ctx.trace_state.items()])  # invalid pairs are dropped
        return SpanContext(ctx.trace_id, ctx.span_id, ctx.is_remote, ctx.trace_flags, state)

    def _span(self, span):
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import Link
        from opentelemetry.trace.status import Status

        r = self.redactor
        attrs, count = r.attributes(dict(span.attributes or {}))
        # the count, as in the collector: masks in the span, its events and links; metadata-only: the keys
        # dropped from the span itself
        nested = 0 if r.mode == "metadata-only" else 1
        events = []
        for e in span.events:
            ea, n = r.attributes(dict(e.attributes or {}))
            count += n * nested
            events.append(Event(r.label(e.name), ea, e.timestamp))
        links = []
        for link in span.links:
            la, n = r.attributes(dict(link.attributes or {}))
            count += n * nested
            links.append(Link(self._context(link.context), la))
        if count:
            attrs[COUNT_KEY] = count
        status = span.status
        if status is not None and status.description:
            status = Status(status.status_code, r.message(status.description))
        return ReadableSpan(
            name=self._name(span.name), context=self._context(span.context), parent=span.parent, resource=self._resource(span.resource),
            attributes=attrs, events=events, links=links, kind=span.kind, status=status,
            start_time=span.start_time, end_time=span.end_time, instrumentation_scope=self._scope(span.instrumentation_scope),
        )

    def export(self, spans):
        return self.inner.export([self._span(s) for s in spans])

    def shutdown(self):
        return self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000):
        return self.inner.force_flush(timeout_millis)
