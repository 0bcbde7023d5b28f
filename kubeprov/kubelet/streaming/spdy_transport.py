"""A server-side SPDY session over the two carriers clients use: an ``Upgrade: SPDY/3.1`` connection (with the
``X-Stream-Protocol-Version`` negotiation httpstream does) and websocket binary messages (kubectl's
``SPDY/3.1+portforward.k8s.io`` tunnel)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import WSMsgType, web

from kubeprov.kubelet.streaming import spdy
from kubeprov.kubelet.streaming.errors import BadRequest
from kubeprov.kubelet.streaming.upgrade import upgrade

PROTOCOL_HEADER = "X-Stream-Protocol-Version"


def wants_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/")


def offered_protocols(request: web.Request) -> list[str]:
    """The client's ``X-Stream-Protocol-Version`` values (repeated headers or comma lists), in its order."""
    return [p.strip() for v in request.headers.getall(PROTOCOL_HEADER, []) for p in v.split(",") if p.strip()]


def negotiate(request: web.Request, supported: tuple[str, ...], default: str) -> str:
    """The first protocol the client offers that we support (no header: ``default``), as httpstream does."""
    offered = offered_protocols(request)
    if not offered:
        return default
    for protocol in offered:
        if protocol in supported:
            return protocol
    raise BadRequest(f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                     f"server supports {list(supported)}")


@contextlib.asynccontextmanager
async def _running(session: spdy.SpdySession, read: Callable[[], Awaitable[bytes]]) -> AsyncIterator[None]:
    runner = asyncio.create_task(session.run(read))
    try:
        yield
    finally:
        await session.go_away()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner


@contextlib.asynccontextmanager
async def over_upgrade(request: web.Request, protocol: str
                       ) -> AsyncIterator[tuple[web.StreamResponse, spdy.SpdySession]]:
    """Answer 101 with ``protocol`` and run a SPDY session on the connection until the block ends."""
    response, conn = await upgrade(request, {"Upgrade": "SPDY/3.1", PROTOCOL_HEADER: protocol})
    session = spdy.SpdySession(conn.write, server=True)
    try:
        async with _running(session, conn.read):
            yield response, session
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def over_websocket(request: web.Request, protocol: str
                         ) -> AsyncIterator[tuple[web.WebSocketResponse, spdy.SpdySession]]:
    """Accept a websocket with ``protocol`` and run a SPDY session on its binary messages."""
    ws = web.WebSocketResponse(protocols=(protocol,), max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    lock = asyncio.Lock()

    async def write(data: bytes) -> None:
        async with lock:
            await ws.send_bytes(data)

    async def read() -> bytes:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY and msg.data:
                return bytes(msg.data)
            if msg.type == WSMsgType.TEXT and msg.data:
                return str(msg.data).encode()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    session = spdy.SpdySession(write, server=True)
    try:
        async with _running(session, read):
            yield ws, session
    finally:
        await ws.close()
