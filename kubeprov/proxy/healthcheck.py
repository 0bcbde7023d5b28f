"""Per-Service health check ports (``spec.healthCheckNodePort``), as kube-proxy serves them.

A LoadBalancer Service with ``externalTrafficPolicy: Local`` names a node port where the cloud's load
balancer asks each node whether to send it traffic: 200 when the node has a local endpoint for the
Service, 503 when not (so the balancer skips nodes that would drop the traffic). The body is kube-proxy's
JSON: ``{"service": {"namespace", "name"}, "localEndpoints": N, "serviceProxyHealthy": bool}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger("kubeprov.proxy.healthcheck")


@dataclass(frozen=True)
class ServiceHealth:
    namespace: str
    name: str
    local_endpoints: int


class ServiceHealthServers:
    """One listener per wanted health check port; :meth:`update` opens, closes and refreshes them."""

    def __init__(self, address: str, proxy_healthy: Callable[[], bool]) -> None:
        self.address = address
        self._proxy_healthy = proxy_healthy
        self._wanted: dict[int, ServiceHealth] = {}
        self._runners: dict[int, web.AppRunner] = {}

    @property
    def ports(self) -> list[int]:
        return sorted(self._runners)

    async def update(self, wanted: dict[int, ServiceHealth]) -> None:
        self._wanted = dict(wanted)
        for port in sorted(set(self._runners) - set(wanted)):
            await self._runners.pop(port).cleanup()
        for port in sorted(set(wanted) - set(self._runners)):
            await self._open(port)

    async def close(self) -> None:
        await self.update({})

    async def _open(self, port: int) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", lambda _request: self._answer(port))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.address, port).start()
        except OSError as exc:  # a port taken by something else: that service has no health check here
            log.warning("cannot serve the health check of %s on port %d: %s", self._wanted[port].name, port, exc)
            await runner.cleanup()
            return
        self._runners[port] = runner

    async def _answer(self, port: int) -> web.Response:
        health = self._wanted.get(port)
        if health is None:
            return web.Response(status=404)
        healthy = self._proxy_healthy()
        body = {"service": {"namespace": health.namespace, "name": health.name},
                "localEndpoints": health.local_endpoints, "serviceProxyHealthy": healthy}
        status = 200 if health.local_endpoints and healthy else 503
        return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                            headers={"X-Content-Type-Options": "nosniff"})
