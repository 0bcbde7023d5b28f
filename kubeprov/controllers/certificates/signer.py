"""Signing approved CertificateSigningRequests with the cluster CA (kube-controller-manager's ``csrsigning``).

Serves the kubernetes.io signers a cluster CA can vouch for: ``kube-apiserver-client-kubelet``,
``kubelet-serving`` and ``kube-apiserver-client``. A request whose content breaks its signer's rules
gets a ``Failed`` condition (reason ``SignerValidationFailure``) instead of a certificate; so does a
request for ``legacy-unknown``, which this signer does not serve. Certificates last
``cluster_signing_duration`` unless the request's ``spec.expirationSeconds`` asks for less (never less
than 10 minutes), are backdated 5 minutes for clock skew, and never outlive the CA.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from kubeprov.controllers.base import Controller, Obj, meta
from kubeprov.controllers.certificates import csr as c
from kubeprov.pki.keys import PrivateKey, parse_private_key

DEFAULT_DURATION = 365 * 24 * 3600.0
MIN_DURATION = 600
BACKDATE = timedelta(minutes=5)
SERVED = (c.KUBELET_CLIENT_SIGNER, c.KUBELET_SERVING_SIGNER, c.APISERVER_CLIENT_SIGNER)

KEY_USAGE_BITS = {
    "signing": "digital_signature", "digital signature": "digital_signature",
    "content commitment": "content_commitment", "key encipherment": "key_encipherment",
    "key agreement": "key_agreement", "data encipherment": "data_encipherment", "cert sign": "key_cert_sign",
    "crl sign": "crl_sign", "encipher only": "encipher_only", "decipher only": "decipher_only",
}
EXTENDED_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION, "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"), "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"), "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING, "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1"),
}


def validation_error(signer: str, req: x509.CertificateSigningRequest, usages: Iterable[str]) -> str:
    """Why ``signer`` refuses ``req`` with ``usages`` (``""``: it signs)."""
    wanted = frozenset(usages)
    if signer == c.KUBELET_CLIENT_SIGNER:
        return c.kubelet_client_error(req, wanted)
    if signer == c.KUBELET_SERVING_SIGNER:
        return c.kubelet_serving_error(req, wanted)
    if signer == c.APISERVER_CLIENT_SIGNER:
        return c.apiserver_client_error(usages)
    return f"signer {signer} is not served by this controller manager"


def duration(default_seconds: float, expiration_seconds: Any) -> timedelta:
    """``cluster_signing_duration`` unless the request asks for less; never under 10 minutes."""
    seconds = float(default_seconds)
    if isinstance(expiration_seconds, int) and not isinstance(expiration_seconds, bool):
        seconds = min(seconds, float(max(expiration_seconds, MIN_DURATION)))
    return timedelta(seconds=seconds)


def key_usage(usages: Iterable[str]) -> x509.KeyUsage | None:
    bits = {KEY_USAGE_BITS[u] for u in usages if u in KEY_USAGE_BITS}
    if "key_agreement" not in bits:
        bits -= {"encipher_only", "decipher_only"}  # meaningless (and unencodable) without key agreement
    if not bits:
        return None
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: n in bits for n in names})


def sign(req: x509.CertificateSigningRequest, usages: list[str], lifetime: timedelta, ca_cert: x509.Certificate,
         ca_key: PrivateKey, now: datetime | None = None) -> bytes:
    """A leaf certificate (PEM) for ``req``: its subject, SANs and public key, the usages asked for."""
    start = (now or datetime.now(UTC)) - BACKDATE
    end = min(start + BACKDATE + lifetime, ca_cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca_cert.subject)
               .public_key(req.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    ku = key_usage(usages)
    if ku is not None:
        builder = builder.add_extension(ku, critical=True)
    extended = list(dict.fromkeys(EXTENDED_USAGES[u] for u in usages if u in EXTENDED_USAGES))
    if extended:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    sans = c.alt_names(req)
    if len(sans):
        builder = builder.add_extension(sans, critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)  # type: ignore[arg-type]
    cert = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)


def failed_condition(message: str, now: str) -> Obj:
    return c.new_condition("Failed", "SignerValidationFailure", message, now)


class CSRSigningController(Controller):
    name = "csrsigning"
    service_account = "certificate-controller"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        cert_file = getattr(config, "cluster_signing_cert_file", "")
        key_file = getattr(config, "cluster_signing_key_file", "")
        if not cert_file or not key_file:
            return None
        return {"cert_file": cert_file, "key_file": key_file,
                "duration_seconds": float(getattr(config, "cluster_signing_duration", DEFAULT_DURATION))}

    def __init__(self, *args: Any, cert_file: str | Path, key_file: str | Path,
                 duration_seconds: float = DEFAULT_DURATION, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ca_cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        self.ca_key = parse_private_key(Path(key_file).read_bytes(), str(key_file))
        self.duration_seconds = duration_seconds
        self.csrs = self.informer(c.API_VERSION, c.RESOURCE)
        self.csrs.add_handler(on_add=self._csr, on_update=lambda _old, new: self._csr(new))

    def _csr(self, csr: Obj) -> None:
        if self.wanted(csr):
            self.enqueue(meta(csr).get("name", ""))

    @staticmethod
    def wanted(csr: Obj) -> bool:
        """Approved, not failed, not yet issued, for a kubernetes.io signer."""
        signer = str(c.spec(csr).get("signerName", ""))
        return (c.is_approved(csr) and c.condition(csr, "Failed") is None and not c.issued_certificate(csr)
                and (signer in SERVED or signer == c.LEGACY_UNKNOWN_SIGNER))

    async def sync(self, key: str) -> None:
        csr = self.csrs.get("", key)
        if csr is None or not self.wanted(csr):
            return
        s = c.spec(csr)
        try:
            req = c.parse_request(csr)
        except ValueError as exc:
            raise ValueError(f"unable to parse csr {key!r}: {exc}") from exc
        usages = [str(u) for u in s.get("usages") or []]
        why = validation_error(str(s.get("signerName", "")), req, usages)
        new = copy.deepcopy(csr)
        status = new.setdefault("status", {})
        if why:
            status["conditions"] = [*c.conditions(new), failed_condition(why, c.now_stamp())]
            self.log.info("CSR %s failed validation: %s", key, why)
        else:
            lifetime = duration(self.duration_seconds, s.get("expirationSeconds"))
            status["certificate"] = base64.b64encode(sign(req, usages, lifetime, self.ca_cert, self.ca_key)).decode()
            self.log.info("signed CSR %s for %s", key, s.get("signerName"))
        await self.client.update(c.API_VERSION, c.RESOURCE, new, subresource="status")
