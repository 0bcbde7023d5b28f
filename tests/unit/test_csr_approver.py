"""csrapproving: which requests the approver recognizes as kubelet client (or serving) certificates."""

from __future__ import annotations

from kubeprov.controllers.certificates.approver import (
    approval_condition,
    is_node_client,
    is_self_node_client,
    serving_names_are_the_nodes,
)
from tests.unit.test_csr_fakes import KUBELET_SERVING, csr_object, parsed, x509_request


def recognized(**kw) -> tuple[bool, bool]:
    pem = x509_request(**{k: v for k, v in kw.items() if k in ("cn", "orgs", "dns")})
    csr = csr_object(pem, **{k: v for k, v in kw.items() if k not in ("cn", "orgs", "dns")})
    req = parsed(pem)
    return is_self_node_client(csr, req), is_node_client(csr, req)


def test_a_node_renewing_its_own_client_certificate_is_a_self_node_client():
    assert recognized() == (True, True)


def test_a_bootstrap_token_asking_for_a_node_certificate_is_a_node_client_only():
    assert recognized(username="system:bootstrap:abcdef", groups=("system:bootstrappers",)) == (False, True)


def test_a_node_asking_for_another_nodes_certificate_is_not_self():
    assert recognized(cn="system:node:other") == (False, True)


def test_other_signers_and_bad_contents_are_not_recognized():
    assert recognized(signer="kubernetes.io/kube-apiserver-client") == (False, False)
    assert recognized(orgs=("system:masters",)) == (False, False)
    assert recognized(usages=["digital signature", "client auth", "server auth"]) == (False, False)
    assert recognized(signer=KUBELET_SERVING, usages=["digital signature", "server auth"], dns=("n1",)) == (
        False, False)


def test_serving_names_must_all_be_addresses_of_the_node():
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                     {"type": "Hostname", "address": "n1"}]}}
    assert serving_names_are_the_nodes(parsed(x509_request(dns=("n1",), ips=("10.0.0.5",))), node)
    assert not serving_names_are_the_nodes(parsed(x509_request(dns=("n1", "evil.example"))), node)
    assert not serving_names_are_the_nodes(parsed(x509_request(dns=("n1",))), None)


def test_the_approval_condition_reads_as_kubernetes_writes_it():
    assert approval_condition("m", "2025-01-01T00:00:00Z") == {
        "type": "Approved", "status": "True", "reason": "AutoApproved", "message": "m",
        "lastUpdateTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}
