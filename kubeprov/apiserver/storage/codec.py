"""Objects as stored: compact JSON without resourceVersion (etcd's mod_revision is the version)."""

from __future__ import annotations

import json
from typing import Any, Protocol


class StorageDecodeError(ValueError):
    """Stored bytes that cannot be turned back into an object."""


class Transformer(Protocol):
    """Turns stored bytes into plain bytes and back (identity, or encryption at rest)."""

    def to_storage(self, key: str, data: bytes) -> bytes: ...

    def from_storage(self, key: str, data: bytes) -> bytes: ...


class Identity:
    def to_storage(self, key: str, data: bytes) -> bytes:
        return data

    def from_storage(self, key: str, data: bytes) -> bytes:
        return data


class Codec:
    """Encodes objects for etcd and decodes them back with their resourceVersion set."""

    def __init__(self, transformer: Transformer | None = None) -> None:
        self.transformer: Transformer = transformer or Identity()

    def encode(self, key: str, obj: dict[str, Any]) -> bytes:
        meta = obj.get("metadata") or {}
        if "resourceVersion" in meta:
            obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
        raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        return self.transformer.to_storage(key, raw)

    def decode(self, key: str, data: bytes, revision: int) -> dict[str, Any]:
        plain = self.transformer.from_storage(key, data)
        try:
            obj = json.loads(plain)
        except (ValueError, UnicodeDecodeError):
            raise StorageDecodeError(
                f"the object at {key} is not readable JSON: it may be encrypted with a key this server does "
                "not have (check the encryption provider config)") from None
        obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
        return obj
