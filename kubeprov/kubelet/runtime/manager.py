"""ContainerRuntime: the CRI-shaped surface the kubelet's pod workers call (sandboxes, containers,
status, exec, logs), over runc, our shim and overlay root filesystems.

All state lives in files (a directory per sandbox and per container, runc's own root, the shim's
exit.json), never only in this object: a new ContainerRuntime on the same directories after a kubelet
restart sees the same containers, running or exited, with their exit codes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubeprov.kubelet.runtime import rootfs as rootfs_mod
from kubeprov.kubelet.runtime import sandbox as sandbox_mod
from kubeprov.kubelet.runtime.logs import LogEntry, read_log
from kubeprov.kubelet.runtime.runc import RUNC, ExecResult, NotFound, Runc, RuncError
from kubeprov.kubelet.runtime.sandbox import Sandbox
from kubeprov.kubelet.runtime.shim import EXIT_FILE, rfc3339nano
from kubeprov.kubelet.runtime.spec import BindMount, ContainerConfig, UserDB, build_spec

CREATED = "created"
RUNNING = "running"
EXITED = "exited"
UNKNOWN = "unknown"
META_FILE = "container.json"
CGROUP_ROOT = Path("/sys/fs/cgroup")


class ContainerNotFound(KeyError):
    """No container with that ID in this runtime's state directory."""


@dataclass
class ContainerMeta:
    """What we remember about a container (container.json): enough to report status after a restart."""

    id: str
    name: str
    sandbox_id: str
    image: str
    image_id: str
    log_path: str
    cgroups_path: str
    created_at: str
    started_at: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    """CRI ContainerStatus, the part the kubelet turns into containerStatuses."""

    id: str
    name: str
    sandbox_id: str
    state: str
    image: str
    image_id: str
    log_path: str
    created_at: str
    started_at: str = ""
    finished_at: str = ""
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    pid: int = 0
    labels: dict[str, str] = field(default_factory=dict)


def exit_reason(exit_code: int, oom_killed: bool) -> str:
    """containerd's CRI reasons: OOMKilled, Completed (exit 0) or Error."""
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


@dataclass
class ContainerRuntime:
    """One per kubelet. ``state_dir`` holds containers and sandboxes; ``runc_root`` is runc's ``--root``
    (ours alone, e.g. /run/kubeprov/runc); ``netns_dir`` holds the sandboxes' namespace files (not
    kubelet/network's /run/kubeprov/netns: a CNI-prepared netns from there is handed in by path)."""

    state_dir: Path
    runc_root: Path = Path("/run/kubeprov/runc")
    netns_dir: Path = Path("/run/kubeprov/sandboxes")
    cgroup_parent: str = "/kubeprov"
    runc_binary: str = RUNC
    memory_capacity: int = 0
    poll_interval: float = 0.05

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.runc = Runc(Path(self.runc_root), self.runc_binary)
        if not self.memory_capacity:
            self.memory_capacity = _memory_capacity()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Prepare the directories (nothing to re-adopt in memory: state is read from files)."""
        for d in (self.state_dir / "containers", Path(self.netns_dir)):
            d.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        """Nothing to stop: containers and shims deliberately outlive the kubelet."""

    # ------------------------------------------------------------------ sandboxes

    async def create_sandbox(
        self, pod_id: str, hostname: str, netns: str | None = None, host_network: bool = False
    ) -> Sandbox:
        await self.start()
        return await sandbox_mod.create(Path(self.netns_dir), pod_id, hostname, netns, host_network)

    def get_sandbox(self, pod_id: str) -> Sandbox | None:
        return Sandbox.load(Path(self.netns_dir) / pod_id)

    def list_sandboxes(self) -> list[Sandbox]:
        root = Path(self.netns_dir)
        found = (Sandbox.load(d) for d in sorted(root.iterdir())) if root.exists() else iter(())
        return [s for s in found if s is not None]

    async def remove_sandbox(self, pod_id: str) -> None:
        """Remove the pod's containers (forcibly), its namespaces and its cgroup directories."""
        for meta in self._metas():
            if meta.sandbox_id == pod_id:
                await self.remove_container(meta.id)
        sandbox = self.get_sandbox(pod_id)
        if sandbox is not None:
            await sandbox_mod.remove(sandbox)
        remove_cgroup(f"{self.cgroup_parent}/{pod_id}")

    # ------------------------------------------------------------------ containers

    def _dir(self, cid: str) -> Path:
        return self.state_dir / "containers" / cid

    def _meta(self, cid: str) -> ContainerMeta:
        try:
            return ContainerMeta(**json.loads((self._dir(cid) / META_FILE).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise ContainerNotFound(cid) from e

    def _save(self, meta: ContainerMeta) -> None:
        path = self._dir(meta.id) / META_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(meta)))
        tmp.replace(path)

    def _metas(self) -> list[ContainerMeta]:
        root = self.state_dir / "containers"
        out = []
        for d in sorted(root.iterdir()) if root.exists() else []:
            try:
                out.append(self._meta(d.name))
            except ContainerNotFound:
                continue
        return out

    async def create_container(
        self,
        sandbox: Sandbox,
        container: dict[str, Any],
        image_config: dict[str, Any],
        lowerdirs: list[Path],
        log_path: Path,
        image: str = "",
        image_id: str = "",
        env: list[dict[str, Any]] | None = None,
        service_env: dict[str, str] | None = None,
        mounts: list[BindMount] | None = None,
        pod_security: dict[str, Any] | None = None,
        qos_class: str = "BestEffort",
        labels: dict[str, str] | None = None,
    ) -> str:
        """Mount the rootfs, write the bundle and ``runc create`` it under a shim; returns the ID.
        The process waits at runc's exec fifo until start_container."""
        await self.start()
        cid = secrets.token_hex(32)
        directory = self._dir(cid)
        directory.mkdir(parents=True)
        cgroups_path = f"{self.cgroup_parent}/{sandbox.id}/{cid}"
        meta = ContainerMeta(
            id=cid,
            name=str(container["name"]),
            sandbox_id=sandbox.id,
            image=image or str(container.get("image", "")),
            image_id=image_id,
            log_path=str(log_path),
            cgroups_path=cgroups_path,
            created_at=rfc3339nano(),
            labels=dict(labels or {}),
        )
        self._save(meta)
        fs = rootfs_mod.Rootfs(directory)
        try:
            await rootfs_mod.mount_overlay(fs, lowerdirs)
            cfg = ContainerConfig(
                container=container,
                image_config=image_config,
                rootfs=str(fs.target),
                cgroups_path=cgroups_path,
                namespaces=sandbox.namespaces,
                hostname=sandbox.hostname,
                env=list(env or []),
                service_env=dict(service_env or {}),
                mounts=list(mounts or []),
                pod_security=dict(pod_security or {}),
                qos_class=qos_class,
                memory_capacity=self.memory_capacity,
                users=UserDB.from_rootfs(fs.target),
            )
            bundle_spec = build_spec(cfg)
            tty = bool(container.get("tty"))
            if tty:  # the shim takes the terminal's master from runc and logs it
                bundle_spec["process"]["terminal"] = True
            (directory / "config.json").write_text(json.dumps(bundle_spec, indent=1))
            await self.runc.create(cid, directory, directory, Path(log_path), cgroups_path,
                                   stdin=bool(container.get("stdin")), tty=tty)
        except Exception:
            await self._discard(cid)
            raise
        return cid

    async def start_container(self, cid: str) -> None:
        meta = self._meta(cid)
        # stamped before `runc start`: the process cannot begin (or end) before it, while a stamp taken after
        # it returns could come later than the exit of a container that fails at once
        started_at = rfc3339nano()
        await self.runc.start(cid)
        meta.started_at = started_at
        self._save(meta)

    def _exit(self, cid: str) -> dict[str, Any] | None:
        try:
            return json.loads((self._dir(cid) / EXIT_FILE).read_text())
        except (OSError, ValueError):
            return None

    async def wait_exit(self, cid: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The shim's exit record once it exists (None on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self._exit(cid)
            if record is not None:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(self.poll_interval)

    async def stop_container(self, cid: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds if still running (the kubelet's killContainer);
        returns once the exit is recorded."""
        self._meta(cid)
        if self._exit(cid) is not None:
            return
        await self._signal(cid, "TERM")
        if await self.wait_exit(cid, max(grace, 0)) is None:
            await self._signal(cid, "KILL")
            await self.wait_exit(cid, 30)

    async def _signal(self, cid: str, sig: str) -> None:
        try:
            await self.runc.kill(cid, sig)
        except RuncError:
            pass  # already stopped, or gone: the exit record (or its absence) tells the rest

    async def remove_container(self, cid: str) -> None:
        """Kill if needed, ``runc delete``, unmount and delete the container's files (not its log:
        the kubelet keeps logs of dead containers until it rotates them)."""
        self._meta(cid)
        if self._exit(cid) is None:
            await self._signal(cid, "KILL")
            await self.wait_exit(cid, 30)
        await self._discard(cid)

    async def _discard(self, cid: str) -> None:
        try:
            await self.runc.delete(cid, force=True)
        except NotFound:
            pass
        except RuncError:
            await asyncio.sleep(0.2)
            try:
                await self.runc.delete(cid, force=True)
            except NotFound:
                pass
        await rootfs_mod.remove(rootfs_mod.Rootfs(self._dir(cid)))

    async def container_status(self, cid: str) -> ContainerStatus:
        meta = self._meta(cid)
        status = ContainerStatus(
            id=cid,
            name=meta.name,
            sandbox_id=meta.sandbox_id,
            state=UNKNOWN,
            image=meta.image,
            image_id=meta.image_id,
            log_path=meta.log_path,
            created_at=meta.created_at,
            started_at=meta.started_at,
            labels=meta.labels,
        )
        record = self._exit(cid)
        if record is not None:
            status.state = EXITED
            status.exit_code = int(record["exitCode"])
            status.finished_at = record["finishedAt"]
            status.reason = exit_reason(status.exit_code, bool(record.get("oomKilled")))
            return status
        try:
            state = await self.runc.state(cid)
        except NotFound:
            return status
        status.pid = int(state.get("pid") or 0)
        status.state = {"created": CREATED, "running": RUNNING, "paused": RUNNING}.get(state["status"], UNKNOWN)
        if state["status"] == "stopped":
            # runc saw the exit before the shim recorded it: wait briefly for the record.
            record = await self.wait_exit(cid, 2)
            return await self.container_status(cid) if record else status
        return status

    async def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        """Every container we own (re-adoption after a restart starts here)."""
        return [
            await self.container_status(m.id) for m in self._metas() if sandbox_id is None or m.sandbox_id == sandbox_id
        ]

    # ------------------------------------------------------------------ exec and logs

    async def exec(
        self, cid: str, argv: list[str], stdin: bytes | None = None, timeout: float | None = None
    ) -> ExecResult:
        """ExecSync: run ``argv`` in the running container with the container's env and user."""
        return await self.runc.exec(cid, argv, stdin=stdin, timeout=timeout)

    def stdin_fifo(self, cid: str) -> Path | None:
        """The FIFO the shim gave a ``stdin: true`` container as its stdin (None otherwise)."""
        fifo = self._dir(cid) / "stdin"
        return fifo if fifo.exists() else None

    def control_fifo(self, cid: str) -> Path | None:
        """The shim's command FIFO for a container with stdin or a tty: "close" ends its stdin (stdinOnce),
        "resize W H" sizes its terminal."""
        fifo = self._dir(cid) / "stdin-ctl"
        return fifo if fifo.exists() else None

    async def exec_stream(self, cid: str, argv: list[str], stdin: bool = True,
                          pid_file: Path | None = None) -> asyncio.subprocess.Process:
        """A streaming exec with pipes (``kubectl exec`` without a tty): the caller owns stdin/stdout/stderr;
        runc writes ``pid_file`` only once the process started."""
        return await self.runc.exec_process(cid, argv, stdin=stdin, pid_file=pid_file)

    async def exec_tty(self, cid: str, argv: list[str],
                       size: tuple[int, int] | None = None) -> tuple[asyncio.subprocess.Process, int]:
        """An exec with a pty of ``size`` (columns, rows) when known: (runc exec process, pty master fd)."""
        return await self.runc.exec_tty(cid, argv, env=["TERM=xterm"], size=size)

    @staticmethod
    def logs(path: Path, stream: str | None = None) -> list[LogEntry]:
        return read_log(Path(path), stream)


def _memory_capacity() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def remove_cgroup(path: str) -> None:
    """rmdir an (empty) cgroup in every hierarchy: pods' ones (runc removes the containers' own)."""
    if not CGROUP_ROOT.exists():
        return
    for hierarchy in CGROUP_ROOT.iterdir():
        target = hierarchy / path.lstrip("/")
        try:
            target.rmdir()
        except OSError:
            pass
