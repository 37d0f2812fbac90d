"""The catalog entry: its JSON Schema and a table of its fields, from the pydantic model (catalog/model.py).

A field's line is its `description`, else the comment written beside or above it in the model."""
from __future__ import annotations

import inspect
import json
import re
import typing
from enum import Enum

from pydantic import BaseModel

from reference_pages.markdown import GENERATED, table, type_name, value

_FIELD = re.compile(r"^    ([a-z_]\w*)\s*:")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the model's source: the lines just above it, then the one beside it."""
    notes: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(model).splitlines()[1:]:
        if re.match(r"^    #", line):
            pending.append(line.strip().lstrip("#").strip())
            continue
        found = _FIELD.match(line)
        if found and found.group(1) in model.model_fields:
            beside = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            notes[found.group(1)] = " ".join([*pending, beside]).strip()
        pending = []
    return notes


def _nested(annotation: object) -> list[type]:
    """The models and enums a field's type names, in order."""
    if isinstance(annotation, type) and issubclass(annotation, (BaseModel, Enum)):
        return [annotation]
    return [found for arg in typing.get_args(annotation) for found in _nested(arg)]


def _models(root: type[BaseModel]) -> list[type]:
    """The entry's model and every model or enum reachable from its fields, breadth first."""
    order, queue = [root], [root]
    while queue:
        model = queue.pop(0)
        for field in model.model_fields.values():
            for found in _nested(field.annotation):
                if found not in order:
                    order.append(found)
                    if issubclass(found, BaseModel):
                        queue.append(found)
    return order


def _model_section(model: type[BaseModel]) -> str:
    notes = _comments(model)
    rows = [
        [f"`{name}`", f"`{type_name(field.annotation)}`",
         "required" if field.is_required() else value(field.get_default(call_default_factory=True)),
         field.description or notes.get(name, "")]
        for name, field in model.model_fields.items()
    ]
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")  # its own, not BaseModel's
    return f"### {model.__name__}\n\n{doc}\n\n" + table(["field", "type", "default", "what it is"], rows)


def _enum_rows(enums: list[type[Enum]]) -> list[list[object]]:
    return [[f"`{e.__name__}`", ", ".join(f"`{m.value}`" for m in e)] for e in enums]


def page() -> str:
    from catalog.model import Resource

    models = _models(Resource)
    sections = "\n\n".join(_model_section(m) for m in models if issubclass(m, BaseModel))
    enums = [m for m in models if issubclass(m, Enum)]
    schema = json.dumps(Resource.model_json_schema(), ensure_ascii=False, indent=2)
    return f"""# Catalog entry schema

{GENERATED} Source: `catalog.model.Resource`.

One YAML file per data resource under `catalog/resources/<department>/` is one `Resource`. How to
write one is in [Adding a dataset](../departments/adding-a-dataset.md); what the fields mean for
the flow is in [The catalog](../concepts/catalog.md). A bad entry is refused with its file and
field named (`kcdata catalog check`).

## Fields

{sections}

## Allowed values

{table(["type", "values"], _enum_rows(enums))}

## JSON Schema

The same model as JSON Schema (draft 2020-12), e.g. for an editor that checks YAML as you type.

```json
{schema}
```
"""
