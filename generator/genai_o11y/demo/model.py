"""A deterministic stand-in for an LLM provider: no network, no keys. Answers, token counts and
latency derive from a hash of the input, so runs are repeatable; faults are injected on request."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass


class RateLimitError(Exception):
    """What a provider answers under load (HTTP 429)."""


@dataclass
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    model: str
    finish_reason: str = "stop"


def tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _h(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


class StandInModel:
    """`complete` behaves like a chat completion: latency grows with output length and model size."""

    SPEED_MS_PER_TOKEN = {"gpt-4o": 6.0, "gpt-4o-mini": 3.0, "claude-sonnet-4-5": 8.0}

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale  # 0.0: no sleeping (tests, benchmarks)

    def complete(self, model: str, prompt: str, max_words: int = 60, fail: bool = False, cached_prefix: int = 0) -> Completion:
        seed = _h(model, prompt)
        words = 12 + seed % max(1, max_words - 12)
        vocabulary = ["order", "shipped", "refund", "account", "reset", "password", "ticket", "policy", "days", "support", "steps", "invoice"]
        text = " ".join(vocabulary[(seed >> (i % 24)) % len(vocabulary)] for i in range(words)) + "."
        out = tokens(text)
        latency_ms = 150 + out * self.SPEED_MS_PER_TOKEN.get(model, 5.0) + seed % 120
        if self.time_scale:
            time.sleep(latency_ms * self.time_scale / 1000)
        if fail:
            raise RateLimitError(f"{model}: rate limit exceeded (429)")
        inp = tokens(prompt)
        return Completion(text, inp, out, min(cached_prefix, inp), model)

    def embed(self, text: str) -> list[float]:
        if self.time_scale:
            time.sleep(0.01 * self.time_scale)
        return [((_h(text, i) % 1000) / 1000.0) for i in range(8)]
