"""CertificateSigningRequest controllers: auto-approval of kubelet client certificates (csrapproving),
signing with the cluster CA for the kubernetes.io signers (csrsigning), and clean-up of old requests
(csrcleaner), as kube-controller-manager's certificate controllers do."""

from kubeprov.controllers.certificates.approver import CSRApprovingController
from kubeprov.controllers.certificates.cleaner import CSRCleanerController
from kubeprov.controllers.certificates.signer import CSRSigningController

__all__ = ["CSRApprovingController", "CSRCleanerController", "CSRSigningController"]
