"""Small helpers to write OTTL safely: every literal goes through here."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterable


def q(s: str) -> str:
    """An OTTL string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr(key: str, ctx: str = "span") -> str:
    return f"{ctx}.attributes[{q(key)}]"


def num(value: Decimal | float | int) -> str:
    """A float literal OTTL accepts (always with a decimal point: OTTL will not mix int and float)."""
    d = Decimal(str(value))
    text = format(d.normalize(), "f")
    return text if "." in text else text + ".0"


def any_of(path: str, values: Iterable[str]) -> str:
    """`path` equals one of `values` (an OTTL condition)."""
    vals = list(values)
    if not vals:
        return "false"
    return "(" + " or ".join(f"{path} == {q(v)}" for v in vals) + ")"


def one_of_regex(values: Iterable[str]) -> str:
    """An anchored RE2 alternation matching exactly these literal values."""
    return "^(" + "|".join(re.escape(v) for v in values) + ")$"
