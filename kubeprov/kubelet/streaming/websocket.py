"""channel.k8s.io over an aiohttp websocket: send on a channel, receive (channel, payload) pairs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from aiohttp import WSMsgType, web

from kubeprov.kubelet.streaming.channels import CLOSE, V1, Framing, FramingError


def wants_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


class ChannelSocket:
    """A prepared websocket speaking one negotiated channel framing. Sends are serialised (several pumps write
    at once); ``messages`` yields until the peer closes."""

    def __init__(self, ws: web.WebSocketResponse, framing: Framing) -> None:
        self.ws = ws
        self.framing = framing
        self._lock = asyncio.Lock()

    @classmethod
    async def accept(cls, request: web.Request, protocols: Sequence[str]) -> ChannelSocket:
        ws = web.WebSocketResponse(protocols=tuple(protocols), max_msg_size=16 * 1024 * 1024, autoping=True)
        await ws.prepare(request)
        return cls(ws, Framing(ws.ws_protocol or V1))

    async def send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            return
        message = self.framing.encode(channel, data)
        async with self._lock:
            try:
                if isinstance(message, str):
                    await self.ws.send_str(message)
                else:
                    await self.ws.send_bytes(message)
            except ConnectionError:
                pass  # the peer went away; the session ends when its reader sees the close

    async def messages(self) -> AsyncIterator[tuple[int, bytes]]:
        """Incoming (channel, payload); a v5 close signal arrives as (CLOSE, bytes([channel]))."""
        async for msg in self.ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            try:
                channel, payload = self.framing.decode(msg.data)
            except FramingError:
                continue
            if channel == CLOSE and not self.framing.has_close:
                continue
            yield channel, payload

    async def close(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
