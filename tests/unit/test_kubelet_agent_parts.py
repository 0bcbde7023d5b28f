"""The kubelet agent's pure parts: pod phase, restart rules, node capacity and conditions, its config."""

from __future__ import annotations

import pytest
import yaml

from kubeprov.errors import KubeprovError
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.node_status import Machine, capacity, conditions, without_heartbeats
from kubeprov.kubelet.pod_worker import compute_phase, crash_message, should_restart
from kubeprov.render import render

RUNNING = {"state": {"running": {}}}
WAITING = {"state": {"waiting": {"reason": "ContainerCreating"}}}
CRASHING = {"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}


def done(code: int) -> dict:
    return {"state": {"terminated": {"exitCode": code}}}


@pytest.mark.parametrize(("statuses", "policy", "phase"), [
    ([WAITING], "Always", "Pending"),
    ([RUNNING, WAITING], "Always", "Pending"),
    ([RUNNING], "Always", "Running"),
    ([CRASHING], "Always", "Running"),
    ([done(0)], "Never", "Succeeded"),
    ([done(0), done(0)], "OnFailure", "Succeeded"),
    ([done(0), done(2)], "Never", "Failed"),
    ([done(2)], "OnFailure", "Running"),
    ([done(0)], "Always", "Running"),
])
def test_phase_follows_the_kubelets_get_phase(statuses: list[dict], policy: str, phase: str) -> None:
    assert compute_phase(statuses, policy, initialized=True, init_failed=False) == phase


def test_phase_is_pending_until_init_containers_are_done_and_failed_when_one_fails_for_good() -> None:
    assert compute_phase([WAITING], "Always", initialized=False, init_failed=False) == "Pending"
    assert compute_phase([WAITING], "Never", initialized=False, init_failed=True) == "Failed"


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 1, True),
    ("Never", 1, False),
])
def test_restart_policy(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_crash_loop_message_names_container_and_pod() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    assert crash_message(20, "c", pod) == "back-off 20s restarting failed container=c pod=p_ns(u1)"


MACHINE = Machine(cpus=4, memory_bytes=8 * 2**30, memory_available=4 * 2**30, storage_bytes=100 * 2**30,
                  storage_available=50 * 2**30, pids_in_use=500, pid_max=32768)


def test_allocatable_is_capacity_less_the_default_eviction_thresholds() -> None:
    cap, alloc = capacity(MACHINE, 110)
    assert cap["cpu"] == "4" and cap["memory"] == f"{8 * 2**20}Ki" and cap["pods"] == "110"
    assert alloc["memory"] == f"{8 * 2**20 - 100 * 1024}Ki"
    assert int(alloc["ephemeral-storage"]) == int(100 * 2**30 * 0.9)


def test_conditions_report_pressure_and_keep_transition_times_while_unchanged() -> None:
    first = conditions(MACHINE, [])
    assert {c["type"]: c["status"] for c in first} == {
        "MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "Ready": "True"}
    old = [{**c, "lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first]
    low = Machine(**{**MACHINE.__dict__, "memory_available": 10 * 2**20})
    again = {c["type"]: c for c in conditions(low, old)}
    assert again["MemoryPressure"]["status"] == "True"
    assert again["MemoryPressure"]["reason"] == "KubeletHasInsufficientMemory"
    assert again["MemoryPressure"]["lastTransitionTime"] != "2020-01-01T00:00:00Z"
    assert again["Ready"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"


def test_status_comparison_ignores_heartbeats() -> None:
    a = {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}]}
    b = {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t2"}]}
    assert without_heartbeats(a) == without_heartbeats(b)


def test_the_rendered_template_is_a_valid_config() -> None:
    text = render("kubelet.yaml.j2", kubeconfig="/etc/kubeprov/kubelet.kubeconfig", node_name="n1",
                  pod_cidr="10.244.1.0/24", cluster_dns=["169.254.20.10"])
    config = KubeletConfig.from_dict(yaml.safe_load(text))
    assert (config.name, config.pod_cidr, config.cluster_dns) == ("n1", "10.244.1.0/24", ["169.254.20.10"])


def test_a_bad_pod_cidr_is_refused_with_the_setting_named() -> None:
    with pytest.raises(KubeprovError, match="pod_cidr"):
        KubeletConfig.from_dict({"pod_cidr": "10.0.0.0/33"})


def test_the_lease_must_outlive_its_renew_interval() -> None:
    with pytest.raises(KubeprovError, match="node_lease_duration_seconds"):
        KubeletConfig.from_dict({"node_lease_renew_interval": 10, "node_lease_duration_seconds": 5})


def test_python_m_kubeprov_kubelet_refuses_an_unknown_setting_with_exit_2(tmp_path) -> None:
    import subprocess
    import sys

    config = tmp_path / "kubelet.yaml"
    config.write_text("kubeconfig: /k\nnot_a_setting: 1\n")
    out = subprocess.run([sys.executable, "-m", "kubeprov.kubelet", "--config", str(config)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 2
    assert f"error: {config}: unknown settings not_a_setting" in out.stderr and "Traceback" not in out.stderr
