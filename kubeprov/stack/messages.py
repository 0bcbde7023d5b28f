"""Pydantic validation errors in plain words, each with a fix.

Stack files are written by people who should not need to know pydantic's vocabulary
("Input should be a valid integer"), so every error type a stack file can hit is rephrased here.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Sequence
from typing import Any

from pydantic_core import ErrorDetails

from kubeprov.stack.errors import CHECK_ERROR, SCHEMA_HINT

_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping of 'key: value' lines",
    "model_type": "a mapping of 'key: value' lines",
    "model_attributes_type": "a mapping of 'key: value' lines",
    "list_type": "a list",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def explain(error: ErrorDetails, choices: Sequence[str]) -> tuple[str, str]:
    """What is wrong and how to fix it, for one pydantic error.

    ``choices`` are the keys or values allowed where the error is (``introspect.choices_at``);
    they feed the "did you mean" suggestions.
    """
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    key = next(
        (str(part) for part in reversed(error["loc"]) if isinstance(part, str) and part != "[key]"), ""
    )
    if kind == CHECK_ERROR:
        return str(ctx["message"]), str(ctx["fix"])
    if kind == "invalid_key":
        return f"the key {describe(value)} is not text", f"put the key in quotes: '{_yaml_text(value)}'"
    if kind == "missing":
        return f"'{key}' is required", f"add '{key}:' here"
    if kind == "extra_forbidden":
        guess = closest(key, choices)
        if guess:
            return f"unknown key '{key}'; did you mean '{guess}'?", f"rename it to '{guess}'"
        return f"unknown key '{key}'", f"remove it; the keys allowed here are {', '.join(choices)}"
    if kind in ("literal_error", "union_tag_invalid"):
        given = str(ctx.get("tag", value))
        guess = closest(given, choices)
        suffix = f"; did you mean '{guess}'?" if guess else ""
        return f"'{given}' is not allowed{suffix}", f"use one of: {', '.join(choices)}"
    if kind == "union_tag_not_found":
        return "the provider has no type", f"add 'type:' with one of: {', '.join(choices)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}", _type_fix(kind, key, value)
    if kind in _BOUNDS:
        bound_key, words = _BOUNDS[kind]
        return (
            f"must be {words} {ctx[bound_key]}, got {describe(value)}",
            f"use a number {words} {ctx[bound_key]}",
        )
    if kind in ("too_short", "too_long"):
        return f"has {ctx.get('actual_length')} item(s), expected {_length_words(ctx)}", "add or remove items"
    return error["msg"], f"see the field in the schema ({SCHEMA_HINT})"


def _length_words(ctx: dict[str, Any]) -> str:
    if "min_length" in ctx:
        return f"at least {ctx['min_length']}"
    return f"at most {ctx.get('max_length')}"


def _type_fix(kind: str, key: str, value: object) -> str:
    if value is None:
        return f"give '{key}' a value"
    if kind.startswith("int"):
        return "write a whole number without quotes, such as 3"
    if kind.startswith("bool"):
        return "write true or false"
    if kind == "list_type":
        return f"write each item of '{key}' on its own line starting with '- '"
    if kind.endswith("_type") and kind.startswith(("dict", "model")):
        return f"write 'key: value' lines indented under '{key}'"
    if kind == "string_type" and not isinstance(value, dict | list):
        return f"put the value in quotes: '{_yaml_text(value)}'"
    if kind == "string_type":
        return "write a single value"
    return f"see the field in the schema ({SCHEMA_HINT})"


def describe(value: object) -> str:
    """A YAML value as the user wrote it, for "got ..." in messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    return str(value)


def _yaml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return "" if value is None else str(value)


def closest(word: str, choices: Sequence[str]) -> str | None:
    """The choice most like ``word`` (ignoring case), for "did you mean" suggestions."""
    by_lower = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None
