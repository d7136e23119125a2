"""Alertmanager routing, as data: who is told what, how often, and what is held back.

- severity=critical -> the pager receiver (fast: group_wait 10s, repeat every 4h);
  severity=warning  -> the chat receiver (a ticket: repeat daily); severity=info -> nobody (the
  alert is visible in Alertmanager and Grafana's alert list).
- Grouped by alert name and service, so one incident is one notification per service.
- Inhibition: a page inhibits the ticket of the same SLO (same SLO, stage, service, environment); a
  stage's latency SLO alert inhibits its GenAIStageLatencyRegression (a second notification of one cause);
  "no sidecar reports" inhibits every alert computed from span data (they are blind, not healthy);
  gateway replicas down inhibit the sidecars' load-balancer alerts they cause (gateway.enabled).
- Receiver URLs from the spec; a URL given as ${env:NAME} becomes `url_file` read from
  /etc/alertmanager/secrets/NAME (Alertmanager >= 0.26), so no secret is written into the file.
"""

from __future__ import annotations

import re

from .. import names as n
from ..spec import Spec
from .alerting import DATA_LABEL
from .llm_alerts import STAGE_REGRESSION
from .pipeline_alerts import DELIVERY_FAILING
from .rules import LATENCY_SLO

SECRETS_DIR = "/etc/alertmanager/secrets"
ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
SVC, ENV, STAGE = n.prom_label(n.SERVICE_NAME), n.prom_label(n.ENVIRONMENT), n.prom_label(n.STAGE)
GROUP_BY = ["alertname", SVC]
#: severity -> (receiver, group_wait, repeat_interval)
ROUTES = {
    "critical": ("pager", "10s", "4h"),
    "warning": ("chat", "1m", "24h"),
    "info": ("null", "5m", "168h"),
}


def webhook(url: str) -> dict:
    m = ENV_REF.match(url)
    target = {"url_file": f"{SECRETS_DIR}/{m.group(1)}"} if m else {"url": url}
    return {**target, "send_resolved": True, "max_alerts": 50}


def secret_files(spec: Spec) -> list[str]:
    """Environment variables whose value must be mounted as a file for Alertmanager."""
    out = []
    for r in (spec.alerting.receivers.pager, spec.alerting.receivers.chat):
        m = ENV_REF.match(r.webhook_url)
        if m:
            out.append(m.group(1))
    return out


#: Gateway replicas down (all of them, or fewer than gateway.replicas) cause these on every sidecar.
GATEWAY_CAUSES = ("GenAIGatewayDown", "GenAIGatewayReplicasDown")
GATEWAY_EFFECTS = ("GenAILoadBalancerBackendsMissing", "GenAILoadBalancerExportFailing")


def _gateway_inhibition(spec: Spec) -> list[dict]:
    if not spec.gateway.enabled:
        return []
    # one gateway tier per Alertmanager config: no `equal` (the sidecars' instances are not the gateways')
    return [{
        "source_matchers": [f'alertname=~"{"|".join(GATEWAY_CAUSES)}"'],
        "target_matchers": [f'alertname=~"{"|".join(GATEWAY_EFFECTS)}"'],
    }]


def build(spec: Spec) -> dict:
    rec = spec.alerting.receivers
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "chat",  # anything without a known severity still reaches a human
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "24h",
            "routes": [
                # failing deliveries reach chat too (then the pager, by severity): whichever receiver works says so
                {"matchers": [f'alertname="{DELIVERY_FAILING}"'], "receiver": "chat", "group_wait": "10s", "repeat_interval": "4h", "continue": True},
                *({"matchers": [f'severity="{sev}"'], "receiver": receiver, "group_wait": wait, "repeat_interval": repeat}
                  for sev, (receiver, wait, repeat) in ROUTES.items()),
            ],
        },
        "inhibit_rules": [
            {
                # A page (fast burn) holds back the ticket (slow burn) of the same SLO.
                "source_matchers": ['severity="critical"', 'genai_o11y_slo=~".+"'],
                "target_matchers": ['severity="warning"', 'genai_o11y_slo=~".+"'],
                "equal": ["genai_o11y_slo", STAGE, SVC, ENV],
            },
            {
                # A stage's latency SLO alert holds back its latency-regression ticket (one cause, one notification).
                "source_matchers": [f'alertname=~"{LATENCY_SLO}(Fast|Slow)"'],
                "target_matchers": [f'alertname="{STAGE_REGRESSION}"'],
                "equal": [STAGE, SVC, ENV],
            },
            {
                # No sidecar reports: alerts computed from span data are blind, not informative.
                "source_matchers": ['alertname="GenAISidecarDown"'],
                "target_matchers": [f'{DATA_LABEL}="spans"'],
            },
            *_gateway_inhibition(spec),
        ],
        "receivers": [
            {"name": "pager", "webhook_configs": [webhook(rec.pager.webhook_url)]},
            {"name": "chat", "webhook_configs": [webhook(rec.chat.webhook_url)]},
            {"name": "null"},
        ],
    }
