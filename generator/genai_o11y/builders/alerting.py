"""What every alert is made of: the rule, and the runbook section its `runbook_url` points at.

Conventions (as in the monitoring mixins): CamelCase names with the `GenAI` prefix; `severity`
critical (pages), warning (opens a ticket in chat) or info (not sent, visible in Grafana);
`summary`, a templated `description`, `runbook_url` and `dashboard_url` (the runbook's first board, filtered to the
alert's service). Alerts computed from span-derived data carry
`genai_o11y_data="spans"`, so that "the sidecar is down" inhibits them in Alertmanager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import names as n

SEVERITIES = ("critical", "warning", "info")

#: a runbook's reference to a board (dashboard()): its uid
BOARD_REF = re.compile(r"\(`/d/([a-z0-9-]+)`\)")


def dashboard_url(grafana_url: str, uid: str) -> str:
    """A link to board `uid` for one alert (a Prometheus annotation template): its environment and service picked
    where the alert has those labels (the boards' variables), the last hour."""
    var = lambda name, label: f"{{{{ with $labels.{label} }}}}&var-{name}={{{{ . | urlquery }}}}{{{{ end }}}}"  # noqa: E731
    return (f"{grafana_url.rstrip('/')}/d/{uid}?from=now-1h&to=now"
            + var("environment", n.prom_label(n.ENVIRONMENT)) + var("service", n.prom_label(n.SERVICE_NAME)))
DATA_LABEL = "genai_o11y_data"  # "spans": computed from the sidecar's span metrics


def counter(name: str) -> str:
    """A collector counter as prose names it: the series Prometheus stores, with `_total` (expressions match
    either spelling, `(name)(_total)?`; the bare instrument name typed into Prometheus finds nothing)."""
    return f"`{name}_total`"


def dashboard(uid: str, panel: str | None = None) -> str:
    """A runbook reference to a dashboard (by its title; the uid is stable for links)."""
    title = n.DASHBOARDS[uid]
    return f"**{title}** (`/d/{uid}`)" + (f", panel *{panel}*" if panel else "")


@dataclass(frozen=True)
class Runbook:
    meaning: str
    confirm: list[str]
    actions: list[str]


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    runbook: Runbook
    for_: str = "5m"
    labels: dict[str, str] = field(default_factory=dict)
    from_spans: bool = True
    group: str = ""  # rule group; set by the module that defines the alert
    #: every rule's expression under this name (one per stage for the latency SLOs); set by the runbook
    exprs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.name}: severity {self.severity!r} not in {SEVERITIES}")
        if not (self.name.startswith("GenAI") and self.name.isalnum()):
            raise ValueError(f"{self.name}: alert names are CamelCase with the GenAI prefix")

    @property
    def anchor(self) -> str:
        return self.name.lower()

    @property
    def board(self) -> str | None:
        """The dashboard the runbook's first check opens (its uid), if any."""
        m = BOARD_REF.search(" ".join(self.runbook.confirm))
        return m.group(1) if m else None

    def rule(self, runbook_url: str, grafana_url: str | None = None) -> dict:
        """The Prometheus rule; `runbook_url`: where the team publishes its generated alerts/runbook.md
        (spec alerting.runbook_url), the alert's section anchored; `grafana_url` (spec alerting.grafana_url): the
        dashboard_url annotation, the runbook's first board filtered to the alert's environment and service."""
        labels = {"severity": self.severity, **self.labels}
        if self.from_spans:
            labels[DATA_LABEL] = "spans"
        annotations = {"summary": self.summary, "description": self.description, "runbook_url": f"{runbook_url}#{self.anchor}"}
        if grafana_url and self.board:
            annotations["dashboard_url"] = dashboard_url(grafana_url, self.board)
        return {"alert": self.name, "expr": self.expr, "for": self.for_, "labels": labels, "annotations": annotations}


def by(*labels: str) -> str:
    return ", ".join(labels)
