"""The install driver's pure parts: inventory from machines + rendered tree, events to progress and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.install.events import progress_line, result_message, task_failure
from kubeprov.install.inventory import build_inventory, files_manifest
from kubeprov.install.runner import ansible_cfg, failure_error, host_counts, playbook_path
from kubeprov.install.wheelhouse import Wheelhouse
from kubeprov.providers.base import Machine

CP = Machine(name="local-cp-1", role="control-plane", address="10.214.0.10", ssh_key=Path("/keys/id"))
WORKER = Machine(name="local-w-1", role="worker", address="10.214.0.11", ssh_port=2222, ssh_user="admin",
                 ssh_key=Path("/keys/id"), become=True)


def render(root: Path, machine: str, services: list[dict], files: dict[str, tuple[str, int]]) -> None:
    (root / machine / "files").mkdir(parents=True)
    (root / machine / "services.json").write_text(json.dumps(services))
    for rel, (text, mode) in files.items():
        path = root / machine / "files" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    root = tmp_path / "rendered"
    render(root, CP.name, [
        {"unit": "kubeprov-etcd.service", "group": "etcd", "files": ["/etc/kubeprov/etcd.yaml"]},
        {"unit": "kubeprov-apiserver.service", "group": "control-plane", "files": []},
    ], {"etc/kubeprov/etcd.yaml": ("a: 1\n", 0o644), "etc/kubeprov/pki/ca.key": ("k\n", 0o600)})
    render(root, WORKER.name, [{"unit": "kubeprov-kubelet.service", "group": "node", "files": []}], {})
    return root


def event(kind: str, host: str = "local-cp-1", role: str = "etcd", task: str = "start kubeprov-etcd.service",
          **data: object) -> dict:
    return {"event": kind, "event_data": {"host": host, "role": role, "task": task, **data}}


def test_inventory_reaches_machines_over_ssh_with_their_user_port_key_and_become(rendered: Path) -> None:
    hosts = build_inventory([CP, WORKER], rendered)["all"]["hosts"]
    assert hosts["local-w-1"]["ansible_host"] == "10.214.0.11"
    assert hosts["local-w-1"]["ansible_port"] == 2222
    assert hosts["local-w-1"]["ansible_user"] == "admin"
    assert hosts["local-w-1"]["ansible_ssh_private_key_file"] == "/keys/id"
    assert hosts["local-w-1"]["ansible_become"] is True
    assert hosts["local-cp-1"]["ansible_become"] is False


def test_inventory_groups_hosts_by_the_groups_of_their_services(rendered: Path) -> None:
    groups = build_inventory([CP, WORKER], rendered)["all"]["children"]
    assert set(groups["etcd"]["hosts"]) == {"local-cp-1"}
    assert set(groups["control_plane"]["hosts"]) == {"local-cp-1"}
    assert set(groups["node"]["hosts"]) == {"local-w-1"}
    assert groups["load_balancer"]["hosts"] == {}


def test_inventory_carries_files_dir_services_version_and_wheelhouse(rendered: Path, tmp_path: Path) -> None:
    wheelhouse = Wheelhouse(key="0.1.0-abc", version="0.1.0", directory=tmp_path / "wh", built=False)
    host = build_inventory([CP], rendered, wheelhouse)["all"]["hosts"]["local-cp-1"]
    assert host["kubeprov_files_dir"] == str(rendered / "local-cp-1" / "files")
    assert host["kubeprov_services"][0]["unit"] == "kubeprov-etcd.service"
    assert host["kubeprov_version"] == "0.1.0"
    assert host["kubeprov_install_id"] == "0.1.0-abc"
    assert host["kubeprov_wheelhouse"] == str(tmp_path / "wh" / "wheelhouse.tar")


def test_local_connection_uses_this_python_and_no_ssh_settings(rendered: Path) -> None:
    host = build_inventory([CP], rendered, connection="local")["all"]["hosts"]["local-cp-1"]
    assert host["ansible_connection"] == "local"
    assert "ansible_host" not in host


def test_files_manifest_lists_modes_and_hashes_relative_to_the_machine_root(rendered: Path) -> None:
    manifest = files_manifest(rendered / "local-cp-1" / "files")
    by_path = {f["path"]: f for f in manifest["files"]}
    assert by_path["etc/kubeprov/pki/ca.key"]["mode"] == "0600"
    assert by_path["etc/kubeprov/etcd.yaml"]["mode"] == "0644"
    assert len(by_path["etc/kubeprov/etcd.yaml"]["sha256"]) == 64
    assert {d["path"] for d in manifest["dirs"]} == {"etc", "etc/kubeprov", "etc/kubeprov/pki"}


def test_missing_services_json_is_a_user_error_naming_the_machine(tmp_path: Path) -> None:
    with pytest.raises(KubeprovError, match="local-cp-1"):
        build_inventory([CP], tmp_path)


def test_unknown_service_group_is_rejected(tmp_path: Path) -> None:
    render(tmp_path, CP.name, [{"unit": "x.service", "group": "database", "files": []}], {})
    with pytest.raises(KubeprovError, match="database"):
        build_inventory([CP], tmp_path)


def test_changed_result_becomes_a_progress_line() -> None:
    line = progress_line(event("runner_on_ok", res={"changed": True}))
    assert line == "local-cp-1: etcd: start kubeprov-etcd.service (changed)"


def test_unchanged_result_makes_no_progress_line() -> None:
    assert progress_line(event("runner_on_ok", res={"changed": False})) is None


def test_failed_result_becomes_a_failed_progress_line() -> None:
    assert progress_line(event("runner_on_failed", res={"msg": "boom"})).endswith("(failed)")


def test_ignored_failure_is_silent_and_not_an_error() -> None:
    ignored = event("runner_on_failed", res={"msg": "poll"}, ignore_errors=True)
    assert progress_line(ignored) is None
    assert task_failure(ignored) is None


def test_task_without_role_has_no_role_in_its_line() -> None:
    line = progress_line(event("runner_on_ok", role="", task="ping", res={"changed": True}))
    assert line == "local-cp-1: ping (changed)"


def test_failure_error_names_host_task_and_ansible_message() -> None:
    failure = task_failure(event("runner_on_failed", res={"msg": "non-zero return code", "stderr": "no space"}))
    message = str(failure_error(failure, {}, None))
    assert "local-cp-1" in message
    assert "etcd: start kubeprov-etcd.service" in message
    assert "non-zero return code: no space" in message


def test_unreachable_error_says_ssh_and_the_address_port_and_user_tried() -> None:
    failure = task_failure(event("runner_on_unreachable", host="local-w-1", res={"msg": "Connection refused"}))
    message = str(failure_error(failure, {"local-w-1": WORKER}, None))
    assert "cannot be reached over SSH" in message
    assert "admin@10.214.0.11 port 2222" in message
    assert "Connection refused" in message


def test_loop_failure_message_comes_from_the_failed_item() -> None:
    res = {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "bad mode"}]}
    assert result_message(res) == "bad mode"


def test_stats_become_per_host_counts() -> None:
    counts = host_counts({"ok": {"a": 5}, "changed": {"a": 2}, "failures": {"b": 1}, "dark": {"c": 1}})
    assert (counts["a"].ok, counts["a"].changed, counts["b"].failed, counts["c"].unreachable) == (5, 2, 1, 1)


def test_ansible_cfg_pipelines_persists_connections_and_skips_retry_files() -> None:
    cfg = ansible_cfg(forks=4, roles_path=[])
    assert "forks = 4" in cfg
    assert "pipelining = True" in cfg
    assert "ControlPersist=60s" in cfg
    assert "retry_files_enabled = False" in cfg
    assert "UserKnownHostsFile=/dev/null" in cfg


def test_every_create_phase_has_a_packaged_playbook() -> None:
    for name in ("common", "etcd", "control-plane", "load-balancer", "node", "registry"):
        assert playbook_path(name).is_file()


def test_unknown_playbook_name_is_a_user_error() -> None:
    with pytest.raises(KubeprovError, match="no install playbook"):
        playbook_path("database")
