"""Kubernetes protobuf bodies -> the JSON dicts the API server works on.

A protobuf body is ``k8s\\x00`` followed by a ``runtime.Unknown`` whose ``raw`` holds the object's own
message. The message schemas come from the descriptors ``extract`` pulled out of kubectl. The JSON
we produce is what Go's ``encoding/json`` would print for the same Go struct, which the descriptors
let us reconstruct:

* go-to-protobuf marks every non-pointer Go field ``(gogoproto.nullable) = false``. gogo always writes
  such fields, so on the wire a zero scalar there is just Go's zero value: we drop it like ``omitempty``.
  Pointer fields are written only when set, so a present ``replicas: 0`` is kept.
* A non-pointer struct is never omitted by Go, so non-nullable message fields are always emitted
  (``spec: {}``, ``creationTimestamp: null``).
* A handful of apimachinery types have their own JSON form (times, durations, quantities,
  int-or-string, raw JSON) and a few Go fields are embedded with ``json:",inline"``.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

DESCRIPTOR_FILE = Path(__file__).with_name("k8s-descriptors.binpb.gz")
MAGIC = b"k8s\x00"
PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

META_V1 = "k8s.io.apimachinery.pkg.apis.meta.v1"
RUNTIME = "k8s.io.apimachinery.pkg.runtime"
UNKNOWN = f"{RUNTIME}.Unknown"

# How the apimachinery types with a custom JSON form are written.
SPECIAL_TYPES: Mapping[str, str] = MappingProxyType(
    {
        f"{META_V1}.Time": "time",
        f"{META_V1}.MicroTime": "microtime",
        f"{META_V1}.Duration": "duration",
        f"{META_V1}.FieldsV1": "raw",
        f"{RUNTIME}.RawExtension": "raw",
        "k8s.io.apimachinery.pkg.api.resource.Quantity": "quantity",
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "intorstring",
    }
)

# Go fields embedded with `json:",inline"`, as (proto field name, simple message name). The descriptors
# cannot tell these apart from ordinary fields named after their type (`securityContext`), hence a list.
INLINE_FIELDS = frozenset(
    {
        ("typeMeta", "TypeMeta"),
        ("volumeSource", "VolumeSource"),
        ("persistentVolumeSource", "PersistentVolumeSource"),
        ("handler", "ProbeHandler"),
        ("ephemeralContainerCommon", "EphemeralContainerCommon"),
        ("localObjectReference", "LocalObjectReference"),
        ("ingressRuleValue", "IngressRuleValue"),
        ("rule", "Rule"),
        ("ruleWithOperations", "RuleWithOperations"),
        ("deviceConfiguration", "DeviceConfiguration"),
    }
)

# Kinds that metav1 registers into every group version: a DeleteOptions body for a Deployment arrives
# typed `apps/v1, DeleteOptions`.
META_KINDS = frozenset(
    {
        "DeleteOptions",
        "CreateOptions",
        "UpdateOptions",
        "PatchOptions",
        "GetOptions",
        "ListOptions",
        "WatchEvent",
        "Status",
        "List",
        "APIVersions",
        "APIGroup",
        "APIGroupList",
        "APIResourceList",
    }
)

# API groups whose proto package is not `k8s.io.api.<first label of the group>`.
GROUP_PACKAGES: Mapping[str, str] = MappingProxyType(
    {
        "": "k8s.io.api.core",
        "internal.apiserver.k8s.io": "k8s.io.api.apiserverinternal",
        "metrics.k8s.io": "k8s.io.metrics.pkg.apis.metrics",
        "meta.k8s.io": "k8s.io.apimachinery.pkg.apis.meta",
    }
)

# gogoproto option numbers (github.com/gogo/protobuf/gogoproto/gogo.proto).
_GOGO_NULLABLE = 65001
_GOGO_GOPROTO_STRINGER = 64003

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MISSING = object()


class ProtobufError(ValueError):
    """A protobuf body (or object to encode) that cannot be converted; the message says why."""


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """What the JSON walkers need to know about one proto field, computed once per message type."""

    name: str
    number: int
    type: int
    repeated: bool
    is_map: bool
    nullable: bool
    inline: bool
    # Full name of the message type (of the map value, for maps); None for scalars.
    message: str | None
    # Descriptor type (FieldDescriptor.TYPE_*) of one element: the field's own, or the map value's.
    value_type: int
    enum: Any


@dataclass(frozen=True, slots=True)
class MessagePlan:
    full_name: str
    fields: tuple[FieldPlan, ...]
    # JSON keys this message accepts, including those of inlined children.
    keys: frozenset[str]
    # "time", "quantity", ... for types with their own JSON form; "list" for named Go slices; else "".
    special: str


def _walk_messages(prefix: str, messages: Any) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    for m in messages:
        name = f"{prefix}.{m.name}"
        yield name, m
        yield from _walk_messages(name, m.nested_type)


def _option(options: Message, number: int) -> int | bytes | None:
    for item in UnknownFieldSet(options):
        if item.field_number == number:
            return item.data
    return None


def _is_repeated(fd: FieldDescriptor) -> bool:
    # protobuf 6 deprecates `label` in favour of `is_repeated`, which older releases lack.
    repeated = getattr(fd, "is_repeated", None)
    return bool(repeated) if repeated is not None else fd.label == FieldDescriptor.LABEL_REPEATED


class Schema:
    """A descriptor pool plus per-type plans and classes. Built once per codec, read-only afterwards
    except for the lazily filled caches."""

    def __init__(self, fds: descriptor_pb2.FileDescriptorSet) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self._non_nullable: set[tuple[str, str]] = set()
        self._named_slices: set[str] = set()
        self._top_level: set[str] = set()
        self._plans: dict[str, MessagePlan] = {}
        self._classes: dict[str, type[Message]] = {}
        files = {f.name: f for f in fds.file}
        added: set[str] = set()

        def add(name: str) -> None:
            if name in added:
                return
            added.add(name)
            fdp = files.get(name)
            if fdp is None:
                # Imports we do not carry (gogo.proto) only define options; an empty file satisfies the pool.
                self.pool.Add(descriptor_pb2.FileDescriptorProto(name=name, package=""))
                return
            for dep in fdp.dependency:
                add(dep)
            self.pool.Add(fdp)

        try:
            for name, fdp in files.items():
                add(name)
                self._scan(fdp)
        except (TypeError, ValueError) as exc:
            raise ProtobufError(f"inconsistent protobuf descriptors: {exc}") from exc

    def _scan(self, fdp: descriptor_pb2.FileDescriptorProto) -> None:
        for m in fdp.message_type:
            self._top_level.add(f"{fdp.package}.{m.name}")
        for full, m in _walk_messages(fdp.package, fdp.message_type):
            for f in m.field:
                if f.options.ByteSize() and _option(f.options, _GOGO_NULLABLE) == 0:
                    self._non_nullable.add((full, f.name))
            fields = list(m.field)
            if (
                len(fields) == 1
                and fields[0].name == "items"
                and fields[0].label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                and _option(m.options, _GOGO_GOPROTO_STRINGER) is not None
            ):
                # `type ExtraValue []string`: go-to-protobuf wraps it in a message; its JSON is the list.
                self._named_slices.add(full)

    def message_class(self, full_name: str) -> type[Message]:
        cls = self._classes.get(full_name)
        if cls is None:
            try:
                descriptor = self.pool.FindMessageTypeByName(full_name)
            except KeyError as exc:
                raise ProtobufError(f"no protobuf message {full_name}") from exc
            cls = message_factory.GetMessageClass(descriptor)
            self._classes[full_name] = cls
        return cls

    def plan(self, descriptor: Descriptor) -> MessagePlan:
        plan = self._plans.get(descriptor.full_name)
        if plan is None:
            plan = self._build_plan(descriptor)
            self._plans[descriptor.full_name] = plan
        return plan

    def _build_plan(self, descriptor: Descriptor) -> MessagePlan:
        full = descriptor.full_name
        fields: list[FieldPlan] = []
        keys: set[str] = set()
        for fd in descriptor.fields:
            message_type = fd.message_type
            is_map = bool(message_type is not None and message_type.GetOptions().map_entry)
            value_type = fd.type
            message: str | None = message_type.full_name if message_type is not None else None
            enum = fd.enum_type
            if is_map:
                value = message_type.fields_by_name["value"]
                value_type = value.type
                message = value.message_type.full_name if value.message_type is not None else None
                enum = value.enum_type
            inline = message_type is not None and (fd.name, message_type.name) in INLINE_FIELDS
            plan = FieldPlan(
                name=fd.name,
                number=fd.number,
                type=fd.type,
                repeated=_is_repeated(fd),
                is_map=is_map,
                nullable=(full, fd.name) not in self._non_nullable,
                inline=inline,
                message=message,
                value_type=value_type,
                enum=enum,
            )
            fields.append(plan)
            if inline:
                keys |= self.plan(message_type).keys
            else:
                keys.add(fd.name)
        special = SPECIAL_TYPES.get(full, "list" if full in self._named_slices else "")
        return MessagePlan(
            full_name=full,
            fields=tuple(fields),
            keys=frozenset(keys),
            special=special,
        )

    def resolve(self, api_version: str, kind: str) -> str | None:
        """Full proto message name for an apiVersion/kind pair, or None when the schema has none."""
        if not api_version or not kind:
            return None
        group, _, version = api_version.rpartition("/")
        if not version:
            return None
        prefix = GROUP_PACKAGES.get(group) or f"k8s.io.api.{group.split('.')[0]}"
        candidates = [f"{prefix}.{version}.{kind}"]
        if kind in META_KINDS:
            candidates.append(f"{META_V1}.{kind}")
        for name in candidates:
            if name in self._top_level:
                return name
        return None


def load_schema(path: Path) -> Schema | None:
    """The schema stored at ``path`` (as written by ``extract``), or None when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        fds = descriptor_pb2.FileDescriptorSet.FromString(gzip.decompress(data))
    except (OSError, EOFError, zlib.error, DecodeError) as exc:
        raise ProtobufError(f"{path} is not a gzipped FileDescriptorSet ({exc}); re-run the extraction") from exc
    return Schema(fds)


# ---------------------------------------------------------------------------------------------------
# Special JSON forms


def format_time(seconds: int, nanos: int = 0, *, micro: bool = False) -> str:
    """RFC 3339 in UTC as metav1.Time (whole seconds) or metav1.MicroTime (six fractional digits) print it."""
    try:
        moment = _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ProtobufError(f"timestamp {seconds} is out of range") from exc
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if micro:
        text += f".{nanos // 1000:06d}"
    return text + "Z"


def _frac(value: int, precision: int) -> tuple[str, int]:
    """Go's fmtFrac: the fractional digits of value / 10**precision without trailing zeros."""
    digits = f"{value % 10**precision:0{precision}d}".rstrip("0") if precision else ""
    return ("." + digits if digits else ""), value // 10**precision


def format_duration(nanos: int) -> str:
    """time.Duration.String(): "1h2m3.5s", "150ms", "0s"."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 1_000_000_000:
        if u < 1_000:
            unit, precision = "ns", 0
        elif u < 1_000_000:
            unit, precision = "\u00b5s", 3
        else:
            unit, precision = "ms", 6
        frac, whole = _frac(u, precision)
        return f"{sign}{whole}{frac}{unit}"
    frac, seconds = _frac(u, 9)
    minutes, seconds = divmod(seconds, 60)
    text = f"{seconds}{frac}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def _raw_json(schema: Schema, raw: bytes) -> Any:
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode_envelope(schema, raw)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtobufError(f"embedded raw object is neither protobuf nor JSON: {exc}") from exc


def _special(schema: Schema, kind: str, msg: Any) -> Any:
    # Generated message classes have no static attributes, hence Any.
    if kind in ("time", "microtime"):
        # Go writes nothing for the zero time, and that zero time prints as null.
        if not msg.ListFields():
            return None
        nanos = msg.nanos
        return format_time(msg.seconds, nanos, micro=kind == "microtime")
    if kind == "duration":
        return format_duration(msg.duration)
    if kind == "quantity":
        return msg.string or "0"
    if kind == "intorstring":
        if msg.type == 0:
            return msg.intVal
        if msg.type == 1:
            return msg.strVal
        raise ProtobufError(f"IntOrString with impossible type {msg.type}")
    if kind == "raw":
        (field,) = msg.DESCRIPTOR.fields
        return _raw_json(schema, getattr(msg, field.name))
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------------
# Walker


def _text(value: str | bytes) -> str:
    """proto2 strings are not checked for UTF-8 (upb hands back bytes then); Go's JSON encoder prints such
    strings with U+FFFD in place of the invalid bytes, and so do we."""
    return value if isinstance(value, str) else value.decode("utf-8", errors="replace")


def _scalar(value: Any, field_type: int, enum: Any) -> Any:
    if field_type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field_type == FieldDescriptor.TYPE_STRING:
        return _text(value)
    if field_type == FieldDescriptor.TYPE_ENUM and enum is not None:
        number = enum.values_by_number.get(value)
        return number.name if number is not None else value
    return value


def message_to_json(schema: Schema, msg: Any) -> Any:
    """The Go JSON form of ``msg``: a dict for ordinary structs, a string/int/list for the special types."""
    plan = schema.plan(msg.DESCRIPTOR)
    if plan.special == "list":
        return [_element(schema, plan.fields[0], v) for v in msg.items]
    if plan.special:
        return _special(schema, plan.special, msg)
    return _struct(schema, plan, msg)


def _element(schema: Schema, field: FieldPlan, value: Any) -> Any:
    if field.message is not None:
        return message_to_json(schema, value)
    return _scalar(value, field.value_type, field.enum)


def _struct(schema: Schema, plan: MessagePlan, msg: Message) -> dict[str, Any]:
    present = {fd.number: value for fd, value in msg.ListFields()}
    out: dict[str, Any] = {}
    for field in plan.fields:
        value = present.get(field.number, _MISSING)
        if field.inline:
            child = getattr(msg, field.name) if value is _MISSING else value
            out.update(message_to_json(schema, child))
            continue
        if value is _MISSING:
            if field.message is not None and not field.repeated and not field.nullable:
                # Go never omits a non-pointer struct: emit its zero form even if a client left it out.
                out[field.name] = message_to_json(schema, getattr(msg, field.name))
            continue
        if field.is_map:
            out[field.name] = {_text(k): _element(schema, field, value[k]) for k in sorted(value)}
        elif field.repeated:
            out[field.name] = [_element(schema, field, v) for v in value]
        elif field.message is not None:
            out[field.name] = message_to_json(schema, value)
        elif field.type == FieldDescriptor.TYPE_BYTES:
            if value:
                out[field.name] = _scalar(value, field.type, field.enum)
        elif field.nullable or value:
            out[field.name] = _scalar(value, field.type, field.enum)
    return out


def decode_envelope(schema: Schema, body: bytes) -> dict[str, Any]:
    """``k8s\\x00`` + runtime.Unknown -> the object's JSON dict with apiVersion and kind from the envelope."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ProtobufError("a protobuf body must be bytes")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: it does not start with the k8s\\x00 prefix")
    unknown: Any = schema.message_class(UNKNOWN)()
    try:
        unknown.ParseFromString(body[len(MAGIC) :])
    except DecodeError as exc:
        raise ProtobufError(f"malformed protobuf envelope: {exc}") from exc
    header = (
        unknown.typeMeta.apiVersion,
        unknown.typeMeta.kind,
        unknown.contentEncoding,
        unknown.contentType,
    )
    if not all(isinstance(item, str) for item in header):
        raise ProtobufError("malformed protobuf envelope: invalid UTF-8 in its type or content fields")
    api_version, kind, encoding, content_type = header
    raw: bytes = unknown.raw
    if not api_version or not kind:
        raise ProtobufError("protobuf envelope does not name the object's apiVersion and kind")
    if encoding:
        raise ProtobufError(f"unsupported protobuf content encoding {encoding!r}")
    if content_type.split(";")[0].strip() == "application/json":
        obj = _raw_json(schema, raw)
        if not isinstance(obj, dict):
            raise ProtobufError("JSON inside the protobuf envelope is not an object")
    elif content_type in ("", PROTOBUF_CONTENT_TYPE):
        name = schema.resolve(api_version, kind)
        if name is None:
            raise ProtobufError(f"no protobuf schema for kind {kind!r} in {api_version!r}")
        msg = schema.message_class(name)()
        try:
            msg.ParseFromString(raw)
            obj = message_to_json(schema, msg)
        except DecodeError as exc:
            raise ProtobufError(f"malformed protobuf {kind}: {exc}") from exc
    else:
        raise ProtobufError(f"unsupported content type {content_type!r} inside the protobuf envelope")
    result: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    result.update((k, v) for k, v in obj.items() if k not in result)
    return result
