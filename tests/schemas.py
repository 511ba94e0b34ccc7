"""Check rendered manifests against real CRD schemas shipped as pydantic models (cloudcoil).

The models accept unknown fields, so `strict_validate` also walks the object and rejects any
field the schema does not define — a misspelt field must fail the test, as the API server's
structural schema would prune or reject it.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel


def strict_validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    parsed = model.model_validate(data)
    problems: list[str] = []
    _unknown_fields(model, data, model.__name__, problems)
    assert not problems, "fields not in the schema: " + ", ".join(problems)
    return parsed


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """('item'|'value'|'', model) for each pydantic model an annotation can hold."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, typing.List):  # noqa: UP006 - the generated models use typing.List
        return [("item", m) for _, m in _models_in(args[0])] if args else []
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [("value", m) for _, m in _models_in(args[1])] if len(args) == 2 else []
    found = []
    for arg in args:  # Optional / Union / Annotated
        found.extend(_models_in(arg))
    return found


def _unknown_fields(model: type[BaseModel], data: Any, path: str, problems: list[str]) -> None:
    if not isinstance(data, dict):
        return
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key, value in data.items():
        if key not in fields:
            problems.append(f"{path}.{key}")
            continue
        for kind, sub in _models_in(fields[key].annotation):
            if kind == "item" and isinstance(value, list):
                for index, item in enumerate(value):
                    _unknown_fields(sub, item, f"{path}.{key}[{index}]", problems)
            elif kind == "value" and isinstance(value, dict):
                for name, item in value.items():
                    _unknown_fields(sub, item, f"{path}.{key}.{name}", problems)
            elif kind == "":
                _unknown_fields(sub, value, f"{path}.{key}", problems)
