"""Upgrade dispatch: which transport a streaming request asked for, and the session wiring for each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from kubeprov.kubelet.streaming.channels import CLOSE, REMOTECOMMAND_PROTOCOLS, RESIZE, STDERR, STDIN, STDOUT
from kubeprov.kubelet.streaming.remotecommand import Options, OptionsError, run_exec
from kubeprov.kubelet.streaming.session import StreamSession, parse_resize
from kubeprov.kubelet.streaming.websocket import ChannelSocket

log = logging.getLogger(__name__)


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
    raise BadRequest("attach is not supported by this kubelet yet")


async def serve_port_forward(request: web.Request, pod: str, uid: str, netns: Path | None) -> web.StreamResponse:
    raise BadRequest("port-forward is not supported by this kubelet yet")


async def serve_remotecommand(request: web.Request, opts: Options, run: Any) -> web.StreamResponse:
    if wants_websocket(request):
        return await _remotecommand_ws(request, opts, run)
    raise BadRequest("Upgrade request required")


async def _remotecommand_ws(request: web.Request, opts: Options, run: Any) -> web.StreamResponse:
    sock = await ChannelSocket.accept(request, REMOTECOMMAND_PROTOCOLS)
    session = StreamSession(sock.send, status_json=sock.framing.version >= 4)
    # the kubelet's "connection established" signal: an empty message on the lowest channel it will write
    await sock.send(STDOUT if opts.stdout else STDERR if opts.stderr else 3, b"")
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
