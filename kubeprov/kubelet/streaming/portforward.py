"""Port-forward sessions: a connection to the pod's port per forwarded stream, in three framings.

- SPDY ``portforward.k8s.io`` (kubectl before 1.30, and its fallback): the client opens an error stream and a
  data stream per connection (headers ``streamtype``, ``port``, ``requestid``); once both are there we dial and
  copy. The same SPDY session also arrives tunnelled in websocket binary messages
  (``SPDY/3.1+portforward.k8s.io``, kubectl 1.30+).
- The kubelet's native websocket protocol (the Python client): query ``port`` (repeated, or ``ports`` with
  commas), channels 2i data and 2i+1 error for the i-th port, each opened by the port as 2 little-endian bytes.
A failed dial is reported on the error stream/channel as the kubelet words it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.kubelet.streaming import spdy
from kubeprov.kubelet.streaming.netdial import DialError, dial
from kubeprov.kubelet.streaming.websocket import ChannelSocket

log = logging.getLogger(__name__)

#: how long a request's data and error streams may arrive apart
PAIR_TIMEOUT = 30.0


class PortError(ValueError):
    """A bad port parameter (400 before the upgrade)."""


def parse_ports(values: list[str]) -> list[int]:
    ports: list[int] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                port = int(item)
            except ValueError:
                raise PortError(f"unable to parse {item!r} as a port: invalid syntax") from None
            if not 0 < port < 65536:
                raise PortError(f"port {item!r} must be > 0 and < 65536")
            ports.append(port)
    return ports


@dataclass
class Target:
    """Where forwarded connections go: the pod (named in error messages) and its network namespace (None for a
    hostNetwork pod: dial the host)."""

    pod: str
    uid: str
    netns: Path | None

    def error(self, port: int | str, err: object) -> str:
        return f"error forwarding port {port} to pod {self.pod}, uid {self.uid}: {err}"


async def _copy_out(sock: socket.socket, write: Callable[[bytes], Awaitable[None]]) -> None:
    """Pod -> client until the pod closes (or resets) the connection."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.sock_recv(sock, 65536)
        except OSError:
            return
        if not data:
            return
        await write(data)


# ------------------------------------------------------------------------------------------ SPDY


async def serve_spdy(session: spdy.SpdySession, target: Target, pair_timeout: float = PAIR_TIMEOUT) -> None:
    """Pair each request's error and data streams (by ``requestid``) and forward them until the session ends; a
    request whose other stream does not follow within ``pair_timeout`` is reset, as the kubelet does."""
    pending: dict[str, dict[str, spdy.Stream]] = {}
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        while (stream := await session.accept()) is not None:
            kind = stream.headers.get("streamtype", "")
            if kind not in ("data", "error"):
                await stream.send_reset(spdy.RST_PROTOCOL_ERROR)
                continue
            request_id = stream.headers.get("requestid", "")
            pair = pending.setdefault(request_id, {})
            pair[kind] = stream
            if "data" in pair and "error" in pair:
                pending.pop(request_id, None)
                spawn(_forward_spdy(pair["data"], pair["error"], target))
            elif len(pair) == 1:
                spawn(_expire(pending, request_id, pair_timeout))
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _expire(pending: dict[str, dict[str, spdy.Stream]], request_id: str, timeout: float) -> None:
    await asyncio.sleep(timeout)
    pair = pending.get(request_id)
    if pair is not None and len(pair) == 1:
        pending.pop(request_id, None)
        log.info("port-forward request %s: the client's other stream never came", request_id)
        for stream in pair.values():
            await stream.send_reset(spdy.RST_CANCEL)


async def _forward_spdy(data: spdy.Stream, error: spdy.Stream, target: Target) -> None:
    raw_port = data.headers.get("port", "")
    try:
        try:
            (port,) = parse_ports([raw_port]) or [0]
            if not port:
                raise PortError("port is required")
            sock = await dial(port, target.netns)
        except (PortError, DialError) as exc:
            await error.write(target.error(raw_port, exc).encode())
            return
        try:
            upload = asyncio.create_task(_copy_in_spdy(data, sock))
            await _copy_out(sock, data.write)
            upload.cancel()
            await asyncio.gather(upload, return_exceptions=True)
        finally:
            sock.close()
    finally:
        await data.close()
        await error.close()


async def _copy_in_spdy(stream: spdy.Stream, sock: socket.socket) -> None:
    """Client -> pod; the client's FIN becomes a half-close towards the pod."""
    loop = asyncio.get_running_loop()
    while chunk := await stream.read():
        await loop.sock_sendall(sock, chunk)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


# ------------------------------------------------------------------------------------------ websocket


async def serve_websocket(ws: ChannelSocket, ports: list[int], target: Target) -> None:
    """The kubelet's native protocol: one connection per requested port for the websocket's lifetime."""
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await ws.send(2 * i, prefix)
        await ws.send(2 * i + 1, prefix)
    socks: list[socket.socket | None] = []
    for i, port in enumerate(ports):
        try:
            socks.append(await dial(port, target.netns))
        except DialError as exc:
            socks.append(None)
            await ws.send(2 * i + 1, target.error(port, exc).encode())
    outs = [asyncio.create_task(_copy_out(s, _channel_writer(ws, 2 * i))) for i, s in enumerate(socks) if s]
    reader = asyncio.create_task(_copy_in_ws(ws, socks))
    try:
        if outs:
            await asyncio.wait([reader, asyncio.ensure_future(asyncio.gather(*outs))],
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            await reader
    finally:
        for task in [reader, *outs]:
            task.cancel()
        await asyncio.gather(reader, *outs, return_exceptions=True)
        for s in socks:
            if s is not None:
                s.close()


def _channel_writer(ws: ChannelSocket, channel: int) -> Callable[[bytes], Awaitable[None]]:
    async def write(data: bytes) -> None:
        await ws.send(channel, data)

    return write


async def _copy_in_ws(ws: ChannelSocket, socks: list[socket.socket | None]) -> None:
    loop = asyncio.get_running_loop()
    async for channel, payload in ws.messages():
        index, is_error = divmod(channel, 2)
        if is_error or index >= len(socks) or socks[index] is None or not payload:
            continue
        try:
            await loop.sock_sendall(socks[index], payload)  # type: ignore[arg-type]
        except OSError:
            socks[index] = None
