"""One way to declare and check a TOML configuration file: a strict pydantic model.

Every configuration file cjgrade reads (the home ``config.toml`` of :mod:`cjgrade.config`, an
input folder's ``config.toml`` of :mod:`cjgrade.runner.inputs` and a grade-scale file of
:mod:`cjgrade.scales.toml_loader`) is declared as a :class:`ConfigTable` subclass and checked
with :func:`validate_table`. Unknown keys and sections are errors whose message names the file,
the key, the table and the allowed keys; type and range errors name the key and its value.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cjgrade.errors import ConfigError

__all__ = ["ConfigTable", "validate_table"]

T = TypeVar("T", bound="ConfigTable")


class ConfigTable(BaseModel):
    """Base of every configuration table: frozen, strict types, unknown keys forbidden,
    ``nan`` and ``inf`` refused for numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def validate_table(model: type[T], data: Mapping[str, Any], *, source: str) -> T:
    """``data`` checked against ``model``; any problem is a :class:`ConfigError` naming
    ``source`` (the file), every offending key and what is allowed there."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        problems = [describe_error(model, err) for err in exc.errors(include_url=False)]
        raise ConfigError(f"{source}: {'; '.join(problems)}") from None


_TYPE_WORDS = {
    "int_type": "a whole number",
    "float_type": "a number",
    "string_type": "a quoted string",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a [table]",
    "dict_type": "a [table]",
    "literal_error": "one of the listed values",
}


def describe_error(model: type[BaseModel], err: Mapping[str, Any]) -> str:
    """One pydantic error as a sentence naming the key and its table."""
    loc = tuple(err["loc"])
    key = str(loc[-1]) if loc else ""
    parent = _model_at(model, loc[:-1])
    where = _where(loc[:-1])
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(parent.model_fields) if parent is not None else ""
        if not where and isinstance(err.get("input"), dict):
            sections = [n for n in model.model_fields if _submodel(model, n) is not None]
            return (f"unknown section [{key}]; allowed sections: "
                    f"{', '.join(f'[{s}]' for s in sections)}")
        return f"unknown key {key!r}{where}; allowed: {allowed}"
    if isinstance(loc[-1] if loc else None, int):  # an item of a list: name the list
        key, where = f"item {loc[-1] + 1} of {loc[-2]}", _where(loc[:-2])
    name = f"{where.removeprefix(' in ')} {key}" if where else key
    value = err.get("input")
    shown = f"{type(value).__name__} {value!r}"
    if kind in _TYPE_WORDS:
        return f"{name} must be {_TYPE_WORDS[kind]}, not {shown}"
    if kind == "finite_number":
        return f"{name} must be a finite number (got {value!r})"
    if kind == "string_too_short":
        return f"{name} must not be empty"
    if kind == "missing":
        return f"{name} is required"
    ctx = err.get("ctx") or {}
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("above", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("below", "lt")}
    if kind in bounds:
        word, bound = bounds[kind]
        return f"{name} must be {word} {ctx.get(bound)} (got {value!r})"
    message = str(err.get("msg", "is not valid")).removeprefix("Value error, ")
    return f"{name} {message}" if message.startswith(("is ", "must ")) else f"{name}: {message}"


def _where(path: tuple[Any, ...]) -> str:
    """`` in [run]``, `` in [[scale]] #2``; empty at the top level."""
    parts: list[str] = []
    for part in path:
        if isinstance(part, int) and parts:
            parts[-1] = f"[{parts[-1]}] #{part + 1}"
        else:
            parts.append(f"[{part}]")
    return f" in {'.'.join(parts)}" if parts else ""


def _model_at(model: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int):
            continue
        if current is None:
            return None
        current = _submodel(current, str(part))
    return current


def _submodel(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    """The model of field ``name`` (also inside ``X | None`` or ``list[X]``), else None."""
    info = model.model_fields.get(name)
    if info is None:
        return None
    pending: list[Any] = [info.annotation]
    while pending:
        tp = pending.pop()
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        origin = typing.get_origin(tp)
        if origin is typing.Union or origin is types.UnionType or origin in (list, tuple):
            pending.extend(typing.get_args(tp))
        elif origin is typing.Annotated:
            pending.append(typing.get_args(tp)[0])
    return None
