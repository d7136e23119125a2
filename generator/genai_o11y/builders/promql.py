"""PromQL pieces the rules, the alerts and the dashboards share: label names (derived from the
attribute names as the prometheus exporter does), matchers, and literal-safe regexes."""

from __future__ import annotations

import re

from .. import names as n

L = n.prom_label
SVC, ENV, STAGE, MODEL, ROUTE = L(n.SERVICE_NAME), L(n.ENVIRONMENT), L(n.STAGE), L(n.REQUEST_MODEL), L(n.ROUTE)
TEMPLATE, VERSION, EVAL = L(n.PROMPT_TEMPLATE), L(n.PROMPT_VERSION), L(n.EVAL_NAME)
#: a span metric's series of spans that ended in error
ERROR = 'status_code="STATUS_CODE_ERROR"'
#: the whole request (the stage every trace's root counts as)
REQUEST = f'{STAGE}="request"'
#: the implicit stages (request, feedback, evaluation, user actions): not stages of the pipeline
NOT_PIPELINE = "|".join(n.IMPLICIT_STAGES)


def prom_regex(values: list[str]) -> str:
    """A PromQL regex string body matching exactly these values (anchored by PromQL)."""
    return "|".join(re.escape(v).replace("\\", "\\\\") for v in values)


def le(value: float | int) -> str:
    """A bucket matcher valid on Prometheus 2 (le="8000") and 3 (normalised to le="8000.0")."""
    text = format(float(value), "g") if float(value) != int(value) else str(int(value))
    return f'le=~"{prom_regex([text])}(\\\\.0)?"'
