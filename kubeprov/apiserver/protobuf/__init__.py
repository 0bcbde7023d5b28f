"""Kubernetes protobuf (``application/vnd.kubernetes.protobuf``) bodies to and from our JSON dicts.

kubectl's typed commands (``create namespace``, ``create configmap``, ...) send protobuf. The schemas
are not shipped with the project: ``python -m kubeprov.apiserver.protobuf.extract`` reads them from the
installed kubectl into ``k8s-descriptors.binpb.gz`` next to this file, and ``ProtobufCodec.load``
returns None while that file is missing (the server then refuses protobuf bodies with 415).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubeprov.apiserver.protobuf.decode import (
    DESCRIPTOR_FILE,
    MAGIC,
    PROTOBUF_CONTENT_TYPE,
    ProtobufError,
    Schema,
    decode_envelope,
    load_schema,
)
from kubeprov.apiserver.protobuf.encode import encode_envelope

__all__ = ["DESCRIPTOR_FILE", "MAGIC", "PROTOBUF_CONTENT_TYPE", "ProtobufCodec", "ProtobufError"]


class ProtobufCodec:
    """Converts between protobuf envelopes and JSON dicts using one descriptor pool of its own."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema

    @classmethod
    def load(cls, path: Path | None = None) -> ProtobufCodec | None:
        """The codec for the descriptor file at ``path`` (default: the package's), None if it does not exist.

        Raises ProtobufError when the file exists but is not a usable descriptor set.
        """
        schema = load_schema(path if path is not None else DESCRIPTOR_FILE)
        return cls(schema) if schema is not None else None

    def decode(self, body: bytes) -> dict[str, Any]:
        """Envelope -> JSON dict (apiVersion and kind from the envelope); ProtobufError if it cannot."""
        return decode_envelope(self._schema, body)

    def encode(self, obj: Mapping[str, Any], *, strict: bool = True) -> bytes:
        """JSON dict with apiVersion/kind -> envelope. ``strict=False`` drops keys the schema lacks instead
        of raising ProtobufError."""
        return encode_envelope(self._schema, obj, strict=strict)

    def knows(self, api_version: str, kind: str) -> bool:
        return self._schema.resolve(api_version, kind) is not None
