"""Run one of our playbooks with ansible-runner and report per-host counts, progress and failures.

Each run gets a private data dir (inventory, ansible.cfg, artifacts) under the folder the caller gives,
normally the cluster's state folder, so a failed run can be inspected afterwards. Host keys are not
checked (``UserKnownHostsFile=/dev/null``): local machines regenerate theirs on every re-create at the
same address, and the provider already decided which address is the machine.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from kubeprov.errors import KubeprovError
from kubeprov.install.events import TaskFailure, progress_line, task_failure
from kubeprov.install.inventory import Connection, build_inventory
from kubeprov.install.wheelhouse import Wheelhouse, build_wheelhouse
from kubeprov.providers.base import Machine

Progress = Callable[[str], None]
PLAYBOOKS = ("common", "etcd", "control-plane", "load-balancer", "node", "registry")
ARTIFACTS_KEPT = 10


@dataclass
class HostCounts:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class InstallReport:
    """What one playbook run did, per host."""

    playbook: str
    hosts: dict[str, HostCounts] = field(default_factory=dict)
    artifacts: Path | None = None

    @property
    def changed(self) -> int:
        return sum(counts.changed for counts in self.hosts.values())


def install_data_dir() -> Path:
    """Where the playbooks and roles ship inside the package."""
    return Path(str(files("kubeprov.install")))


def playbook_path(name: str) -> Path:
    """A packaged playbook by name (``etcd``), or any ``.yml`` path (tests bring their own)."""
    if name.endswith((".yml", ".yaml")):
        path = Path(name)
    else:
        if name not in PLAYBOOKS:
            raise KubeprovError(f"There is no install playbook named {name!r}.", f"use one of {', '.join(PLAYBOOKS)}")
        path = install_data_dir() / "playbooks" / f"{name}.yml"
    if not path.is_file():
        raise KubeprovError(f"Install playbook {path} is missing.", "reinstall kubeprov: its package data is broken")
    return path


def ansible_cfg(forks: int, roles_path: Sequence[Path]) -> str:
    """Settings for quiet, fast SSH runs: pipelining, one ControlPersist connection per host, no retry files."""
    roles = ":".join(str(p) for p in [*roles_path, install_data_dir() / "roles"])
    return "\n".join([
        "[defaults]",
        f"forks = {max(1, forks)}",
        f"roles_path = {roles}",
        "retry_files_enabled = False",
        "host_key_checking = False",
        "gathering = explicit",
        "deprecation_warnings = False",
        "localhost_warning = False",
        "interpreter_python = auto_silent",
        "timeout = 15",
        "",
        "[ssh_connection]",
        "pipelining = True",
        "ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null"
        " -o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR",
        "",
    ])


def ansible_playbook_binary() -> str:
    """The ansible-playbook next to our interpreter: the venv's bin dir need not be on PATH."""
    candidate = Path(sys.executable).parent / "ansible-playbook"
    if candidate.exists():
        return str(candidate)
    raise KubeprovError(
        "ansible-playbook is not installed next to kubeprov's Python.",
        "install kubeprov with its install extra: pip install 'kubeprov[install]'",
    )


def prepare_private_dir(
    private_dir: Path, inventory: Mapping[str, Any], forks: int, roles_path: Sequence[Path]
) -> Path:
    """Write inventory and ansible.cfg; returns the ansible.cfg path."""
    (private_dir / "inventory").mkdir(parents=True, exist_ok=True, mode=0o700)
    private_dir.chmod(0o700)
    (private_dir / "inventory" / "hosts.json").write_text(json.dumps(inventory, indent=1))
    cfg = private_dir / "ansible.cfg"
    cfg.write_text(ansible_cfg(forks, roles_path))
    return cfg


def failure_error(failure: TaskFailure, machines: Mapping[str, Machine], artifacts: Path | None) -> KubeprovError:
    """One sentence naming host, task and Ansible's message; unreachable hosts name what was tried."""
    where = f" (full log: {artifacts})" if artifacts else ""
    if failure.unreachable:
        machine = machines.get(failure.host)
        target = (f"{machine.ssh_user}@{machine.address} port {machine.ssh_port} with key {machine.ssh_key}"
                  if machine else failure.host)
        return KubeprovError(
            f"Machine {failure.host} cannot be reached over SSH ({target}): {failure.message}",
            "check that the machine is running and accepts that key, then re-run",
        )
    task = f"{failure.role}: {failure.task}" if failure.role else failure.task
    return KubeprovError(f"Installing on {failure.host} failed at task '{task}': {failure.message}{where}",
                         "fix the cause and re-run; finished steps are skipped")


def host_counts(stats: Mapping[str, Mapping[str, int]] | None) -> dict[str, HostCounts]:
    stats = stats or {}
    hosts: dict[str, HostCounts] = {}
    for key, attr in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"), ("dark", "unreachable"),
                      ("skipped", "skipped")):
        for host, count in (stats.get(key) or {}).items():
            setattr(hosts.setdefault(host, HostCounts()), attr, count)
    return hosts


def run_playbook(
    name: str,
    machines: Sequence[Machine],
    rendered_dir: Path,
    private_dir: Path,
    progress: Progress = lambda line: None,
    *,
    wheelhouse: Wheelhouse | None = None,
    limit: Sequence[str] = (),
    connection: Connection = "ssh",
    extra_vars: Mapping[str, Any] | None = None,
    roles_path: Sequence[Path] = (),
) -> InstallReport:
    """Run playbook ``name`` on ``machines`` (optionally only the hosts in ``limit``); raise on any failure.

    ``common`` needs a wheelhouse: without one it builds (or takes from the cache) the current source's.
    """
    import ansible_runner  # deferred: importing it costs ~0.3 s and most commands never install

    path = playbook_path(name)
    if not machines:
        return InstallReport(playbook=path.stem)
    if wheelhouse is None and name == "common":  # the software role installs from it
        wheelhouse = build_wheelhouse(progress)
    inventory = build_inventory(machines, rendered_dir, wheelhouse, connection, extra_vars)
    cfg = prepare_private_dir(private_dir, inventory, len(machines), roles_path)
    failures: dict[str, TaskFailure] = {}

    def on_event(event: dict[str, Any]) -> bool:
        line = progress_line(event)
        if line:
            progress(line)
        failure = task_failure(event)
        if failure:
            failures[failure.host] = failure
        return True

    ansible_playbook_binary()  # fail early with a clear message
    env = {
        "ANSIBLE_CONFIG": str(cfg),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    result = ansible_runner.run(
        private_data_dir=str(private_dir),
        playbook=str(path),
        inventory=str(private_dir / "inventory" / "hosts.json"),
        limit=",".join(limit) or None,
        envvars=env,
        quiet=True,
        event_handler=on_event,
        rotate_artifacts=ARTIFACTS_KEPT,
        forks=max(1, len(machines)),
    )
    artifacts = Path(result.config.artifact_dir) if getattr(result, "config", None) else None
    report = InstallReport(playbook=path.stem, hosts=host_counts(result.stats), artifacts=artifacts)
    by_name = {m.name: m for m in machines}
    if failures:
        raise failure_error(next(iter(failures.values())), by_name, artifacts)
    if result.rc != 0 or result.status != "successful":
        raise KubeprovError(
            f"Install playbook {path.stem} did not finish ({result.status}, exit {result.rc}): {_tail(result)}",
            f"see {artifacts}" if artifacts else None,
        )
    return report


def _tail(result: Any, lines: int = 5) -> str:
    """The last lines Ansible printed, for failures that are not tied to a task (syntax errors)."""
    try:
        text = result.stdout.read()
    except Exception:  # best effort: the error must be raised even without Ansible's output
        return "no output"
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " ".join(kept) or "no output"
