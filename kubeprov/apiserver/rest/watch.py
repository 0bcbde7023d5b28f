"""Watch streams: newline-delimited JSON events, fed by the watch cache, one per client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.negotiate import partial_metadata
from kubeprov.apiserver.rest.selectors import build_predicate
from kubeprov.apiserver.storage.watchcache import BOOKMARK, CacheEvent, TooOld, WatchCache

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 1800.0
BOOKMARK_EVERY = 30.0
# how long a watch from a revision the cache has not reached yet may wait for it
CATCH_UP = 3.0


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class WatchStream:
    """Serves one watch request until the client leaves, the timeout passes, or the server stops."""

    def __init__(self, cache: WatchCache, render: Callable[[Call, Obj], Obj]) -> None:
        self.cache = cache
        self.render = render  # storage object -> what this client asked for (version, Table, metadata)

    def _view(self, call: Call, obj: Obj) -> Obj:
        if call.accept.as_kind.startswith("PartialObjectMetadata"):
            return partial_metadata(obj)
        return self.render(call, obj)

    def _encode(self, call: Call, item: CacheEvent | tuple[str, Obj], memo_key: tuple[Any, ...]) -> bytes:
        if isinstance(item, CacheEvent):
            cached = item.encoded.get(memo_key)
            if cached is None:
                cached = item.encoded[memo_key] = _dumps({"type": item.type, "object": self._view(call, item.obj)})
            return cached
        kind, obj = item
        return _dumps({"type": kind, "object": self._view(call, obj)})

    async def serve(self, request: web.Request, call: Call) -> web.StreamResponse:
        rt, q = call.rt, call.query
        predicate = build_predicate(rt, q, name=call.info.name) or (lambda _obj: True)
        rv = q.get("resourceVersion", "")
        send_initial = q.get("sendInitialEvents") == "true"
        bookmarks = q.get("allowWatchBookmarks") == "true"
        try:
            timeout = float(q.get("timeoutSeconds") or DEFAULT_TIMEOUT)
        except ValueError:
            raise StatusError(status.bad_request(f"invalid timeoutSeconds: {q.get('timeoutSeconds')!r}")) from None
        from_revision: int | None = None
        if rv not in ("", "0") and not send_initial:
            try:
                from_revision = int(rv)
            except ValueError:
                raise StatusError(status.bad_request(f"invalid resource version: {rv!r}")) from None
            if from_revision > self.cache.revision:
                await self.cache.wait_for(from_revision, CATCH_UP)
        key_prefix = rt.etcd_prefix(call.namespace or None)
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
        except ConnectionResetError:  # the client left before the stream began
            return response
        try:
            watcher, initial = self.cache.watch(rt.group, rt.resource, key_prefix, predicate,
                                                from_revision=from_revision)
        except TooOld as exc:
            await response.write(_dumps({"type": "ERROR", "object": status.too_old_resource_version(
                exc.requested, exc.oldest)}))
            return response
        memo = (rt.version, call.accept.as_kind, q.get("includeObject", ""))
        try:
            async with asyncio.timeout(timeout):
                chunk = [self._encode(call, item, memo) for item in initial]
                if send_initial and bookmarks:
                    chunk.append(self._bookmark(call, initial_end=True))
                if chunk:
                    await response.write(b"".join(chunk))
                await self._pump(call, response, watcher, memo, bookmarks)
        except (TimeoutError, ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            watcher.close()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response

    async def _pump(self, call: Call, response: web.StreamResponse, watcher: Any, memo: tuple[Any, ...],
                    bookmarks: bool) -> None:
        queue = watcher.queue
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), BOOKMARK_EVERY) if bookmarks else await queue.get()
            except TimeoutError:
                await response.write(self._bookmark(call))
                continue
            if item is None:
                return
            chunk = [self._encode(call, item, memo)]
            while not queue.empty() and len(chunk) < 512:  # batch what is already waiting
                nxt = queue.get_nowait()
                if nxt is None:
                    await response.write(b"".join(chunk))
                    return
                chunk.append(self._encode(call, nxt, memo))
            await response.write(b"".join(chunk))

    def _bookmark(self, call: Call, initial_end: bool = False) -> bytes:
        meta: Obj = {"resourceVersion": str(self.cache.revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return _dumps({"type": BOOKMARK, "object": {"kind": call.rt.kind, "apiVersion": call.rt.api_version,
                                                    "metadata": meta}})
