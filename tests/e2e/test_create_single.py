"""`kubeprov create` interrupted and re-run, then `kubeprov destroy` and a second create on the same host,
on stacks/single.yaml (one machine: the cheapest full cluster)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.created import KUBEPROV, REPO, CreatedCluster, leaves_nothing_behind, ready_nodes

pytestmark = pytest.mark.e2e

MACHINE = "single-cp-1"


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CreatedCluster]:
    if os.geteuid() != 0:
        pytest.skip("local machines need root (bridge, mounts, systemd-nspawn)")
    cluster = CreatedCluster(REPO / "stacks" / "single.yaml", tmp_path_factory.mktemp("single-state"), "single")
    try:
        yield cluster
    finally:
        cluster.kubeprov("destroy", "--yes", check=False, timeout=600)


def kill_create_during(cluster: CreatedCluster, phase: str, timeout: float = 900.0) -> str:
    """Start `kubeprov create` and kill it (and every process it started) as soon as ``phase`` is done."""
    log = cluster.state_root / "interrupted.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(KUBEPROV), "create", "-f", str(cluster.stack_file)], env=cluster.env, cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if f"✓ {phase} " in log.read_text():
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    return log.read_text()


def test_a_create_killed_midway_completes_when_run_again(single: CreatedCluster) -> None:
    # killed as soon as the etcd phase is done: machines, PKI and software are in place, nothing else
    first = kill_create_during(single, "etcd")
    assert "✓ etcd" in first and "wait-apiservers" not in first, first[-2000:]
    output = single.kubeprov("create")
    assert "resuming run" in output
    assert ready_nodes(single) == {MACHINE}


def test_destroy_leaves_nothing_and_a_new_create_works_on_the_same_host(single: CreatedCluster) -> None:
    single.kubeprov("destroy", "--yes", timeout=600)
    assert leaves_nothing_behind(single.state_dir, "kp-single", [MACHINE]) == []
    assert not single.state_dir.exists()
    single.kubeprov("create")
    assert ready_nodes(single) == {MACHINE}
    single.kubectl("run", "pi", "--image=registry.local/busybox:1", "--restart=Never", "--command", "--",
                   "sh", "-c", "echo reborn")
    single.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/pi", "--timeout=120s", timeout=130)
    assert single.kubectl("logs", "pi").strip() == "reborn"
