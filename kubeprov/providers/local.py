"""Local machines: systemd-nspawn containers booting the cached Debian image, on one bridge per cluster.

Each machine is a real server to the installer (systemd, sshd, its own address) and can run runc pods
inside. Everything a machine owns on the host is under ``<state>/machines/<name>/`` (overlay root, data
dir, console log) plus its cgroups and supervisor process, so ``destroy`` can find and remove all of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.lifecycle.devprocs import ProcessRecord, ProcessTable, is_ours
from kubeprov.providers import local_cgroups, local_net, sshkeys
from kubeprov.providers.base import Machine, Progress, ProvisionResult
from kubeprov.providers.image import ImageCache
from kubeprov.providers.local_mounts import mounts_under, remove_tree, unmount_tree
from kubeprov.providers.local_supervisor import EXIT_CODE, NSPAWN_PID, STOP_REQUESTED
from kubeprov.providers.nspawn import nspawn_argv
from kubeprov.stack import PlannedMachine, Stack, plan_machines
from kubeprov.stack.machines import local_bridge_address
from kubeprov.state.atomic import atomic_write
from kubeprov.state.store import ClusterState

MACHINES_DIR = "machines"
MACHINES_JSON = "machines.json"
SUPERVISORS_JSON = "machine-supervisors.json"
SSH_DIR = "ssh"
#: seconds a machine gets to power off before its pods are killed for it
POD_GRACE = 5.0
REQUIRED_TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap", "ip": "iproute2"}


@dataclass(frozen=True)
class MachineFiles:
    """One machine's folder on the host."""

    dir: Path

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def spec(self) -> Path:
        return self.dir / "supervisor.json"

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    @property
    def image(self) -> Path:
        """The image (lower dir) this machine was made from: its overlay needs that one, not a newer one."""
        return self.dir / "image"

    @property
    def cgroups(self) -> Path:
        return self.dir / "cgroups.json"

    @property
    def ready(self) -> Path:
        """Written last when a machine is made: without it the folder is a half-made leftover."""
        return self.dir / "ready"


def cgroup_leaf(machine: str) -> str:
    return f"kubeprov-{machine}"


def overlay_options(lower: Path, files: MachineFiles) -> str:
    return f"lowerdir={lower},upperdir={files.upper},workdir={files.work}"


def leftover_kind(made: bool, running: bool, mounted: bool, has_cgroups: bool) -> str | None:
    """What an earlier, interrupted run left of a machine: 'half-made' (remove the folder), 'stale'
    (stopped but still mounted or with cgroups: undo those) or None (nothing to clean)."""
    if running:
        return None
    if not made:
        return "half-made"
    if mounted or has_cgroups:
        return "stale"
    return None


def require_root() -> None:
    if os.geteuid() != 0:
        raise KubeprovError(
            "local machines need root: kubeprov creates a bridge, mounts and systemd-nspawn containers",
            "run the command as root (for example with sudo)",
        )
    for tool, package in REQUIRED_TOOLS.items():
        if shutil.which(tool) is None:
            raise KubeprovError(f"{tool} is not installed", f"install it with: apt-get install {package}")


class LocalProvider:
    """The ``local`` provider: machines on this computer (see the module docstring)."""

    def __init__(
        self,
        stack: Stack,
        state: ClusterState,
        images: ImageCache | None = None,
        ssh_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.stack = stack
        self.state = state
        self.images = images or ImageCache()
        self.ssh_timeout = ssh_timeout
        self.stop_timeout = stop_timeout
        bridge = getattr(stack.provider, "bridge", None)
        self.bridge: str = bridge or f"kp-{stack.name}"
        self.subnet = stack.network.machine_subnet
        self.planned: list[PlannedMachine] = plan_machines(stack)
        self.supervisors = ProcessTable(state.path / SUPERVISORS_JSON)

    # ---- paths and records -------------------------------------------------------------------------

    @property
    def machines_dir(self) -> Path:
        return self.state.path / MACHINES_DIR

    @property
    def ssh_key(self) -> Path:
        return self.state.path / SSH_DIR / sshkeys.KEY_NAME

    def files(self, name: str) -> MachineFiles:
        return MachineFiles(self.machines_dir / name)

    def _planned(self, name: str) -> PlannedMachine:
        for machine in self.planned:
            if machine.name == name:
                return machine
        raise KubeprovError(f"no machine named {name!r} in stack {self.stack.name!r}", "check the machine name")

    def _record(self, name: str) -> ProcessRecord | None:
        for record in self.supervisors.load():
            if record.name == name:
                return record
        return None

    def running(self, name: str) -> bool:
        record = self._record(name)
        return record is not None and is_ours(record)

    def _as_machine(self, planned: PlannedMachine) -> Machine:
        assert planned.address is not None
        return Machine(
            name=planned.name, role=planned.role, address=planned.address, ssh_key=self.ssh_key,
            pool=planned.pool, labels=dict(planned.labels), taints=list(planned.taints),
        )  # fmt: skip

    # ---- Provider protocol -------------------------------------------------------------------------

    def plan(self) -> list[str]:
        actions = []
        image = self.images.image()
        if not image.rootfs.is_dir():
            actions.append(f"build the base image {image.key} under {self.images.root}")
        if local_net.link_kind(self.bridge) != "bridge":
            actions.append(f"create bridge {self.bridge} ({local_bridge_address(self.subnet)}/{self.subnet.prefixlen})")
        for machine in self.planned:
            if not self.files(machine.name).ready.exists():
                actions.append(f"create machine {machine.name} at {machine.address}")
            elif not self.running(machine.name):
                actions.append(f"start machine {machine.name}")
        return actions

    def machines(self) -> list[Machine]:
        target = self.state.path / MACHINES_JSON
        if not target.exists():
            return []
        return [Machine.from_json(entry) for entry in json.loads(target.read_text())]

    def provision(self, progress: Progress) -> ProvisionResult:
        require_root()
        messages: list[str] = []
        changed = self._clean_leftovers(progress, messages)
        image, built = self.images.ensure(progress)
        changed |= built
        self.state.ensure()
        _key, new_key = sshkeys.ensure_key(self.ssh_key.parent, f"kubeprov-{self.stack.name}")
        changed |= new_key
        if local_net.ensure_bridge(self.bridge, self.subnet, local_bridge_address(self.subnet)):
            progress(f"bridge {self.bridge} up")
            changed = True
        started = []
        for machine in self.planned:
            files = self.files(machine.name)
            if not files.ready.exists():
                self._make(machine, image.rootfs, progress)
                changed = True
            if not self.running(machine.name):
                self._start(machine, progress)
                started.append(machine)
                changed = True
        for machine in started:
            self._wait_ssh(machine, progress)
        extra = sorted(set(self._machine_dirs()) - {m.name for m in self.planned})
        if extra:
            messages.append(f"machines not in the stack left as they are: {', '.join(extra)}")
        machines = [self._as_machine(m) for m in self.planned]
        self.state.write(MACHINES_JSON, json.dumps([m.to_json() for m in machines], indent=2) + "\n")
        return ProvisionResult(machines=machines, changed=changed, messages=messages)

    def power_off(self, name: str, progress: Progress) -> None:
        require_root()
        self._planned(name)
        was_running = self._stop(name)
        self._release(name)  # a stopped machine holds no mount or cgroup on the host
        if was_running:
            progress(f"machine {name} powered off")

    def power_on(self, name: str, progress: Progress) -> None:
        require_root()
        machine = self._planned(name)
        if not self.files(name).ready.exists():
            raise KubeprovError(f"machine {name} does not exist yet", "run kubeprov create first")
        if self.running(name):
            return
        self._start(machine, progress)
        self._wait_ssh(machine, progress)

    def destroy(self, progress: Progress) -> list[str]:
        require_root()
        removed = []
        names = sorted(set(self._machine_dirs()) | {m.name for m in self.planned})
        for name in names:
            files = self.files(name)
            had_something = files.dir.exists() or self.running(name)
            self._stop(name)
            self._release(name)
            if files.dir.exists():
                remove_tree(files.dir)
            _remove_nspawn_runtime(name)
            if had_something:
                removed.append(f"machine {name}")
                progress(f"machine {name} removed")
        if local_net.remove_bridge(self.bridge):
            removed.append(f"bridge {self.bridge}")
            progress(f"bridge {self.bridge} removed")
        for leftover in (self.machines_dir, self.state.path / SSH_DIR):
            if leftover.exists():
                remove_tree(leftover)
        for record in (MACHINES_JSON, SUPERVISORS_JSON):
            (self.state.path / record).unlink(missing_ok=True)
        return removed

    # ---- steps ---------------------------------------------------------------------------------------

    def _machine_dirs(self) -> list[str]:
        if not self.machines_dir.is_dir():
            return []
        return sorted(p.name for p in self.machines_dir.iterdir() if p.is_dir())

    def _clean_leftovers(self, progress: Progress, messages: list[str]) -> bool:
        """Undo what an interrupted run left: dead supervisors' mounts and cgroups, half-made machines."""
        cleaned = False
        for name in self._machine_dirs():
            files = self.files(name)
            kind = leftover_kind(
                made=files.ready.exists(),
                running=self.running(name),
                mounted=bool(mounts_under(files.dir)),
                has_cgroups=any(d.exists() for d in self._cgroup_dirs(name)),
            )
            if kind is None:
                continue
            progress(f"cleaning {kind} machine {name} left by an earlier run")
            messages.append(f"cleaned {kind} machine {name}")
            self._release(name)
            if kind == "half-made":
                remove_tree(files.dir)
            cleaned = True
        return cleaned

    def _make(self, machine: PlannedMachine, lower: Path, progress: Progress) -> None:
        files = self.files(machine.name)
        if files.dir.exists():
            remove_tree(files.dir)
        for directory in (files.upper, files.work, files.root, files.data):
            directory.mkdir(parents=True, exist_ok=True)
        files.dir.chmod(0o700)
        files.image.write_text(f"{lower}\n")
        self._mount(files)
        files.ready.write_text(f"{time.time()}\n")
        progress(f"machine {machine.name} made at {machine.address}")

    def _mount(self, files: MachineFiles) -> None:
        if mounts_under(files.root):
            return
        lower = Path(files.image.read_text().strip())
        if not lower.is_dir():
            raise KubeprovError(
                f"the base image of machine {files.dir.name} is gone ({lower})",
                "destroy the cluster and create it again",
            )
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", overlay_options(lower, files), str(files.root)],
            check=True, capture_output=True,
        )  # fmt: skip

    def _write_identity(self, machine: PlannedMachine, root: Path) -> None:
        """Name, address and login: rewritten at each start so they always match the plan and the key."""
        assert machine.address is not None
        (root / "etc/hostname").write_text(f"{machine.name}\n")
        (root / "etc/hosts").write_text(local_net.hosts_file(machine.name))
        network = root / local_net.NETWORK_FILE
        network.parent.mkdir(parents=True, exist_ok=True)
        network.write_text(local_net.networkd_file(machine.address, self.subnet))
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(ssh_dir / "authorized_keys", sshkeys.public_key_line(self.ssh_key) + "\n", 0o600)

    def _cgroup_dirs(self, name: str) -> list[Path]:
        files = self.files(name)
        recorded = [Path(p) for p in json.loads(files.cgroups.read_text())] if files.cgroups.exists() else []
        return recorded + [d for d in local_cgroups.planned_dirs(cgroup_leaf(name)) if d not in recorded]

    def _start(self, machine: PlannedMachine, progress: Progress) -> None:
        files = self.files(machine.name)
        self._mount(files)
        self._write_identity(machine, files.root)
        cgroups = local_cgroups.planned_dirs(cgroup_leaf(machine.name))
        local_cgroups.create(cgroups)
        atomic_write(files.cgroups, json.dumps([str(c) for c in cgroups]) + "\n")
        for marker in (STOP_REQUESTED, EXIT_CODE, NSPAWN_PID):
            (files.dir / marker).unlink(missing_ok=True)
        spec = {
            "dir": str(files.dir),
            "cgroups": [str(c) for c in cgroups],
            "argv": nspawn_argv(machine.name, files.root, self.bridge, files.data),
        }
        atomic_write(files.spec, json.dumps(spec, indent=2) + "\n")
        argv = [sys.executable, "-m", "kubeprov.providers.local_supervisor", str(files.spec)]
        with open(files.console, "ab") as console:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=console, stderr=console, start_new_session=True
            )
        self.supervisors.add(ProcessRecord(machine.name, proc.pid, str(files.spec)))
        progress(f"machine {machine.name} started")

    def _wait_ssh(self, machine: PlannedMachine, progress: Progress) -> None:
        assert machine.address is not None
        try:
            took = sshkeys.wait_for_ssh(
                machine.address, self.ssh_key, self.ssh_timeout, alive=lambda: self.running(machine.name)
            )
        except KubeprovError:
            tail = _tail(self.files(machine.name).console)
            raise KubeprovError(
                f"machine {machine.name} did not answer SSH at {machine.address}; its console ends with:\n{tail}",
                f"see {self.files(machine.name).console}; `kubeprov destroy` then create again if it persists",
            ) from None
        progress(f"machine {machine.name} answers SSH ({took:.1f}s)")

    def _stop(self, name: str) -> bool:
        """Orderly power-off, then force; returns whether the machine was running."""
        record = self._record(name)
        if record is None or not is_ours(record):
            return False
        files = self.files(name)
        files.dir.mkdir(parents=True, exist_ok=True)
        (files.dir / STOP_REQUESTED).touch()
        nspawn = _nspawn_pid(files)
        if nspawn is not None:
            _signal(nspawn, signal.SIGTERM)  # nspawn tells the machine's init to power off
        else:
            _signal(record.pid, signal.SIGTERM)
        if _wait_gone(record, min(POD_GRACE, self.stop_timeout)):
            return True
        # a pod's PID 1 ignoring SIGTERM holds the machine's shutdown (its init does not kill containers)
        if nspawn is not None:
            for pid in local_cgroups.nested_pids(self._cgroup_dirs(name), nspawn):
                _signal(pid, signal.SIGKILL)
        if _wait_gone(record, max(0.0, self.stop_timeout - POD_GRACE)):
            return True
        # still up: kill everything in the machine's cgroups
        for directory in self._cgroup_dirs(name):
            local_cgroups.kill_all(directory, exclude={record.pid, nspawn or -1})
        if _wait_gone(record, 10):
            return True
        for pid in (nspawn, record.pid):
            if pid is not None:
                _signal(pid, signal.SIGKILL)
        _wait_gone(record, 5)
        return True

    def _stop_orphans(self, name: str) -> None:
        """A machine whose supervisor died (killed, host crash) may still run: power it off, then kill."""
        files = self.files(name)
        cgroups = [d for d in self._cgroup_dirs(name) if d.exists()]
        nspawn = _nspawn_pid(files)
        if nspawn is not None:
            _signal(nspawn, signal.SIGTERM)
        deadline = time.monotonic() + (self.stop_timeout if nspawn is not None else 0)
        while any(local_cgroups.pids(d) for d in cgroups) and time.monotonic() < deadline:
            time.sleep(0.1)
        for directory in cgroups:
            local_cgroups.kill_all(directory, exclude=set())

    def _release(self, name: str) -> None:
        """Host resources of a stopped machine: its mounts and cgroups (and orphans of a dead supervisor)."""
        self._stop_orphans(name)
        files = self.files(name)
        if files.dir.exists():
            unmount_tree(files.dir)
        left = local_cgroups.remove(self._cgroup_dirs(name))
        if left:
            raise KubeprovError(
                f"cgroup {left[0]} of machine {name} still has processes", f"kill them (cat {left[0]}/cgroup.procs)"
            )


def _nspawn_pid(files: MachineFiles) -> int | None:
    try:
        pid = int((files.dir / NSPAWN_PID).read_text())
    except (OSError, ValueError):
        return None
    cmdline = _cmdline(pid)
    return pid if "systemd-nspawn" in cmdline and str(files.root) in cmdline else None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(record: ProcessRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_ours(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console output)"


def _remove_nspawn_runtime(name: str) -> None:
    """systemd-nspawn leaves a per-machine folder for mount propagation under /run."""
    for base in (Path("/run/systemd/nspawn/propagate"), Path("/run/systemd/nspawn/unix-export")):
        target = base / name
        if target.is_dir() and not mounts_under(target):
            shutil.rmtree(target, ignore_errors=True)
