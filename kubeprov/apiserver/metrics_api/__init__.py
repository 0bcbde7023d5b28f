"""metrics.k8s.io/v1beta1 in the API server: a scraper of the kubelets' resource metrics and the API over it.

``prometheus`` parses the kubelets' text, ``usage`` keeps two points per node and container and
computes rates, ``formats`` writes quantities and windows as metrics-server does, ``scraper`` polls
the kubelets, ``api`` answers get/list.
"""

from __future__ import annotations

from typing import Any

from kubeprov.apiserver.kubelets.connection import DEFAULT_PREFERRED_ADDRESS_TYPES, client_ssl_context
from kubeprov.apiserver.metrics_api.api import GROUP, MetricsApi, resource_types
from kubeprov.apiserver.metrics_api.scraper import Scraper
from kubeprov.apiserver.metrics_api.usage import UsageStore
from kubeprov.apiserver.storage.keys import prefix_key


def metrics_service(config: Any, cache: Any, registry: Any) -> tuple[MetricsApi, Scraper]:
    """The API and its scraper, reading Nodes and Pods from the watch cache (start/stop the scraper)."""

    def objects(resource: str, namespace: str) -> list[dict[str, Any]]:
        return cache.resource("", resource).snapshot(prefix_key("", resource, namespace) if namespace else "")

    store = UsageStore()
    ssl_context = client_ssl_context(config.kubelet_client_cert_file, config.kubelet_client_key_file,
                                     config.kubelet_certificate_authority)
    scraper = Scraper(lambda: objects("nodes", ""), ssl_context,
                      config.kubelet_preferred_address_types or DEFAULT_PREFERRED_ADDRESS_TYPES,
                      config.metric_resolution, store)
    api = MetricsApi(store, objects, lambda resource: registry.get("", "v1", resource))
    return api, scraper


__all__ = ["GROUP", "MetricsApi", "Scraper", "metrics_service", "resource_types"]
