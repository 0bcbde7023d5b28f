"""The SSH provider without a network: what it plans, what it records in machines.json and reads back, and
how it words what the operator must fix (missing keys, power, destroy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.providers import ssh
from kubeprov.providers.base import Machine
from kubeprov.providers.ssh import SshProvider
from kubeprov.stack import Stack, load_stack, parse_stack
from kubeprov.state.store import ClusterState

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metal() -> Stack:
    return load_stack(ROOT / "stacks/baremetal.example.yaml")


@pytest.fixture
def state(tmp_path: Path) -> ClusterState:
    return ClusterState(tmp_path / "clusters" / "metal", "metal")


@pytest.fixture
def logins_succeed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host answers SSH; returns the names of the hosts tried."""
    tried: list[str] = []

    def login(machine: Machine) -> None:
        tried.append(machine.name)
        return None

    monkeypatch.setattr(ssh, "_try_login", login)
    return tried


def test_plan_lists_every_host_with_login_and_expanded_key(metal: Stack, state: ClusterState) -> None:
    lines = SshProvider(metal, state).plan()
    assert len(lines) == 7
    home = Path.home()
    assert lines[0] == f"use existing host metal-cp-1 (control-plane) at root@192.0.2.11:22, key {home}/.ssh/id_ed25519"
    web = next(line for line in lines if "metal-web-1" in line)
    assert "deploy@192.0.2.21:22 with sudo" in web and f"{Path.home()}/.ssh/metal_ed25519" in web
    assert any("metal-db-1 (worker) at root@192.0.2.31:2222" in line for line in lines)


def test_machines_carry_pool_labels_and_taints_from_the_stack(metal: Stack, state: ClusterState) -> None:
    db = next(m for m in SshProvider(metal, state).wanted() if m.name == "metal-db-1")
    assert db.pool == "db" and db.labels["tier"] == "database"
    assert db.taints == [{"key": "dedicated", "value": "database", "effect": "NoSchedule"}]


def test_machines_is_empty_before_provision(metal: Stack, state: ClusterState) -> None:
    assert SshProvider(metal, state).machines() == []


def test_provision_records_machines_json_and_machines_reads_it_back(
    metal: Stack, state: ClusterState, logins_succeed: list[str]
) -> None:
    result = SshProvider(metal, state).provision(lambda line: None)
    assert result.changed and len(logins_succeed) == 7
    recorded = json.loads((state.path / "machines.json").read_text())
    assert [m["name"] for m in recorded["machines"]] == [m.name for m in result.machines]
    assert SshProvider(metal, state).machines() == result.machines


def test_a_second_provision_is_unchanged_and_a_changed_stack_is_recorded_again(
    metal: Stack, state: ClusterState, logins_succeed: list[str]
) -> None:
    SshProvider(metal, state).provision(lambda line: None)
    assert not SshProvider(metal, state).provision(lambda line: None).changed
    moved = metal.model_copy(deep=True)
    moved.provider.hosts[1].address = "192.0.2.99"  # type: ignore[union-attr]
    again = SshProvider(moved, state).provision(lambda line: None)
    assert again.changed and any(m.address == "192.0.2.99" for m in SshProvider(moved, state).machines())


def test_a_missing_key_names_the_host_the_login_tried_and_the_key(tmp_path: Path, state: ClusterState) -> None:
    key = tmp_path / "nokey"
    stack = parse_stack(
        "apiVersion: kubeprov.dev/v1alpha1\nkind: Stack\nname: metal\nprovider:\n  type: ssh\n  hosts:\n"
        f"    - {{name: metal-cp-1, address: 192.0.2.11, user: admin, port: 2200, key: {key}, role: control-plane}}\n"
        "controlPlane:\n  count: 1\n",
        "metal.yaml",
    )
    with pytest.raises(KubeprovError) as raised:
        SshProvider(stack, state).provision(lambda line: None)
    assert raised.value.message == (
        "cannot log in to 1 of 1 host(s):\n"
        f"  - metal-cp-1 (admin@192.0.2.11:2200): the private key {key} does not exist"
    )
    assert "key" in (raised.value.hint or "")
    assert not (state.path / "machines.json").exists()


def test_power_is_refused_with_what_to_do_instead(metal: Stack, state: ClusterState) -> None:
    with pytest.raises(KubeprovError) as raised:
        SshProvider(metal, state).power_off("metal-cp-1", lambda line: None)
    assert "cannot power off metal-cp-1" in raised.value.message and "yourself" in (raised.value.hint or "")
    with pytest.raises(KubeprovError, match="cannot power on metal-cp-1"):
        SshProvider(metal, state).power_on("metal-cp-1", lambda line: None)


def test_destroy_forgets_the_records_and_says_hosts_are_untouched(
    metal: Stack, state: ClusterState, logins_succeed: list[str]
) -> None:
    SshProvider(metal, state).provision(lambda line: None)
    lines = SshProvider(metal, state).destroy(lambda line: None)
    assert not (state.path / "machines.json").exists() and SshProvider(metal, state).machines() == []
    assert "forgot host metal-cp-1 (root@192.0.2.11:22); the host itself was not touched" in lines
    assert "does not wipe" in lines[-1]
    assert "nothing to forget" in SshProvider(metal, state).destroy(lambda line: None)[0]


def test_a_damaged_machines_json_is_a_clear_error(metal: Stack, state: ClusterState) -> None:
    state.write("machines.json", "{not json")
    with pytest.raises(KubeprovError, match="machines.json is damaged"):
        SshProvider(metal, state).machines()


def test_a_non_ssh_stack_is_refused(state: ClusterState) -> None:
    with pytest.raises(KubeprovError, match="not ssh"):
        SshProvider(load_stack(ROOT / "stacks/local.yaml"), state)
