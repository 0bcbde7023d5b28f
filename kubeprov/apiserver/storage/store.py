"""CRUD of API objects in etcd with optimistic concurrency (resourceVersion = etcd mod_revision)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.storage.codec import Codec
from kubeprov.etcd import EtcdClient, EtcdCompacted, KeyValue, prefix_range_end

Obj = dict[str, Any]
UpdateFn = Callable[[Obj], Awaitable[Obj | None]]
Predicate = Callable[[Obj], bool]

# how many keys one etcd range reads while filtering a paginated, selected list
FILTER_CHUNK = 500
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the first chunk "
    "was returned and now may show up in the list."
)


@dataclass
class ListPage:
    items: list[Obj]
    revision: int
    continue_token: str = ""
    remaining: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_continue(revision: int, start_key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        revision, start = int(data["rv"]), str(data["start"])
        if data.get("v") != "meta.k8s.io/v1" or revision <= 0:
            raise ValueError
        return revision, start
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise StatusError(status.bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                                             "(version meta.k8s.io/v1)")) from None


class Store:
    """One etcd-backed store for every resource; strategies and admission live above it."""

    def __init__(self, client: EtcdClient, codec: Codec | None = None) -> None:
        self.client = client
        self.codec = codec or Codec()

    def decode(self, kv: KeyValue) -> Obj:
        return self.codec.decode(kv.key.decode(), kv.value, kv.mod_revision)

    @staticmethod
    def key_for(rt: ResourceType, obj: Obj) -> str:
        meta = obj.get("metadata") or {}
        return rt.etcd_key(meta.get("namespace") if rt.namespaced else None, meta["name"])

    async def current_revision(self) -> int:
        res = await self.client.range("/registry/", count_only=True, prefix=True)
        return res.header_revision

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        kv = await self.client.get(rt.etcd_key(namespace or None, name))
        if kv is None:
            raise StatusError(status.not_found(rt.group_resource, name))
        return self.decode(kv)

    async def get_kv(self, rt: ResourceType, namespace: str, name: str) -> KeyValue | None:
        return await self.client.get(rt.etcd_key(namespace or None, name))

    async def create(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False) -> Obj:
        key = self.key_for(rt, obj)
        data = self.codec.encode(key, obj)
        if dry_run:
            existing = await self.client.get(key)
            if existing is not None:
                raise StatusError(status.already_exists(rt.group_resource, obj["metadata"]["name"]))
            return obj
        created, revision, _ = await self.client.create(key, data)
        if not created:
            raise StatusError(status.already_exists(rt.group_resource, obj["metadata"]["name"]))
        obj["metadata"]["resourceVersion"] = str(revision)
        return obj

    async def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        mutate: UpdateFn,
        *,
        dry_run: bool = False,
        retries: int = 16,
    ) -> tuple[Obj, Obj]:
        """Read-modify-write until it lands: ``mutate`` gets a copy of the current object.

        ``mutate`` raises a StatusError to refuse (e.g. a stale resourceVersion precondition), returns
        None to make no change. Returns (new, old); no write happens when nothing changed, so the
        resourceVersion stays (``kubectl apply`` twice is a no-op).
        """
        key = rt.etcd_key(namespace or None, name)
        for _ in range(retries):
            kv = await self.client.get(key)
            if kv is None:
                raise StatusError(status.not_found(rt.group_resource, name))
            old = self.decode(kv)
            new = await mutate(copy.deepcopy(old))
            # equal as JSON values (key order aside): nothing to write, the resourceVersion stays; unless
            # the stored bytes are stale (encrypted with a retired key), which a rewrite re-encrypts
            stale = getattr(self.codec.transformer, "is_stale", None)
            if new is None or (new == old and not (stale is not None and stale(key, kv.value))):
                return old, old
            data = self.codec.encode(key, new)
            if dry_run:
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
                return new, old
            ok, revision, current = await self.client.update_if(key, data, kv.mod_revision)
            if ok:
                new["metadata"]["resourceVersion"] = str(revision)
                return new, old
            if current is None:
                raise StatusError(status.not_found(rt.group_resource, name))
        raise StatusError(status.conflict(rt.group_resource, name))

    async def delete(self, rt: ResourceType, obj: Obj, *, dry_run: bool = False) -> Obj:
        """Remove exactly the version given (its resourceVersion), else 409 Conflict."""
        key = self.key_for(rt, obj)
        name = obj["metadata"]["name"]
        if dry_run:
            return obj
        ok, revision, current = await self.client.delete_if(key, int(obj["metadata"]["resourceVersion"]))
        if not ok:
            if current is None:
                raise StatusError(status.not_found(rt.group_resource, name))
            raise StatusError(status.conflict(rt.group_resource, name))
        return obj

    async def list(
        self,
        rt: ResourceType,
        namespace: str,
        *,
        limit: int = 0,
        continue_token: str = "",
        revision: int = 0,
        predicate: Predicate | None = None,
    ) -> ListPage:
        """A consistent list at one etcd revision, paginated with continue tokens like Kubernetes."""
        prefix = rt.etcd_prefix(namespace or None)
        end = prefix_range_end(prefix.encode())
        start = prefix
        if continue_token:
            revision, suffix = decode_continue(continue_token)
            start = prefix + suffix
        items: list[Obj] = []
        chunk = 0 if not limit else (limit + 1 if predicate is None else max(limit + 1, FILTER_CHUNK))
        key: bytes = start.encode()
        try:
            while True:
                res = await self.client.range(key, end, limit=chunk, revision=revision)
                revision = revision or res.header_revision
                for index, kv in enumerate(res.kvs):
                    if limit and len(items) == limit:
                        more_after = kv.key
                        token = encode_continue(revision, more_after.decode()[len(prefix):])
                        remaining = None if predicate else res.count - index
                        return ListPage(items, revision, token, remaining)
                    obj = self.decode(kv)
                    if predicate is None or predicate(obj):
                        items.append(obj)
                if not res.more or not res.kvs:
                    return ListPage(items, revision)
                key = res.kvs[-1].key + b"\x00"
        except EtcdCompacted:
            if continue_token:
                raise StatusError(status.expired(CONTINUE_EXPIRED)) from None
            raise StatusError(status.expired(f"too old resource version: {revision}")) from None
