"""5. Retrieval quality: results, zero results, scores, reranking, chunks dropped, truncation."""

from __future__ import annotations

from ... import names as n
from ...spec import Spec
from .common import TEMPLATE, VERSION, P, Q, dashboard, sel, L
from .queries import PROM, mean, per_s, ratio
from ..promql import le

UID = n.BOARD_RETRIEVAL


def build(spec: Spec, source: str) -> dict:
    retriever, index = L(n.RETRIEVER_VERSION), L(n.INDEX_VERSION)
    res, score = "genai_o11y_retrieval_results", "genai_o11y_retrieval_top_score"
    dist = lambda bucket: f"sum by (le) (increase({sel(bucket)}[$__range]))"  # noqa: E731
    panels = [
        P("Results per query", "Average documents a retrieval returns, by retriever version. Falling means the index or the query rewrite changed.",
          [Q(mean(res, by=retriever), "{{" + retriever + "}}")], unit="short"),
        P("Zero-result rate", "Share of retrievals that returned no document. The model then answers from memory (GenAIRetrievalZeroResultSpike).",
          [Q(ratio(per_s(PROM["retrieval_bucket"], le(0)), per_s(PROM["retrieval_count"])), "zero results")], unit="percentunit", thresholds=[(0.05, "orange"), (0.15, "red")]),
        P("Results per query distribution", "Retrievals over the range by documents returned (cumulative: le=3 counts retrievals with at most 3 documents).",
          [Q(dist(PROM["retrieval_bucket"]), "≤ {{le}}", instant=True)], kind="bargauge", unit="short"),
        P("Retrieval score distribution", "Retrievals over the range by the similarity score of the best document (cumulative). Mass moving to low scores: an embedding model mismatch between queries and index, or stale content.",
          [Q(dist(PROM["retrieval_score_bucket"]), "≤ {{le}}", instant=True)], kind="bargauge", unit="short"),
        P("Mean top score by index version", "Mean best-document score by index version: a re-built index that scores lower than the one before is the first sign of retrieval drift.",
          [Q(mean(score, by=index), "{{" + index + "}}")], unit="short"),
        P("Reranker displacement", "Mean rank change of the documents the reranker kept (0: it agreed with retrieval). High and rising: retrieval ranks badly and the reranker compensates; near 0 always: the reranker may not run.",
          [Q(mean("genai_o11y_rerank_displacement", by=retriever), "{{" + retriever + "}}")], unit="short"),
        P("Chunks dropped at prompt assembly", "Chunks per second included in prompts, and left out by reason: budget (context too small), dedupe, policy. Budget drops rising: prompts got longer or the context smaller.",
          [Q(per_s(PROM["chunks_included"]), "included")] + [Q(per_s(PROM[f"chunks_excluded_{r}"]), f"dropped: {r}") for r in ("budget", "dedupe", "policy")], unit="short"),
        P("Truncation events", "Prompts truncated to fit the context budget per second, by prompt version (GenAIPromptTruncationRise). A new version that truncates more needs a shorter template or fewer chunks.",
          [Q(per_s(PROM["truncations"], by=f"{TEMPLATE}, {VERSION}"), "{{" + TEMPLATE + "}} {{" + VERSION + "}}")], unit="ops"),
    ]
    return dashboard(UID, "Retrieval and prompt assembly: results and zero results, score distribution, reranking, chunks dropped, truncation.", panels, source,
                     needs="the helper's retrieval, rerank and prompt-assembly stages, or spans that set `genai_o11y.retrieval.results`, `genai_o11y.retrieval.top_score`, `genai_o11y.rerank.displacement`, `genai_o11y.chunks.included` / `.excluded.*` and `genai_o11y.prompt.truncated`. No model-call instrumentation sets these: an app with only OpenAI's instrumentation leaves this board empty.")
