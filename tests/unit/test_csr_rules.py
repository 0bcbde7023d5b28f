"""The kubernetes.io signers' rules for what a CSR may contain."""

from __future__ import annotations

from kubeprov.controllers.certificates.csr import (
    apiserver_client_error,
    kubelet_client_error,
    kubelet_serving_error,
)
from tests.unit.test_csr_fakes import CLIENT_USAGES, SERVING_USAGES, parsed, x509_request


def test_a_node_client_request_passes_with_or_without_key_encipherment():
    req = parsed(x509_request())
    assert kubelet_client_error(req, frozenset(CLIENT_USAGES)) == ""
    assert kubelet_client_error(req, frozenset([*CLIENT_USAGES, "key encipherment"])) == ""


def test_a_client_request_outside_system_nodes_is_refused():
    req = parsed(x509_request(orgs=("system:masters",)))
    assert kubelet_client_error(req, frozenset(CLIENT_USAGES)) == "subject organization is not system:nodes"


def test_a_client_request_with_a_dns_name_is_refused():
    req = parsed(x509_request(dns=("n1.example",)))
    assert kubelet_client_error(req, frozenset(CLIENT_USAGES)) == "DNS subjectAltNames are not allowed"


def test_a_client_request_for_another_user_is_refused():
    req = parsed(x509_request(cn="alice"))
    assert kubelet_client_error(req, frozenset(CLIENT_USAGES)) == (
        "subject common name does not begin with system:node:")


def test_a_client_request_with_server_auth_is_refused_with_the_usages_kubernetes_lists():
    req = parsed(x509_request())
    assert kubelet_client_error(req, frozenset([*CLIENT_USAGES, "server auth"])) == (
        "usages did not match [client auth digital signature key encipherment]")


def test_a_serving_request_needs_a_dns_or_ip_name():
    assert kubelet_serving_error(parsed(x509_request()), frozenset(SERVING_USAGES)) == (
        "DNS or IP subjectAltName is required")
    assert kubelet_serving_error(parsed(x509_request(ips=("10.0.0.5",))), frozenset(SERVING_USAGES)) == ""


def test_a_serving_request_with_an_email_name_is_refused():
    req = parsed(x509_request(dns=("n1",), emails=("a@example.com",)))
    assert kubelet_serving_error(req, frozenset(SERVING_USAGES)) == "Email subjectAltNames are not allowed"


def test_an_apiserver_client_request_may_not_ask_for_server_auth():
    assert apiserver_client_error(["digital signature", "client auth"]) == ""
    assert apiserver_client_error(["client auth", "server auth"]) == (
        "invalid usage for client certificate: server auth")
