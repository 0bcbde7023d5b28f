"""What is on disk, found by looking rather than from a spec.

Expiry checks and renewal must work from the folders alone (the stack may have changed or be
gone), so certificates are discovered by scanning: every ``*.crt`` under the PKI folder and the
embedded client certificate of every ``*.conf`` in the kubeconfig folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509

from kubeprov.pki.certs import is_ca, read_cert
from kubeprov.pki.kubeconfig import read_kubeconfig
from kubeprov.pki.layout import KUBECONFIG_PREFIX

Kind = Literal["ca", "leaf", "kubeconfig"]
_KIND_ORDER = {"ca": 0, "leaf": 1, "kubeconfig": 2}


@dataclass(frozen=True)
class Found:
    name: str
    kind: Kind
    path: Path
    cert: x509.Certificate

    @property
    def key_path(self) -> Path:
        """Where the private key lives for a PKI file (a kubeconfig embeds its own)."""
        return self.path.with_suffix(".key")


def scan(pki_dir: Path, kubeconfig_dir: Path) -> list[Found]:
    """CAs, then leaves, then kubeconfigs, each sorted by name."""
    pki_dir, kubeconfig_dir = Path(pki_dir), Path(kubeconfig_dir)
    found: list[Found] = []
    if pki_dir.is_dir():
        for path in pki_dir.rglob("*.crt"):
            if path.name.startswith(".") or not path.is_file():
                continue
            cert = read_cert(path)
            name = path.relative_to(pki_dir).with_suffix("").as_posix()
            found.append(Found(name, "ca" if is_ca(cert) else "leaf", path, cert))
    if kubeconfig_dir.is_dir():
        for path in kubeconfig_dir.glob("*.conf"):
            if path.name.startswith(".") or not path.is_file():
                continue
            kc = read_kubeconfig(path)
            if kc.cert is not None:
                found.append(Found(KUBECONFIG_PREFIX + path.name, "kubeconfig", path, kc.cert))
    found.sort(key=lambda f: (_KIND_ORDER[f.kind], f.name))
    return found
