"""The API server's side of the kubelets: connect subresources (log, exec, attach, portforward, proxy).

``connection`` finds and dials a node's kubelet, ``options`` parses the subresources' query options,
``pods`` picks the container, ``tunnel`` relays a request (spliced after a 101), ``takeover`` turns
the client's aiohttp connection into a raw stream, ``handlers`` ties them to the routes.
"""

from __future__ import annotations

from typing import Any

from kubeprov.apiserver.kubelets.connection import DEFAULT_PREFERRED_ADDRESS_TYPES, KubeletConnector
from kubeprov.apiserver.kubelets.handlers import ConnectHandlers
from kubeprov.apiserver.storage.keys import prefix_key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def connect_handlers(config: Any, store: Any, cache: Any, registry: Any) -> ConnectHandlers:
    """The handlers wired to the server's storage (objects read from etcd, EndpointSlices from the cache)."""

    async def get(group: str, resource: str, namespace: str, name: str) -> dict[str, Any]:
        rt = registry.get(group, "v1", resource)
        return await store.get(rt, namespace, name)

    def list_slices(namespace: str, service: str) -> list[dict[str, Any]]:
        prefix = prefix_key("discovery.k8s.io", "endpointslices", namespace)
        return [s for s in cache.resource("discovery.k8s.io", "endpointslices").snapshot(prefix)
                if ((s.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == service]

    connector = KubeletConnector(lambda node: get("", "nodes", "", node), config.kubelet_client_cert_file,
                                 config.kubelet_client_key_file, config.kubelet_certificate_authority,
                                 config.kubelet_preferred_address_types or DEFAULT_PREFERRED_ADDRESS_TYPES)
    return ConnectHandlers(connector, get, list_slices)


__all__ = ["ConnectHandlers", "KubeletConnector", "connect_handlers"]
