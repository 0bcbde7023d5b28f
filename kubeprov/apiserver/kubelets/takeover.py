"""Take over an aiohttp server connection after ``101 Switching Protocols`` as a raw byte stream.

aiohttp only knows how to hand an upgraded connection to its own WebSocket reader; it does this by
installing a payload parser on the request's protocol (``RequestHandler.set_parser``), which from
then on receives every byte the client sends, and by writing frames to the protocol's transport.
We do the same with a parser that queues raw bytes, so any upgraded protocol (WebSocket, SPDY/3.1)
can be relayed without being understood. aiohttp's HTTP parser does not treat ``Upgrade: SPDY/3.1``
as an upgrade, which is harmless: the client sends nothing after its request until it sees the 101.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web
from multidict import CIMultiDict

_PAUSE_AT = 64  # queued chunks before we stop reading from the client
_WRITE_HIGH_WATER = 1 << 20


class _RawParser:
    """The payload parser aiohttp feeds; it only queues what arrives (None marks the end)."""

    def __init__(self, queue: asyncio.Queue[bytes | None], transport: asyncio.Transport) -> None:
        self.queue = queue
        self.transport = transport

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        if self.queue.qsize() >= _PAUSE_AT and not self.transport.is_closing():
            self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)


class ClientStream:
    """The client's end of an upgraded connection."""

    def __init__(self, request: web.BaseRequest, transport: asyncio.Transport) -> None:
        self._request = request
        self._transport = transport
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._eof = False
        request.protocol.set_parser(_RawParser(self._queue, transport))  # type: ignore[arg-type]
        request.protocol.keep_alive(False)

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it closed."""
        if self._eof:
            return b""
        data = await self._queue.get()
        if self._queue.qsize() < _PAUSE_AT // 2 and not self._transport.is_closing():
            self._transport.resume_reading()
        if data is None:
            self._eof = True
            return b""
        return data

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("client connection closed")
        self._transport.write(data)
        if self._transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            await self._request.protocol._drain_helper()  # aiohttp's own flow control for the transport

    def close(self) -> None:
        self._transport.close()


async def switch_protocols(request: web.BaseRequest,
                           headers: Iterable[tuple[str, str]]) -> tuple[web.StreamResponse, ClientStream]:
    """Answer 101 with ``headers`` and return the response (for aiohttp to finish) and the raw stream."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client connection closed")
    response = web.StreamResponse(status=101, headers=CIMultiDict(headers))
    response.force_close()
    await response.prepare(request)
    assert isinstance(transport, asyncio.Transport)
    return response, ClientStream(request, transport)
