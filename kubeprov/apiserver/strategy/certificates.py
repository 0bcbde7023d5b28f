"""certificates.k8s.io/v1: CertificateSigningRequests and their approval subresource."""

from __future__ import annotations

import base64
import binascii
import copy
from typing import Any, ClassVar

from cryptography import x509

from kubeprov.api.fielderrors import FieldError, Path, duplicate, invalid, not_supported, required
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.discovery import _fqdn_errors
from kubeprov.apiserver.strategy.util import Obj, as_list, as_map, as_str, dig, is_int, keep_old, maps

KEY_USAGES = (
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
)
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
_APPROVAL_TYPES = ("Approved", "Denied")
_UNIQUE_TYPES = ("Approved", "Denied", "Failed")


def csr_request_error(encoded: Any) -> str:
    """Why ``spec.request`` (base64 of a PEM CSR) is unusable, or ``""``."""
    if not isinstance(encoded, str):
        return "PEM block type must be CERTIFICATE REQUEST"
    try:
        pem = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return "illegal base64 data"
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        return "PEM block type must be CERTIFICATE REQUEST"
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError:
        return "x509: malformed certificate request"
    try:
        if not csr.is_signature_valid:
            return "x509: invalid signature"
    except (ValueError, TypeError):
        return "x509: cannot verify signature: algorithm unimplemented"
    return ""


def signer_name_errors(signer: str, path: Path) -> list[FieldError]:
    """``ValidateSignerName``: ``<fully qualified domain>/<path>``."""
    if not signer:
        return [required(path, "")]
    parts = signer.split("/")
    if len(parts) != 2:
        return [
            invalid(path, signer, "must be a fully qualified domain and path of the form 'example.com/signer-name'")
        ]
    domain, name = parts
    errs: list[FieldError] = []
    if not domain:
        errs.append(required(path, "domain component of signerName is required"))
    if not name:
        errs.append(required(path, "path component of signerName is required"))
    if errs:
        return errs
    return _fqdn_errors(domain, path)


def condition_errors(conditions: list[Any], path: Path) -> list[FieldError]:
    """Condition types unique, Approved/Denied exclusive and only ever ``True``."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, cond in maps(conditions):
        cpath = path.index(i)
        ctype, status = as_str(cond.get("type")), cond.get("status")
        if not ctype:
            errs.append(required(cpath.child("type"), ""))
        if ctype in _UNIQUE_TYPES:
            if ctype in seen:
                errs.append(duplicate(cpath.child("type"), ctype))
            seen.add(ctype)
        if ctype in _APPROVAL_TYPES and status != "True":
            errs.append(not_supported(cpath.child("status"), status if status is not None else "", ("True",)))
        elif status not in ("True", "False", "Unknown"):
            errs.append(
                not_supported(cpath.child("status"), status if status is not None else "", ("False", "True", "Unknown"))
            )
    if "Approved" in seen and "Denied" in seen:
        errs.append(invalid(path, conditions, "Approved and Denied conditions are mutually exclusive"))
    return errs


def _preserve_conditions(new: Obj, old: Obj, types: tuple[str, ...]) -> None:
    """Keep the old instances of ``types`` (and only those) in new's conditions."""
    status = new.get("status")
    if not isinstance(status, dict):
        status = new["status"] = {}
    kept = [c for _, c in maps(status.get("conditions")) if c.get("type") not in types]
    kept += [copy.deepcopy(c) for _, c in maps(dig(old, "status", "conditions")) if c.get("type") in types]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def set_requester(
    obj: dict, username: str, uid: str = "", groups: list[str] | None = None, extra: dict[str, list[str]] | None = None
) -> None:
    """Record who asked for the certificate (done on create with the request's user)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    spec["username"] = username
    for key, value in (("uid", uid), ("groups", groups), ("extra", extra)):
        if value:
            spec[key] = copy.deepcopy(value)
        else:
            spec.pop(key, None)


class CertificateSigningRequestStrategy(Strategy):
    """``CertificateSigningRequest``: spec fixed at creation; approval through ``/approval``."""

    kind = "CertificateSigningRequest"
    has_status = True
    initial_status: ClassVar[Obj | None] = {}

    def set_defaults(self, obj: Obj) -> None:
        for _, cond in maps(as_map(obj.get("status")).get("conditions")):
            if not cond.get("status"):
                cond["status"] = "True"

    def on_update(self, new: Obj, old: Obj) -> None:
        keep_old(new, old, "spec")

    def on_status_update(self, new: Obj, old: Obj) -> None:
        _preserve_conditions(new, old, _APPROVAL_TYPES)

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        """``/approval`` changes the conditions only (never the issued certificate or Failed)."""
        if subresource != "approval":
            super().prepare_for_subresource_update(subresource, new, old)
            return
        conditions = as_map(new.get("status")).get("conditions")
        super().prepare_for_status_update(new, old)
        status = new.get("status")
        if not isinstance(status, dict):
            status = new["status"] = {}
        status.clear()
        status.update(copy.deepcopy(as_map(old.get("status"))))
        if conditions is not None:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        _preserve_conditions(new, old, ("Failed",))

    def validate_subresource_update(self, subresource: str, new: dict, old: dict) -> list[FieldError]:
        if subresource == "approval":
            return self.validate_status_update(new, old)
        return super().validate_subresource_update(subresource, new, old)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        request = spec.get("request")
        why = csr_request_error(request)
        if why:
            errs.append(invalid(path.child("request"), request if isinstance(request, str) else "", why))
        errs.extend(signer_name_errors(as_str(spec.get("signerName")), path.child("signerName")))
        if old is None and spec.get("signerName") == LEGACY_UNKNOWN_SIGNER:
            # certificates.k8s.io/v1 refuses new requests for the legacy signer (v1beta1 allowed them)
            errs.append(invalid(path.child("signerName"), LEGACY_UNKNOWN_SIGNER,
                                "the legacy signerName is not allowed via this API version"))
        expiration = spec.get("expirationSeconds")
        if is_int(expiration) and expiration < 600:
            errs.append(
                invalid(
                    path.child("expirationSeconds"),
                    expiration,
                    "may not specify a duration less than 600 seconds (10 minutes)",
                )
            )
        usages = as_list(spec.get("usages"))
        if not usages:
            errs.append(required(path.child("usages"), ""))
        seen: set[Any] = set()
        for i, usage in enumerate(usages):
            upath = path.child("usages").index(i)
            if usage not in KEY_USAGES:
                errs.append(not_supported(upath, usage, KEY_USAGES))
            elif usage in seen:
                errs.append(duplicate(upath, usage))
            if isinstance(usage, str):
                seen.add(usage)
        errs.extend(
            condition_errors(as_list(as_map(obj.get("status")).get("conditions")), Path("status", "conditions"))
        )
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.validate_object(new, old)
