"""Containers under the real runc, from images pulled out of the seeded test registry (``oci_registry``)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeprov.kubelet.images.registry import RegistryClient
from kubeprov.kubelet.images.service import ImageService
from kubeprov.kubelet.runtime.logs import log_text
from kubeprov.kubelet.runtime.manager import CREATED, EXITED, RUNNING, ContainerRuntime, remove_cgroup
from kubeprov.kubelet.runtime.rootfs import is_mounted
from kubeprov.kubelet.runtime.sandbox import Sandbox
from kubeprov.kubelet.runtime.shim import SHIM_PID_FILE, rfc3339nano_ns
from tests.integration.controller_env import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, overlay mounts and namespaces"),
]

CRI_LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) [FP] ")
HOST_BUSYBOX = "/bin/busybox"


def _memory_cgroup_writable() -> bool:
    probe = Path(f"/sys/fs/cgroup/memory/kubeprov-probe-{uuid.uuid4().hex[:8]}")
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


class Node:
    """The runtime, the image service and helpers for one test, all under its tmp_path."""

    def __init__(self, tmp_path: Path, images: ImageService) -> None:
        self.tmp = tmp_path
        self.images = images
        self.cgroup_parent = f"/kubeprov-test-{uuid.uuid4().hex[:8]}"
        self.runtime = self.new_runtime()

    def new_runtime(self) -> ContainerRuntime:
        """A ContainerRuntime on this node's directories (a second one = a restarted kubelet)."""
        return ContainerRuntime(
            state_dir=self.tmp / "state",
            runc_root=self.tmp / "runc",
            netns_dir=self.tmp / "netns",
            cgroup_parent=self.cgroup_parent,
        )

    async def sandbox(self, host_network: bool = False) -> Sandbox:
        pod = f"pod-{uuid.uuid4().hex[:8]}"
        return await self.runtime.create_sandbox(pod, pod, host_network=host_network)

    async def create(self, sandbox: Sandbox, image: str, **container) -> str:
        record = await self.images.ensure(image)
        name = container.setdefault("name", "c")
        return await self.runtime.create_container(
            sandbox,
            container,
            record.config.get("config", {}),
            self.images.lowerdirs(record),
            self.tmp / "logs" / sandbox.id / name / "0.log",
            image=image,
            image_id=record.image_id,
            env=container.pop("env", []),
            qos_class="Burstable" if container.get("resources") else "BestEffort",
        )

    async def run(self, image: str, **container) -> tuple[Sandbox, str]:
        sandbox = await self.sandbox()
        cid = await self.create(sandbox, image, **container)
        await self.runtime.start_container(cid)
        return sandbox, cid

    async def cleanup(self) -> None:
        for sandbox in self.runtime.list_sandboxes():
            await self.runtime.remove_sandbox(sandbox.id)
        remove_cgroup(self.cgroup_parent)


@pytest.fixture
async def node(oci_registry, tmp_path: Path) -> AsyncIterator[Node]:
    async with RegistryClient(oci_registry.hosts) as client:
        node = Node(tmp_path, ImageService(tmp_path / "images", client))
        try:
            yield node
        finally:
            await node.cleanup()


async def wait_log(node: Node, cid: str, text: str) -> str:
    status = await node.runtime.container_status(cid)

    async def check() -> str | None:
        out = log_text(Path(status.log_path))
        return out if text in out else None

    return await eventually(check, timeout=30)


async def test_echo_hello_is_written_to_the_cri_log(node: Node) -> None:
    _, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", "echo hello; echo oops >&2"])
    await node.runtime.wait_exit(cid, 30)
    status = await node.runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (EXITED, 0, "Completed")
    raw = Path(status.log_path).read_bytes().splitlines()
    assert all(CRI_LINE.match(line) for line in raw) and len(raw) == 2
    assert log_text(Path(status.log_path), "stdout") == "hello\n"
    assert log_text(Path(status.log_path), "stderr") == "oops\n"


async def test_long_line_is_logged_in_partial_pieces_and_read_back_whole(node: Node) -> None:
    script = "i=0; while [ $i -lt 5000 ]; do printf 0123456789; i=$((i+1)); done; echo"
    _, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", script])
    await node.runtime.wait_exit(cid, 30)
    path = Path((await node.runtime.container_status(cid)).log_path)
    tags = [line.split(b" ")[2] for line in path.read_bytes().splitlines()]
    assert tags == [b"P", b"P", b"P", b"F"]
    assert log_text(path) == "0123456789" * 5000 + "\n"


async def test_exit_code_and_error_reason(node: Node) -> None:
    _, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", "exit 3"])
    await node.runtime.wait_exit(cid, 30)
    status = await node.runtime.container_status(cid)
    assert (status.exit_code, status.reason) == (3, "Error")
    assert status.started_at and rfc3339nano_ns(status.finished_at) >= rfc3339nano_ns(status.started_at)


async def test_created_container_waits_for_start(node: Node) -> None:
    sandbox = await node.sandbox()
    cid = await node.create(sandbox, "registry.local/busybox:1", command=["echo", "started"])
    assert (await node.runtime.container_status(cid)).state == CREATED
    await node.runtime.start_container(cid)
    await wait_log(node, cid, "started")


async def test_env_and_args_reach_the_process(node: Node) -> None:
    _, cid = await node.run(
        "registry.local/web:1",
        command=["sh", "-c"],
        args=["echo $(GREETING) $WEB_VERSION '$(MISSING)' $(hostname)"],
        env=[{"name": "GREETING", "value": "hi"}],
    )
    await node.runtime.wait_exit(cid, 30)
    status = await node.runtime.container_status(cid)
    assert log_text(Path(status.log_path)) == f"hi 1 $(MISSING) {status.sandbox_id}\n"


async def http_get(netns: str, port: int = 8080) -> str | None:
    """GET / through the pod's network namespace with the host's busybox nc."""
    proc = await asyncio.create_subprocess_exec(
        "nsenter", f"--net={netns}", HOST_BUSYBOX, "nc", "-w", "5", "127.0.0.1", str(port),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out = (await proc.communicate(b"GET / HTTP/1.0\r\n\r\n"))[0].decode(errors="replace")
    return out if " 200 " in out else None


async def test_web_container_serves_in_the_pod_network_namespace(node: Node) -> None:
    sandbox, cid = await node.run("registry.local/web:1")
    assert sandbox.network is not None
    page = await eventually(lambda: http_get(sandbox.network), timeout=30)
    assert page.endswith(f"web version 1 pod {sandbox.hostname}\n")
    assert (await node.runtime.container_status(cid)).state == RUNNING


async def test_sandbox_joins_a_network_namespace_handed_in_and_leaves_it_to_its_owner(node: Node) -> None:
    netns = node.tmp / "cni-netns"
    netns.touch()
    unshare = await asyncio.create_subprocess_exec("unshare", f"--net={netns}", "true")
    assert await unshare.wait() == 0
    try:
        pod = f"pod-{uuid.uuid4().hex[:8]}"
        sandbox = await node.runtime.create_sandbox(pod, pod, netns=str(netns))
        cid = await node.create(sandbox, "registry.local/web:1")
        await node.runtime.start_container(cid)
        # The namespace is the caller's (CNI's): loopback is theirs to bring up, and so is removal.
        up = await asyncio.create_subprocess_exec("nsenter", f"--net={netns}", "ip", "link", "set", "lo", "up")
        assert await up.wait() == 0
        assert await eventually(lambda: http_get(str(netns)), timeout=30)
        await node.runtime.remove_sandbox(pod)
        assert is_mounted(netns)
    finally:
        subprocess.run(["umount", str(netns)], check=False)


async def test_host_network_pod_sees_the_host_hostname(node: Node) -> None:
    sandbox = await node.sandbox(host_network=True)
    cid = await node.create(sandbox, "registry.local/busybox:1", command=["hostname"])
    await node.runtime.start_container(cid)
    await node.runtime.wait_exit(cid, 30)
    assert sandbox.network is None
    assert log_text(Path((await node.runtime.container_status(cid)).log_path)) == f"{os.uname().nodename}\n"


async def test_process_ignoring_sigterm_is_killed_after_the_grace_period(node: Node) -> None:
    script = "trap '' TERM; echo ready; while true; do sleep 1; done"
    _, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", script])
    await wait_log(node, cid, "ready")
    started = time.monotonic()
    await node.runtime.stop_container(cid, grace=2)
    elapsed = time.monotonic() - started
    status = await node.runtime.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (EXITED, 137, "Error")
    assert elapsed >= 2


async def test_stopping_a_created_container_that_never_started(node: Node) -> None:
    sandbox = await node.sandbox()
    cid = await node.create(sandbox, "registry.local/busybox:1", command=["echo", "never"])
    await node.runtime.stop_container(cid, grace=5)
    status = await node.runtime.container_status(cid)
    assert status.state == EXITED and status.exit_code != 0 and not status.started_at
    assert log_text(Path(status.log_path)) == ""


async def test_process_handling_sigterm_exits_within_the_grace_period(node: Node) -> None:
    script = "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 1; done"
    _, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", script])
    await wait_log(node, cid, "ready")
    started = time.monotonic()
    await node.runtime.stop_container(cid, grace=60)
    assert time.monotonic() - started < 50
    status = await node.runtime.container_status(cid)
    assert (status.exit_code, status.reason) == (0, "Completed")
    assert log_text(Path(status.log_path)) == "ready\nbye\n"


async def test_exec_runs_in_the_container_with_its_env_and_exit_code(node: Node) -> None:
    _, cid = await node.run("registry.local/web:2")
    result = await node.runtime.exec(cid, ["sh", "-c", "echo v$WEB_VERSION; cat; exit 7"], stdin=b"in\n")
    assert (result.exit_code, result.stdout) == (7, b"v2\nin\n")


async def test_exec_timeout_kills_the_process_in_the_container(node: Node) -> None:
    _, cid = await node.run("registry.local/busybox:1", command=["sleep", "600"])
    with pytest.raises(TimeoutError):
        await node.runtime.exec(cid, ["sleep", "321"], timeout=1)

    async def gone() -> bool:
        ps = await node.runtime.exec(cid, ["ps", "-o", "args"])
        return b"sleep 321" not in ps.stdout

    assert await eventually(gone, timeout=20)


async def _tty_output(node: Node, cid: str, argv: list[str],
                      size: tuple[int, int] | None = None) -> tuple[int | None, list[bytes]]:
    proc, master = await node.runtime.exec_tty(cid, argv, size=size)
    try:
        await asyncio.wait_for(proc.wait(), 30)
        output = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the slave side is closed and drained
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
    return proc.returncode, output.replace(b"\r", b"").split(b"\n")


async def test_exec_with_a_tty(node: Node) -> None:
    _, cid = await node.run("registry.local/busybox:1", command=["sleep", "600"])
    code, lines = await _tty_output(node, cid, ["sh", "-c", "tty; echo $TERM"])
    assert code == 0
    assert lines[:2] == [b"/dev/pts/0", b"xterm"]


async def test_exec_with_a_tty_of_a_known_size_gets_that_size_without_any_resize(node: Node) -> None:
    # runc sizes the container's terminal from ours once it holds the console, which may be just after the
    # command started: the command waits (up to 5 s) for a size, and nobody sends a resize or SIGWINCH
    script = ('i=0; until s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "$s" != "0 0" ] || [ $i -ge 50 ]; '
              'do sleep 0.1; i=$((i+1)); done; echo "size $s"')
    _, cid = await node.run("registry.local/busybox:1", command=["sleep", "600"])
    code, lines = await _tty_output(node, cid, ["sh", "-c", script], size=(77, 33))
    assert code == 0
    assert lines[0] == b"size 33 77"


@pytest.mark.skipif(not _memory_cgroup_writable(), reason="the memory cgroup hierarchy is not writable here")
async def test_memory_limit_oom_kills_a_memory_hog(node: Node) -> None:
    limits = {"limits": {"memory": "16Mi"}, "requests": {"memory": "16Mi"}}
    _, cid = await node.run("registry.local/busybox:1", command=["tail", "/dev/zero"], resources=limits)
    assert await node.runtime.wait_exit(cid, 60) is not None
    status = await node.runtime.container_status(cid)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_restarted_runtime_readopts_a_running_container_and_sees_its_exit(node: Node) -> None:
    script = "echo up; while [ ! -f /tmp/stop ]; do sleep 0.2; done; exit 5"
    sandbox, cid = await node.run("registry.local/busybox:1", command=["sh", "-c", script])
    await wait_log(node, cid, "up")
    restarted = node.new_runtime()
    (adopted,) = await restarted.list_containers()
    assert (adopted.id, adopted.state, adopted.sandbox_id) == (cid, RUNNING, sandbox.id)
    assert [s.id for s in restarted.list_sandboxes()] == [sandbox.id]
    assert (await restarted.exec(cid, ["touch", "/tmp/stop"])).exit_code == 0
    assert await restarted.wait_exit(cid, 30) is not None
    status = await restarted.container_status(cid)
    assert (status.state, status.exit_code) == (EXITED, 5)


def _shim_pid(node: Node, cid: str) -> int:
    return int((node.tmp / "state" / "containers" / cid / SHIM_PID_FILE).read_text())


def _mounts_under(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines if line.split()[4].startswith(str(path))]


async def test_removal_leaves_no_mounts_processes_runc_state_or_cgroups(node: Node) -> None:
    sandbox, cid = await node.run("registry.local/web:1")
    status = await node.runtime.container_status(cid)
    shim = _shim_pid(node, cid)
    assert status.pid > 0 and Path(f"/proc/{status.pid}").exists()
    assert is_mounted(node.tmp / "state" / "containers" / cid / "rootfs")
    await node.runtime.stop_container(cid, grace=1)
    await node.runtime.remove_container(cid)
    await node.runtime.remove_sandbox(sandbox.id)
    assert await node.runtime.runc.list() == []
    assert await node.runtime.list_containers() == [] and node.runtime.list_sandboxes() == []
    assert _mounts_under(node.tmp) == []

    async def shim_gone() -> bool:
        return not Path(f"/proc/{shim}").exists()

    await eventually(shim_gone, timeout=20)
    assert not Path(f"/proc/{status.pid}").exists()
    assert not any(Path("/sys/fs/cgroup").glob(f"*/{node.cgroup_parent.lstrip('/')}/{sandbox.id}"))


async def test_the_web_image_ends_on_sigterm_instead_of_waiting_for_sigkill(node: Node) -> None:
    sandbox, cid = await node.run("registry.local/web:1")
    try:
        assert sandbox.network is not None
        await eventually(lambda: http_get(sandbox.network), timeout=30)  # the script is up to its wait
        await node.runtime.stop_container(cid, grace=30)
        status = await node.runtime.container_status(cid)
        assert (status.state, status.exit_code) == (EXITED, 0)  # 137 would mean it was SIGKILLed
    finally:
        await node.runtime.remove_container(cid)
        await node.runtime.remove_sandbox(sandbox.id)
