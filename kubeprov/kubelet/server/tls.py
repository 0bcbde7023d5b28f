"""The kubelet's serving TLS: configured files, or a self-signed pair made once under ``<root_dir>/pki``.

Like the kubelet without ``tlsCertFile``, the generated certificate is signed by a throwaway CA of its own
(``<host>-ca@<unix time>``) and written with that CA as a chain (``kubelet.crt``, ``kubelet.key``); it names the
node, ``localhost``, 127.0.0.1 and the node IP, and is reused on the next start.
"""

from __future__ import annotations

import ipaddress
import ssl
import time
from pathlib import Path

from kubeprov.pki.certs import SERVER_AUTH, LeafProfile, cert_pem, issue_ca, issue_leaf
from kubeprov.pki.keys import PRIVATE_MODE, new_ec_key, write_private_key
from kubeprov.state.atomic import atomic_write

VALIDITY_DAYS = 365


def self_signed_pair(directory: Path, node: str, node_ip: str) -> tuple[Path, Path]:
    """(cert, key) under ``directory``, generated when either is missing."""
    cert_path, key_path = directory / "kubelet.crt", directory / "kubelet.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    ca_key, key = new_ec_key(), new_ec_key()
    ca = issue_ca(f"{node}-ca@{stamp}", ca_key, VALIDITY_DAYS)
    addresses = {ipaddress.ip_address("127.0.0.1")}
    if node_ip:
        addresses.add(ipaddress.ip_address(node_ip))
    profile = LeafProfile(common_name=f"{node}@{stamp}", dns_names=(node, "localhost"),
                          ip_addresses=tuple(sorted(addresses, key=str)), usages=(SERVER_AUTH,))
    leaf = issue_leaf(profile, key.public_key(), ca, ca_key, VALIDITY_DAYS)
    write_private_key(key_path, key)
    atomic_write(cert_path, cert_pem(leaf) + cert_pem(ca), 0o644)
    key_path.chmod(PRIVATE_MODE)
    return cert_path, key_path


def server_context(cert_file: Path, key_file: Path, client_ca_file: str) -> ssl.SSLContext:
    """TLS 1.2+; client certificates requested (not required) and verified against ``client_ca_file``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_file:
        ctx.load_verify_locations(cafile=client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
