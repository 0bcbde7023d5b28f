"""JSON dicts -> Kubernetes protobuf bodies, laid out the way gogo-generated Go code writes them.

Used by tests (to build bodies as kubectl would) and to answer clients that accept only protobuf.
Mirroring gogo matters for byte-for-byte agreement with Go: non-pointer (non-nullable) fields are
always written, zero or not; pointer fields only when the JSON has them; the zero metav1.Time is an
empty message.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from kubeprov.apiserver.protobuf.decode import MAGIC, UNKNOWN, FieldPlan, MessagePlan, ProtobufError, Schema

_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$")
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_UNIT_NANOS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_ZERO_TIME = "0001-01-01T00:00:00Z"
_INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})


def parse_time(text: str) -> tuple[int, int]:
    """RFC 3339 (as metav1.Time accepts it) -> (unix seconds, nanoseconds)."""
    m = _TIME.match(text)
    if not m:
        raise ProtobufError(f"{text!r} is not an RFC 3339 time")
    try:
        moment = dt.datetime(*(int(g) for g in m.group(1, 2, 3, 4, 5, 6)), tzinfo=dt.UTC)
    except ValueError as exc:
        raise ProtobufError(f"{text!r} is not a valid time: {exc}") from exc
    seconds = calendar.timegm(moment.timetuple())
    if m.group(9):
        offset = int(m.group(10)) * 3600 + int(m.group(11)) * 60
        seconds -= offset if m.group(9) == "+" else -offset
    nanos = int((m.group(7) or "0")[:9].ljust(9, "0"))
    return seconds, nanos


def parse_duration(text: str) -> int:
    """time.ParseDuration: "1h30m", "1.5s", "-2ms", "0" -> nanoseconds."""
    body = text
    sign = 1
    if body[:1] in "+-" and body:
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        raise ProtobufError(f"invalid duration {text!r}")
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m or not (m.group(1) or m.group(2)):
            raise ProtobufError(f"invalid duration {text!r}")
        try:
            number = Decimal(f"{m.group(1) or '0'}.{m.group(2) or '0'}")
        except InvalidOperation as exc:
            raise ProtobufError(f"invalid duration {text!r}") from exc
        total += number * _UNIT_NANOS[m.group(3)]
        pos = m.end()
    nanos = int(total) * sign
    if not -(2**63) <= nanos < 2**63:
        raise ProtobufError(f"duration {text!r} overflows")
    return nanos


def _raw_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _scalar(field_type: int, value: Any, path: str) -> Any:
    """Check and convert one JSON scalar for a proto field of ``field_type``."""
    if field_type in _INT_TYPES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtobufError(f"{path}: expected an integer, got {value!r}")
        return value
    if field_type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            raise ProtobufError(f"{path}: expected a boolean, got {value!r}")
        return value
    if field_type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            raise ProtobufError(f"{path}: expected a string, got {value!r}")
        return value
    if field_type == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str):
            raise ProtobufError(f"{path}: expected base64 text, got {value!r}")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtobufError(f"{path}: invalid base64 ({exc})") from exc
    if field_type in _FLOAT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtobufError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if field_type == FieldDescriptor.TYPE_ENUM:
        return value
    raise ProtobufError(f"{path}: unsupported field type {field_type}")


def _zero(field_type: int) -> Any:
    if field_type in _FLOAT_TYPES:
        return 0.0
    if field_type in _INT_TYPES or field_type == FieldDescriptor.TYPE_ENUM:
        return 0
    if field_type == FieldDescriptor.TYPE_BOOL:
        return False
    return ""


def _fill_special(schema: Schema, kind: str, value: Any, msg: Any, path: str, *, strict: bool) -> None:
    # Generated message classes have no static attributes, hence Any.
    msg.SetInParent()
    if kind in ("time", "microtime"):
        if value is None or value == _ZERO_TIME:
            return
        if not isinstance(value, str):
            raise ProtobufError(f"{path}: expected an RFC 3339 time, got {value!r}")
        seconds, nanos = parse_time(value)
        msg.seconds = seconds
        msg.nanos = nanos
    elif kind == "duration":
        if value is None:
            nanos = 0
        elif isinstance(value, str):
            nanos = parse_duration(value)
        else:
            raise ProtobufError(f"{path}: expected a duration string, got {value!r}")
        msg.duration = nanos
    elif kind == "quantity":
        if value is None:
            value = "0"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise ProtobufError(f"{path}: expected a quantity, got {value!r}")
        msg.string = value
    elif kind == "intorstring":
        is_str = isinstance(value, str)
        if value is not None and not is_str and (isinstance(value, bool) or not isinstance(value, int)):
            raise ProtobufError(f"{path}: expected an integer or a string, got {value!r}")
        msg.type = 1 if is_str else 0
        msg.intVal = 0 if is_str or value is None else value
        msg.strVal = value if is_str else ""
    elif kind == "raw":
        if value is not None:
            (field,) = msg.DESCRIPTOR.fields
            setattr(msg, field.name, _raw_bytes(value))
    elif kind == "list":
        if value is None:
            return
        if not isinstance(value, list):
            raise ProtobufError(f"{path}: expected a list, got {value!r}")
        plan = schema.plan(msg.DESCRIPTOR)
        _fill_repeated(schema, plan.fields[0], value, msg, path, strict=strict)
    else:
        raise AssertionError(kind)


def fill_message(schema: Schema, value: Any, msg: Message, path: str, *, strict: bool) -> None:
    """Set ``msg`` from its JSON form ``value`` (None meaning Go's zero value)."""
    plan = schema.plan(msg.DESCRIPTOR)
    if plan.special:
        _fill_special(schema, plan.special, value, msg, path, strict=strict)
        return
    msg.SetInParent()
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ProtobufError(f"{path}: expected an object, got {type(value).__name__}")
    if strict:
        extra = set(value) - plan.keys - {"apiVersion", "kind"}
        if extra:
            raise ProtobufError(f"{path}: unknown field(s) {', '.join(sorted(extra))} for {plan.full_name}")
    _fill_struct(schema, plan, value, msg, path, strict=strict)


def _fill_struct(
    schema: Schema, plan: MessagePlan, obj: Mapping[str, Any], msg: Message, path: str, *, strict: bool
) -> None:
    for field in plan.fields:
        sub_path = f"{path}.{field.name}" if path else field.name
        if field.inline:
            child = getattr(msg, field.name)
            child.SetInParent()
            child_plan = schema.plan(child.DESCRIPTOR)
            _fill_struct(schema, child_plan, obj, child, path, strict=strict)
            continue
        value = obj.get(field.name)
        try:
            if field.is_map:
                if value is not None:
                    _fill_map(schema, field, value, msg, sub_path, strict=strict)
            elif field.repeated:
                if value is not None:
                    _fill_repeated(schema, field, value, msg, sub_path, strict=strict)
            elif field.message is not None:
                if value is not None or not field.nullable:
                    fill_message(schema, value, getattr(msg, field.name), sub_path, strict=strict)
            elif value is not None:
                setattr(msg, field.name, _scalar(field.type, value, sub_path))
            elif not field.nullable and field.type != FieldDescriptor.TYPE_BYTES:
                # gogo writes non-pointer scalars even when zero.
                setattr(msg, field.name, _zero(field.type))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ProtobufError):
                raise
            raise ProtobufError(f"{sub_path}: {exc}") from exc


def _fill_repeated(schema: Schema, field: FieldPlan, value: Any, msg: Message, path: str, *, strict: bool) -> None:
    if not isinstance(value, list):
        raise ProtobufError(f"{path}: expected a list, got {type(value).__name__}")
    target = getattr(msg, field.name)
    for i, item in enumerate(value):
        if field.message is not None:
            fill_message(schema, item, target.add(), f"{path}[{i}]", strict=strict)
        else:
            target.append(_scalar(field.type, _zero(field.type) if item is None else item, f"{path}[{i}]"))


def _fill_map(schema: Schema, field: FieldPlan, value: Any, msg: Message, path: str, *, strict: bool) -> None:
    if not isinstance(value, Mapping):
        raise ProtobufError(f"{path}: expected an object, got {type(value).__name__}")
    target = getattr(msg, field.name)
    for key, item in value.items():
        if not isinstance(key, str):
            raise ProtobufError(f"{path}: map keys must be strings")
        if field.message is not None:
            fill_message(schema, item, target[key], f"{path}[{key}]", strict=strict)
        else:
            zero = _zero(field.value_type) if field.value_type != FieldDescriptor.TYPE_BYTES else ""
            target[key] = _scalar(field.value_type, zero if item is None else item, f"{path}[{key}]")


def encode_envelope(schema: Schema, obj: Mapping[str, Any], *, strict: bool = True) -> bytes:
    """JSON dict with apiVersion/kind -> ``k8s\\x00`` + runtime.Unknown, as Go's protobuf serializer writes it.

    ``strict`` rejects keys the schema does not know; without it they are dropped.
    """
    if not isinstance(obj, Mapping):
        raise ProtobufError("only a JSON object can be encoded")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise ProtobufError("the object needs string apiVersion and kind to be encoded")
    name = schema.resolve(api_version, kind)
    if name is None:
        raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
    msg = schema.message_class(name)()
    fill_message(schema, obj, msg, "", strict=strict)
    unknown: Any = schema.message_class(UNKNOWN)()
    unknown.typeMeta.apiVersion = api_version
    unknown.typeMeta.kind = kind
    unknown.raw = msg.SerializeToString(deterministic=True)
    unknown.contentEncoding = ""
    unknown.contentType = ""
    return MAGIC + unknown.SerializeToString(deterministic=True)
