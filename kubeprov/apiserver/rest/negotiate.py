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


def decode_body(raw: bytes, content_type: str, *, allowed: tuple[str, ...] = (JSON, YAML)) -> Any:
    """Parse a request body; every failure is a 4xx Status worded like kube-apiserver's."""
    if len(raw) > MAX_BODY:
        raise StatusError(status.request_entity_too_large(f"limit is {MAX_BODY}"))
    kind = media_type(content_type) or JSON
    if kind not in allowed:
        raise StatusError(status.unsupported_media_type(allowed))
    if kind in (JSON, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StatusError(status.bad_request(f"json: {_json_problem(exc)}")) from None
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise StatusError(status.bad_request(f"error converting YAML to JSON: yaml: {_yaml_problem(exc)}")) from None


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg.lower()} at line {exc.lineno} column {exc.colno}"
    return "body is not valid UTF-8"


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
