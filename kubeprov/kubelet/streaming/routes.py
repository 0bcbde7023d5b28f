"""The kubelet's streaming routes, mounted by its HTTPS server: ``/exec``, ``/attach`` and ``/portForward``.

Each request is resolved to a running container (or a pod's network) first, so every user mistake is an HTTP
Status before any upgrade; then the upgrade decides the transport: a websocket (``channel.k8s.io`` subprotocols,
or ``SPDY/3.1+portforward.k8s.io`` carrying SPDY frames) or an ``Upgrade: SPDY/3.1`` connection.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from kubeprov.api import status
from kubeprov.kubelet.runtime.manager import RUNNING
from kubeprov.kubelet.streaming import handlers

log = logging.getLogger(__name__)


class StreamingError(Exception):
    """A request that cannot be served: answered with its Status before any upgrade."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.body = body


def error_response(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=int(body.get("code", 500)))


class StreamingRoutes:
    """Request handlers bound to one kubelet (``find_container``, ``pod_worker``, ``pod_netns``, ``runtime``)."""

    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet

    async def container(self, request: web.Request) -> Any:
        """The running runtime container behind the path's namespace/pod/container."""
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        worker = self.kubelet.pod_worker(ns, pod)
        if worker is None:
            raise StreamingError(status.not_found("pods", pod))
        names = [c.name for c in worker.containers]
        if name not in names:
            raise StreamingError(status.bad_request(f"container {name} is not valid for pod {pod}"))
        found = await self.kubelet.find_container(ns, pod, name)
        if found is None or found.state != RUNNING:
            raise StreamingError(status.bad_request(f"container {name} in pod {pod} is not running"))
        return found

    async def exec(self, request: web.Request) -> web.StreamResponse:
        try:
            found = await self.container(request)
            return await handlers.serve_exec(request, self.kubelet.runtime, found)
        except StreamingError as exc:
            return error_response(exc.body)
        except handlers.BadRequest as exc:
            return error_response(status.bad_request(str(exc)))

    async def attach(self, request: web.Request) -> web.StreamResponse:
        try:
            found = await self.container(request)
            return await handlers.serve_attach(request, self.kubelet, found)
        except StreamingError as exc:
            return error_response(exc.body)
        except handlers.BadRequest as exc:
            return error_response(status.bad_request(str(exc)))

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        worker = self.kubelet.pod_worker(ns, pod)
        if worker is None:
            return error_response(status.not_found("pods", pod))
        host_network = bool((worker.pod.get("spec") or {}).get("hostNetwork"))
        netns = None if host_network else self.kubelet.pod_netns(ns, pod)
        if netns is None and not host_network:
            return error_response(status.bad_request(f"pod {pod} does not have a network yet"))
        try:
            return await handlers.serve_port_forward(request, pod, str(worker.uid), netns)
        except handlers.BadRequest as exc:
            return error_response(status.bad_request(str(exc)))


def streaming_routes(kubelet: Any) -> list[web.RouteDef]:
    """The routes for the kubelet's server: GET and POST of /exec, /attach (namespace/pod/container) and
    /portForward (namespace/pod)."""
    routes = StreamingRoutes(kubelet)
    out: list[web.RouteDef] = []
    for method in ("GET", "POST"):
        out.append(web.route(method, "/exec/{namespace}/{pod}/{container}", routes.exec))
        out.append(web.route(method, "/attach/{namespace}/{pod}/{container}", routes.attach))
        out.append(web.route(method, "/portForward/{namespace}/{pod}", routes.port_forward))
    return out
