"""A real node (`dev up --kubelet`) runs what the real kubectl asks for, and frees it all on deletion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.dev_cluster import poll
from tests.integration.kubelet_cluster import NEEDS_ROOT, KubeletClusterForTest, namespace_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT),
]
WEB = "registry.local/web:1"


def pod_processes(uid: str) -> list[int]:
    """PIDs on the host whose cgroup path names the pod (its containers and anything they started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if uid in (entry / "cgroup").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_kubectl_run_web_goes_running_with_a_pod_ip_that_serves_its_page(kubelet_cluster: KubeletClusterForTest
                                                                          ) -> None:
    ns = namespace_of(kubelet_cluster, "node-run")
    kubelet_cluster.ok("-n", ns, "run", "web", f"--image={WEB}")
    kubelet_cluster.wait_ready(ns, "web")
    pod = kubelet_cluster.pod(ns, "web")
    assert pod["spec"]["nodeName"] == "dev"
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["hostIP"] == kubelet_cluster.node.node_ip
    ip = pod["status"]["podIP"]
    assert ip.startswith(kubelet_cluster.node.pod_cidr.rsplit(".", 1)[0] + ".")
    page = poll(lambda: kubelet_cluster.http_get(ip), 30, what=f"the page on {ip}:8080")
    assert page.strip() == "web version 1 pod web"


def test_deleting_a_pod_frees_its_ip_netns_mounts_and_processes(kubelet_cluster: KubeletClusterForTest) -> None:
    ns = namespace_of(kubelet_cluster, "node-free")
    kubelet_cluster.ok("-n", ns, "run", "web", f"--image={WEB}")
    kubelet_cluster.wait_ready(ns, "web")
    pod = kubelet_cluster.pod(ns, "web")
    uid, ip = pod["metadata"]["uid"], pod["status"]["podIP"]
    ipam_file = kubelet_cluster.kubelet_root / "cni" / "networks" / "kubeprov" / ip
    netns_file = kubelet_cluster.node.run_dir / "netns" / uid
    assert ipam_file.exists() and netns_file.exists()
    assert any(uid in line for line in Path("/proc/mounts").read_text().splitlines())
    assert pod_processes(uid)

    kubelet_cluster.ok("-n", ns, "delete", "pod", "web", "--wait=true", timeout=120)

    def freed() -> list[str]:
        """What of the pod is still on the host (the kubelet cleans up right around the API deletion)."""
        left = [str(p) for p in (ipam_file, netns_file) if p.exists()]
        left += [line for line in Path("/proc/mounts").read_text().splitlines() if uid in line]
        return left + [f"pid {pid}" for pid in pod_processes(uid)]

    poll(lambda: freed() == [], 30, what="the pod's address, namespace, mounts and processes to go")


def test_dev_up_again_while_running_changes_nothing(kubelet_cluster: KubeletClusterForTest) -> None:
    import subprocess

    from tests.integration.dev_cluster import KUBEPROV

    before = kubelet_cluster.processes()
    again = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(kubelet_cluster.directory), "--kubelet"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert kubelet_cluster.processes() == before


def test_dev_up_after_the_kubelet_crashed_restarts_only_it_and_the_pods_keep_running(
        kubelet_cluster: KubeletClusterForTest) -> None:
    import signal
    import subprocess

    from tests.integration.dev_cluster import KUBEPROV

    ns = namespace_of(kubelet_cluster, "node-crash")
    kubelet_cluster.ok("-n", ns, "run", "web", f"--image={WEB}")
    kubelet_cluster.wait_ready(ns, "web")
    before = kubelet_cluster.pod(ns, "web")["status"]["containerStatuses"][0]
    processes = kubelet_cluster.processes()
    os.kill(processes["kubelet"], signal.SIGKILL)
    poll(lambda: not Path(f"/proc/{processes['kubelet']}").exists()
         or "zombie" in Path(f"/proc/{processes['kubelet']}/status").read_text(), 10, what="the kubelet to die")

    again = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(kubelet_cluster.directory), "--kubelet"],
                           capture_output=True, text=True, timeout=180, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    after = kubelet_cluster.processes()
    assert after["kubelet"] != processes["kubelet"]
    assert {k: v for k, v in after.items() if k != "kubelet"} == {k: v for k, v in processes.items() if k != "kubelet"}
    kubelet_cluster.wait_ready(ns, "web")
    status = kubelet_cluster.pod(ns, "web")["status"]["containerStatuses"][0]
    assert (status["containerID"], status["restartCount"]) == (before["containerID"], 0)
    assert kubelet_cluster.http_get(kubelet_cluster.pod(ns, "web")["status"]["podIP"]).strip() == \
        "web version 1 pod web"
