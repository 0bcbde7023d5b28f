"""The cluster PKI: CAs, certificates, service-account keys and kubeconfigs, kubeadm-style layout.

:func:`generate_pki` builds it from a :class:`~kubeprov.pki.spec.PkiSpec` and is safe to re-run;
:func:`list_certificates`, :func:`expiring` and :func:`renew_certificates` work from the folders.
"""

from kubeprov.pki.expiry import CertInfo, expiring, list_certificates
from kubeprov.pki.generate import GenerateReport, generate_pki
from kubeprov.pki.renew import RenewedCert, RenewReport, certificate_names, renew_certificates
from kubeprov.pki.spec import NodeSpec, PkiSpec

__all__ = [
    "CertInfo",
    "GenerateReport",
    "NodeSpec",
    "PkiSpec",
    "RenewReport",
    "RenewedCert",
    "certificate_names",
    "expiring",
    "generate_pki",
    "list_certificates",
    "renew_certificates",
]
