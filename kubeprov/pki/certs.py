"""Issuing CA and leaf certificates, reading them back, and checking one against what is needed."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeprov.errors import KubeprovError
from kubeprov.pki.keys import PUBLIC_MODE, PrivateKey
from kubeprov.state.atomic import atomic_write

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Certificates start this long before "now", so a machine whose clock is a little behind ours
# does not reject a certificate that was issued a second ago.
CLOCK_SKEW = timedelta(minutes=5)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_USAGE_NAMES = {SERVER_AUTH: "serverAuth", CLIENT_AUTH: "clientAuth"}


@dataclass(frozen=True)
class LeafProfile:
    """Who a leaf certificate names and what it may be used for."""

    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    usages: tuple[x509.ObjectIdentifier, ...] = ()

    def subject(self) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in self.organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, self.common_name))
        return x509.Name(attrs)


def utc_now(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime (tests pass one to issue certificates "in the past")."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)


def _serial() -> int:
    """128 random bits: unpredictable and unique without keeping a serial counter on disk."""
    return secrets.randbits(128) or 1


def _ski(public_key: PublicKeyTypes) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]


def _aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _window(
    now: datetime, lifetime: timedelta, ca_cert: x509.Certificate | None
) -> tuple[datetime, datetime]:
    """Validity period; a leaf never outlives its CA, since it would be unusable after it anyway."""
    start = utc_now(now) - CLOCK_SKEW
    end = start + lifetime
    if ca_cert is not None:
        if ca_cert.not_valid_after_utc <= utc_now(now):
            raise KubeprovError(
                f"the CA {common_name(ca_cert.subject)!r} expired on {ca_cert.not_valid_after_utc:%Y-%m-%d}",
                "certificates it signs would be rejected; the CA itself must be replaced first",
            )
        end = min(end, ca_cert.not_valid_after_utc)
    return start, end


def issue_ca(
    common_name: str, key: PrivateKey, validity_days: int, now: datetime | None = None
) -> x509.Certificate:
    """A self-signed CA that may sign certificates and CRLs, nothing else."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _window(utc_now(now), timedelta(days=validity_days), None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())


def _leaf_extensions(profile: LeafProfile) -> list[tuple[x509.ExtensionType, bool]]:
    exts: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        ),
    ]
    if profile.usages:
        exts.append((x509.ExtendedKeyUsage(list(profile.usages)), False))
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in profile.dns_names]
    names += [x509.IPAddress(ip) for ip in profile.ip_addresses]
    if names:
        exts.append((x509.SubjectAlternativeName(names), False))
    return exts


def _sign_leaf(
    subject: x509.Name,
    extensions: list[tuple[x509.ExtensionType, bool]],
    public_key: PublicKeyTypes,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    lifetime: timedelta,
    now: datetime | None,
) -> x509.Certificate:
    start, end = _window(utc_now(now), lifetime, ca_cert)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(_serial())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    builder = builder.add_extension(_ski(public_key), critical=False)
    builder = builder.add_extension(_aki(ca_cert), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def issue_leaf(
    profile: LeafProfile,
    public_key: PublicKeyTypes,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    validity_days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    return _sign_leaf(
        profile.subject(),
        _leaf_extensions(profile),
        public_key,
        ca_cert,
        ca_key,
        timedelta(days=validity_days),
        now,
    )


def reissue_like(
    template: x509.Certificate,
    public_key: PublicKeyTypes,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    lifetime: timedelta,
    now: datetime | None = None,
) -> x509.Certificate:
    """A new certificate with ``template``'s subject and extensions, so renewal changes nothing else.

    Key identifiers are recomputed: the key may have been rotated and the CA is the current one.
    """
    skip = (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)
    exts = [(e.value, e.critical) for e in template.extensions if not isinstance(e.value, skip)]
    return _sign_leaf(template.subject, exts, public_key, ca_cert, ca_key, lifetime, now)


def lifetime_of(cert: x509.Certificate) -> timedelta:
    """How long a certificate was issued for (a renewal lasts as long unless told otherwise)."""
    return cert.not_valid_after_utc - cert.not_valid_before_utc


# --- reading ----------------------------------------------------------------------------------


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def common_name(name: x509.Name) -> str:
    values = _attr(name, NameOID.COMMON_NAME)
    return values[0] if values else ""


def organizations(name: x509.Name) -> tuple[str, ...]:
    return tuple(_attr(name, NameOID.ORGANIZATION_NAME))


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def subject_alt_names(cert: x509.Certificate) -> tuple[set[str], set[IPAddress]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))


def extended_usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return set()


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True when ``ca_cert``'s name and key signed ``cert``."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def shortfall(cert: x509.Certificate, profile: LeafProfile) -> str | None:
    """Why ``cert`` cannot stand in for ``profile``, or None when it can.

    Extra SANs are fine (e.g. an address that was removed from the spec); missing ones are not.
    """
    if common_name(cert.subject) != profile.common_name:
        return f"subject CN is {common_name(cert.subject)!r}, needs {profile.common_name!r}"
    if sorted(organizations(cert.subject)) != sorted(profile.organizations):
        return f"subject O is {list(organizations(cert.subject))}, needs {list(profile.organizations)}"
    missing_usages = set(profile.usages) - extended_usages(cert)
    if missing_usages:
        return "missing extended key usages " + ", ".join(
            sorted(_USAGE_NAMES.get(u, u.dotted_string) for u in missing_usages)
        )
    dns, ips = subject_alt_names(cert)
    missing = [n for n in profile.dns_names if n not in dns] + [
        str(ip) for ip in profile.ip_addresses if ip not in ips
    ]
    if missing:
        return "SANs do not cover " + ", ".join(missing)
    return None


# --- files ------------------------------------------------------------------------------------


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def parse_cert(data: bytes, origin: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise KubeprovError(
            f"{origin} is not a readable PEM certificate",
            "restore it from a backup, or delete it and its key to issue new ones",
        ) from exc


def read_cert(path: Path) -> x509.Certificate:
    return parse_cert(path.read_bytes(), str(path))


def write_cert(path: Path, cert: x509.Certificate) -> None:
    atomic_write(path, cert_pem(cert), PUBLIC_MODE)
