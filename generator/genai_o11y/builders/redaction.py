"""The redaction stage: the policy's detectors compiled to OTTL, applied once before fan-out.

Modes (spec `redaction.mode`):
- `metadata-only`: only Tier 1 keys survive on spans and events; content is dropped.
- `redacted` (default) and `full`: every string value is passed through the detectors (masks keep
  the kind: `<EMAIL>`), then truncated. In `full` mode the main pipeline is still redacted: full
  content is never sent to the main traces backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from ..spec import Spec
from .ottl import q


@dataclass(frozen=True)
class Detector:
    name: str
    regex: str
    mask: str


@dataclass(frozen=True)
class Policy:
    metadata_keys: tuple[str, ...]
    detectors: tuple[Detector, ...]

    def metadata_regex(self) -> str:
        parts = [re.escape(k[:-2]) + r"\..*" if k.endswith(".*") else re.escape(k) for k in self.metadata_keys]
        return "^(" + "|".join(parts) + ")$"


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    raw = yaml.safe_load(resources.files("genai_o11y.data").joinpath("redaction_policy.yaml").read_text(encoding="utf-8"))
    return Policy(
        metadata_keys=tuple(raw["metadata_keys"]),
        detectors=tuple(Detector(**d) for d in raw["detectors"]),
    )


def detectors(spec: Spec, policy: Policy | None = None) -> list[Detector]:
    policy = policy or default_policy()
    extra = [Detector(p.name, p.regex, f"<{p.name}>") for p in spec.redaction.extra_patterns]
    return list(policy.detectors) + extra


def statement_groups(spec: Spec, policy: Policy | None = None) -> list[dict]:
    """transform processor statement groups for the redaction stage."""
    policy = policy or default_policy()
    if spec.redaction.mode == "metadata-only":
        keep = q(policy.metadata_regex())
        return [
            {"context": "span", "statements": [f"keep_matching_keys(span.attributes, {keep})"] + _mask("span.name", spec, policy, single=True)},
            {"context": "spanevent", "statements": ['keep_matching_keys(spanevent.attributes, "^(exception\\\\.type)$")']},
            {"context": "resource", "statements": _mask("resource.attributes", spec, policy)},
        ]
    limit = spec.redaction.max_content_chars
    return [
        {"context": "resource", "statements": _mask("resource.attributes", spec, policy)},
        {
            "context": "span",
            "statements": _mask("span.attributes", spec, policy)
            + _mask("span.name", spec, policy, single=True)
            + [f"truncate_all(span.attributes, {limit})"],
        },
        {
            "context": "spanevent",
            "statements": _mask("spanevent.attributes", spec, policy) + [f"truncate_all(spanevent.attributes, {limit})"],
        },
    ]


def _mask(target: str, spec: Spec, policy: Policy, single: bool = False) -> list[str]:
    out = []
    for d in detectors(spec, policy):
        if single:
            out.append(f"replace_pattern({target}, {q(d.regex)}, {q(d.mask)})")
        else:
            out.append(f'replace_all_patterns({target}, "value", {q(d.regex)}, {q(d.mask)})')
    return out
