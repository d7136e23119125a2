"""PromQL shapes the boards share (kept apart from the layout, as the mixins do)."""

from __future__ import annotations

from ... import catalog
from ... import names as n
from ..promql import NOT_PIPELINE, REQUEST
from .common import RATE, STAGE, TEMPO_DS, rate, sel

PROM = catalog.PROM
REQ = REQUEST


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


def tokens_per_s() -> list[tuple[str, str]]:
    """(query, legend) per token kind of names.TOKEN_KINDS, tokens per second; a kind counted inside
    another (cached input, reasoning) shows 0 where that kind has traffic and it has none."""
    out = []
    for k in n.TOKEN_KINDS:
        q = per_s(catalog.PROM[k.key])
        out.append((q if k.part_of is None else or_zero(q, per_s(catalog.PROM[n.TOKEN_KIND[k.part_of].key])), k.label))
    return out


# --- the stage waterfall ---------------------------------------------------------------------------

#: The label carrying a stage's place in the pipeline (01, 02, ...): the bar chart sorts by it.
POSITION = "position"


def _stage_re(stages: list[str]) -> str:
    return f'{STAGE}=~"{"|".join(stages)}"'


def stage_mean(stages: list[str], window: str = "$__range") -> str:
    """Mean span duration of each of `stages` (by stage; NaN where a stage had no span in the window dropped)."""
    m = _stage_re(stages)
    return (f"(\n  sum by ({STAGE}) ({rate(PROM['duration_sum'], m, window=window)})\n  /\n"
            f"  sum by ({STAGE}) ({rate(PROM['duration_count'], m, window=window)})\n) >= 0")


def stage_p95(stages: list[str], window: str = "$__range") -> str:
    """p95 span duration of each of `stages` (by stage; NaN dropped)."""
    return f"{quantile(0.95, _stage_re(stages), by=STAGE, window=window)} >= 0"


def waterfall(stages: list[str], per_stage, window: str = "$__range") -> tuple[str, str]:
    """(starts, lengths) of a waterfall over `stages` in pipeline order: stage k's bar is `per_stage`
    of it and starts at the sum of `per_stage` over the stages before it (0 for the first, and a
    stage without spans adds 0). Each series carries its stage and POSITION labels."""
    traffic = per_s(PROM["calls"], REQ, window=window)

    def tag(expr: str, k: int) -> str:
        return f'label_replace(\n  label_replace({expr}, "{STAGE}", "{stages[k]}", "", ""),\n  "{POSITION}", "{k + 1:02d}", "", ""\n)'

    starts, lengths = [], []
    for k, s in enumerate(stages):
        before = f"sum({per_stage(stages[:k], window)})\nor on ()\n0 * {traffic}" if k else f"0 * {traffic}"
        starts.append(tag(f"({before})", k))
        lengths.append(tag(f"sum({per_stage([s], window)})", k))
    return "\nor\n".join(starts), "\nor\n".join(lengths)


# --- Tempo (TraceQL) -------------------------------------------------------------------------------

#: Conditions on the request's own resource (every span of the trace has it).
TEMPO_SCOPE = ('resource.service.name =~ "$service"', f'resource.{n.ENVIRONMENT} =~ "$environment"')


def where(*conds: str) -> str:
    return "{ " + " && ".join(conds) + " }"


def tempo(query: str, ref: str = "A", limit: int = 50) -> dict:
    return {"datasource": TEMPO_DS, "queryType": "traceql", "query": query, "refId": ref, "limit": limit, "tableType": "traces"}


__all__ = ["PROM", "REQ", "NOT_PIPELINE", "per_s", "ratio", "quantile", "mean", "zero_or", "or_zero", "sel", "rate",
           "POSITION", "stage_mean", "stage_p95", "waterfall", "TEMPO_SCOPE", "where", "tempo"]
