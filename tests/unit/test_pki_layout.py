"""The catalogue built from a spec: SAN classification, endpoint parsing, and refusing bad specs."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.pki import NodeSpec, PkiSpec, generate_pki
from kubeprov.pki.certs import LeafProfile
from kubeprov.pki.layout import endpoint_host, layout_for, service_ips, split_addresses

NODE = NodeSpec("ly-cp-1", ("10.0.0.11",))
SPEC = PkiSpec(
    cluster_name="ly",
    cluster_domain="cluster.local",
    service_cidr="10.96.0.0/12",
    api_endpoint="https://10.0.0.11:6443",
    control_plane=(NODE,),
    etcd_members=(NODE,),
    nodes=(NODE,),
)


def apiserver_profile(spec: PkiSpec) -> LeafProfile:
    (entry,) = [leaf for leaf in layout_for(spec).leaves if leaf.name == "apiserver"]
    return entry.profile


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("https://10.0.0.10:6443", "10.0.0.10"),
        ("https://[fd00::10]:6443", "fd00::10"),
        ("https://api.example.test:443", "api.example.test"),
        ("api.example.test:6443", "api.example.test"),
    ],
)
def test_endpoint_host(endpoint: str, host: str) -> None:
    assert endpoint_host(endpoint) == host


def test_endpoint_without_host_is_refused() -> None:
    with pytest.raises(KubeprovError, match="no host"):
        endpoint_host("https://:6443")


def test_service_ip_is_the_first_host_of_each_range() -> None:
    assert service_ips("10.96.0.0/12") == (ipaddress.ip_address("10.96.0.1"),)
    assert service_ips("10.96.0.0/12,fd00:10::/108") == (
        ipaddress.ip_address("10.96.0.1"),
        ipaddress.ip_address("fd00:10::1"),
    )


def test_bad_service_cidr_is_refused() -> None:
    with pytest.raises(KubeprovError, match="not a network"):
        service_ips("10.96.0.0/33")


def test_addresses_are_split_into_dns_names_and_ips() -> None:
    dns, ips = split_addresses(["10.0.0.1", "node.example", "[fd00::1]", "10.0.0.1"], "test")
    assert dns == ("node.example",)
    assert ips == (ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("fd00::1"))


def test_non_ascii_address_is_refused() -> None:
    with pytest.raises(KubeprovError, match="neither an IP address nor a DNS name"):
        split_addresses(["nœud.example"], "node address")


def test_ipv6_endpoint_becomes_an_ip_san() -> None:
    profile = apiserver_profile(replace(SPEC, api_endpoint="https://[fd00::10]:6443"))
    assert ipaddress.ip_address("fd00::10") in profile.ip_addresses


def test_cluster_domain_shapes_the_service_dns_name() -> None:
    profile = apiserver_profile(replace(SPEC, cluster_domain="corp.internal"))
    assert "kubernetes.default.svc.corp.internal" in profile.dns_names


def test_etcd_members_get_server_and_peer_certs_from_the_etcd_ca() -> None:
    etcd = [leaf for leaf in layout_for(SPEC).leaves if leaf.ca == "etcd/ca"]
    assert {leaf.name for leaf in etcd} == {
        "etcd/server-ly-cp-1",
        "etcd/peer-ly-cp-1",
        "etcd/healthcheck-client",
        "apiserver-etcd-client",
    }


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "with space"])
def test_node_names_that_would_escape_the_folder_are_refused(name: str) -> None:
    with pytest.raises(KubeprovError, match="cannot be used in certificate file names"):
        layout_for(replace(SPEC, nodes=(NodeSpec(name, ("10.0.0.30",)),)))


def test_duplicate_node_names_are_refused() -> None:
    with pytest.raises(KubeprovError, match="listed twice"):
        layout_for(replace(SPEC, nodes=(NODE, NODE)))


def test_zero_validity_is_refused() -> None:
    with pytest.raises(KubeprovError, match="at least 1 day"):
        layout_for(replace(SPEC, validity_days=0))


def test_bad_spec_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(KubeprovError):
        generate_pki(replace(SPEC, service_cidr="not-a-cidr"), tmp_path / "pki", tmp_path / "kc")
    assert not (tmp_path / "pki").exists() and not (tmp_path / "kc").exists()
