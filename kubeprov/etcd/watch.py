"""Watch streams over the gateway's ``/v3/watch``.

The gateway answers a watch with a never-ending HTTP response carrying one JSON object per line,
each wrapped as ``{"result": WatchResponse}`` (or ``{"error": {...}}``). The first message
confirms creation. The gateway cannot take further requests on the same HTTP exchange (Go's
HTTP/1 server is not full duplex), so one watch is one HTTP connection, and closing the watch
means closing that connection. A stream that ends without being closed by us raises
:class:`EtcdUnavailable`, never a silent stop: the caller resumes from :attr:`Watch.revision` + 1.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING

import aiohttp

from kubeprov.etcd._http import (
    JSON_HEADERS,
    LineSplitter,
    describe_failure,
    dumps,
    error_from_answer,
    loads,
    stream_error,
)
from kubeprov.etcd.errors import EtcdError, EtcdUnavailable, WatchCompacted
from kubeprov.etcd.types import Json, WatchResponse, parse_watch_result

if TYPE_CHECKING:
    from kubeprov.etcd.client import EtcdClient


class Watch:
    """An async iterator of :class:`WatchResponse`; use ``async with`` or call :meth:`close`.

    Iteration raises :class:`WatchCompacted` when the start revision has been compacted, and
    stops after yielding a response with ``canceled`` set for any other server-side cancel.
    """

    def __init__(self, client: EtcdClient, request: Json) -> None:
        self._client = client
        self._body = dumps(request).encode()
        self._resp: aiohttp.ClientResponse | None = None
        self._endpoint = ""
        self._lines = LineSplitter()
        self._closed = False
        self._start_revision = int(request["create_request"].get("start_revision") or 0)
        self.header_revision = 0
        """Store revision when the watch was created (events after it are live changes)."""
        self.revision = 0
        """Every change up to this revision has been delivered: resume a broken watch from here + 1."""

    @property
    def endpoint(self) -> str:
        return self._endpoint

    async def __aenter__(self) -> Watch:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __aiter__(self) -> Watch:
        return self

    async def start(self) -> int:
        """Open the stream and wait until etcd confirms it; returns the store revision at creation."""
        if self._resp is not None:
            return self.header_revision
        if self._closed:
            raise EtcdError("this watch was closed")
        client = self._client
        session = client._stream_session()
        failures: dict[str, str] = {}
        for ep in client._endpoint_order():
            try:
                async with asyncio.timeout(client._timeout):
                    resp = await session.post(ep + "/v3/watch", data=self._body, headers=JSON_HEADERS)
                    if resp.status != 200:
                        raw = await resp.read()
                        resp.close()
                        raise error_from_answer(resp.status, raw, ep)
                    self._resp, self._endpoint = resp, ep
                    first = await self._next_message()
            except (aiohttp.ClientError, TimeoutError, EtcdUnavailable) as exc:
                self._drop_stream()
                failures[ep] = describe_failure(exc)
                continue
            result = first.get("result")
            if result is None or not result.get("created"):
                self._drop_stream()
                raise (
                    stream_error(first, ep)
                    if result is None
                    else EtcdError(f"etcd did not confirm the watch: {str(result)[:200]}", endpoint=ep)
                )
            header = result.get("header") or {}
            self.header_revision = int(header.get("revision") or 0)
            self.revision = self._start_revision - 1 if self._start_revision else self.header_revision
            client._note_watch(self, True)
            return self.header_revision
        raise EtcdUnavailable(failures, what="cannot open an etcd watch")

    async def __anext__(self) -> WatchResponse:
        if self._closed:
            raise StopAsyncIteration
        if self._resp is None:
            await self.start()
        try:
            message = await self._next_message()
        except (TimeoutError, aiohttp.ClientError, EtcdUnavailable) as exc:
            if self._closed:  # closed by another task while this one waited
                raise StopAsyncIteration from None
            await self.close()
            if isinstance(exc, EtcdUnavailable):
                raise
            raise EtcdUnavailable({self._endpoint: f"watch stream broke: {describe_failure(exc)}"}) from exc
        result = message.get("result")
        if result is None:
            await self.close()
            raise stream_error(message, self._endpoint)
        response = parse_watch_result(result)
        if response.canceled:
            await self.close()
            if response.compact_revision:
                raise WatchCompacted(response.compact_revision, endpoint=self._endpoint)
            return response  # the next iteration stops
        if response.events:
            self.revision = response.events[-1].kv.mod_revision
        elif response.progress and response.revision > self.revision:
            self.revision = response.revision
        return response

    async def _next_message(self) -> Json:
        """The next JSON message of the stream."""
        lines = self._lines
        line = lines.pop()
        while line is None:
            assert self._resp is not None
            chunk = await self._resp.content.readany()
            if not chunk:
                raise EtcdUnavailable({self._endpoint: "etcd ended the watch stream"})
            lines.feed(chunk)
            line = lines.pop()
        return loads(line)

    def _drop_stream(self) -> None:
        if self._resp is not None:
            self._resp.close()  # an unfinished response closes its connection instead of reusing it
            self._resp = None
        self._lines = LineSplitter()

    async def close(self) -> None:
        """Stop watching: closes the HTTP stream, which makes etcd cancel the watch. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._drop_stream()
        self._client._note_watch(self, False)
