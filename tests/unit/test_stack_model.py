"""The Stack model: defaults, derived values and the API endpoint used in kubeconfigs."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from kubeprov import __version__
from kubeprov.stack import Stack, StackError, parse_stack


def stack(text: str) -> Stack:
    return parse_stack(textwrap.dedent(text).lstrip("\n"), "s.yaml")


def test_a_name_alone_is_a_single_local_machine_with_defaults():
    s = stack("name: demo\n")
    assert (s.provider.type, s.control_plane.count, s.workers) == ("local", 1, [])
    assert (s.api_version, s.kind, s.version) == ("kubeprov.dev/v1alpha1", "Stack", __version__)
    assert s.federation is None


def test_network_defaults_are_typed_networks():
    net = stack("name: demo\n").network
    assert net.pod_cidr == ipaddress.IPv4Network("10.244.0.0/16")
    assert net.service_cidr == ipaddress.IPv4Network("10.96.0.0/12")
    assert net.machine_subnet == ipaddress.IPv4Network("10.214.0.0/24")
    assert (net.cluster_domain, net.node_ports, net.api_server_port) == (
        "cluster.local",
        (30000, 32767),
        6443,
    )


def test_dns_ip_defaults_to_the_tenth_service_address():
    assert stack("name: demo\n").network.dns_ip == ipaddress.IPv4Address("10.96.0.10")


def test_dns_ip_follows_the_service_range():
    net = stack("name: demo\nnetwork:\n  serviceCIDR: 172.20.0.0/16\n").network
    assert net.dns_ip == ipaddress.IPv4Address("172.20.0.10")


def test_given_dns_address_wins():
    net = stack("name: demo\nnetwork:\n  dnsAddress: 10.96.0.53\n").network
    assert net.dns_ip == ipaddress.IPv4Address("10.96.0.53")


def test_first_service_ip_is_the_first_host_address():
    assert stack("name: demo\n").network.first_service_ip == ipaddress.IPv4Address("10.96.0.1")


def test_local_bridge_defaults_to_kp_and_the_name():
    assert stack("name: demo\n").provider.bridge == "kp-demo"


def test_default_bridge_longer_than_an_interface_name_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack("name: a-rather-long-name\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("name", 1)
    assert "set provider.bridge" in problem.fix


def test_given_bridge_allows_a_long_name():
    s = stack("name: a-rather-long-name\nprovider:\n  type: local\n  bridge: kp-long\n")
    assert s.provider.bridge == "kp-long"


def test_external_etcd_defaults_to_three_members():
    s = stack("name: demo\ncontrolPlane:\n  etcd:\n    mode: external\n")
    assert (s.control_plane.etcd.count, s.control_plane.etcd_members) == (3, 3)


def test_stacked_etcd_has_one_member_per_control_plane_machine():
    s = stack("name: demo\ncontrolPlane:\n  count: 5\n")
    assert (s.control_plane.etcd.count, s.control_plane.etcd_members) == (None, 5)


def test_empty_section_means_its_defaults():
    s = stack("name: demo\nnetwork:\ncertificates:\n")
    assert (s.network.api_server_port, s.certificates.validity_days) == (6443, 365)


def test_ssh_host_defaults():
    s = stack(
        """
        name: demo
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.10, role: control-plane}
        """
    )
    host = s.provider.hosts[0]
    assert (host.name, host.port, host.user, host.key, host.become) == (
        None,
        22,
        "root",
        Path("~/.ssh/id_ed25519"),
        False,
    )


def test_cloud_defaults():
    aws = stack("name: demo\nprovider:\n  type: aws\n  region: eu-west-1\n").provider
    gcp = stack(
        "name: demo\nprovider:\n  type: gcp\n  project: my-project\n"
        "  region: europe-west1\n  zone: europe-west1-b\n"
    ).provider
    assert (aws.instance_types.worker, aws.image, str(aws.vpc_cidr)) == (
        "t3.large",
        "debian-12",
        "10.0.0.0/16",
    )
    assert (gcp.machine_types.worker, gcp.image, str(gcp.subnet_cidr)) == (
        "e2-standard-2",
        "debian-cloud/debian-12",
        "10.10.0.0/24",
    )


def test_zone_outside_the_region_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack("name: demo\nprovider:\n  type: aws\n  region: eu-west-1\n  zone: us-east-1a\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("provider.zone", 5)


def test_python_names_build_a_stack_too():
    s = Stack(name="demo", control_plane={"count": 3}, network={"pod_cidr": "10.50.0.0/16"})
    assert (s.control_plane.count, str(s.network.pod_cidr)) == (3, "10.50.0.0/16")


def test_rules_also_guard_stacks_built_in_python():
    with pytest.raises(ValidationError, match="validityDays"):
        Stack(name="demo", certificates={"validity_days": 4000})


def test_unknown_keys_are_refused_in_python_too():
    with pytest.raises(ValidationError, match="extra"):
        Stack(name="demo", colour="blue")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: demo\n", ("10.214.0.10", 6443)),
        ("name: demo\ncontrolPlane: {count: 3}\n", ("10.214.0.2", 6443)),
        ("name: demo\nnetwork: {machineSubnet: 10.1.2.0/24, apiServerPort: 8443}\n", ("10.1.2.10", 8443)),
        ("name: demo\ncontrolPlane: {count: 3, endpoint: api.example.com}\n", ("api.example.com", 6443)),
        ("name: demo\ncontrolPlane: {endpoint: '203.0.113.7:443'}\n", ("203.0.113.7", 443)),
        ("name: demo\nprovider: {type: aws, region: eu-west-1}\n", (None, 6443)),
        ("name: demo\nprovider: {type: aws, region: eu-west-1}\ncontrolPlane: {count: 3}\n", (None, 6443)),
    ],
    ids=["local-single", "local-ha", "local-port", "endpoint", "endpoint-port", "cloud-single", "cloud-ha"],
)
def test_api_endpoint(text, expected):
    assert stack(text).api_endpoint() == expected


def test_api_endpoint_of_ssh_is_the_load_balancer_host():
    s = stack(
        """
        name: demo
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.11, role: control-plane}
            - {address: 192.0.2.12, role: control-plane}
            - {address: 192.0.2.13, role: control-plane}
            - {address: lb.example.com, role: load-balancer}
        controlPlane: {count: 3}
        """
    )
    assert s.api_endpoint() == ("lb.example.com", 6443)


def test_api_endpoint_of_a_single_ssh_control_plane_is_that_host():
    s = stack(
        """
        name: demo
        provider:
          type: ssh
          hosts:
            - {address: 192.0.2.11, role: control-plane}
        """
    )
    assert s.api_endpoint() == ("192.0.2.11", 6443)


def test_ssh_control_plane_of_three_needs_a_load_balancer_or_endpoint():
    with pytest.raises(StackError) as caught:
        stack(
            """
            name: demo
            provider:
              type: ssh
              hosts:
                - {address: 192.0.2.11, role: control-plane}
                - {address: 192.0.2.12, role: control-plane}
                - {address: 192.0.2.13, role: control-plane}
            controlPlane: {count: 3}
            """
        )
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("provider.hosts", 5)
    assert "role: load-balancer" in problem.fix


def test_api_server_port_inside_the_node_port_range_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack("name: demo\nnetwork:\n  apiServerPort: 30443\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("network.apiServerPort", 3)


def test_service_range_wider_than_kubernetes_allows_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack("name: demo\nnetwork:\n  serviceCIDR: 10.0.0.0/8\n  podCIDR: 192.168.0.0/16\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.message) == ("network.serviceCIDR", "10.0.0.0/8 is too large for services")
