"""Read a spec file: YAML with line numbers -> validated Spec, or a SpecError listing every problem."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import redaction_policy
from ..errors import Problem, SpecError
from ..yamlines import compose as _compose, fmt_path as _fmt_path, nearest_line as _nearest_line
from . import checks
from .model import Spec

DEFAULT_SOURCE = "<embedded default spec>"


def default_text() -> str:
    return resources.files("genai_o11y.spec").joinpath("default.yaml").read_text(encoding="utf-8")


def load(path: str | Path | None = None) -> Spec:
    """Load and validate a spec; None means the embedded default."""
    if path is None:
        return parse(default_text(), DEFAULT_SOURCE)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(p), [Problem("", "file not found")]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise SpecError(str(p), [Problem("", f"cannot read the file: {e}")]) from None
    return parse(text, str(p), p.parent)


def parse(text: str, source: str, base_dir: Path | None = None) -> Spec:
    """Validate a spec's text; a relative `redaction.policy` is relative to base_dir (the spec's
    directory; default: the working directory). The policy file is parsed here, once, and its
    problems reported with their lines like the spec's."""
    data, lines = _compose(text, source)
    if not isinstance(data, dict):
        raise SpecError(source, [Problem("", "the spec must be a YAML mapping (key: value)", 1)])
    problems: list[Problem] = []
    invalid: set[str] = set()  # top-level sections with errors of their own
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        problems = [_problem(err, lines) for err in errors]
        invalid = {str(err["loc"][0]) for err in errors if err["loc"]}
        spec = _stand_in(data, invalid) if all(err["loc"] for err in errors) else None
        if spec is None:
            raise SpecError(source, problems, skipped="the checks across fields and the redaction policy file") from None
    # every later check that does not read an invalid section runs too: all problems in one run
    problems += [Problem(_fmt_path(loc), msg, _nearest_line(loc, lines)) for loc, msg in checks.run(spec, invalid)]
    skipped = checks.skipped(invalid)
    policy = None
    if "redaction" in invalid:
        skipped.append("the redaction policy file")
    else:
        pol = spec.redaction.policy
        if pol and base_dir is not None and not Path(pol).is_absolute():
            spec = spec.model_copy(update={"redaction": spec.redaction.model_copy(update={"policy": str(base_dir / pol)})})
        try:
            policy = redaction_policy.load(spec.redaction.policy, allow_from_spec=False)
        except SpecError as e:
            if not problems:
                raise
            problems += [p if p.source else Problem(p.path, p.message, p.line, e.source) for p in e.problems]
    if problems:
        raise SpecError(source, problems, skipped="; ".join(skipped) or None)
    spec.attach_policy(policy)
    return spec


def _stand_in(data: dict, invalid: set[str]) -> Spec | None:
    """The spec with each invalid top-level section replaced by the embedded default's (or dropped: its
    field default), so the checks that do not read those sections can run; None if it still fails."""
    default, _ = _compose(default_text(), DEFAULT_SOURCE)
    doc = {k: v for k, v in data.items() if k not in invalid}
    doc.update({k: default[k] for k in invalid if k in default})
    try:
        return Spec.model_validate(doc)
    except ValidationError:
        return None


# --- pydantic errors -> problems --------------------------------------------------------------------

def _problem(err: dict, lines: dict[tuple, int]) -> Problem:
    loc = _real_loc(err["loc"], lines)
    line = _nearest_line(loc, lines)
    return Problem(_fmt_path(loc), _message(err, loc), line)


def _real_loc(loc: tuple, lines: dict[tuple, int]) -> tuple:
    """Keep the parts of pydantic's loc that exist in the document (or are the failing leaf)."""
    out: tuple = ()
    for i, part in enumerate(loc):
        cand = out + (part,)
        if cand in lines or i == len(loc) - 1 and isinstance(part, (str, int)) and not _is_internal(part):
            out = cand
    return out


def _is_internal(part: Any) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part in {"str", "int", "float", "decimal", "bool", "none", "list", "dict"} or "[" in part)


def _message(err: dict, loc: tuple) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required field is missing"
    if kind in ("greater_than_equal", "greater_than", "less_than", "less_than_equal"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()))
        return f"must be {op} {bound} (got {err.get('input')!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {err.get('input')!r})"
    if kind == "string_pattern_mismatch":
        return f"{err.get('input')!r} does not have the expected form ({_pattern_hint(str(ctx.get('pattern', '')))})"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    msg = err["msg"]
    return msg[0].lower() + msg[1:] if msg else kind


def _pattern_hint(pattern: str) -> str:
    hints = {
        r"^[^\s:]*:\d{1,5}$": "host:port",
        r"^(https?://\S+|\$\{env:[A-Za-z_][A-Za-z0-9_]*\})$": "an http(s):// URL or ${env:VAR}",
        r"^[A-Z][A-Z0-9_]*$": "UPPER_CASE name",
    }
    return hints.get(pattern, f"pattern {pattern}")


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = Spec
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
