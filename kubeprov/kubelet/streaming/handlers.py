"""Upgrade dispatch: which transport a streaming request asked for, and the session wiring for each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from kubeprov.kubelet.streaming import portforward, spdy
from kubeprov.kubelet.streaming.attach import run_attach
from kubeprov.kubelet.streaming.channels import (
    CLOSE,
    ERROR,
    PORTFORWARD_PROTOCOLS,
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
from kubeprov.kubelet.streaming.remotecommand import Options, OptionsError, run_exec
from kubeprov.kubelet.streaming.session import StreamSession, parse_resize
from kubeprov.kubelet.streaming.upgrade import RawConnection, upgrade
from kubeprov.kubelet.streaming.websocket import ChannelSocket

log = logging.getLogger(__name__)

PROTOCOL_HEADER = "X-Stream-Protocol-Version"
SPDY_REMOTECOMMAND = (V4, V3, V2, V1)
PORTFORWARD_SPDY = "portforward.k8s.io"
SPDY_OVER_WEBSOCKET = "SPDY/3.1+portforward.k8s.io"
#: how long a SPDY client may take to open the streams its options call for (the kubelet's 30 s)
STREAM_CREATION_TIMEOUT = 30.0


class BadRequest(ValueError):
    """A request we answer with a 400 Status (bad options, no upgrade asked for...)."""


def wants_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def wants_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/")


def _options(request: web.Request, exec_: bool) -> Options:
    try:
        return Options.from_query(request.query, exec_=exec_)
    except OptionsError as exc:
        raise BadRequest(str(exc)) from None


async def serve_exec(request: web.Request, runtime: Any, container: Any) -> web.StreamResponse:
    opts = _options(request, exec_=True)

    async def run(session: StreamSession) -> None:
        await run_exec(runtime, container.id, opts, session)

    return await serve_remotecommand(request, opts, run)


async def serve_attach(request: web.Request, kubelet: Any, container: Any) -> web.StreamResponse:
    opts = _options(request, exec_=False)
    worker = kubelet.pod_worker(request.match_info["namespace"], request.match_info["pod"])
    name = request.match_info["container"]
    spec = next((c.spec for c in worker.containers if c.name == name), {}) if worker is not None else {}
    if opts.stdin and not spec.get("stdin"):
        raise BadRequest(f"container {name} does not have stdin: true, so attach cannot write to it")

    async def run(session: StreamSession) -> None:
        await run_attach(kubelet.runtime, container, spec, opts, session)

    return await serve_remotecommand(request, opts, run)


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


async def _spdy_session(request: web.Request, protocol: str) -> tuple[web.StreamResponse, RawConnection,
                                                                        spdy.SpdySession, asyncio.Task[None]]:
    response, conn = await upgrade(request, {"Upgrade": "SPDY/3.1", PROTOCOL_HEADER: protocol})
    session = spdy.SpdySession(conn.write, server=True)
    runner = asyncio.create_task(session.run(conn.read))
    return response, conn, session, runner


async def _end_spdy(conn: RawConnection, session: spdy.SpdySession, runner: asyncio.Task[None]) -> None:
    await session.go_away()
    conn.close()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await runner


# ------------------------------------------------------------------------------------------ port-forward


async def serve_port_forward(request: web.Request, pod: str, uid: str, netns: Path | None) -> web.StreamResponse:
    target = portforward.Target(pod, uid, netns)
    if wants_websocket(request):
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if SPDY_OVER_WEBSOCKET in offered:
            return await _port_forward_tunnel(request, target)
        try:
            ports = portforward.parse_ports(request.query.getall("port", []) + request.query.getall("ports", []))
        except portforward.PortError as exc:
            raise BadRequest(str(exc)) from None
        if not ports:
            raise BadRequest("query parameter \"port\" is required")
        sock = await ChannelSocket.accept(request, PORTFORWARD_PROTOCOLS)
        try:
            await portforward.serve_websocket(sock, ports, target)
        finally:
            await sock.close()
        return sock.ws
    if wants_spdy(request):
        negotiate(request, (PORTFORWARD_SPDY,), PORTFORWARD_SPDY)
        response, conn, session, runner = await _spdy_session(request, PORTFORWARD_SPDY)
        try:
            await portforward.serve_spdy(session, target)
        finally:
            await _end_spdy(conn, session, runner)
        return response
    raise BadRequest("Upgrade request required")


async def _port_forward_tunnel(request: web.Request, target: portforward.Target) -> web.StreamResponse:
    """kubectl 1.30+: the SPDY port-forward session, its bytes carried in websocket binary messages."""
    ws = web.WebSocketResponse(protocols=(SPDY_OVER_WEBSOCKET,), max_msg_size=16 * 1024 * 1024)
    await ws.prepare(request)
    lock = asyncio.Lock()

    async def write(data: bytes) -> None:
        async with lock:
            await ws.send_bytes(data)

    async def read() -> bytes:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                if msg.data:
                    return msg.data.encode()
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return b""

    session = spdy.SpdySession(write, server=True)
    runner = asyncio.create_task(session.run(read))
    try:
        await portforward.serve_spdy(session, target)
    finally:
        await session.go_away()
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        await ws.close()
    return ws


# ------------------------------------------------------------------------------------------ exec / attach


async def serve_remotecommand(request: web.Request, opts: Options, run: Any) -> web.StreamResponse:
    if wants_websocket(request):
        return await _remotecommand_ws(request, opts, run)
    if wants_spdy(request):
        return await _remotecommand_spdy(request, opts, run)
    raise BadRequest("Upgrade request required")


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


async def _remotecommand_spdy(request: web.Request, opts: Options, run: Any) -> web.StreamResponse:
    protocol = negotiate(request, SPDY_REMOTECOMMAND, V1)
    version = Framing(protocol).version
    response, conn, session, runner = await _spdy_session(request, protocol)
    try:
        try:
            streams = await _collect_streams(session, expected_streams(opts, version))
        except TimeoutError:
            log.info("exec: client did not create its streams in time")
            return response
        if "error" not in streams:
            return response
        by_channel = {STDOUT: streams.get("stdout"), STDERR: streams.get("stderr"), ERROR: streams["error"]}

        async def send(channel: int, data: bytes) -> None:
            stream = by_channel.get(channel)
            if stream is not None and data:
                await stream.write(data)

        io = StreamSession(send, status_json=version >= 4)
        runner.add_done_callback(lambda _: io.gone.set())
        pumps = [asyncio.create_task(_spdy_stdin(streams.get("stdin"), io)),
                 asyncio.create_task(_spdy_resize(streams.get("resize"), io))]
        try:
            await run(io)
        finally:
            for task in pumps:
                task.cancel()
            for stream in streams.values():
                await stream.close()
    finally:
        await _end_spdy(conn, session, runner)
    return response


async def _spdy_stdin(stream: spdy.Stream | None, io: StreamSession) -> None:
    if stream is None:
        return
    try:
        while data := await stream.read():
            await io.stdin.put(data)
    finally:
        await io.stdin.put(None)


async def _spdy_resize(stream: spdy.Stream | None, io: StreamSession) -> None:
    if stream is None:
        return
    while data := await stream.read():
        for size in parse_resize(data):
            await io.resizes.put(size)


async def _remotecommand_ws(request: web.Request, opts: Options, run: Any) -> web.StreamResponse:
    sock = await ChannelSocket.accept(request, REMOTECOMMAND_PROTOCOLS)
    session = StreamSession(sock.send, status_json=sock.framing.version >= 4)
    # the kubelet's "connection established" signal: an empty message on the lowest channel it will write
    await sock.send(STDOUT if opts.stdout else STDERR if opts.stderr else ERROR, b"")
    reader = asyncio.create_task(_read_ws(sock, session))
    try:
        await run(session)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await sock.close()
    return sock.ws


async def _read_ws(sock: ChannelSocket, session: StreamSession) -> None:
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
