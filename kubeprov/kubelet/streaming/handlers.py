"""What each streaming route does once its target is known: exec, attach and port-forward, each handed to the
transport the client's upgrade asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from kubeprov.kubelet.streaming import exec_transports, portforward, spdy_transport
from kubeprov.kubelet.streaming.attach import run_attach
from kubeprov.kubelet.streaming.channels import PORTFORWARD_PROTOCOLS
from kubeprov.kubelet.streaming.errors import BadRequest
from kubeprov.kubelet.streaming.remotecommand import Options, OptionsError, run_exec
from kubeprov.kubelet.streaming.session import StreamSession
from kubeprov.kubelet.streaming.websocket import ChannelSocket, wants_websocket

PORTFORWARD_SPDY = "portforward.k8s.io"
SPDY_OVER_WEBSOCKET = "SPDY/3.1+portforward.k8s.io"

__all__ = ["BadRequest", "serve_attach", "serve_exec", "serve_port_forward"]


def _options(request: web.Request, exec_: bool) -> Options:
    try:
        return Options.from_query(request.query, exec_=exec_)
    except OptionsError as exc:
        raise BadRequest(str(exc)) from None


async def serve_exec(request: web.Request, runtime: Any, container: Any) -> web.StreamResponse:
    opts = _options(request, exec_=True)

    async def run(session: StreamSession) -> None:
        await run_exec(runtime, container.id, opts, session)

    return await exec_transports.serve(request, opts, run)


async def serve_attach(request: web.Request, kubelet: Any, container: Any) -> web.StreamResponse:
    opts = _options(request, exec_=False)
    worker = kubelet.pod_worker(request.match_info["namespace"], request.match_info["pod"])
    name = request.match_info["container"]
    spec = next((c.spec for c in worker.containers if c.name == name), {}) if worker is not None else {}
    if opts.stdin and not spec.get("stdin"):
        raise BadRequest(f"container {name} does not have stdin: true, so attach cannot write to it")

    async def run(session: StreamSession) -> None:
        await run_attach(kubelet.runtime, container, spec, opts, session)

    return await exec_transports.serve(request, opts, run)


async def serve_port_forward(request: web.Request, pod: str, uid: str, netns: Path | None) -> web.StreamResponse:
    target = portforward.Target(pod, uid, netns)
    if wants_websocket(request):
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if SPDY_OVER_WEBSOCKET in offered:  # kubectl 1.30+
            async with spdy_transport.over_websocket(request, SPDY_OVER_WEBSOCKET) as (ws, session):
                await portforward.serve_spdy(session, target)
            return ws
        return await _native_websocket(request, target)
    if spdy_transport.wants_spdy(request):
        spdy_transport.negotiate(request, (PORTFORWARD_SPDY,), PORTFORWARD_SPDY)
        async with spdy_transport.over_upgrade(request, PORTFORWARD_SPDY) as (response, session):
            await portforward.serve_spdy(session, target)
        return response
    raise BadRequest("Upgrade request required")


async def _native_websocket(request: web.Request, target: portforward.Target) -> web.StreamResponse:
    try:
        ports = portforward.parse_ports(request.query.getall("port", []) + request.query.getall("ports", []))
    except portforward.PortError as exc:
        raise BadRequest(str(exc)) from None
    if not ports:
        raise BadRequest('query parameter "port" is required')
    sock = await ChannelSocket.accept(request, PORTFORWARD_PROTOCOLS)
    try:
        await portforward.serve_websocket(sock, ports, target)
    finally:
        await sock.close()
    return sock.ws
