"""Field-level validation errors, rendered exactly as the Kubernetes API server renders them.

Clients (kubectl, the official client libraries, people reading logs) see these strings in
``Status.message`` and ``Status.details.causes``, so the wording, the quoting of values and the
shape of field paths (``spec.containers[0].image``, ``metadata.labels[app]``) follow Kubernetes.

Bad values are rendered the way the API server prints them: integers, floats and booleans
plainly, strings Go-quoted (``"x"``), ``None`` as ``null``, and composite values (dicts, lists)
as compact JSON with sorted keys.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    """Machine-readable error kinds; the values double as ``StatusCause.reason``."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def label(self) -> str:
        """The human wording that starts the error body (``Invalid value``...)."""
        return _LABELS[self]


_LABELS: dict[ErrorType, str] = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}

# Error kinds whose body never shows the bad value.
_VALUELESS = frozenset({ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL})


class _Omit:
    """Marker for "no value to show" (``Too many`` without a count)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


# --------------------------------------------------------------------------- paths


class Path:
    """An immutable field path, rendered like Kubernetes' ``field.Path``.

    ``Path("spec").child("containers").index(0).child("image")`` renders as
    ``spec.containers[0].image``; ``Path("metadata").child("labels").key("app")`` as
    ``metadata.labels[app]``. ``Path()`` is the empty root, whose first child has no dot.
    """

    __slots__ = ("_parts",)

    def __init__(self, *names: str) -> None:
        self._parts: tuple[tuple[str, str], ...] = tuple(("name", n) for n in names if n != "")

    @classmethod
    def _from(cls, parts: tuple[tuple[str, str], ...]) -> Path:
        path = cls()
        path._parts = parts
        return path

    def child(self, name: str, *more: str) -> Path:
        """The path to a named field below this one (more names go further down)."""
        parts = self._parts + (("name", name),) + tuple(("name", m) for m in more)
        return Path._from(parts)

    def index(self, i: int) -> Path:
        """The path to element ``i`` of the list at this path."""
        return Path._from(self._parts + (("index", str(i)),))

    def key(self, k: str) -> Path:
        """The path to key ``k`` of the map at this path."""
        return Path._from(self._parts + (("index", k),))

    def __str__(self) -> str:
        out: list[str] = []
        for position, (kind, text) in enumerate(self._parts):
            if kind == "name":
                if position > 0:
                    out.append(".")
                out.append(text)
            else:
                out.append(f"[{text}]")
        return "".join(out)

    def __repr__(self) -> str:
        return f"Path({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Path) and self._parts == other._parts

    def __hash__(self) -> int:
        return hash(self._parts)


def _field_text(field: str | Path | None) -> str:
    if field is None:
        return "<nil>"
    return str(field)


# --------------------------------------------------------------------------- rendering


def go_quote(s: str) -> str:
    """Quote ``s`` as Go's ``strconv.Quote`` (``%q``) does, which Kubernetes uses everywhere."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or (ch.isprintable() and code != 0x7F):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_float(x: float) -> str:
    """Format a float like Go's ``%v`` (shortest form, exponent only below 1e-4 or from 1e21)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x)) if x != 0 or math.copysign(1.0, x) > 0 else "-0"
    return repr(x)


def go_json(value: Any) -> str:
    """Encode ``value`` as Go's ``json.Marshal`` does: compact, sorted keys, HTML-safe escapes."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{_go_json_string(str(k))}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    if hasattr(value, "to_json"):
        return go_json(value.to_json())
    return _go_json_string(str(value))


def _go_json_float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        return "null"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    if abs(x) < 1e-6 or abs(x) >= 1e21:
        return re.sub(r"e-0(\d)$", r"e-\1", repr(x))
    return format(Decimal(repr(x)), "f")


def _go_json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_value(value: Any) -> str:
    """Render a bad value the way the API server prints it inside an error body."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class FieldError:
    """One validation failure at one field, like Kubernetes' ``field.Error``."""

    type: ErrorType
    field: str
    value: Any = ""
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ErrorType(self.type))
        if not isinstance(self.field, str):
            object.__setattr__(self, "field", _field_text(self.field))

    def body(self) -> str:
        """The message without the field name (``StatusCause.message``)."""
        if self.type in _VALUELESS or self.value is OMIT:
            text = self.type.label
        else:
            text = f"{self.type.label}: {render_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        """The ``metav1.StatusCause`` describing this error."""
        return {"reason": str(self.type), "message": self.body(), "field": self.field}


def required(field: str | Path | None, detail: str = "") -> FieldError:
    """A value that must be given is missing (empty strings, nulls, empty lists)."""
    return FieldError(ErrorType.REQUIRED, _field_text(field), "", detail)


def invalid(field: str | Path | None, value: Any, detail: str) -> FieldError:
    """A value is malformed (failed regex, out of range...)."""
    return FieldError(ErrorType.INVALID, _field_text(field), value, detail)


def type_invalid(field: str | Path | None, value: Any, detail: str) -> FieldError:
    """A value has the wrong JSON type for its field."""
    return FieldError(ErrorType.TYPE_INVALID, _field_text(field), value, detail)


def not_supported(field: str | Path | None, value: Any, supported: Iterable[str]) -> FieldError:
    """A value is not one of an enumeration; the supported values are listed, quoted."""
    values = [go_quote(str(v)) for v in supported]
    detail = "supported values: " + ", ".join(values) if values else ""
    return FieldError(ErrorType.NOT_SUPPORTED, _field_text(field), value, detail)


def duplicate(field: str | Path | None, value: Any) -> FieldError:
    """A value that must be unique is repeated."""
    return FieldError(ErrorType.DUPLICATE, _field_text(field), value, "")


def not_found(field: str | Path | None, value: Any) -> FieldError:
    """A value refers to something that does not exist."""
    return FieldError(ErrorType.NOT_FOUND, _field_text(field), value, "")


def forbidden(field: str | Path | None, detail: str) -> FieldError:
    """A well-formed value that is not allowed here or now."""
    return FieldError(ErrorType.FORBIDDEN, _field_text(field), "", detail)


def too_long(field: str | Path | None, max_length: int) -> FieldError:
    """A value longer than ``max_length`` bytes; the value itself is never echoed."""
    if max_length >= 0:
        unit = "byte" if max_length == 1 else "bytes"
        detail = f"may not be more than {max_length} {unit}"
    else:
        detail = "value is too long"
    return FieldError(ErrorType.TOO_LONG, _field_text(field), "<value omitted>", detail)


def too_many(field: str | Path | None, actual: int, maximum: int) -> FieldError:
    """A list with more than ``maximum`` items (``actual`` < 0 hides the count)."""
    if maximum >= 0:
        detail = f"must have at most {maximum} {'item' if maximum == 1 else 'items'}"
    else:
        detail = "has too many items"
    return FieldError(ErrorType.TOO_MANY, _field_text(field), actual if actual >= 0 else OMIT, detail)


def internal_error(field: str | Path | None, message: str) -> FieldError:
    """A failure not caused by the user's input."""
    return FieldError(ErrorType.INTERNAL, _field_text(field), None, message)


# Common detail texts used across validation.
NEGATIVE_MSG = "must be greater than or equal to 0"
IMMUTABLE_MSG = "field is immutable"


def aggregate(errors: Iterable[FieldError | str]) -> str:
    """Join errors the way Kubernetes' error aggregates do.

    Duplicate messages are dropped; one message is returned as is and several are joined
    with ``, `` inside brackets. An empty input gives an empty string.
    """
    seen: list[str] = []
    for err in errors:
        msg = str(err)
        if msg not in seen:
            seen.append(msg)
    if len(seen) == 1:
        return seen[0]
    if not seen:
        return ""
    return "[" + ", ".join(seen) + "]"
