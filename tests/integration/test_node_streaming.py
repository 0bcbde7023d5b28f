"""kubectl logs, logs -f, exec and port-forward against pods on a real node (`dev up --kubelet`): the real
kubectl through our API server's relay to the kubelet's HTTPS server."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.dev_cluster import poll
from tests.integration.kubelet_cluster import NEEDS_ROOT, KubeletClusterForTest, namespace_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT),
]
BUSYBOX = "registry.local/busybox:1"
WEB = "registry.local/web:1"
HTTP_GET = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc localhost 8080'


@pytest.fixture(scope="module")
def ns(kubelet_cluster: KubeletClusterForTest) -> str:
    """A namespace with a web pod and a pod counting lines, both Ready."""
    name = namespace_of(kubelet_cluster, "node-stream")
    kubelet_cluster.ok("-n", name, "run", "web", f"--image={WEB}")
    counter = 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.3; done'
    kubelet_cluster.ok("-n", name, "run", "counter", f"--image={BUSYBOX}", "--command", "--", "sh", "-c", counter)
    kubelet_cluster.wait_ready(name, "web", "counter")
    return name


@pytest.fixture
def popen(kubelet_cluster: KubeletClusterForTest) -> Iterator[list[subprocess.Popen[str]]]:
    """kubectl processes a test starts in the background; ended (by PID) afterwards."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(10)


def background(cluster: KubeletClusterForTest, started: list[subprocess.Popen[str]],
               *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(cluster.home)
    proc = subprocess.Popen(["kubectl", "--kubeconfig", str(cluster.kubeconfig), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    started.append(proc)
    return proc


def test_kubectl_logs_shows_what_the_container_printed(kubelet_cluster: KubeletClusterForTest, ns: str) -> None:
    out = poll(lambda: kubelet_cluster.ok("-n", ns, "logs", "counter").count("\n") >= 3
               and kubelet_cluster.ok("-n", ns, "logs", "counter"), 30, what="three lines")
    assert out.splitlines()[:3] == ["line 1", "line 2", "line 3"]


def test_kubectl_logs_follow_streams_new_lines(kubelet_cluster: KubeletClusterForTest, ns: str,
                                               popen: list[subprocess.Popen[str]]) -> None:
    proc = background(kubelet_cluster, popen, "-n", ns, "logs", "-f", "--tail=1", "counter")
    assert proc.stdout is not None
    first = int(proc.stdout.readline().split()[1])
    following = [proc.stdout.readline().strip() for _ in range(3)]
    assert following == [f"line {first + n}" for n in (1, 2, 3)]


def test_kubectl_exec_runs_a_command_in_the_container(kubelet_cluster: KubeletClusterForTest, ns: str) -> None:
    out = kubelet_cluster.ok("-n", ns, "exec", "web", "--", "sh", "-c", HTTP_GET)
    assert out.splitlines()[-1] == "web version 1 pod web"


def test_kubectl_exec_stdin_feeds_a_shell(kubelet_cluster: KubeletClusterForTest, ns: str) -> None:
    script = "echo $((6 * 7))\nhostname\nexit 3\n"
    out = kubelet_cluster.kubectl("-n", ns, "exec", "-i", "web", "--", "sh", input=script)
    assert out.stdout.splitlines() == ["42", "web"]
    assert out.returncode == 3


def test_kubectl_port_forward_serves_the_pod_port_on_the_host(kubelet_cluster: KubeletClusterForTest, ns: str,
                                                              popen: list[subprocess.Popen[str]]) -> None:
    proc = background(kubelet_cluster, popen, "-n", ns, "port-forward", "pod/web", ":8080")
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
    assert match, line
    page = poll(lambda: kubelet_cluster.http_get("127.0.0.1", int(match.group(1))), 30, what="the forwarded page")
    assert page.strip() == "web version 1 pod web"
