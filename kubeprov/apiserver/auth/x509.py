"""Client-certificate authentication: the subject's CN is the user, its O entries the groups.

The TLS layer has already checked the chain against the client CA; the leaf is checked again
here (issued by a client CA, inside its validity period, usable for client authentication) so
that a misconfigured TLS context cannot let a certificate through that Kubernetes would refuse.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeprov.apiserver.auth.errors import AuthenticationError
from kubeprov.apiserver.auth.user import UserInfo


def _colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


def _key_ids(cert: x509.Certificate) -> tuple[bytes, bytes]:
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        ski = b""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier or b""
    except x509.ExtensionNotFound:
        aki = b""
    return ski, aki


def certificate_identifier(cert: x509.Certificate) -> str:
    """``SN=..., SKID=..., AKID=...``: how Kubernetes names a certificate in its errors."""
    ski, aki = _key_ids(cert)
    return f"SN={cert.serial_number}, SKID={_colon_hex(ski)}, AKID={_colon_hex(aki)}"


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _allows_client_auth(cert: x509.Certificate) -> bool:
    """No extended key usage means any usage, as in Go's verifier."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


class X509Authenticator:
    """Maps a verified client certificate to a user; without a client CA it authenticates no one."""

    # parsed certificates kept per authenticator (clients reuse one certificate for every request)
    CACHE_SIZE = 4096

    def __init__(self, client_ca_file: Path | None) -> None:
        self._cas: list[x509.Certificate] = []
        if client_ca_file is not None:
            self._cas = x509.load_pem_x509_certificates(Path(client_ca_file).read_bytes())
        self._verified: OrderedDict[bytes, tuple[x509.Certificate, bool]] = OrderedDict()

    def _parse(self, der: bytes) -> tuple[x509.Certificate, bool]:
        """The certificate and whether a client CA issued it: parsing and signature checks are the
        expensive part, and their answer never changes for the same bytes."""
        hit = self._verified.get(der)
        if hit is not None:
            self._verified.move_to_end(der)
            return hit
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise AuthenticationError("verifying certificate failed: x509: malformed certificate") from exc
        entry = (cert, self._issued_by_client_ca(cert))
        self._verified[der] = entry
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return entry

    def _issued_by_client_ca(self, cert: x509.Certificate) -> bool:
        for ca in self._cas:
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        return False

    def authenticate(self, der: bytes, now: datetime) -> UserInfo | None:
        """The certificate's user, None when it names nobody, or :class:`AuthenticationError`."""
        if not self._cas:
            return None
        cert, issued = self._parse(der)
        problem = ""
        if not issued:
            problem = "x509: certificate signed by unknown authority"
        elif now < cert.not_valid_before_utc:
            problem = (
                "x509: certificate has expired or is not yet valid: "
                f"current time {_rfc3339(now)} is before {_rfc3339(cert.not_valid_before_utc)}"
            )
        elif now > cert.not_valid_after_utc:
            problem = (
                "x509: certificate has expired or is not yet valid: "
                f"current time {_rfc3339(now)} is after {_rfc3339(cert.not_valid_after_utc)}"
            )
        elif not _allows_client_auth(cert):
            problem = "x509: certificate specifies an incompatible key usage"
        if problem:
            raise AuthenticationError(f"verifying certificate {certificate_identifier(cert)} failed: {problem}")
        common_names = _attributes(cert.subject, NameOID.COMMON_NAME)
        if not common_names or not common_names[0]:
            return None
        return UserInfo(common_names[0], groups=tuple(_attributes(cert.subject, NameOID.ORGANIZATION_NAME)))
