"""The cluster DNS service: informers -> :class:`Zone`, UDP and TCP listeners, health and metrics.

``DnsServer(config)`` watches Services and EndpointSlices (discovery.k8s.io/v1), and Pods only in
``pods: verified`` mode. A change to a service or one of its slices (label
``kubernetes.io/service-name``) recomputes that service's records at once in the informer handler, so
an answer follows the API within one watch event. Queries are answered over UDP and TCP (two-byte
length prefix, several queries per connection, closed after ``tcp_idle_timeout``) on
``listen_address:port``; ``/healthz``, ``/readyz`` (informers synced) and ``/metrics`` on the health
port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from pathlib import Path
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer, SharedInformerFactory
from kubeprov.component import HealthServer, serve_until_signalled
from kubeprov.dns.config import DnsConfig
from kubeprov.dns.handler import DnsMetrics, Forward, Forwarder, Responder
from kubeprov.dns.records import SERVICE_NAME_LABEL, Zone

__all__ = ["DnsServer", "serve_forever"]

log = logging.getLogger("kubeprov.dns")
Obj = dict[str, Any]
SERVICE_INDEX = "service"
POD_IP_INDEX = "podIP"


def _service_index(eps: Obj) -> list[str]:
    meta = eps.get("metadata") or {}
    svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace', '')}/{svc}"] if svc else []


def _pod_ip_index(pod: Obj) -> list[str]:
    ns = (pod.get("metadata") or {}).get("namespace", "")
    ips = [ip.get("ip") for ip in (pod.get("status") or {}).get("podIPs") or [] if ip.get("ip")]
    return [f"{ns}/{ip}" for ip in ips]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        responder = self.server.responder
        try:
            result = responder.answer(data, tcp=False)
        except Exception:  # a bug must not stop the listener
            log.exception("answering a UDP query failed")
            return
        if isinstance(result, Forward):
            self.server.spawn(self._forward(data, addr))
        elif result is not None and self.transport is not None:
            self.transport.sendto(result, addr)

    async def _forward(self, data: bytes, addr: Any) -> None:
        reply = await self.server.responder.respond(data, tcp=False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """See the module docstring. ``client`` (optional) is used instead of one from ``config.kubeconfig``
    and is not closed by :meth:`stop`."""

    def __init__(self, config: DnsConfig, *, client: ApiClient | None = None) -> None:
        self.config = config
        self.metrics = DnsMetrics()
        self.zone = Zone(config.cluster_domain, config.ttl, config.pods, pod_exists=self._pod_exists)
        upstreams = config.upstream_addresses()
        forwarder = Forwarder(upstreams, config.upstream_timeout) if upstreams else None
        self.responder = Responder(self.zone, forwarder=forwarder, max_udp_size=config.max_udp_size,
                                   metrics=self.metrics)
        self._client = client
        self._own_client = client is None
        self._factory: SharedInformerFactory | None = None
        self._services: Informer | None = None
        self._slices: Informer | None = None
        self._pods: Informer | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._health: HealthServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._port = 0
        self._started = False

    @property
    def port(self) -> int:
        """The DNS port (UDP and TCP; the chosen one when configured as 0)."""
        return self._port

    @property
    def health_port(self) -> int:
        return self._health.port if self._health is not None else 0

    @property
    def ready(self) -> bool:
        return self._factory is not None and all(i.has_synced for i in self._factory.informers)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the informers, the listeners and the health server; returns once listening."""
        if self._started:
            return
        self._started = True
        if self._client is None:
            if not self.config.kubeconfig:
                raise ValueError("the DNS config names no kubeconfig")
            self._client = ApiClient.from_kubeconfig(Path(self.config.kubeconfig), user_agent="kubeprov-dns")
        factory = self._factory = SharedInformerFactory(self._client)
        self._services = factory.informer("v1", "services")
        self._slices = factory.informer("discovery.k8s.io/v1", "endpointslices",
                                        indexers={SERVICE_INDEX: _service_index})
        if self.config.pods == "verified":
            self._pods = factory.informer("v1", "pods", indexers={POD_IP_INDEX: _pod_ip_index})
        self._services.add_handler(self._on_service, lambda old, new: self._on_service(new), self._on_service)
        self._slices.add_handler(self._on_slice, self._on_slice_update, self._on_slice)
        await self._listen()
        await self._start_health_server()
        await factory.start()
        log.info("cluster DNS for %s listening on %s:%d (health port %d)", self.config.cluster_domain,
                 self.config.listen_address, self._port, self.health_port)

    async def stop(self) -> None:
        if not self._started:
            return
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._factory is not None:
            await self._factory.stop()
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None
        self._started = False
        log.info("cluster DNS stopped")

    async def wait_synced(self, timeout: float | None = None) -> bool:
        return self._factory is not None and await self._factory.wait_synced(timeout)

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- informer handlers ----------------------------------------------------------------------

    def _refresh(self, namespace: str, name: str) -> None:
        assert self._services is not None and self._slices is not None
        service = self._services.get(namespace, name)
        slices = self._slices.by_index(SERVICE_INDEX, f"{namespace}/{name}") if service is not None else []
        self.zone.set_service(namespace, name, service, slices)

    def _on_service(self, svc: Obj) -> None:
        meta = svc.get("metadata") or {}
        self._refresh(meta.get("namespace", ""), meta.get("name", ""))

    def _on_slice(self, eps: Obj) -> None:
        for key in _service_index(eps):
            namespace, _, name = key.partition("/")
            self._refresh(namespace, name)

    def _on_slice_update(self, old: Obj, new: Obj) -> None:
        for key in {*_service_index(old), *_service_index(new)}:
            namespace, _, name = key.partition("/")
            self._refresh(namespace, name)

    def _pod_exists(self, namespace: str, ip: str) -> bool:
        return self._pods is not None and bool(self._pods.by_index(POD_IP_INDEX, f"{namespace}/{ip}"))

    # -- listeners ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.config.listen_address, self.config.port
        # UDP and TCP share one port number; with port 0 take TCP's free port for UDP too, retrying
        # when another process holds that UDP port
        for _ in range(20):
            tcp = await asyncio.start_server(self._serve_tcp, host, port)
            chosen = tcp.sockets[0].getsockname()[1]
            try:
                self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(host, chosen))
            except OSError:
                tcp.close()
                await tcp.wait_closed()
                if port:
                    raise
                continue
            self._tcp = tcp
            self._port = chosen
            return
        raise OSError(f"no free port for UDP and TCP on {host}")

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(self.config.tcp_idle_timeout):
                    (length,) = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(length)
                reply = await self.responder.respond(data, tcp=True)
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:
            log.exception("serving a TCP connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- health ---------------------------------------------------------------------------------

    async def _start_health_server(self) -> None:
        self._health = HealthServer(self.config.health_bind_address, self.config.health_port,
                                    healthy=lambda: None, ready=self._unready, metrics=self._metrics_text)
        await self._health.start()

    def _unready(self) -> str | None:
        return None if self.ready else "informers not synced"

    def _metrics_text(self) -> str:
        sizes = dict(self.zone.sizes)
        if self._services is not None and self._slices is not None:
            sizes["informer_services"] = len(self._services.list())
            sizes["informer_endpointslices"] = len(self._slices.list())
        return self.metrics.render(sizes)


async def serve_forever(config: DnsConfig) -> None:
    """Run until SIGTERM/SIGINT (what ``python -m kubeprov.dns`` does)."""
    await serve_until_signalled(DnsServer(config))
