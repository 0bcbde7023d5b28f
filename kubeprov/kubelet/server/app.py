"""KubeletServer: the kubelet's HTTPS API (port 10250) and its plain-HTTP healthz port (10248).

Every route, including the streaming ones (exec, attach, portForward), passes the same middlewares: request
metrics, then authentication and authorization (``auth.py``), then errors turned into Kubernetes ``Status`` JSON
(a handler's failure is logged with its traceback, the caller gets a 500 Status, never the traceback).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from kubeprov.aio import cancel_and_wait
from kubeprov.api import status
from kubeprov.api.client import ApiConnectionError
from kubeprov.api.status import StatusError
from kubeprov.component import HealthServer, start_site
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.server import auth, resource_metrics, tls
from kubeprov.kubelet.server.logs import LogRequestError, container_logs_handler
from kubeprov.kubelet.server.metrics import KubeletMetrics
from kubeprov.kubelet.server.promtext import CONTENT_TYPE
from kubeprov.kubelet.streaming.routes import streaming_routes

log = logging.getLogger(__name__)
SAMPLE_INTERVAL = 1.0


def status_response(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=int(body.get("code", 500)))


class KubeletServer:
    """``start`` listens (``port`` 0 picks one; see :attr:`port`), ``stop`` closes both ports."""

    def __init__(self, kubelet: Any, config: KubeletConfig, *, webhook: auth.WebhookAuth | None = None) -> None:
        self.kubelet = kubelet
        self.config = config
        self.port = config.port
        self.webhook = webhook or auth.WebhookAuth(kubelet.client)
        self.metrics = KubeletMetrics(kubelet.name)
        self.health: HealthServer | None = None
        self._runner: web.AppRunner | None = None
        self._sampler: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def _tls_files(self) -> tuple[Path, Path]:
        if self.config.tls_cert_file:
            return Path(self.config.tls_cert_file), Path(self.config.tls_private_key_file)
        return tls.self_signed_pair(Path(self.config.root_dir) / "pki", self.kubelet.name, self.kubelet.node_ip)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count, self._authorize, self._errors])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/healthz/{check}", self._healthz)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/metrics/resource", self._resource_metrics)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs_handler(self.kubelet))
        app.router.add_routes(streaming_routes(self.kubelet))
        return app

    async def start(self) -> None:
        cert, key = await asyncio.to_thread(self._tls_files)
        context = tls.server_context(cert, key, self.config.client_ca_file)
        self._runner, self.port = await start_site(self.app(), self.config.address, self.config.port, context)
        self.health = HealthServer("127.0.0.1", self.config.health_port, healthy=self._problem,
                                   ready=self._problem, metrics=lambda: "")
        try:
            await self.health.start()
        except OSError as exc:
            log.error("kubelet %s: healthz port %s not served: %s", self.kubelet.name, self.config.health_port, exc)
            self.health = None
        self._sampler = asyncio.create_task(self._sample(), name=f"kubelet {self.kubelet.name} metrics sampler")

    async def stop(self) -> None:
        await cancel_and_wait(self._sampler)
        self._sampler = None
        if self.health is not None:
            await self.health.stop()
            self.health = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _sample(self) -> None:
        while True:
            self.metrics.sample_pod_starts(list(self.kubelet.workers.values()))
            await asyncio.sleep(SAMPLE_INTERVAL)

    # ------------------------------------------------------------------ middlewares

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        key = self.metrics.request_labels(request.method, request.path)
        self.metrics.requests[key] += 1
        self.metrics.inflight[key] += 1
        try:
            return await handler(request)
        finally:
            self.metrics.inflight[key] -= 1

    async def _user(self, request: web.Request) -> auth.User | None:
        if request.transport is not None:
            user = auth.user_from_certificate(request.transport.get_extra_info("peercert"))
            if user is not None:
                return user
        token = auth.bearer_token(request.headers.get("Authorization", ""))
        if token is not None:
            return await self.webhook.authenticate_token(token)
        if self.config.anonymous_auth:
            return auth.User(auth.ANONYMOUS, (auth.UNAUTHENTICATED,))
        return None

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            user = await self._user(request)
        except (StatusError, ApiConnectionError) as exc:
            log.error("kubelet %s: unable to authenticate the request: %s", self.kubelet.name, exc)
            user = None
        if user is None:
            return status_response(status.failure(401, "Unauthorized", "Unauthorized"))
        attrs = auth.request_attributes(user, request.method, request.path, self.kubelet.name)
        try:
            allowed = await self.webhook.authorize(attrs)
        except (StatusError, ApiConnectionError) as exc:
            log.error("kubelet %s: authorization error: %s", self.kubelet.name, exc)
            message = (f"Authorization error (user={user.name}, verb={attrs.verb}, resource=nodes, "
                       f"subresource(s)=[{attrs.subresource}])")
            return status_response(status.failure(500, "InternalError", message))
        if not allowed:
            return status_response(status.failure(403, "Forbidden", attrs.forbidden_message()))
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except LogRequestError as exc:
            return status_response(status.failure(exc.code, exc.reason, exc.message))
        except web.HTTPException:
            raise
        except Exception as exc:
            log.exception("kubelet %s: %s %s failed", self.kubelet.name, request.method, request.path)
            return status_response(status.internal_error(str(exc) or type(exc).__name__))

    # ------------------------------------------------------------------ handlers

    def _problem(self) -> str | None:
        """None when the kubelet's loop is alive (the kubelet's ``syncloop`` check)."""
        task = getattr(self.kubelet, "_task", None)
        if task is None or task.done():
            return "syncloop failed: the kubelet's main loop is not running"
        return None

    async def _healthz(self, request: web.Request) -> web.Response:
        check = request.match_info.get("check", "")
        if check not in ("", "ping", "log", "syncloop"):
            return web.Response(status=404, text="404 page not found\n")
        problem = self._problem() if check in ("", "syncloop") else None
        if problem:
            return web.Response(status=500, text="[-]syncloop failed: reason withheld\nhealthz check failed\n"
                                if not check else f"internal server error: {problem}\n")
        return web.Response(text="ok")

    async def _pods(self, _request: web.Request) -> web.Response:
        items = [w.pod for w in list(self.kubelet.workers.values()) if not w.done]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def _metrics(self, _request: web.Request) -> web.Response:
        text = await self.metrics.render(self.kubelet)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    async def _resource_metrics(self, _request: web.Request) -> web.Response:
        text = resource_metrics.render(await resource_metrics.collect(self.kubelet))
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
