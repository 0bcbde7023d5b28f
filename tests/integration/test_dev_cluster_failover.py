"""Leader failover on `kubeprov dev up --hollow-nodes 5 --standby`: the standby scheduler and controller
manager take the Leases when the leaders are killed, and Deployments keep working.

This module runs a dev cluster of its own (the session's one has no standbys) and kills only
processes that cluster recorded in its processes.json.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprov.lifecycle.devprocs import ProcessRecord, ProcessTable, is_ours
from tests.integration.dev_cluster import KUBEPROV, DevClusterForTest, poll, start_dev_cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

# lease name in kube-system -> the processes.json names of the two instances
COMPONENTS = {"kube-scheduler": ("scheduler", "scheduler-standby"),
              "kube-controller-manager": ("controller-manager", "controller-manager-standby")}
# lease name -> how each instance logs its own identity when it starts
IDENTITY_LINES = {"kube-scheduler": "(identity {},", "kube-controller-manager": "controller manager {} starting"}
# the standby sees the last renewal within one jittered retry period (2 s to 4.4 s) and tries again the
# moment the 15 s lease it watched expires: at most about 19.4 s after the kill, 16 s typically
TAKEOVER_SECONDS = 20


@pytest.fixture(scope="module")
def standby_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevClusterForTest]:
    yield from start_dev_cluster(tmp_path_factory.mktemp("failover"), standby=True)


def holder(cluster: DevClusterForTest, lease: str) -> str:
    return cluster.json("-n", "kube-system", "get", "lease", lease)["spec"].get("holderIdentity") or ""


def instance_of(cluster: DevClusterForTest, lease: str, identity: str) -> str:
    """Which of the lease's two processes runs as ``identity`` (each logs its identity when it starts)."""
    line = IDENTITY_LINES[lease].format(identity)
    names = [name for name in COMPONENTS[lease] if line in cluster.log_text(name)]
    assert len(names) == 1, f"{identity} found in the logs of {names}"
    return names[0]


def kill(directory: Path, name: str) -> None:
    """SIGKILL (no lease release, like a crash) the process `dev up` recorded as ``name``."""
    record: ProcessRecord = next(r for r in ProcessTable(directory / "processes.json").load() if r.name == name)
    assert is_ours(record), f"{name} (pid {record.pid}) is not running"
    os.kill(record.pid, signal.SIGKILL)


def ready_replicas(cluster: DevClusterForTest, ns: str, name: str) -> int:
    return cluster.json("-n", ns, "get", "deployment", name)["status"].get("readyReplicas") or 0


def test_standbys_take_over_when_the_leaders_die(standby_cluster: DevClusterForTest) -> None:
    cluster = standby_cluster
    processes = cluster.processes()
    assert {"scheduler-standby", "controller-manager-standby"} <= set(processes)
    leaders = {lease: poll(lambda lease=lease: holder(cluster, lease), timeout=30, what=f"a {lease} leader")
               for lease in COMPONENTS}
    ns = cluster.namespace("failover")
    cluster.ok("-n", ns, "create", "deployment", "before", "--image=nginx", "--replicas=2")
    cluster.ok("-n", ns, "rollout", "status", "deployment/before", "--timeout=60s", timeout=90)

    killed = {lease: instance_of(cluster, lease, identity) for lease, identity in leaders.items()}
    for name in killed.values():
        kill(cluster.directory, name)
    started = time.monotonic()
    for lease, old in leaders.items():
        new = poll(lambda lease=lease, old=old: (h := holder(cluster, lease)) != old and h,
                   timeout=max(1.0, TAKEOVER_SECONDS - (time.monotonic() - started)), interval=0.5,
                   what=f"the standby to take {lease}")
        survivor = next(n for n in COMPONENTS[lease] if n != killed[lease])
        assert instance_of(cluster, lease, new) == survivor

    cluster.ok("-n", ns, "scale", "deployment/before", "--replicas=4")
    poll(lambda: ready_replicas(cluster, ns, "before") == 4, timeout=60, what="the scaled Deployment")
    cluster.ok("-n", ns, "create", "deployment", "after", "--image=nginx", "--replicas=3")
    cluster.ok("-n", ns, "rollout", "status", "deployment/after", "--timeout=60s", timeout=90)
    pods = cluster.json("-n", ns, "get", "pods", "-l", "app=after")["items"]
    assert len(pods) == 3 and all(p["spec"].get("nodeName") for p in pods)


def test_dev_down_stops_the_standbys_too(standby_cluster: DevClusterForTest) -> None:
    """Runs last in this module: the fixture's own `dev down` then finds nothing left."""
    records = ProcessTable(standby_cluster.directory / "processes.json").load()
    standbys = [r for r in records if r.name.endswith("-standby")]
    assert len(standbys) == 2
    down = subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(standby_cluster.directory)],
                          capture_output=True, text=True, timeout=90, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [r.name for r in records if is_ours(r)]
