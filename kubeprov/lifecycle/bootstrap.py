"""What a new cluster needs in its API before nodes join (kubeadm's bootstrap and addon steps): the
cluster-info ConfigMap, the cluster DNS identity's read-only RBAC and the kube-dns Service. Each object
is created when missing and left alone otherwise, so a re-run changes nothing."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.errors import KubeprovError
from kubeprov.pki.layout import DNS_USER

RBAC = "rbac.authorization.k8s.io/v1"


def cluster_info(cluster: str, server: str, ca_pem: bytes) -> dict[str, Any]:
    """kube-public/cluster-info: the endpoint and CA, readable by anyone (what `kubeadm join` discovers)."""
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "users": [], "contexts": [],
                  "clusters": [{"name": cluster, "cluster": {
                      "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": yaml.safe_dump(kubeconfig, sort_keys=False)}}


def dns_rbac() -> list[tuple[str, str, dict[str, Any]]]:
    role = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": "kubeprov:cluster-dns"},
            "rules": [{"apiGroups": [""], "resources": ["services", "pods", "namespaces"], "verbs": ["list", "watch"]},
                      {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
                       "verbs": ["list", "watch"]}]}
    binding = {"apiVersion": RBAC, "kind": "ClusterRoleBinding", "metadata": {"name": "kubeprov:cluster-dns"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "kubeprov:cluster-dns"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": DNS_USER}]}
    return [(RBAC, "clusterroles", role), (RBAC, "clusterrolebindings", binding)]


def dns_service(cluster_ip: str) -> dict[str, Any]:
    """kube-system/kube-dns as kubeadm's CoreDNS addon names it (pods use the node-local address; the Service
    keeps the well-known ClusterIP for tools)."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
            "spec": {"clusterIP": cluster_ip, "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                               {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}


def bootstrap_objects(cluster: str, server: str, ca_pem: bytes, dns_ip: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [("v1", "configmaps", cluster_info(cluster, server, ca_pem)), *dns_objects(dns_ip)]


def dns_objects(dns_ip: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The cluster DNS's RBAC and Service: created clusters and the dev node alike."""
    return [*dns_rbac(), ("v1", "services", dns_service(dns_ip))]


async def ensure_objects(kubeconfig: Path, objects: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """Create each missing object; returns "Kind/name" of those created."""
    created = []
    async with ApiClient.from_kubeconfig(kubeconfig, user_agent="kubeprov-create") as client:
        for api_version, resource, obj in objects:
            meta = obj["metadata"]
            namespace = meta.get("namespace", "")
            try:
                await client.get(api_version, resource, meta["name"], namespace)
                continue
            except StatusError as err:
                if err.code != 404:
                    raise KubeprovError(f"cannot read {obj['kind']} {meta['name']}: {err}") from None
            try:
                await client.create(api_version, resource, obj, namespace)
                created.append(f"{obj['kind']}/{meta['name']}")
            except StatusError as err:
                if err.code != 409:
                    raise KubeprovError(f"cannot create {obj['kind']} {meta['name']}: {err}") from None
    return created
