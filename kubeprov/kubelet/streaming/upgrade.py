"""Taking over an aiohttp connection after ``101 Switching Protocols`` for a protocol aiohttp does not know
(SPDY/3.1): the same hook its websocket code uses. ``request.protocol.set_parser`` makes the server protocol
hand every later byte to our parser instead of its HTTP parser; we write to the transport directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from aiohttp import web

#: pause the writer when this much is queued in the transport
HIGH_WATER = 256 * 1024


class _Feed:
    """The parser object aiohttp calls with raw bytes (``feed_data``/``feed_eof``)."""

    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class RawConnection:
    """The connection's bytes after the 101: ``read`` (b"" at end), ``write``, ``close``."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = False

    async def read(self) -> bytes:
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("connection closed")
        transport.write(data)
        if transport.get_write_buffer_size() > HIGH_WATER:
            await self.request.protocol._drain_helper()  # resumes when the transport has drained

    def close(self) -> None:
        transport = self.request.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.close()


async def upgrade(request: web.Request, headers: Mapping[str, str]) -> tuple[web.StreamResponse, RawConnection]:
    """Answer 101 with ``headers`` (Connection/Upgrade and protocol negotiation) and take over the connection.
    The handler must keep running while the connection is used and return the response at the end."""
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", **headers})
    response.force_close()
    await response.prepare(request)
    conn = RawConnection(request)
    request.protocol.set_parser(_Feed(conn._queue))  # type: ignore[arg-type]
    request.protocol.keep_alive(False)
    return response, conn
