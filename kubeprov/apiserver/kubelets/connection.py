"""Where a node's kubelet listens and how the API server talks to it (kube-apiserver's KubeletClientConfig).

The address comes from the Node object in storage: the first of ``status.addresses`` whose type is
earliest in the preferred order, and the port from ``status.daemonEndpoints.kubeletEndpoint.Port``
(10250 when missing or 0). The API server authenticates with its kubelet client certificate and,
as kube-apiserver, checks the kubelet's serving certificate only when a CA for it is configured.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError

DEFAULT_KUBELET_PORT = 10250
# kube-apiserver's default is Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP. We put InternalIP
# first (as kubeadm clusters commonly configure): our nodes' host names are not in any DNS the API server
# host resolves, while the InternalIP is the address each kubelet registers and binds its server to.
DEFAULT_PREFERRED_ADDRESS_TYPES = ("InternalIP", "Hostname", "InternalDNS", "ExternalDNS", "ExternalIP")

Obj = dict[str, Any]
NodeGetter = Callable[[str], Awaitable[Obj]]


@dataclass(frozen=True)
class KubeletLocation:
    """One kubelet's HTTPS endpoint."""

    node: str
    host: str
    port: int

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, path: str, query: str = "") -> str:
        return f"https://{self.netloc}{path}" + (f"?{query}" if query else "")


def _go_addresses(addresses: Sequence[Obj]) -> str:
    """``[{InternalIP 10.0.0.1}]``: how Go prints a []NodeAddress in the no-address error."""
    return "[" + " ".join("{" + f"{a.get('type', '')} {a.get('address', '')}" + "}" for a in addresses) + "]"


def kubelet_port(node: Obj) -> int:
    """The port the kubelet advertised; 0 when it advertises none (hollow nodes serve no API)."""
    endpoint = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    try:
        return int(endpoint.get("Port") or 0)
    except (TypeError, ValueError):
        return 0


def is_hollow(node: Obj) -> bool:
    """Hollow (simulated) nodes advertise a kubelet port but serve nothing on their made-up addresses."""
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return str(info.get("containerRuntimeVersion", "")).startswith("hollow://")


def node_location(node: Obj, preferred: Sequence[str] = DEFAULT_PREFERRED_ADDRESS_TYPES) -> KubeletLocation:
    """The kubelet endpoint of ``node``; a 500 Status like kube-apiserver's when it has no usable address."""
    name = (node.get("metadata") or {}).get("name", "")
    addresses = [a for a in (node.get("status") or {}).get("addresses") or [] if isinstance(a, dict)]
    for kind in preferred:
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return KubeletLocation(name, str(address["address"]), kubelet_port(node) or DEFAULT_KUBELET_PORT)
    raise StatusError(status.internal_error(
        f"no preferred addresses found; known addresses: {_go_addresses(addresses)}"))


def client_ssl_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """TLS to kubelets: our client certificate; the kubelet's certificate is checked only against ``ca_file``."""
    if ca_file:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    else:  # kube-apiserver without --kubelet-certificate-authority does not verify kubelets either
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx


def dial_error(location: KubeletLocation, err: BaseException) -> StatusError:
    """503 naming the kubelet and the reason, worded like kube-apiserver's ``error dialing backend``."""
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return StatusError(status.service_unavailable(f"error dialing backend: dial tcp {location.netloc}: {reason}"))


class KubeletConnector:
    """Finds a node's kubelet and opens connections to it."""

    def __init__(self, get_node: NodeGetter, cert_file: str = "", key_file: str = "", ca_file: str = "",
                 preferred: Sequence[str] = DEFAULT_PREFERRED_ADDRESS_TYPES, dial_timeout: float = 10.0) -> None:
        self.get_node = get_node
        self.ssl_context = client_ssl_context(cert_file, key_file, ca_file)
        # insecureSkipTLSVerifyBackend: same client certificate, no check of the kubelet's
        self.insecure_context = client_ssl_context(cert_file, key_file, "") if ca_file else self.ssl_context
        self.preferred = tuple(preferred)
        self.dial_timeout = dial_timeout

    async def locate(self, node_name: str) -> KubeletLocation:
        node = await self.get_node(node_name)
        if is_hollow(node):
            raise StatusError(status.service_unavailable(
                f"error dialing backend: node {node_name} is a hollow node and serves no kubelet API"))
        return node_location(node, self.preferred)

    def context(self, insecure: bool = False) -> ssl.SSLContext:
        return self.insecure_context if insecure else self.ssl_context

    async def dial(self, location: KubeletLocation,
                   insecure: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TLS stream to the kubelet; a 503 ``error dialing backend`` Status when that fails."""
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(location.host, location.port, ssl=self.context(insecure), limit=1 << 20),
                self.dial_timeout)
        except TimeoutError as err:
            raise dial_error(location, TimeoutError("i/o timeout")) from err
        except (OSError, ssl.SSLError) as err:
            raise dial_error(location, err) from err

