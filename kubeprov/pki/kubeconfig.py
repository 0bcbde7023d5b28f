"""Kubeconfig files with the client certificate, its key and the cluster CA embedded.

Embedding keeps each kubeconfig a single self-contained file that can be copied to a machine
as-is; it is therefore as secret as a private key and written with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from kubeprov.errors import KubeprovError
from kubeprov.pki.certs import parse_cert
from kubeprov.pki.keys import PRIVATE_MODE, PrivateKey, parse_private_key
from kubeprov.state.atomic import atomic_write


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_kubeconfig(
    cluster: str, server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes
) -> str:
    """One cluster, one user, one context named ``user@cluster``, which is the current one."""
    context = f"{user}@{cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return dump(doc)


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)


def write_kubeconfig(path: Path, text: str) -> None:
    atomic_write(path, text, PRIVATE_MODE)


@dataclass(frozen=True)
class Kubeconfig:
    """A kubeconfig as read back: the document and the current user's embedded credentials.

    ``cert`` and ``key`` are None when the user authenticates some other way (token, cert file).
    """

    path: Path
    doc: dict[str, Any]
    server: str | None
    ca_pem: bytes | None
    user_index: int | None
    cert: x509.Certificate | None
    key: PrivateKey | None

    def with_client(self, cert_pem: bytes, key_pem: bytes) -> str:
        """The same document with the current user's certificate and key replaced."""
        if self.user_index is None:
            raise KubeprovError(f"{self.path} has no user with an embedded client certificate")
        doc = copy.deepcopy(self.doc)
        user = doc["users"][self.user_index]["user"]
        user["client-certificate-data"] = _b64(cert_pem)
        user["client-key-data"] = _b64(key_pem)
        return dump(doc)


def _named(items: object, name: object) -> int | None:
    if not isinstance(items, list):
        return None
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == name:
            return index
    return None


def _unb64(value: object, what: str, path: Path) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KubeprovError(f"{what} in {path} is not valid base64") from exc


def _current(doc: dict[str, Any]) -> tuple[int | None, int | None]:
    """Indexes of the current context's user and cluster (first ones when there is no context)."""
    users, clusters = doc.get("users"), doc.get("clusters")
    ctx_index = _named(doc.get("contexts"), doc.get("current-context"))
    if ctx_index is not None:
        ctx = doc["contexts"][ctx_index].get("context") or {}
        return _named(users, ctx.get("user")), _named(clusters, ctx.get("cluster"))
    first_user = 0 if isinstance(users, list) and users else None
    first_cluster = 0 if isinstance(clusters, list) and clusters else None
    return first_user, first_cluster


def read_kubeconfig(path: Path) -> Kubeconfig:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KubeprovError(
            f"{path} is not valid YAML", "restore it, or delete it to have it regenerated"
        ) from exc
    if not isinstance(doc, dict):
        raise KubeprovError(f"{path} is not a kubeconfig", "restore it, or delete it to have it regenerated")
    user_index, cluster_index = _current(doc)
    server = ca_pem = None
    if cluster_index is not None:
        cluster = doc["clusters"][cluster_index].get("cluster") or {}
        server = cluster.get("server")
        ca_pem = _unb64(cluster.get("certificate-authority-data"), "certificate-authority-data", path)
    cert = key = None
    if user_index is not None:
        user = doc["users"][user_index].get("user") or {}
        cert_pem = _unb64(user.get("client-certificate-data"), "client-certificate-data", path)
        key_pem = _unb64(user.get("client-key-data"), "client-key-data", path)
        if cert_pem is None:
            user_index = None
        else:
            cert = parse_cert(cert_pem, f"the client certificate in {path}")
            key = parse_private_key(key_pem, f"the client key in {path}") if key_pem else None
    return Kubeconfig(path, doc, server, ca_pem, user_index, cert, key)
