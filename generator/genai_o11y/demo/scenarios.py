"""Scenario switches: each injects one of the silent (or loud) failures the alerts must catch."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scenario:
    name: str = "healthy"
    description: str = "Normal traffic."
    answer_prompt_version: str = "v7"
    index_version: str = "idx-2026-11-15"
    retrieval_drift: bool = False  # low scores, many zero results
    skip_tools_on: tuple[str, ...] = ()  # routes whose answers stop calling their tool
    route_model: dict | None = None  # route -> model override (cost spike)
    context_chunks: int = 4
    slow_tool_ms: int = 0  # extra latency of lookup_order / search_kb
    model_error_ratio: float = 0.0  # share of model calls failing (rate limits)
    answer_max_words: int = 60
    feedback_penalty: float = 0.0  # extra chance of thumbs-down (answers got worse)
    user_retry_rate: float = 0.0  # extra chance that a user regenerates (and half that: rephrases) an answer

    def describe(self) -> str:
        return f"{self.name}: {self.description}"


HEALTHY = Scenario()
SCENARIOS: dict[str, Scenario] = {
    "healthy": HEALTHY,
    "prompt_drift": replace(HEALTHY, name="prompt_drift", description="Prompt v8 ships: answers get shorter, feedback and eval scores drop.",
                            answer_prompt_version="v8", answer_max_words=18, feedback_penalty=0.35),
    "retrieval_drift": replace(HEALTHY, name="retrieval_drift", description="The index is rebuilt with another embedding model: low scores, zero results.",
                               index_version="idx-2026-11-23-rebuilt", retrieval_drift=True, feedback_penalty=0.2),
    "tool_skipping": replace(HEALTHY, name="tool_skipping", description="After a routing change billing and troubleshooting answers stop calling their tools.",
                             skip_tools_on=("billing", "troubleshooting"), feedback_penalty=0.25),
    "cost_spike": replace(HEALTHY, name="cost_spike", description="Every route is sent to the most expensive model with a bigger context.",
                          route_model={"faq": "claude-sonnet-4-5", "troubleshooting": "claude-sonnet-4-5", "billing": "claude-sonnet-4-5", "escalation": "claude-sonnet-4-5"},
                          context_chunks=12),
    "slow_tool": replace(HEALTHY, name="slow_tool", description="The order service slows down: lookup_order and search_kb take 3.5 s more.", slow_tool_ms=3500),
    "error_burst": replace(HEALTHY, name="error_burst", description="The model provider rate-limits: 60% of model calls fail.", model_error_ratio=0.6),
    "regenerate_storm": replace(HEALTHY, name="regenerate_storm", description="A model snapshot change makes answers unhelpful in ways no evaluator "
                                "scores: users regenerate 5x and rephrase 3x as often.", user_retry_rate=0.2),
    "unexpected_prompt_version": replace(HEALTHY, name="unexpected_prompt_version", description="An experimental prompt version leaks into production.",
                                         answer_prompt_version="v9-experimental"),
}


@dataclass(frozen=True)
class Expectation:
    """What a scenario should set off, and whether a fresh local stack (`genai-o11y up`) can show it."""

    alert: str
    pages: bool  # critical: the pager; else a warning: a ticket in chat
    local: str | None = None  # why a fresh local stack cannot show it (None: it can)


_NO_HISTORY = "it compares the last hour with the {days} days before it, and a fresh local stack has no history (tests/test_alerts_e2e.py backfills some to prove it)"
EXPECTED: dict[str, Expectation] = {
    "error_burst": Expectation("GenAIErrorBudgetBurnFast", True),
    "slow_tool": Expectation("GenAILatencyBudgetBurnFast", True),
    "prompt_drift": Expectation("GenAIEvalScoreBelowFloor", True),
    "retrieval_drift": Expectation("GenAIEvalScoreBelowFloor", True),  # slower than prompt_drift: its scores fall less
    "unexpected_prompt_version": Expectation("GenAIUnexpectedPromptVersion", False),
    "cost_spike": Expectation("GenAICostSpike", False, _NO_HISTORY),
    "tool_skipping": Expectation("GenAIRequiredToolSkipped", False, _NO_HISTORY),
    "regenerate_storm": Expectation("GenAIQualityProxyRise", False, _NO_HISTORY),
}


def get(name: str) -> Scenario:
    from ..errors import UserError

    try:
        return SCENARIOS[name]
    except KeyError:
        raise UserError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
