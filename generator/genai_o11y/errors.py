"""Error kinds the CLI knows how to report.

UserError and its subclasses are the user's to fix (a broken spec, a missing tool, an unreachable
backend): the CLI prints them without a traceback and exits 2. Anything else is our bug.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A problem the user can fix; printed as is, no traceback."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where (field path and line) and what."""

    path: str
    message: str
    line: int | None = None
    source: str | None = None  # another file than the spec's (its redaction policy)

    def render(self, source: str) -> str:
        source = self.source or source
        where = f"{source}:{self.line}" if self.line else source
        field = self.path or "(top level)"
        return f"{where}: {field}: {self.message}"


class SpecError(UserError):
    """Every problem found in one spec, reported together."""

    def __init__(self, source: str, problems: list[Problem], skipped: str | None = None):
        self.source = source
        # the spec's own problems first, then those of the files it names, each file in line order
        self.problems = sorted(problems, key=lambda p: (p.source is not None, p.source or "", p.line or 0, p.path, p.message))
        self.skipped = skipped  # which checks could not run because of these problems (None: every check ran)
        super().__init__(self.render())

    def render(self) -> str:
        n = len(self.problems)
        head = f"{self.source}: {n} problem{'s' if n != 1 else ''} in the spec"
        tail = [f"  further checks skipped until these are fixed: {self.skipped}"] if self.skipped else []
        return "\n".join([head] + ["  " + p.render(self.source) for p in self.problems] + tail)


class ToolMissing(UserError):
    """A validator or binary we need is not installed."""


def exit_code(run) -> int:
    """Run a command (a callable returning an exit code, or None for 0); a UserError is printed as
    `error: ...` without a traceback and exits 2. The entry points of the CLI and the Makefile's modules."""
    import sys

    try:
        return run() or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
