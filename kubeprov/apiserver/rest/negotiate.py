"""Request bodies in, responses out: media types, size limits, Table and metadata-only views."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from kubeprov.api import status
from kubeprov.api.status import StatusError

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
BODY_TYPES = (JSON, YAML, "application/vnd.kubernetes.protobuf")


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


class BodyError(ValueError):
    """A body that is not well-formed JSON or YAML; ``detail`` is worded like Go's decoders."""


def decode_body(raw: bytes, content_type: str, *, allowed: tuple[str, ...] = (JSON, YAML)) -> Any:
    """Parse a request body; every failure is a 4xx Status worded like kube-apiserver's."""
    if len(raw) > MAX_BODY:
        raise StatusError(status.request_entity_too_large(f"limit is {MAX_BODY}"))
    kind = media_type(content_type) or JSON
    if kind not in allowed:
        raise StatusError(status.unsupported_media_type(allowed))
    try:
        return parse(raw, kind)
    except BodyError as exc:
        raise StatusError(status.bad_request(str(exc))) from None


def parse(raw: bytes, kind: str) -> Any:
    if kind in (JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise BodyError(go_json_error(exc)) from None
        except UnicodeDecodeError:
            raise BodyError("invalid UTF-8 in JSON body") from None
        except RecursionError:
            raise BodyError("exceeded max depth") from None
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BodyError(f"error converting YAML to JSON: yaml: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise BodyError("error converting YAML to JSON: yaml: exceeded max depth") from None


def go_json_error(exc: json.JSONDecodeError) -> str:
    """Python's JSON error in the words of Go's encoding/json, which clients expect to see."""
    if exc.pos >= len(exc.doc.rstrip()):
        return "unexpected end of JSON input"
    char = exc.doc[exc.pos]
    shown = "'\\''" if char == "'" else repr(char) if not char.isprintable() else f"'{char}'"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {shown} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {shown} after object key"
    if exc.msg.startswith("Expecting ',' delimiter"):
        before = exc.doc[: exc.pos].rstrip()
        where = "array element" if _innermost_open(before) == "[" else "object key:value pair"
        return f"invalid character {shown} after {where}"
    if exc.msg.startswith("Extra data"):
        return f"invalid character {shown} after top-level value"
    return f"invalid character {shown} looking for beginning of value"


def _innermost_open(text: str) -> str:
    depth: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            if char == '"' and not escaped:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth.append(char)
        elif char in "]}" and depth:
            depth.pop()
    return depth[-1] if depth else ""


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


@dataclass(frozen=True)
class Accept:
    """What representation the client asked for (kubectl asks for Tables; informers for metadata)."""

    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    yaml: bool = False


def negotiate(header: str | None) -> Accept:
    """Pick the first acceptable media type in the client's order, as the apiserver does."""
    if not header:
        return Accept()
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        kind = pieces[0].lower()
        params = dict(p.split("=", 1) for p in pieces[1:] if "=" in p)
        if kind not in (JSON, YAML, "*/*", "application/*"):
            continue
        as_kind = params.get("as", "")
        if as_kind:
            if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
                continue
            if as_kind not in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                continue
        return Accept(as_kind=as_kind, yaml=kind == YAML)
    raise StatusError(status.not_acceptable([JSON, YAML, f"{JSON};as=Table;v=v1;g=meta.k8s.io"]))


def encode(obj: Any, accept: Accept) -> tuple[bytes, str]:
    if accept.yaml:
        return yaml.safe_dump(obj, sort_keys=False).encode(), YAML
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode(), JSON


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def partial_metadata_list(items: list[dict[str, Any]], list_meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "items": [partial_metadata(i) for i in items],
    }
