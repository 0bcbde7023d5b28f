"""Idempotent generation: bring the PKI folder up to what a spec needs, changing as little as possible.

Re-running is the normal way to add a machine or recover from a crash, so existing files that still
do their job are left byte-identical, keys are reused when a certificate must be reissued, and an
existing CA is never replaced (that would invalidate every certificate and kubeconfig it signed).
Keys are always written before their certificate: an interrupted run leaves at worst a key without
a certificate, which the next run completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from kubeprov.errors import KubeprovError
from kubeprov.pki.certs import (
    cert_pem,
    issue_ca,
    issue_leaf,
    issued_by,
    read_cert,
    shortfall,
    utc_now,
    write_cert,
)
from kubeprov.pki.keys import (
    PrivateKey,
    new_ec_key,
    new_rsa_key,
    private_key_pem,
    public_key_pem,
    read_private_key,
    same_public_key,
    write_private_key,
    write_public_key,
)
from kubeprov.pki.kubeconfig import read_kubeconfig, render_kubeconfig, write_kubeconfig
from kubeprov.pki.layout import SA_KEY, SA_PUB, CaEntry, KubeconfigEntry, Layout, LeafEntry, layout_for
from kubeprov.pki.spec import PkiSpec


@dataclass
class GenerateReport:
    """Names (as in :func:`kubeprov.pki.certificate_names`, plus CAs and ``sa``) by what happened."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    reissued: list[str] = field(default_factory=list)
    # why each reissued name was reissued, e.g. "SANs do not cover 10.0.0.13"
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reissued)

    def note_reissued(self, name: str, reason: str) -> None:
        self.reissued.append(name)
        self.reasons[name] = reason


CaPair = tuple[x509.Certificate, PrivateKey]


def _preflight(layout: Layout, pki_dir: Path) -> None:
    """Refuse before writing anything when a CA or the service-account key has lost its private key."""
    for ca in layout.cas:
        cert_path, key_path = pki_dir / ca.cert_file, pki_dir / ca.key_file
        if cert_path.exists() and not key_path.exists():
            raise KubeprovError(
                f"the CA certificate {cert_path} exists but its key {key_path} is missing",
                "restore the key from a backup; kubeprov does not replace an existing CA, since every "
                "certificate and kubeconfig it signed would stop working",
            )
    if (pki_dir / SA_PUB).exists() and not (pki_dir / SA_KEY).exists():
        raise KubeprovError(
            f"{pki_dir / SA_PUB} exists but the service-account key {pki_dir / SA_KEY} is missing",
            "restore it from a backup; a new key would invalidate every service-account token",
        )


def _ensure_ca(
    entry: CaEntry, pki_dir: Path, validity_days: int, now: datetime, report: GenerateReport
) -> CaPair:
    cert_path, key_path = pki_dir / entry.cert_file, pki_dir / entry.key_file
    if key_path.exists():
        key = read_private_key(key_path)
    else:
        key = new_ec_key()
        write_private_key(key_path, key)
    if not cert_path.exists():
        cert = issue_ca(entry.common_name, key, validity_days, now)
        write_cert(cert_path, cert)
        report.created.append(entry.name)
        return cert, key
    cert = read_cert(cert_path)
    if not same_public_key(cert.public_key(), key.public_key()):
        raise KubeprovError(
            f"the CA certificate {cert_path} does not match its key {key_path}",
            "restore the matching pair from a backup",
        )
    report.kept.append(entry.name)
    return cert, key


def _ensure_sa(pki_dir: Path, report: GenerateReport) -> None:
    key_path, pub_path = pki_dir / SA_KEY, pki_dir / SA_PUB
    created = not key_path.exists()
    if created:
        write_private_key(key_path, new_rsa_key())
    key = read_private_key(key_path)
    wanted = public_key_pem(key.public_key())
    if pub_path.exists() and pub_path.read_bytes() == wanted:
        report.kept.append("sa")
        return
    write_public_key(pub_path, key.public_key())
    if created:
        report.created.append("sa")
    else:
        report.note_reissued("sa", f"{SA_PUB} did not hold the public half of {SA_KEY}")


def _problem(
    cert: x509.Certificate, key: PrivateKey, entry: LeafEntry | KubeconfigEntry, ca: CaPair, now: datetime
) -> str | None:
    """Why an existing certificate must be reissued, or None when it can stay."""
    if not same_public_key(cert.public_key(), key.public_key()):
        return "certificate does not match its key"
    if not issued_by(cert, ca[0]):
        return "not signed by the current CA"
    if cert.not_valid_after_utc <= now:
        return f"expired on {cert.not_valid_after_utc:%Y-%m-%d}"
    return shortfall(cert, entry.profile)


def _ensure_leaf(
    entry: LeafEntry, ca: CaPair, pki_dir: Path, validity_days: int, now: datetime, report: GenerateReport
) -> None:
    cert_path, key_path = pki_dir / entry.cert_file, pki_dir / entry.key_file
    reason: str | None = None  # stays None only when the certificate is new
    if not key_path.exists():
        key = new_ec_key()
        write_private_key(key_path, key)
        if cert_path.exists():
            reason = "private key was missing"
    else:
        key = read_private_key(key_path)
        if cert_path.exists():
            reason = _problem(read_cert(cert_path), key, entry, ca, now)
            if reason is None:
                report.kept.append(entry.name)
                return
    write_cert(cert_path, issue_leaf(entry.profile, key.public_key(), ca[0], ca[1], validity_days, now))
    if reason is None:
        report.created.append(entry.name)
    else:
        report.note_reissued(entry.name, reason)


def _kubeconfig_problem(
    path: Path, entry: KubeconfigEntry, layout: Layout, ca: CaPair, now: datetime
) -> tuple[str | None, x509.Certificate | None, PrivateKey | None]:
    """Why an existing kubeconfig must be rewritten (None if not), plus the credentials worth keeping.

    The certificate comes back only when it can be kept; the key whenever there is one.
    """
    current = read_kubeconfig(path)
    if current.cert is None or current.key is None:
        return "no embedded client certificate and key", None, None
    reason = _problem(current.cert, current.key, entry, ca, now)
    if reason is not None:
        return reason, None, current.key
    if current.server != layout.api_endpoint:
        return f"server changed from {current.server} to {layout.api_endpoint}", current.cert, current.key
    if current.ca_pem != cert_pem(ca[0]):
        return "embedded CA is not the current cluster CA", current.cert, current.key
    return None, current.cert, current.key


def _ensure_kubeconfig(
    entry: KubeconfigEntry,
    ca: CaPair,
    layout: Layout,
    kubeconfig_dir: Path,
    validity_days: int,
    now: datetime,
    report: GenerateReport,
) -> None:
    path = kubeconfig_dir / entry.file
    reason: str | None = None  # stays None only when the kubeconfig is new
    cert: x509.Certificate | None = None
    key: PrivateKey | None = None
    if path.exists():
        reason, cert, key = _kubeconfig_problem(path, entry, layout, ca, now)
        if reason is None:
            report.kept.append(entry.name)
            return
    key = key or new_ec_key()
    cert = cert or issue_leaf(entry.profile, key.public_key(), ca[0], ca[1], validity_days, now)
    text = render_kubeconfig(
        layout.cluster_name,
        layout.api_endpoint,
        cert_pem(ca[0]),
        entry.user,
        cert_pem(cert),
        private_key_pem(key),
    )
    write_kubeconfig(path, text)
    if reason is None:
        report.created.append(entry.name)
    else:
        report.note_reissued(entry.name, reason)


def generate_pki(
    spec: PkiSpec, pki_dir: Path, kubeconfig_dir: Path, now: datetime | None = None
) -> GenerateReport:
    """Create whatever ``spec`` needs under ``pki_dir`` and ``kubeconfig_dir``; keep what still fits.

    A leaf is reissued (with its existing key) when it no longer matches its key, was not signed by
    the current CA, has expired, or lacks a subject, usage or SAN the spec now asks for.
    """
    layout = layout_for(spec)
    at = utc_now(now)
    pki_dir, kubeconfig_dir = Path(pki_dir), Path(kubeconfig_dir)
    _preflight(layout, pki_dir)
    report = GenerateReport()
    cas = {entry.name: _ensure_ca(entry, pki_dir, spec.ca_validity_days, at, report) for entry in layout.cas}
    _ensure_sa(pki_dir, report)
    for leaf in layout.leaves:
        _ensure_leaf(leaf, cas[leaf.ca], pki_dir, spec.validity_days, at, report)
    for kc in layout.kubeconfigs:
        _ensure_kubeconfig(kc, cas[kc.ca], layout, kubeconfig_dir, spec.validity_days, at, report)
    return report
