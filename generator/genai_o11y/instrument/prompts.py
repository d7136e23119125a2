"""Prompt registry: every prompt has a name, a version label and a content hash, and every model
span says which one produced it (genai_o11y.prompt.template / .version / .hash, gen_ai.prompt.name)."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    template: str

    @property
    def hash(self) -> str:
        """First 16 hex of SHA-256 of the template: a changed text under an unchanged label shows."""
        return hashlib.sha256(self.template.encode()).hexdigest()[:16]

    def render(self, **values: object) -> str:
        return string.Template(self.template).safe_substitute(**{k: str(v) for k, v in values.items()})


class PromptRegistry:
    def __init__(self) -> None:
        self._prompts: dict[tuple[str, str], Prompt] = {}
        self._current: dict[str, str] = {}

    def register(self, name: str, version: str, template: str, current: bool = True) -> Prompt:
        key = (name, version)
        if key in self._prompts and self._prompts[key].template != template:
            raise UserError(f"prompt {name!r} version {version!r} is already registered with a different text: give the new text a new version")
        p = self._prompts[key] = Prompt(name, version, template)
        if current or name not in self._current:
            self._current[name] = version
        return p

    def get(self, name: str, version: str | None = None) -> Prompt:
        v = version or self._current.get(name)
        try:
            return self._prompts[(name, v)]  # type: ignore[index]
        except KeyError:
            known = ", ".join(f"{n}:{ver}" for n, ver in sorted(self._prompts)) or "none"
            raise UserError(f"no prompt {name!r} version {v!r} registered (known: {known})") from None

    def use(self, name: str, version: str) -> Prompt:
        """Make `version` the one get(name) returns (a rollout or a rollback)."""
        p = self.get(name, version)
        self._current[name] = version
        return p
