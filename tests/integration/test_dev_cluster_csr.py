"""Certificate signing on the dev cluster, judged with kubectl and openssl: a client certificate request
approved with `kubectl certificate approve` is signed by the cluster CA (the csrsigning controller)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.dev_cluster import DevClusterForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def request_pem(common_name: str, organization: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def test_an_approved_client_request_is_signed_by_the_cluster_ca(dev_cluster: DevClusterForTest,
                                                                 tmp_path: Path) -> None:
    name = f"jane-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request_pem("jane", "developers")).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 86400,
                     "usages": ["client auth"]}}
    dev_cluster.ok("apply", "-f", "-", input=json.dumps(body))
    try:
        assert "Pending" in dev_cluster.ok("get", "csr", name)
        dev_cluster.ok("certificate", "approve", name)
        deadline = time.monotonic() + 30
        while not (issued := dev_cluster.json("get", "csr", name).get("status", {}).get("certificate")):
            assert time.monotonic() < deadline, "the approved request was not signed"
            time.sleep(0.5)
        assert "Approved,Issued" in dev_cluster.ok("get", "csr", name)
        cert_file = tmp_path / "jane.crt"
        cert_file.write_bytes(base64.b64decode(issued))
        verified = subprocess.run(["openssl", "verify", "-CAfile", str(dev_cluster.directory / "pki" / "ca.crt"),
                                   str(cert_file)], capture_output=True, text=True, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "jane"
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime.total_seconds() <= 86400 + 5 * 60  # expirationSeconds, plus the 5 min backdating
    finally:
        dev_cluster.kubectl("delete", "csr", name)
