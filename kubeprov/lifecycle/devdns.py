"""The dev node's cluster DNS identity: a client certificate of its own and read-only RBAC, not the admin's.

kubeadm runs CoreDNS as a ServiceAccount bound to ``system:coredns``; the dev DNS runs outside any pod, so it
gets a certificate for the user ``kubeprov:dev-dns`` (signed by the dev CA, ``DIR/kubeconfigs/dns.conf``)
and a ClusterRole that lets it list and watch what it answers from: Services, EndpointSlices and Pods
(for ``pods: verified``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubeprov.pki.certs import CLIENT_AUTH, LeafProfile, cert_pem, issue_leaf, read_cert
from kubeprov.pki.keys import new_ec_key, private_key_pem, read_private_key
from kubeprov.pki.kubeconfig import render_kubeconfig, write_kubeconfig

USER = "kubeprov:dev-dns"
VALIDITY_DAYS = 365


def dns_kubeconfig(directory: Path, server: str) -> Path:
    """``DIR/kubeconfigs/dns.conf`` for ``kubeprov:dev-dns``, made once from the dev CA."""
    path = directory / "kubeconfigs" / "dns.conf"
    if path.exists():
        return path
    pki = directory / "pki"
    ca_cert, ca_key = read_cert(pki / "ca.crt"), read_private_key(pki / "ca.key")
    key = new_ec_key()
    cert = issue_leaf(LeafProfile(common_name=USER, usages=(CLIENT_AUTH,)), key.public_key(), ca_cert, ca_key,
                      VALIDITY_DAYS)
    write_kubeconfig(path, render_kubeconfig("dev", server, cert_pem(ca_cert), USER, cert_pem(cert),
                                             private_key_pem(key)))
    return path


def rbac_objects() -> list[tuple[str, str, dict[str, Any]]]:
    """(apiVersion, resource, object) for the ClusterRole and its binding to the DNS user."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": USER},
            "rules": [{"apiGroups": [""], "resources": ["services", "pods"], "verbs": ["list", "watch"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                       "verbs": ["list", "watch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": USER},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": USER},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}]}
    return [("rbac.authorization.k8s.io/v1", "clusterroles", role),
            ("rbac.authorization.k8s.io/v1", "clusterrolebindings", binding)]
