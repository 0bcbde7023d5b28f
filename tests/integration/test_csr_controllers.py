"""CertificateSigningRequests end to end: a node files a CSR for its client certificate, csrapproving
approves it after a SubjectAccessReview, csrsigning issues it from the cluster CA; the certificate is
judged by openssl. The controllers run in a controller manager with per-controller identities, so they act
as ``system:serviceaccount:kube-system:certificate-controller``."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeprov.api.client import ApiClient
from kubeprov.controllers import ControllerManager, ControllerManagerConfig
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import kubeconfig_for
from tests.integration.controller_env import eventually
from tests.unit.test_csr_fakes import csr_object, x509_request

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CSR_API = "certificates.k8s.io/v1"


def manager(apiserver: ApiServerForTest) -> ControllerManager:
    return ControllerManager(ControllerManagerConfig.from_dict({
        "kubeconfig": str(apiserver.kubeconfig), "controllers": ["csrapproving", "csrsigning"],
        "leader_elect": False, "health_port": 0, "use_service_account_credentials": True,
        "cluster_signing_cert_file": str(apiserver.pki_dir / "ca.crt"),
        "cluster_signing_key_file": str(apiserver.pki_dir / "ca.key")}))


def new_csr(name: str, pem: bytes, **spec: object) -> dict:
    obj = csr_object(pem, name=name, **spec)
    for field in ("username", "groups"):  # the API server records the requester itself
        obj["spec"].pop(field)
    obj["metadata"] = {"name": name}
    obj.pop("status")
    return obj


async def test_a_nodes_client_csr_is_approved_and_issued_by_the_cluster_ca(
        apiserver: ApiServerForTest, api_client: ApiClient, tmp_path: Path) -> None:
    node = f"csr-{uuid.uuid4().hex[:8]}"
    name = f"node-csr-{node}"
    user = f"system:node:{node}"
    kubeconfig = kubeconfig_for(apiserver.pki_dir, apiserver.url, tmp_path, user, ["system:nodes"])
    kcm = manager(apiserver)
    await kcm.start()
    try:
        async with ApiClient.from_kubeconfig(kubeconfig) as as_node:
            await as_node.create(CSR_API, "certificatesigningrequests",
                                 new_csr(name, x509_request(cn=user), usages=["digital signature", "client auth"]))

        async def issued() -> dict | None:
            csr = await api_client.get(CSR_API, "certificatesigningrequests", name)
            return csr if (csr.get("status") or {}).get("certificate") else None

        csr = await eventually(issued, timeout=30)
    finally:
        await kcm.stop()
        await api_client.delete(CSR_API, "certificatesigningrequests", name)
    approved = [c for c in csr["status"]["conditions"] if c["type"] == "Approved"]
    assert [(c["status"], c["reason"], c["message"]) for c in approved] == [
        ("True", "AutoApproved", "Auto approving self kubelet client certificate after SubjectAccessReview.")]
    pem = base64.b64decode(csr["status"]["certificate"])
    (tmp_path / "issued.crt").write_bytes(pem)
    verified = subprocess.run(["openssl", "verify", "-CAfile", str(apiserver.pki_dir / "ca.crt"),
                               str(tmp_path / "issued.crt")], capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == user
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]


async def test_an_approved_csr_that_breaks_its_signers_rules_fails_validation(
        apiserver: ApiServerForTest, api_client: ApiClient) -> None:
    name = f"bad-{uuid.uuid4().hex[:8]}"
    kcm = manager(apiserver)
    await kcm.start()
    try:
        created = await api_client.create(CSR_API, "certificatesigningrequests", new_csr(
            name, x509_request(cn="alice", orgs=()), signer="kubernetes.io/kube-apiserver-client",
            usages=["digital signature", "server auth"]))
        created["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test",
                                             "message": "approved by the test"}]}
        await api_client.update(CSR_API, "certificatesigningrequests", created, subresource="approval")

        async def failed() -> list[dict]:
            csr = await api_client.get(CSR_API, "certificatesigningrequests", name)
            return [c for c in (csr.get("status") or {}).get("conditions") or [] if c["type"] == "Failed"]

        conditions = await eventually(failed, timeout=30)
        final = await api_client.get(CSR_API, "certificatesigningrequests", name)
    finally:
        await kcm.stop()
        await api_client.delete(CSR_API, "certificatesigningrequests", name)
    assert [(c["reason"], c["message"]) for c in conditions] == [
        ("SignerValidationFailure", "invalid usage for client certificate: server auth")]
    assert not final["status"].get("certificate")


async def test_a_csr_denied_over_an_hour_ago_is_deleted_by_the_cleaner(
        apiserver: ApiServerForTest, api_client: ApiClient) -> None:
    name = f"old-{uuid.uuid4().hex[:8]}"
    created = await api_client.create(CSR_API, "certificatesigningrequests", new_csr(name, x509_request()))
    created["status"] = {"conditions": [{"type": "Denied", "status": "True", "reason": "Test", "message": "no",
                                         "lastUpdateTime": "2020-01-01T00:00:00Z"}]}
    await api_client.update(CSR_API, "certificatesigningrequests", created, subresource="approval")
    kcm = ControllerManager(ControllerManagerConfig.from_dict({
        "kubeconfig": str(apiserver.kubeconfig), "controllers": ["csrcleaner"], "leader_elect": False,
        "health_port": 0, "use_service_account_credentials": True}))
    await kcm.start()
    try:
        async def gone() -> bool:
            names = [c["metadata"]["name"] for c in (await api_client.list_all(
                CSR_API, "certificatesigningrequests"))[0]]
            return name not in names

        assert await eventually(gone, timeout=30)
    finally:
        await kcm.stop()
