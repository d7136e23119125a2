"""YAML with line numbers: the spec and the redaction policy report each problem at its line."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import Problem, SpecError


def compose(text: str, source: str, what: str = "spec") -> tuple[Any, dict[tuple, int]]:
    """The document as plain data, and the line of every path in it (a key's path: the key's line).
    Invalid YAML, an empty document and a key given twice are SpecErrors with their line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise SpecError(source, [_syntax_problem(e, text)], skipped=f"the {what}'s fields (the YAML must parse first)") from None
    if node is None:
        raise SpecError(source, [Problem("", f"the {what} is empty", 1)])
    lines: dict[tuple, int] = {}
    dups: list[_DuplicateKey] = []
    data = _walk(node, (), lines, dups)
    if dups:  # every one, in one run; which value was meant is unknown, so nothing is checked further
        raise SpecError(source, [Problem(fmt_path(d.path), f"key {d.key!r} appears twice", d.line) for d in dups],
                        skipped=f"the {what}'s fields (which of the repeated values was meant is unclear)")
    return data, lines


def _syntax_problem(e: yaml.YAMLError, text: str) -> Problem:
    """A parse error at the line where the culprit starts: an unclosed bracket or quote is found by the
    parser lines later (where something else begins), and PyYAML names the start as its context: the
    problem is reported there, with the key on that line, and the parser's line beside it."""
    mark, context, start = getattr(e, "problem_mark", None), getattr(e, "context", None), getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    if mark is not None and (open_at := _unclosed_quote(text, mark.line)) is not None and open_at != mark.line:
        # a quote left open closes at the next quote the parser meets (often in a comment lines later), and the
        # error it reports is about what follows: the line that opens a value's quote without closing it is the cause
        return Problem(_key_path_at(text, open_at), f"not valid YAML: the quoted value that starts here is not closed on its line "
                       f"(the parser stopped at line {mark.line + 1}: {problem})", open_at + 1)
    if start is not None and context and mark is not None and start.line != mark.line:
        what = context.removeprefix("while parsing ").removeprefix("while scanning ")
        return Problem(_key_path_at(text, start.line), f"not valid YAML: {what} that starts here is not closed "
                       f"(at line {mark.line + 1}: {problem})", start.line + 1)
    line = mark.line + 1 if mark else None
    return Problem(_key_path_at(text, mark.line) if mark else "", f"not valid YAML: {problem}", line)


_KEY = re.compile(r"([^\s#:\-\[\]{}'\"][^:#]*?)\s*:(?:\s|$)")


_QUOTED_VALUE = re.compile(r"""^\s*(?:-\s+)?(?:[^\s#:'"][^:#]*?\s*:\s+)?(["'])(.*)$""")


def _unclosed_quote(text: str, last: int) -> int | None:
    """The first line up to `last` (0-based) whose value opens a quote that its line does not close."""
    for i, raw in enumerate(text.splitlines()[: last + 1]):
        if not (m := _QUOTED_VALUE.match(raw)):
            continue
        quote, rest = m.group(1), m.group(2)
        if quote == "'":
            closed = "'" in rest.replace("''", "")
        else:
            closed = re.search(r'(?<!\\)(?:\\\\)*"', rest) is not None
        if not closed:
            return i
    return None


def _key_path_at(text: str, line: int) -> str:
    """The key path (`models[1].aliases`) of the block mapping key on 0-based `line`, from the block
    structure of the lines above it (indentation, `- ` items); "" where the line holds no key."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return ""
    stack: list[tuple[int, str | int]] = []  # (indent, key or list index) down to the current line
    for i, raw in enumerate(lines[: line + 1]):
        body = raw.expandtabs(1)
        stripped = body.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(body) - len(stripped)
        item = stripped.startswith("- ") or stripped == "-"
        if item:
            while stack and stack[-1][0] > indent:
                stack.pop()
            if stack and stack[-1][0] == indent and isinstance(stack[-1][1], int):
                stack[-1] = (indent, stack[-1][1] + 1)
            else:
                stack.append((indent, 0))
            rest = stripped[1:].lstrip(" ")
            indent = len(body) - len(rest)
            stripped = rest
        elif (m := _KEY.match(stripped)):
            while stack and stack[-1][0] >= indent:
                stack.pop()
        if (m := _KEY.match(stripped)):
            stack.append((indent, m.group(1)))
        if i == line:
            if not m and not item:  # a key's line, or a list item (a flow mapping on it: the item's path)
                return ""
            out = ""
            for _ind, part in stack:
                out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + part
            return out
    return ""


def fmt_path(loc: tuple) -> str:
    """('detectors', 2, 'regex') -> 'detectors[2].regex'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def nearest_line(loc: tuple, lines: dict[tuple, int]) -> int | None:
    """The line of loc, or of its nearest ancestor present in the document."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def with_lines(problems: list[Problem], lines: dict[tuple, int]) -> list[Problem]:
    """Problems that name their field by its printed path ('metadata_keys.gen_ai.request.model'),
    given the line of that field, or of its nearest enclosing field."""
    by_path = {fmt_path(loc): line for loc, line in lines.items()}
    out = []
    for p in problems:
        path, line = p.path, None
        while line is None:
            line = by_path.get(path)
            if not path:
                break
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        out.append(p if p.line else Problem(p.path, p.message, line))
    return out


class _DuplicateKey(Exception):
    def __init__(self, path: tuple, key: str, line: int):
        self.path, self.key, self.line = path, key, line


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int], dups: list) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k_node, v_node in node.value:
            key = _scalar(k_node)
            if key in out:
                dups.append(_DuplicateKey(path, key, k_node.start_mark.line + 1))
                continue
            lines[path + (key,)] = k_node.start_mark.line + 1
            out[key] = _walk(v_node, path + (key,), lines, dups)
            lines[path + (key,)] = k_node.start_mark.line + 1  # the key's line, not its value's
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(v, path + (i,), lines, dups) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
