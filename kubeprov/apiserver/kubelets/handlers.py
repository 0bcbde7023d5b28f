"""The connect subresources: pods/log, exec, attach, portforward, proxy; nodes/proxy; services/proxy.

Each one finds its backend the way kube-apiserver's REST storage does (LogLocation, ExecLocation,
PortForwardLocation, the proxy ResourceLocations) and hands the request to :func:`tunnel.relay`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import ssl
from typing import Any
from urllib.parse import quote

from aiohttp import web

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.kubelets.connection import KubeletConnector, KubeletLocation
from kubeprov.apiserver.kubelets.options import LogOptions, StreamOptions, portforward_query
from kubeprov.apiserver.kubelets.pods import choose_container, no_host, not_started
from kubeprov.apiserver.kubelets.tunnel import Dialer, relay
from kubeprov.apiserver.rest.call import Call

Obj = dict[str, Any]
_STREAM_PATHS = {"exec": "exec", "attach": "attach", "portforward": "portForward"}


def split_scheme_name_port(text: str) -> tuple[str, str, str]:
    """``[scheme:]name[:port]`` (utilnet.SplitSchemeNamePort); 400 when malformed."""
    parts = text.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    raise StatusError(status.bad_request(f"invalid request {text!r}"))


def check_proxyable(ip: str) -> None:
    """proxyutil.IsProxyableIP: never relay to loopback, link-local or unspecified addresses (the API server's
    own host), whatever a pod status or an EndpointSlice says."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise StatusError(status.bad_request(f"invalid IP address {ip!r}")) from None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        raise StatusError(status.bad_request("address not allowed"))


def proxy_path(request: web.BaseRequest, call: Call) -> str:
    """What follows ``.../<name>/proxy`` in the raw path (kept encoded), with the client's query."""
    segments = request.rel_url.raw_path.split("/")
    index = (3 if call.info.api_prefix == "api" else 4) + (2 if call.info.namespace else 0) + 3
    rest = "/" + "/".join(segments[index:])
    query = request.rel_url.raw_query_string
    return rest + (f"?{query}" if query else "")


async def _tcp(host: str, port: int, tls: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = None
    if tls:  # kube-apiserver does not verify pod or endpoint certificates either
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        return await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx, limit=1 << 20), 10.0)
    except (OSError, TimeoutError) as err:
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise StatusError(status.service_unavailable(
            f"error trying to reach service: dial tcp {netloc}: {getattr(err, 'strerror', None) or err}")) from None


class ConnectHandlers:
    """Serves every connect subresource; ``get`` reads objects (by group, resource, namespace, name)."""

    def __init__(self, connector: KubeletConnector, get: Any, list_slices: Any) -> None:
        self.connector = connector
        self.get = get
        self.list_slices = list_slices
        # requests being relayed: a stopping server ends them instead of waiting for followed logs or shells
        self._active: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        """End every relay in progress (the clients see their connection close)."""
        tasks = [t for t in self._active if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    async def serve(self, request: web.Request, call: Call) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            return await self._serve(request, call)
        finally:
            if task is not None:
                self._active.discard(task)

    async def _serve(self, request: web.Request, call: Call) -> web.StreamResponse:
        info = call.info
        resource, sub = call.rt.resource, info.subresource
        if resource == "pods" and sub == "log":
            return await self.logs(request, call)
        if resource == "pods" and sub in _STREAM_PATHS:
            return await self.stream(request, call)
        if sub == "proxy" and resource == "pods":
            return await self.pod_proxy(request, call)
        if sub == "proxy" and resource == "nodes":
            return await self.node_proxy(request, call)
        if sub == "proxy" and resource == "services":
            return await self.service_proxy(request, call)
        raise StatusError(status.failure(404, "NotFound", "the server could not find the requested resource", {}))

    def _kubelet_dialer(self, location: KubeletLocation, insecure: bool = False) -> Dialer:
        return lambda: self.connector.dial(location, insecure)

    async def logs(self, request: web.Request, call: Call) -> web.StreamResponse:
        name, ns = call.info.name, call.info.namespace
        pod = await self.get("", "pods", ns, name)
        opts = LogOptions.parse(request.query, name)
        container = choose_container(pod, opts.container)
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise not_started(pod, container)
        location = await self.connector.locate(node)
        target = f"/containerLogs/{quote(ns)}/{quote(name)}/{quote(container)}"
        query = opts.kubelet_query()
        return await relay(request, self._kubelet_dialer(location, opts.insecure_skip_tls_verify_backend),
                           target + (f"?{query}" if query else ""), location.netloc,
                           content_type="text/plain")

    async def stream(self, request: web.Request, call: Call) -> web.StreamResponse:
        name, ns, sub = call.info.name, call.info.namespace, call.info.subresource
        pod = await self.get("", "pods", ns, name)
        if sub == "portforward":
            query = portforward_query(request.query)
            target = f"/portForward/{quote(ns)}/{quote(name)}"
        else:
            opts = StreamOptions.parse(request.query, exec_=sub == "exec")
            container = choose_container(pod, opts.container)
            query = opts.kubelet_query()
            target = f"/{_STREAM_PATHS[sub]}/{quote(ns)}/{quote(name)}/{quote(container)}"
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise no_host(pod)
        location = await self.connector.locate(node)
        return await relay(request, self._kubelet_dialer(location), target + (f"?{query}" if query else ""),
                           location.netloc)

    async def node_proxy(self, request: web.Request, call: Call) -> web.StreamResponse:
        scheme, name, port = split_scheme_name_port(call.info.name)
        location = await self.connector.locate(name)
        if port:
            if not port.isdigit():
                raise StatusError(status.bad_request(f"invalid port {port!r}"))
            location = KubeletLocation(location.node, location.host, int(port))
        if scheme == "http":
            return await relay(request, lambda: _tcp(location.host, location.port, False), proxy_path(request, call),
                               location.netloc, on_error=None)
        return await relay(request, self._kubelet_dialer(location), proxy_path(request, call), location.netloc,
                           on_error=None)

    async def pod_proxy(self, request: web.Request, call: Call) -> web.StreamResponse:
        scheme, name, port = split_scheme_name_port(call.info.name)
        pod = await self.get("", "pods", call.info.namespace, name)
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise StatusError(status.service_unavailable(f'pod "{name}" has no IP address yet'))
        check_proxyable(ip)
        number = _port_number(port, pod) if port else 80
        return await self._endpoint(request, call, scheme, ip, number)

    async def service_proxy(self, request: web.Request, call: Call) -> web.StreamResponse:
        scheme, name, port = split_scheme_name_port(call.info.name)
        ns = call.info.namespace
        svc = await self.get("", "services", ns, name)
        ip, number = random.choice(service_endpoints(svc, self.list_slices(ns, name), port, call.info.name))
        check_proxyable(ip)
        return await self._endpoint(request, call, scheme, ip, number)

    async def _endpoint(self, request: web.Request, call: Call, scheme: str, ip: str,
                        port: int) -> web.StreamResponse:
        netloc = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return await relay(request, lambda: _tcp(ip, port, scheme == "https"), proxy_path(request, call), netloc,
                           on_error=None)


def service_endpoints(svc: Obj, slices: list[Obj], port: str, request_name: str) -> list[tuple[str, int]]:
    """Ready (address, port) pairs of the Service port named or numbered ``port`` (ResourceLocation's choice).

    A port number is first turned into that service port's name, as kube-apiserver does; 503 when the
    service has no such port or no ready endpoint for it.
    """
    name = (svc.get("metadata") or {}).get("name", "")
    port_name = port
    if port.isdigit():
        match = next((p for p in (svc.get("spec") or {}).get("ports") or [] if int(p.get("port", 0)) == int(port)),
                     None)
        if match is None:
            raise StatusError(status.service_unavailable(f'no service port {port} found for service "{name}"'))
        port_name = match.get("name", "")
    candidates: list[tuple[str, int]] = []
    for eps in slices:
        number = next((int(p["port"]) for p in eps.get("ports") or []
                       if (p.get("name") or "") == port_name and p.get("port")), None)
        if number is None:
            continue
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            candidates += [(address, number) for address in endpoint.get("addresses") or []]
    if not candidates:
        raise StatusError(status.service_unavailable(f'no endpoints available for service "{request_name}"'))
    return candidates


def _port_number(port: str, pod: Obj) -> int:
    """A pod proxy port: a number, or the name of one of the pod's container ports."""
    if port.isdigit():
        return int(port)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == port and p.get("containerPort"):
                return int(p["containerPort"])
    raise StatusError(status.bad_request(f"no port named {port!r} in pod"))
