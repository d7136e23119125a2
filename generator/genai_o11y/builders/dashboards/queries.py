"""PromQL shapes the boards share (kept apart from the layout, as the mixins do)."""

from __future__ import annotations

from ... import names as n
from .common import RATE, STAGE, rate, sel

PROM = n.PROM
REQ = f'{STAGE}="request"'
NOT_PIPELINE = "|".join(n.IMPLICIT_STAGES)


def per_s(metric: str, *matchers: str, by: str = "", window: str = RATE, skip: tuple[str, ...] = ()) -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({rate(metric, *matchers, window=window, skip=skip)})"


def ratio(num: str, den: str, by: str = "") -> str:
    return f"{num}\n/\n{den}"


def quantile(q: float, *matchers: str, by: str = "", metric: str = PROM["duration_bucket"], window: str = RATE) -> str:
    grouping = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({grouping}) ({rate(metric, *matchers, window=window)}))"


def mean(prefix: str, *matchers: str, by: str = "") -> str:
    """Mean of a histogram: rate(sum) / rate(count)."""
    return ratio(per_s(f"{prefix}_sum", *matchers, by=by), per_s(f"{prefix}_count", *matchers, by=by))


def zero_or(expr: str, like: str) -> str:
    """`expr`, or 0 with the labels of `like` where expr has no series (counters that appear only once non-zero)."""
    return f"(\n  {expr}\n  or\n  0 * {like}\n)"


def or_zero(expr: str, traffic: str, on: str = "", labels: tuple[str, ...] = ()) -> str:
    """`expr`, or 0 where `traffic` has series and `expr` has none (a ratio or rate of failures with
    traffic and no failure is 0, not "No data"; without traffic it stays "No data"). `on`: the labels
    `expr` and `traffic` share (a 0 per group without its own series); `labels`: `expr`'s other
    legend labels, "none" on the zeros."""
    zero = f"0 * {traffic}"
    for lab in labels:
        zero = f'label_replace({zero}, "{lab}", "none", "", "")'
    return f"(\n  {expr}\n)\nor on ({on})\n  {zero}"


__all__ = ["PROM", "REQ", "NOT_PIPELINE", "per_s", "ratio", "quantile", "mean", "zero_or", "or_zero", "sel", "rate"]
