"""Planned machines: names, roles, addresses and logins derived from a stack."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from kubeprov.stack import PlannedMachine, Stack, StackError, parse_stack, plan_machines


def stack(text: str) -> Stack:
    return parse_stack(textwrap.dedent(text).lstrip("\n"), "s.yaml")


def names_and_addresses(s: Stack) -> list[tuple[str, str | None]]:
    return [(m.name, m.address) for m in plan_machines(s)]


def test_local_machines_are_numbered_from_index_10_with_the_load_balancer_at_2():
    s = stack(
        """
        name: local
        controlPlane: {count: 3}
        workers:
          - {name: workers, count: 2}
        """
    )
    assert names_and_addresses(s) == [
        ("local-cp-1", "10.214.0.10"),
        ("local-cp-2", "10.214.0.11"),
        ("local-cp-3", "10.214.0.12"),
        ("local-workers-1", "10.214.0.13"),
        ("local-workers-2", "10.214.0.14"),
        ("local-lb", "10.214.0.2"),
    ]


def test_single_control_plane_has_no_load_balancer():
    assert [m.role for m in plan_machines(stack("name: one\n"))] == ["control-plane"]


def test_external_etcd_machines_follow_the_control_plane():
    s = stack(
        """
        name: ext
        controlPlane:
          count: 1
          etcd: {mode: external, count: 3}
        workers:
          - {name: app, count: 1}
        """
    )
    assert names_and_addresses(s) == [
        ("ext-cp-1", "10.214.0.10"),
        ("ext-etcd-1", "10.214.0.11"),
        ("ext-etcd-2", "10.214.0.12"),
        ("ext-etcd-3", "10.214.0.13"),
        ("ext-app-1", "10.214.0.14"),
    ]


def test_pools_are_planned_in_order_with_their_labels_and_taints():
    s = stack(
        """
        name: c
        workers:
          - name: web
            count: 1
            labels: {tier: web}
          - name: gpu
            count: 1
            taints: [{key: gpu, value: "yes", effect: NoSchedule}]
        """
    )
    web, gpu = plan_machines(s)[1:]
    assert (web.name, web.pool, web.labels, web.taints) == ("c-web-1", "web", {"tier": "web"}, [])
    assert (gpu.name, gpu.pool, gpu.labels) == ("c-gpu-1", "gpu", {})
    assert gpu.taints == [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]


def test_cloud_machines_have_no_address_before_provisioning():
    s = stack(
        "name: sky\nprovider: {type: gcp, project: my-project, region: europe-west1, zone: europe-west1-b}\n"
    )
    assert names_and_addresses(s) == [("sky-cp-1", None)]


def test_cloud_login_uses_the_private_half_of_the_ssh_key_and_sudo():
    s = stack("name: sky\nprovider: {type: aws, region: eu-west-1, sshKey: ~/.ssh/cloud.pub}\n")
    (machine,) = plan_machines(s)
    assert (machine.ssh_user, machine.ssh_key, machine.become) == ("admin", Path("~/.ssh/cloud"), True)


SSH_STACK = """
name: metal
provider:
  type: ssh
  hosts:
    - {address: 192.0.2.21, role: worker, pool: web, user: deploy, become: true, port: 2222}
    - {address: 192.0.2.11, role: control-plane, key: /keys/cp}
    - {name: db-box, address: 192.0.2.31, role: worker, pool: db}
    - {address: 192.0.2.22, role: worker, pool: web}
    - {address: 192.0.2.5, role: load-balancer}
workers:
  - {name: db, count: 1}
  - {name: web, count: 2}
"""


def test_ssh_hosts_keep_given_names_and_derive_the_others_per_role():
    assert names_and_addresses(stack(SSH_STACK)) == [
        ("metal-cp-1", "192.0.2.11"),
        ("db-box", "192.0.2.31"),
        ("metal-web-1", "192.0.2.21"),
        ("metal-web-2", "192.0.2.22"),
        ("metal-lb", "192.0.2.5"),
    ]


def test_ssh_hosts_carry_their_login():
    by_name = {m.name: m for m in plan_machines(stack(SSH_STACK))}
    web = by_name["metal-web-1"]
    assert (web.ssh_port, web.ssh_user, web.become) == (2222, "deploy", True)
    assert by_name["metal-cp-1"].ssh_key == Path("/keys/cp")


def test_planned_machines_cannot_be_changed():
    machine = plan_machines(stack("name: one\n"))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        machine.name = "other"  # type: ignore[misc]


def test_planned_machine_defaults_suit_a_root_login():
    machine = PlannedMachine("m", "worker")
    assert (machine.ssh_port, machine.ssh_user, machine.become, machine.address) == (22, "root", False, None)


def test_machine_subnet_too_small_for_the_machines_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack(
            """
            name: tiny
            workers:
              - {name: web, count: 5}
            network:
              machineSubnet: 10.214.0.0/28
            """
        )
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("network.machineSubnet", 5)
    assert "room for 5 machines but the stack has 6" in problem.message


def test_a_subnet_exactly_full_is_accepted():
    s = stack("name: tiny\nworkers: [{name: web, count: 4}]\nnetwork: {machineSubnet: 10.214.0.0/28}\n")
    assert plan_machines(s)[-1].address == "10.214.0.14"


def test_pool_named_like_control_plane_machines_is_a_problem():
    with pytest.raises(StackError) as caught:
        stack("name: c\nworkers:\n  - name: cp\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("workers[0].name", 3)


def test_machine_names_longer_than_a_dns_label_are_a_problem():
    pool = "p" * 31
    with pytest.raises(StackError) as caught:
        stack(f"name: {'n' * 31}\nprovider: {{type: aws, region: eu-west-1}}\nworkers:\n  - name: {pool}\n")
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == ("workers[0].name", 4)
