"""Client credentials for integration tests: certificates, kubeconfigs and a raw HTTPS client.

``issue_client_cert`` signs a client certificate for any user and groups with the test cluster's
CA (``<pki_dir>/ca.crt`` and ``ca.key``), the way the API server's x509 authenticator reads it:
CN is the user name, each O is a group. ``write_kubeconfig`` embeds it in a kubeconfig usable by
the real kubectl and the official Python client. ``RawClient`` speaks plain HTTPS with the
credentials of a kubeconfig, for requests kubectl refuses to send (malformed bodies, fuzzing).
"""

from __future__ import annotations

import atexit
import base64
import datetime as dt
import http.client
import json
import shutil
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ClientCert:
    user: str
    groups: tuple[str, ...]
    cert_pem: bytes
    key_pem: bytes


def issue_client_cert(pki_dir: Path, user: str, groups: Sequence[str] = ()) -> ClientCert:
    """A one-day client certificate for ``user`` in ``groups``, signed by the cluster CA."""
    ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ClientCert(user, tuple(groups), cert.public_bytes(serialization.Encoding.PEM), key_pem)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def write_kubeconfig(path: Path, server: str, ca_pem: bytes, cert: ClientCert) -> Path:
    """A kubeconfig for ``cert``'s user against ``server``; everything embedded, mode 0600."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "it", "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": cert.user, "user": {"client-certificate-data": _b64(cert.cert_pem),
                                                "client-key-data": _b64(cert.key_pem)}}],
        "contexts": [{"name": f"{cert.user}@it", "context": {"cluster": "it", "user": cert.user}}],
        "current-context": f"{cert.user}@it",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def kubeconfig_for(pki_dir: Path, server: str, directory: Path, user: str, groups: Sequence[str] = ()) -> Path:
    """Issue a certificate for ``user``/``groups`` and write its kubeconfig under ``directory``."""
    cert = issue_client_cert(pki_dir, user, groups)
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in user)
    return write_kubeconfig(directory / f"{safe}.conf", server, (pki_dir / "ca.crt").read_bytes(), cert)


def with_server(kubeconfig: Path, server: str, target: Path) -> Path:
    """A copy of ``kubeconfig`` pointing at another server (e.g. a second API server)."""
    doc = yaml.safe_load(kubeconfig.read_text())
    for cluster in doc["clusters"]:
        cluster["cluster"]["server"] = server
    target.write_text(yaml.safe_dump(doc, sort_keys=False))
    target.chmod(0o600)
    return target


# ---- raw HTTPS ---------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        text = self.body[:600].decode("utf-8", "replace")
        return f"<HTTP {self.status} {text!r}>"


_TEMP_DIRS: list[str] = []


@atexit.register
def _cleanup() -> None:
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


@dataclass
class RawClient:
    """HTTPS requests with the current user's embedded client certificate from a kubeconfig."""

    kubeconfig: Path
    host: str = field(init=False)
    port: int = field(init=False)
    context: ssl.SSLContext = field(init=False)

    def __post_init__(self) -> None:
        doc = yaml.safe_load(Path(self.kubeconfig).read_text())
        ctx_name = doc["current-context"]
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
        server = cluster["server"].removeprefix("https://").rstrip("/")
        host, _, port = server.rpartition(":")
        self.host, self.port = host, int(port)
        self.context = ssl.create_default_context(cadata=base64.b64decode(
            cluster["certificate-authority-data"]).decode())
        tmp = tempfile.mkdtemp(prefix="it-client-")
        _TEMP_DIRS.append(tmp)
        cert_file, key_file = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        cert_file.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key_file.write_bytes(base64.b64decode(user["client-key-data"]))
        key_file.chmod(0o600)
        self.context.load_cert_chain(str(cert_file), str(key_file))

    def request(self, method: str, path: str, body: bytes | str | dict | list | None = None,
                content_type: str = "application/json", headers: Mapping[str, str] | None = None,
                timeout: float = 15.0) -> Response:
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        hdrs = {"Accept": "application/json", **(headers or {})}
        if body is not None:
            hdrs["Content-Type"] = content_type
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: bytes | str | dict | list | None, **kwargs: Any) -> Response:
        return self.request("POST", path, body, **kwargs)
