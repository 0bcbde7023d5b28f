"""The dev node's cluster DNS identity: the PKI's ``dns.conf`` (user ``kubeprov:cluster-dns``, as on real
clusters) and the same read-only RBAC that `kubeprov create` binds to it at bootstrap, not the admin's.

kubeadm runs CoreDNS as a ServiceAccount bound to ``system:coredns``; our DNS runs outside any pod, so it
has a client certificate of its own and a ClusterRole to list and watch what it answers from: Services,
EndpointSlices, Pods (for ``pods: verified``) and Namespaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubeprov.errors import KubeprovError
from kubeprov.lifecycle.bootstrap import dns_rbac


def dns_kubeconfig(directory: Path) -> Path:
    """``DIR/kubeconfigs/dns.conf``, written with the rest of the dev PKI."""
    path = directory / "kubeconfigs" / "dns.conf"
    if not path.exists():
        raise KubeprovError(f"{path} is missing", f"run `kubeprov dev down --dir {directory}`, then `dev up` again")
    return path


def rbac_objects() -> list[tuple[str, str, dict[str, Any]]]:
    """(apiVersion, resource, object) for the ClusterRole and its binding to the DNS user."""
    return dns_rbac()
