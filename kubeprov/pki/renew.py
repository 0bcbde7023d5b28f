"""Renewal: new serial and validity for leaves and kubeconfigs, everything else unchanged.

Works from the folders alone. Each certificate is re-signed by whichever CA in the PKI folder
issued it, keeping its subject, SANs and usages. Every input is read and checked before the
first write, so a bad name or a missing CA key changes nothing. CAs and ``sa.key`` are never
touched: replacing them would invalidate what they signed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from kubeprov.errors import KubeprovError
from kubeprov.pki.certs import cert_pem, issued_by, lifetime_of, reissue_like, utc_now, write_cert
from kubeprov.pki.inventory import Found, scan
from kubeprov.pki.keys import (
    PrivateKey,
    new_ec_key,
    new_rsa_key,
    private_key_pem,
    read_private_key,
    write_private_key,
)
from kubeprov.pki.kubeconfig import read_kubeconfig, write_kubeconfig


@dataclass(frozen=True)
class RenewedCert:
    name: str
    path: Path
    old_serial: int
    new_serial: int
    old_not_after: datetime
    new_not_after: datetime
    key_rotated: bool


@dataclass
class RenewReport:
    renewed: list[RenewedCert] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.renewed]


@dataclass(frozen=True)
class _Job:
    target: Found
    ca: Found
    old_key: PrivateKey | None
    rotate: bool  # a new key is made when asked for, or when there is no old one


def certificate_names(pki_dir: Path, kubeconfig_dir: Path) -> list[str]:
    """Names :func:`renew_certificates` accepts: every leaf and kubeconfig, not the CAs."""
    return [f.name for f in scan(pki_dir, kubeconfig_dir) if f.kind != "ca"]


def _select(found: list[Found], names: list[str] | None, pki_dir: Path) -> list[Found]:
    targets = [f for f in found if f.kind != "ca"]
    if names is None:
        if not targets:
            raise KubeprovError(
                f"there are no certificates to renew in {pki_dir}",
                "generate the PKI first (`kubeprov create`)",
            )
        return targets
    by_name = {f.name: f for f in targets}
    unknown = [n for n in dict.fromkeys(names) if n not in by_name]
    if unknown:
        valid = ", ".join(by_name) or "(none)"
        raise KubeprovError(
            f"unknown certificate name(s): {', '.join(unknown)}; valid names: {valid}",
            "CAs and the service-account key are never renewed",
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def _issuer(target: Found, cas: list[Found], pki_dir: Path) -> Found:
    for ca in cas:
        if issued_by(target.cert, ca.cert):
            return ca
    raise KubeprovError(
        f"{target.name} was not signed by any CA in {pki_dir}",
        "run `kubeprov create` again to reissue it from the current CA",
    )


def _current_key(target: Found) -> PrivateKey | None:
    if target.kind == "kubeconfig":
        return read_kubeconfig(target.path).key
    return read_private_key(target.key_path) if target.key_path.exists() else None


def _fresh_key(old: PrivateKey | None) -> PrivateKey:
    """A new key of the same kind as the old one (RSA stays RSA of the same size)."""
    if isinstance(old, rsa.RSAPrivateKey):
        return new_rsa_key(old.key_size)
    return new_ec_key()


def _plan(
    targets: list[Found], cas: list[Found], pki_dir: Path, rotate_keys: bool, now: datetime
) -> list[_Job]:
    jobs = []
    for target in targets:
        ca = _issuer(target, cas, pki_dir)
        ca_end = ca.cert.not_valid_after_utc
        if ca_end <= now:
            raise KubeprovError(
                f"cannot renew {target.name}: its CA {ca.name} expired on {ca_end:%Y-%m-%d}",
                "certificates it signs would be rejected; the CA itself must be replaced first",
            )
        if not ca.key_path.exists():
            raise KubeprovError(
                f"cannot renew {target.name}: the key of its CA ({ca.key_path}) is missing",
                "renew on the machine that holds the CA key, or restore it from a backup",
            )
        key = _current_key(target)
        jobs.append(_Job(target, ca, key, rotate_keys or key is None))
    return jobs


def renew_certificates(
    pki_dir: Path,
    kubeconfig_dir: Path,
    names: list[str] | None = None,
    rotate_keys: bool = False,
    validity_days: int | None = None,
    now: datetime | None = None,
) -> RenewReport:
    """Renew ``names`` (all leaves and kubeconfigs when None).

    The new certificate lasts ``validity_days``, or as long as the one it replaces, capped at the
    CA's expiry. The key is kept unless ``rotate_keys`` (or it is missing).
    """
    if validity_days is not None and validity_days < 1:
        raise KubeprovError(f"validity must be at least 1 day, got {validity_days}")
    pki_dir, kubeconfig_dir = Path(pki_dir), Path(kubeconfig_dir)
    at = utc_now(now)
    found = scan(pki_dir, kubeconfig_dir)
    cas = [f for f in found if f.kind == "ca"]
    jobs = _plan(_select(found, names, pki_dir), cas, pki_dir, rotate_keys, at)
    ca_keys = {
        ca.name: read_private_key(ca.key_path) for ca in {job.ca.name: job.ca for job in jobs}.values()
    }

    report = RenewReport()
    for job in jobs:
        old = job.target.cert
        key = _fresh_key(job.old_key) if job.rotate or job.old_key is None else job.old_key
        lifetime = timedelta(days=validity_days) if validity_days is not None else lifetime_of(old)
        new = reissue_like(old, key.public_key(), job.ca.cert, ca_keys[job.ca.name], lifetime, at)
        _store(job.target, new, key, rotated=job.rotate)
        report.renewed.append(
            RenewedCert(
                name=job.target.name,
                path=job.target.path,
                old_serial=old.serial_number,
                new_serial=new.serial_number,
                old_not_after=old.not_valid_after_utc,
                new_not_after=new.not_valid_after_utc,
                key_rotated=job.rotate,
            )
        )
    return report


def _store(target: Found, cert: x509.Certificate, key: PrivateKey, rotated: bool) -> None:
    """Kubeconfigs change in one atomic write; for files, the key goes first (see generate)."""
    if target.kind == "kubeconfig":
        write_kubeconfig(
            target.path, read_kubeconfig(target.path).with_client(cert_pem(cert), private_key_pem(key))
        )
        return
    if rotated:
        write_private_key(target.key_path, key)
    write_cert(target.path, cert)
