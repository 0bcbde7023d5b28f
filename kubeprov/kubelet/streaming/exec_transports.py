"""An exec/attach ``StreamSession`` over each transport: channel.k8s.io websockets and SPDY streams.

Both deliver stdin (None at its end: the websocket v5 close signal, SPDY FIN, or the connection's end), resize
messages, and carry stdout/stderr/error back; ``run`` does the work and reports on the error channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from kubeprov.kubelet.streaming import spdy, spdy_transport
from kubeprov.kubelet.streaming.channels import (
    CLOSE,
    ERROR,
    REMOTECOMMAND_PROTOCOLS,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    V1,
    V2,
    V3,
    V4,
    Framing,
)
from kubeprov.kubelet.streaming.errors import BadRequest
from kubeprov.kubelet.streaming.remotecommand import Options
from kubeprov.kubelet.streaming.session import StreamSession, parse_resize
from kubeprov.kubelet.streaming.websocket import ChannelSocket, wants_websocket

log = logging.getLogger(__name__)

Runner = Callable[[StreamSession], Awaitable[None]]
SPDY_PROTOCOLS = (V4, V3, V2, V1)
#: how long a SPDY client may take to open the streams its options call for (the kubelet's 30 s)
STREAM_CREATION_TIMEOUT = 30.0


async def serve(request: web.Request, opts: Options, run: Runner) -> web.StreamResponse:
    if wants_websocket(request):
        return await _over_websocket(request, opts, run)
    if spdy_transport.wants_spdy(request):
        return await _over_spdy(request, opts, run)
    raise BadRequest("Upgrade request required")


# ------------------------------------------------------------------------------------------ websocket


async def _over_websocket(request: web.Request, opts: Options, run: Runner) -> web.StreamResponse:
    sock = await ChannelSocket.accept(request, REMOTECOMMAND_PROTOCOLS)
    session = StreamSession(sock.send, status_json=sock.framing.version >= 4)
    # the kubelet's "connection established" signal: an empty message on the lowest channel it will write
    await sock.send(STDOUT if opts.stdout else STDERR if opts.stderr else ERROR, b"")
    reader = asyncio.create_task(_read_websocket(sock, session))
    try:
        await run(session)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await sock.close()
    return sock.ws


async def _read_websocket(sock: ChannelSocket, session: StreamSession) -> None:
    stdin_open = True
    try:
        async for channel, payload in sock.messages():
            if channel == STDIN and stdin_open and payload:
                await session.stdin.put(payload)
            elif channel == RESIZE:
                for size in parse_resize(payload):
                    await session.resizes.put(size)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]) and stdin_open:
                stdin_open = False
                await session.stdin.put(None)
    finally:
        if stdin_open:
            await session.stdin.put(None)
        session.gone.set()


# ------------------------------------------------------------------------------------------ SPDY


def expected_streams(opts: Options, version: int) -> set[str]:
    """The streams a client opens for these options (the kubelet waits for all of them)."""
    kinds = {"error"}
    kinds |= {"stdin"} if opts.stdin else set()
    kinds |= {"stdout"} if opts.stdout else set()
    kinds |= {"stderr"} if opts.stderr and not opts.tty else set()
    kinds |= {"resize"} if opts.tty and version >= 3 else set()
    return kinds


async def _collect_streams(session: spdy.SpdySession, wanted: set[str]) -> dict[str, spdy.Stream]:
    found: dict[str, spdy.Stream] = {}
    async with asyncio.timeout(STREAM_CREATION_TIMEOUT):
        while not wanted <= found.keys():
            stream = await session.accept()
            if stream is None:
                break
            found[stream.headers.get("streamtype", "")] = stream
    return found


async def _over_spdy(request: web.Request, opts: Options, run: Runner) -> web.StreamResponse:
    protocol = spdy_transport.negotiate(request, SPDY_PROTOCOLS, V1)
    version = Framing(protocol).version
    async with spdy_transport.over_upgrade(request, protocol) as (response, session):
        try:
            streams = await _collect_streams(session, expected_streams(opts, version))
        except TimeoutError:
            log.info("exec: the client did not create its streams in %gs", STREAM_CREATION_TIMEOUT)
            return response
        if "error" not in streams:
            return response
        by_channel = {STDOUT: streams.get("stdout"), STDERR: streams.get("stderr"), ERROR: streams["error"]}

        async def send(channel: int, data: bytes) -> None:
            stream = by_channel.get(channel)
            if stream is not None and data:
                await stream.write(data)

        io = StreamSession(send, status_json=version >= 4, gone=session.ended)
        pumps = [asyncio.create_task(_read_stdin(streams.get("stdin"), io)),
                 asyncio.create_task(_read_resizes(streams.get("resize"), io))]
        try:
            await run(io)
        finally:
            for task in pumps:
                task.cancel()
            for stream in streams.values():
                await stream.close()
    return response


async def _read_stdin(stream: spdy.Stream | None, io: StreamSession) -> None:
    if stream is None:
        return
    try:
        while data := await stream.read():
            await io.stdin.put(data)
    finally:
        await io.stdin.put(None)


async def _read_resizes(stream: spdy.Stream | None, io: StreamSession) -> None:
    if stream is None:
        return
    while data := await stream.read():
        for size in parse_resize(data):
            await io.resizes.put(size)
