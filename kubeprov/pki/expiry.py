"""Inventory of certificates and how long each has left, for `certs check-expiration`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kubeprov.pki.certs import common_name, utc_now
from kubeprov.pki.inventory import Kind, scan


@dataclass(frozen=True)
class CertInfo:
    """One certificate as a report row.

    ``subject`` and ``issuer`` are common names; ``residual`` is negative once it has expired.
    """

    name: str
    kind: Kind
    path: Path
    subject: str
    issuer: str
    serial: int
    not_before: datetime
    not_after: datetime
    residual: timedelta
    is_ca: bool

    @property
    def expired(self) -> bool:
        return self.residual <= timedelta(0)


def list_certificates(pki_dir: Path, kubeconfig_dir: Path, now: datetime | None = None) -> list[CertInfo]:
    """Every certificate in ``pki_dir`` and every kubeconfig's client certificate.

    Order: CAs, leaves, kubeconfigs, each by name.
    """
    at = utc_now(now)
    return [
        CertInfo(
            name=f.name,
            kind=f.kind,
            path=f.path,
            subject=common_name(f.cert.subject),
            issuer=common_name(f.cert.issuer),
            serial=f.cert.serial_number,
            not_before=f.cert.not_valid_before_utc,
            not_after=f.cert.not_valid_after_utc,
            residual=f.cert.not_valid_after_utc - at,
            is_ca=f.kind == "ca",
        )
        for f in scan(pki_dir, kubeconfig_dir)
    ]


def expiring(infos: list[CertInfo], within: timedelta) -> list[CertInfo]:
    """Those with at most ``within`` left (expired ones included), soonest first."""
    return sorted((i for i in infos if i.residual <= within), key=lambda i: (i.not_after, i.name))
