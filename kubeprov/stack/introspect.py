"""What a stack file may contain at a given field path, read from the model's type hints.

Used for "did you mean" suggestions: the keys a mapping accepts, or the values a field allows.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from kubeprov.stack.errors import Loc


def choices_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Keys or values allowed at ``loc``: a model's YAML keys, a Literal's values or union tags."""
    target = _type_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [field.alias or name for name, field in target.model_fields.items()]
    if get_origin(target) is Literal:
        return [str(arg) for arg in get_args(target)]
    return [tag for member in _models_of(target) if (tag := _tag_of(member))]


def _type_at(model: type[BaseModel], loc: Loc) -> Any:
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        origin = get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = next(
                (f.annotation for n, f in current.model_fields.items() if part in (n, f.alias)), None
            )
        elif origin is list and isinstance(part, int):
            current = get_args(current)[0]
        elif origin is dict:
            current = get_args(current)[1]
        elif _models_of(current):
            current = next((m for m in _models_of(current) if _tag_of(m) == part), None)
        else:
            return None
    return _unwrap(current)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the walk sees the type that matters."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    if get_origin(annotation) not in (Union, types.UnionType):
        return []
    return [arg for arg in get_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)]


def _tag_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return str(get_args(field.annotation)[0])
