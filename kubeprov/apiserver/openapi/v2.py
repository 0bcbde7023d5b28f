"""``GET /openapi/v2``: one Swagger 2.0 document of every served group-version, as JSON or gnostic protobuf.

kubectl still reads this document: its client-side validation (``kubectl apply`` of a ``kind: List``,
or any object whose kind has no server-side field validation) looks a kind up by the
``x-kubernetes-group-version-kind`` of a definition and walks the object through it. It asks for the
gnostic ``openapi_v2.Document`` protobuf, so the document is derived from the same component schemas
as ``/openapi/v3`` and encoded here.

Conversion rules (what Kubernetes' own v2 document looks like): references point at
``#/definitions/``; ``allOf`` with one reference becomes that reference; IntOrString is
``type: string, format: int-or-string`` and Quantity ``type: string``; ``oneOf``/``anyOf``/``not``
are dropped; a nullable or unknown-field-preserving schema loses its type, properties and items
(kubectl would otherwise refuse values the server accepts); vendor extensions stay.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from kubeprov.apiserver.openapi.document import SECURITY_SCHEMES, content_hash, openapi_document
from kubeprov.apiserver.openapi.schemas import INT_OR_STRING, QUANTITY, REF_PREFIX, BuiltinSchemas
from kubeprov.apiserver.openapi.service import OpenAPIResponse, _etag_matches, _fingerprint
from kubeprov.apiserver.resources import Registry

PATH = "/openapi/v2"
DEFINITIONS_PREFIX = "#/definitions/"
JSON = "application/json"
# clients ask for the "@" spelling, which Go's mime parser cannot read back: answers use the dotted one
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_DEPRECATED = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

_SPECIAL_V2: dict[str, dict] = {
    INT_OR_STRING: {"format": "int-or-string", "type": "string"},
    QUANTITY: {"type": "string"},
}
_DROPPED = frozenset({"oneOf", "anyOf", "not", "nullable", "writeOnly", "deprecated", "example"})
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


# ---- conversion: OpenAPI v3 components -> Swagger 2.0 definitions -------------------------------


def v2_schema(schema: Any) -> Any:
    """One OpenAPI 3.0 schema node as Kubernetes' Swagger 2.0 document spells it."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED:
            continue
        if key == "$ref":
            out[key] = DEFINITIONS_PREFIX + value.removeprefix(REF_PREFIX)
        elif key == "properties":
            out[key] = {name: v2_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = v2_schema(value)
        elif key == "allOf":
            refs = [v2_schema(item) for item in value]
            if len(refs) == 1 and set(refs[0]) == {"$ref"}:
                out["$ref"] = refs[0]["$ref"]
        elif key == "x-kubernetes-int-or-string" and value is True:
            out[key] = value
            out.setdefault("type", "string")
            out.setdefault("format", "int-or-string")
        elif key == "type" and isinstance(value, list):
            continue  # Swagger 2.0 has one type; kubectl refuses a definition with several
        else:
            out[key] = value
    if schema.get("nullable") is True or schema.get("x-kubernetes-preserve-unknown-fields") is True:
        for key in ("type", "properties", "items", "format"):
            out.pop(key, None)
    if out.get("type") == "array" and "items" not in out:
        del out["type"]  # kubectl cannot parse an array without an item schema
    if "$ref" in out:
        for key in ("type", "properties", "items", "additionalProperties", "format"):
            out.pop(key, None)  # a reference with a type or properties is refused by kubectl
    nullable = [name for name, sub in schema.get("properties", {}).items()
                if isinstance(sub, dict) and sub.get("nullable") is True]
    if nullable and "required" in out:
        out["required"] = [name for name in out["required"] if name not in nullable]
        if not out["required"]:
            del out["required"]
    return out


def _references(schema: Any) -> set[str]:
    """Definition names a v2 schema points at (property names are names, never keywords)."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEFINITIONS_PREFIX):
            found.add(ref.removeprefix(DEFINITIONS_PREFIX))
        stack.extend(node.get("properties", {}).values())
        stack.extend(node[key] for key in ("items", "additionalProperties") if key in node)
    return found


def v2_definitions(components: dict[str, dict], lookup: dict[str, dict] | None = None) -> dict[str, dict]:
    """Component schemas -> definitions, sorted by name, completed from ``lookup`` with whatever they reference.

    kubectl refuses the whole document when one reference names a missing definition.
    """
    lookup = lookup or {}
    out: dict[str, dict] = {}
    pending = list(components)
    while pending:
        name = pending.pop()
        source = components.get(name) or lookup.get(name)
        if name in out or source is None:
            continue
        out[name] = dict(_SPECIAL_V2[name]) if name in _SPECIAL_V2 else v2_schema(source)
        pending.extend(_references(out[name]) - out.keys())
    return dict(sorted(out.items()))


def _first_schema(content: dict) -> dict | None:
    for media in content.values():
        if isinstance(media, dict) and "schema" in media:
            return v2_schema(media["schema"])
    return None


def _v2_parameter(param: dict) -> dict:
    out = {key: param[key] for key in ("description", "in", "name", "required") if key in param}
    schema = param.get("schema", {})
    out.update({key: schema[key] for key in ("type", "uniqueItems", "format") if key in schema})
    return out


def v2_operation(op: dict) -> dict:
    """A v3 operation as a v2 one: request body -> ``body`` parameter, content types -> consumes/produces."""
    out: dict[str, Any] = {key: value for key, value in op.items()
                           if key in ("description", "operationId", "tags") or key.startswith("x-")}
    params = [_v2_parameter(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if isinstance(body, dict):
        schema = _first_schema(body.get("content", {}))
        param: dict[str, Any] = {"in": "body", "name": "body"}
        if body.get("required"):
            param["required"] = True
        if schema is not None:
            param["schema"] = schema
        params.insert(0, param)
        out["consumes"] = list(body.get("content", {}))
    if params:
        out["parameters"] = params
    produces: list[str] = []
    responses: dict[str, dict] = {}
    for code, answer in op.get("responses", {}).items():
        converted: dict[str, Any] = {"description": answer.get("description", "")}
        schema = _first_schema(answer.get("content", {}))
        if schema is not None:
            converted["schema"] = schema
        produces.extend(t for t in answer.get("content", {}) if t not in produces)
        responses[code] = converted
    if produces:
        out["produces"] = produces
    out["responses"] = responses
    out["schemes"] = ["https"]
    return out


def v2_path_item(item: dict) -> dict:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in _METHODS:
            out[key] = v2_operation(value)
        elif key == "parameters":
            out[key] = [_v2_parameter(p) for p in value]
    return out


def swagger_document(registry: Registry, schemas: BuiltinSchemas) -> dict:
    """The Swagger 2.0 document of everything served: definitions and paths of every group-version.

    Built from the v3 group-version documents, so both always describe the same kinds (CRDs too).
    """
    components: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    for group in registry.groups():
        for version in registry.versions(group):
            document = openapi_document(registry, group, version, schemas)
            if document is None:
                continue
            components.update(document["components"]["schemas"])
            paths.update((path, v2_path_item(item)) for path, item in document["paths"].items())
    return {
        "definitions": v2_definitions(components, schemas.components),
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": dict(sorted(paths.items())),
        "security": [{"BearerToken": []}],
        "securityDefinitions": SECURITY_SCHEMES,
        "swagger": "2.0",
    }


# ---- encoding: Swagger 2.0 dict -> gnostic openapi_v2.Document protobuf ---------------------------
# Field numbers are those of gnostic's openapiv2/OpenAPIv2.proto (proto3: zero values are not written).


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Writer:
    """Appends protobuf fields to a buffer; one per message being built."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def message(self, number: int, body: bytes, *, always: bool = False) -> None:
        if body or always:
            self.buf += _varint(number << 3 | 2) + _varint(len(body)) + body

    def string(self, number: int, value: str | None) -> None:
        if value:
            self.message(number, value.encode())

    def strings(self, number: int, values: Iterable[str]) -> None:
        for value in values:
            self.message(number, str(value).encode(), always=True)

    def boolean(self, number: int, value: Any, *, always: bool = False) -> None:
        if value or always:
            self.buf += _varint(number << 3) + (b"\x01" if value else b"\x00")

    def int64(self, number: int, value: Any) -> None:
        if isinstance(value, int | float) and int(value):
            self.buf += _varint(number << 3) + _varint(int(value))

    def double(self, number: int, value: Any) -> None:
        if isinstance(value, int | float) and value:
            self.buf += _varint(number << 3 | 1) + struct.pack("<d", float(value))

    def bytes(self) -> bytes:
        return bytes(self.buf)


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _any(value: Any) -> bytes:
    """gnostic ``Any``: the value as YAML text (field 2), which is how clients read vendor extensions."""
    w = _Writer()
    w.string(2, yaml.dump(value, Dumper=_Dumper, default_flow_style=False, sort_keys=False))
    return w.bytes()


def _named(name: str, value: bytes) -> bytes:
    w = _Writer()
    w.string(1, name)
    w.message(2, value, always=True)
    return w.bytes()


def _extensions(w: _Writer, number: int, node: dict) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            w.message(number, _named(key, _any(value)))


def encode_schema(schema: dict) -> bytes:
    """gnostic ``Schema``."""
    w = _Writer()
    w.string(1, schema.get("$ref"))
    w.string(2, schema.get("format"))
    w.string(3, schema.get("title"))
    w.string(4, schema.get("description"))
    if "default" in schema:
        w.message(5, _any(schema["default"]), always=True)
    w.double(6, schema.get("multipleOf"))
    w.double(7, schema.get("maximum"))
    w.boolean(8, schema.get("exclusiveMaximum"))
    w.double(9, schema.get("minimum"))
    w.boolean(10, schema.get("exclusiveMinimum"))
    for number, key in ((11, "maxLength"), (12, "minLength")):
        w.int64(number, schema.get(key))
    w.string(13, schema.get("pattern"))
    for number, key in ((14, "maxItems"), (15, "minItems")):
        w.int64(number, schema.get(key))
    w.boolean(16, schema.get("uniqueItems"))
    for number, key in ((17, "maxProperties"), (18, "minProperties")):
        w.int64(number, schema.get(key))
    w.strings(19, schema.get("required", []))
    for value in schema.get("enum", []):
        w.message(20, _any(value), always=True)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        w.message(21, _wrap(1, encode_schema(extra)), always=True)
    elif isinstance(extra, bool):
        item = _Writer()
        item.boolean(2, extra, always=True)
        w.message(21, item.bytes(), always=True)
    kind = schema.get("type")
    if kind:
        types = _Writer()
        types.strings(1, kind if isinstance(kind, list) else [kind])
        w.message(22, types.bytes())
    items = schema.get("items")
    if isinstance(items, dict):
        w.message(23, _wrap(1, encode_schema(items)), always=True)
    for sub in schema.get("allOf", []):
        w.message(24, encode_schema(sub), always=True)
    if "properties" in schema:
        props = _Writer()
        for name, sub in schema["properties"].items():
            props.message(1, _named(name, encode_schema(sub)))
        w.message(25, props.bytes(), always=True)
    w.string(26, schema.get("discriminator"))
    w.boolean(27, schema.get("readOnly"))
    _extensions(w, 31, schema)
    return w.bytes()


def _wrap(number: int, body: bytes) -> bytes:
    """A message whose only field is ``number`` holding ``body`` (gnostic's oneof wrappers)."""
    w = _Writer()
    w.message(number, body, always=True)
    return w.bytes()


def _encode_parameter(param: dict) -> bytes:
    """gnostic ``ParametersItem`` -> ``Parameter``: a body parameter, or a query/path one."""
    if param.get("in") == "body":
        body = _Writer()
        body.string(1, param.get("description"))
        body.string(2, param.get("name"))
        body.string(3, "body")
        body.boolean(4, param.get("required"))
        if "schema" in param:
            body.message(5, encode_schema(param["schema"]), always=True)
        parameter = _wrap(1, body.bytes())
    else:
        path = param.get("in") == "path"
        sub = _Writer()
        sub.boolean(1, param.get("required"))
        sub.string(2, param.get("in"))
        sub.string(3, param.get("description"))
        sub.string(4, param.get("name"))
        offset = 0 if path else 1  # query parameters carry allow_empty_value as field 5
        sub.string(5 + offset, param.get("type"))
        sub.string(6 + offset, param.get("format"))
        sub.boolean(19 + offset, param.get("uniqueItems"))
        parameter = _wrap(2, _wrap(4 if path else 3, sub.bytes()))
    return _wrap(1, parameter)


def _encode_operation(op: dict) -> bytes:
    w = _Writer()
    w.strings(1, op.get("tags", []))
    w.string(3, op.get("description"))
    w.string(5, op.get("operationId"))
    w.strings(6, op.get("produces", []))
    w.strings(7, op.get("consumes", []))
    for param in op.get("parameters", []):
        w.message(8, _encode_parameter(param), always=True)
    responses = _Writer()
    for code, answer in op.get("responses", {}).items():
        response = _Writer()
        response.string(1, answer.get("description"))
        if "schema" in answer:
            response.message(2, _wrap(1, encode_schema(answer["schema"])), always=True)
        responses.message(1, _named(code, _wrap(1, response.bytes())))
    w.message(9, responses.bytes(), always=True)
    w.strings(10, op.get("schemes", []))
    _extensions(w, 13, op)
    return w.bytes()


def _encode_path_item(item: dict) -> bytes:
    w = _Writer()
    for number, method in enumerate(_METHODS, start=2):
        if method in item:
            w.message(number, _encode_operation(item[method]), always=True)
    for param in item.get("parameters", []):
        w.message(9, _encode_parameter(param), always=True)
    return w.bytes()


def encode_document(document: dict) -> bytes:
    """A Swagger 2.0 document (as :func:`swagger_document` builds it) as gnostic ``openapi_v2.Document``."""
    w = _Writer()
    w.string(1, document.get("swagger"))
    info = _Writer()
    info.string(1, document.get("info", {}).get("title"))
    info.string(2, document.get("info", {}).get("version"))
    w.message(2, info.bytes())
    paths = _Writer()
    for name, item in document.get("paths", {}).items():
        paths.message(2, _named(name, _encode_path_item(item)))
    w.message(8, paths.bytes(), always=True)
    definitions = _Writer()
    for name, schema in document.get("definitions", {}).items():
        definitions.message(1, _named(name, encode_schema(schema)))
    w.message(9, definitions.bytes(), always=True)
    for requirement in document.get("security", []):
        req = _Writer()
        for name, scopes in requirement.items():
            array = _Writer()
            array.strings(1, scopes)
            req.message(1, _named(name, array.bytes()))
        w.message(12, req.bytes(), always=True)
    security = _Writer()
    for name, scheme in document.get("securityDefinitions", {}).items():
        key = _Writer()
        for number, field in enumerate(("type", "name", "in", "description"), start=1):
            key.string(number, scheme.get(field))
        security.message(1, _named(name, _wrap(2, key.bytes())))
    w.message(13, security.bytes())
    return w.bytes()


# ---- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BuiltV2:
    fingerprint: str
    json_body: bytes
    proto_body: bytes
    json_etag: str
    proto_etag: str


def negotiate(accept: str) -> str | None:
    """The media type to answer with: protobuf when asked for first, JSON by default, None for 406."""
    if not accept.strip():
        return JSON
    for clause in accept.split(","):
        media = clause.split(";")[0].strip().lower()
        if media in (PROTOBUF, PROTOBUF_DEPRECATED):
            return PROTOBUF
        if media in (JSON, "application/*", "*/*"):
            return JSON
    return None


class OpenAPIV2Service:
    """Builds the v2 document once per registry state and answers ``GET /openapi/v2``.

    The document spans every group-version, so it is rebuilt when any of them changes (a CRD added,
    removed or edited); both encodings are kept with their ETags. Safe to call from worker threads.
    """

    def __init__(self, registry: Registry, schemas: BuiltinSchemas) -> None:
        self._registry = registry
        self._schemas = schemas
        self._built: _BuiltV2 | None = None
        self._lock = threading.Lock()

    def _fingerprint(self) -> str:
        parts = [[group, version, _fingerprint(self._registry.resources(group, version))]
                 for group in self._registry.groups() for version in self._registry.versions(group)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    def build(self) -> _BuiltV2:
        with self._lock:
            fingerprint = self._fingerprint()
            if self._built is not None and self._built.fingerprint == fingerprint:
                return self._built
            document = swagger_document(self._registry, self._schemas)
            json_body = json.dumps(document, separators=(",", ":")).encode()
            proto_body = encode_document(document)
            self._built = _BuiltV2(fingerprint, json_body, proto_body, content_hash(json_body),
                                   content_hash(proto_body))
            return self._built

    def respond(self, accept: str = "", if_none_match: str = "") -> OpenAPIResponse:
        """Answer a GET of ``/openapi/v2``."""
        media = negotiate(accept)
        if media is None:
            return OpenAPIResponse(406, {"Vary": "Accept"})
        built = self.build()
        body, etag = (built.proto_body, built.proto_etag) if media == PROTOBUF else (built.json_body, built.json_etag)
        headers = {"Content-Type": media, "Etag": f'"{etag}"', "Vary": "Accept"}
        if if_none_match and _etag_matches(if_none_match, etag):
            return OpenAPIResponse(304, headers)
        return OpenAPIResponse(200, headers, body)
