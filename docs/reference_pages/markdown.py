"""Small Markdown helpers shared by the generated pages."""
from __future__ import annotations

import html
import types
import typing
from enum import Enum
from pathlib import Path

from common.settings import PROJECT_ROOT

GENERATED = "*Generated from the code when this site is built; do not edit.*"


def text(value: str) -> str:
    """Help text as Markdown: no stray HTML (`inbox/<table>/` is a path, not a tag); code spans kept as written."""
    parts = value.split("`")
    return "`".join(part if n % 2 else html.escape(part, quote=False) for n, part in enumerate(parts))


def cell(value: object) -> str:
    """One table cell: escaped, on one line, pipes kept literal."""
    return text(" ".join(str(value).split())).replace("|", "\\|")


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def type_name(annotation: object) -> str:
    """A type as a reader writes it: `list[str] | None`, not `typing.Optional[typing.List[str]]`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is None:
        return getattr(annotation, "__name__", str(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"


def value(default: object) -> str:
    """A default as the reader would write it: enums by value, paths relative to the repository."""
    if isinstance(default, Enum):
        default = default.value
    if isinstance(default, Path):
        try:
            return f"`{default.relative_to(PROJECT_ROOT)}`"
        except ValueError:
            return f"`{default}`"
    return f"`{default!r}`"
