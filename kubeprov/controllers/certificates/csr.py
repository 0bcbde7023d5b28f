"""What the certificate controllers share: reading a CSR (its x509 request, its conditions) and the
kubernetes.io signers' rules for what a request may contain (``k8s.io/kubernetes/pkg/apis/certificates``).

The rules return Kubernetes' error text (``""`` when the request passes), which the signer puts in a
``Failed`` condition and the approver uses to decide whether it recognizes a request.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeprov.controllers.timestamps import TIME_FORMAT, format_time

Obj = dict[str, Any]

API_VERSION = "certificates.k8s.io/v1"
RESOURCE = "certificatesigningrequests"
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"

KUBELET_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
KUBELET_CLIENT_USAGES_NO_RSA = frozenset({"digital signature", "client auth"})
KUBELET_SERVING_USAGES = frozenset({"digital signature", "key encipherment", "server auth"})
KUBELET_SERVING_USAGES_NO_RSA = frozenset({"digital signature", "server auth"})
APISERVER_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})


def now_stamp(now: datetime | None = None) -> str:
    return format_time(now or datetime.now(UTC))


def parse_stamp(stamp: Any) -> datetime | None:
    try:
        return datetime.strptime(str(stamp), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def new_condition(type_: str, reason: str, message: str, now: str) -> Obj:
    """A decision condition (``Approved``, ``Denied``, ``Failed``): True, both times set to ``now``."""
    return {"type": type_, "status": "True", "reason": reason, "message": message,
            "lastUpdateTime": now, "lastTransitionTime": now}


def spec(csr: Obj) -> Obj:
    value = csr.get("spec")
    return value if isinstance(value, dict) else {}


def conditions(csr: Obj) -> list[Obj]:
    found = (csr.get("status") or {}).get("conditions")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def condition(csr: Obj, type_: str) -> Obj | None:
    """The ``True`` condition of ``type_``, if any."""
    return next((c for c in conditions(csr) if c.get("type") == type_ and c.get("status", "True") == "True"), None)


def is_approved(csr: Obj) -> bool:
    return condition(csr, "Approved") is not None and condition(csr, "Denied") is None


def is_decided(csr: Obj) -> bool:
    return condition(csr, "Approved") is not None or condition(csr, "Denied") is not None


def issued_certificate(csr: Obj) -> str:
    return str((csr.get("status") or {}).get("certificate") or "")


def parse_request(csr: Obj) -> x509.CertificateSigningRequest:
    """The x509 request in ``spec.request`` (base64 of PEM); raises ValueError when unusable."""
    pem = base64.b64decode(str(spec(csr).get("request") or ""), validate=True)
    return x509.load_pem_x509_csr(pem)


def usages(csr: Obj) -> frozenset[str]:
    return frozenset(str(u) for u in spec(csr).get("usages") or [])


def _names(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def common_name(req: x509.CertificateSigningRequest) -> str:
    names = _names(req.subject, NameOID.COMMON_NAME)
    return names[0] if names else ""


def organizations(req: x509.CertificateSigningRequest) -> list[str]:
    return _names(req.subject, NameOID.ORGANIZATION_NAME)


def alt_names(req: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName:
    try:
        return req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])


def dns_names(req: x509.CertificateSigningRequest) -> list[str]:
    return alt_names(req).get_values_for_type(x509.DNSName)


def ip_addresses(req: x509.CertificateSigningRequest) -> list[str]:
    return [str(ip) for ip in alt_names(req).get_values_for_type(x509.IPAddress)]


def _go_set(values: Iterable[str]) -> str:
    """How Go prints a sorted string list: ``[a b c]``."""
    return "[" + " ".join(sorted(values)) + "]"


def kubelet_client_error(req: x509.CertificateSigningRequest, wanted: frozenset[str]) -> str:
    """``ValidateKubeletClientCSR``: O=system:nodes, CN=system:node:<name>, no SANs, client usages only."""
    sans = alt_names(req)
    if organizations(req) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    if sans.get_values_for_type(x509.DNSName):
        return "DNS subjectAltNames are not allowed"
    if sans.get_values_for_type(x509.RFC822Name):
        return "Email subjectAltNames are not allowed"
    if sans.get_values_for_type(x509.IPAddress):
        return "IP subjectAltNames are not allowed"
    if sans.get_values_for_type(x509.UniformResourceIdentifier):
        return "URI subjectAltNames are not allowed"
    if not common_name(req).startswith(NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    if wanted not in (KUBELET_CLIENT_USAGES, KUBELET_CLIENT_USAGES_NO_RSA):
        return f"usages did not match {_go_set(KUBELET_CLIENT_USAGES)}"
    return ""


def kubelet_serving_error(req: x509.CertificateSigningRequest, wanted: frozenset[str]) -> str:
    """``ValidateKubeletServingCSR``: O=system:nodes, a DNS or IP SAN, no email/URI SANs, serving usages,
    CN=system:node:<name>."""
    sans = alt_names(req)
    if organizations(req) != [NODES_GROUP]:
        return "subject organization is not system:nodes"
    if not sans.get_values_for_type(x509.DNSName) and not sans.get_values_for_type(x509.IPAddress):
        return "DNS or IP subjectAltName is required"
    if sans.get_values_for_type(x509.RFC822Name):
        return "Email subjectAltNames are not allowed"
    if sans.get_values_for_type(x509.UniformResourceIdentifier):
        return "URI subjectAltNames are not allowed"
    if wanted not in (KUBELET_SERVING_USAGES, KUBELET_SERVING_USAGES_NO_RSA):
        return f"usages did not match {_go_set(KUBELET_SERVING_USAGES)}"
    if not common_name(req).startswith(NODE_PREFIX):
        return "subject common name does not begin with system:node:"
    return ""


def apiserver_client_error(usages_list: Iterable[str]) -> str:
    """kube-apiserver-client: any subject, but only client usages."""
    for usage in usages_list:
        if usage not in APISERVER_CLIENT_USAGES:
            return f"invalid usage for client certificate: {usage}"
    return ""
