"""One machine's rendered tree: files with their modes plus the ordered services, written so that a
re-render that changes nothing touches nothing (the roles then report no change either)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubeprov.machinefiles import paths
from kubeprov.render import render
from kubeprov.state.atomic import atomic_write

GROUPS = ("etcd", "control-plane", "load-balancer", "node", "registry")


@dataclass
class Service:
    unit: str
    group: str
    files: list[str]
    health: dict[str, Any] | None = None
    oneshot: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.health is None:
            del data["health"]
        if not self.oneshot:
            del data["oneshot"]
        return data


@dataclass
class MachineTree:
    name: str
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def add(self, path: str, content: str | bytes, mode: int = 0o644) -> str:
        if not path.startswith("/"):
            raise ValueError(f"machine paths are absolute, not {path!r}")
        self.files[path] = (content.encode() if isinstance(content, str) else content, mode)
        return path

    def copy(self, path: str, source: Path, mode: int | None = None) -> str:
        """A file of the state store (a key keeps its 0600)."""
        return self.add(path, source.read_bytes(), mode if mode is not None else source.stat().st_mode & 0o777)

    def service(self, unit: str, group: str, description: str, exec_start: list[str], files: list[str], *,
                health: dict[str, Any] | None = None, after: list[str] | None = None, oneshot: bool = False,
                environment: dict[str, str] | None = None) -> None:
        if group not in GROUPS:
            raise ValueError(f"unknown service group {group!r}")
        unit_path = self.add(f"{paths.UNITS}/{unit}", render(
            "systemd-unit.service.j2", unit=unit, description=description, exec_start=exec_start,
            after=after or [], oneshot=oneshot, environment=environment or {}))
        self.services.append(Service(unit, group, [unit_path, *files], health, oneshot))

    def groups(self) -> list[str]:
        return [g for g in GROUPS if any(s.group == g for s in self.services)]


def write_tree(tree: MachineTree, directory: Path) -> list[str]:
    """Write ``directory/files/...`` and ``directory/services.json``; files no longer in the tree are removed.
    Returns the machine paths whose content or mode changed (added, changed or removed)."""
    root = directory / "files"
    changed: list[str] = []
    for path, (content, mode) in sorted(tree.files.items()):
        target = root / path.lstrip("/")
        if target.is_file() and target.read_bytes() == content:
            if target.stat().st_mode & 0o777 != mode:
                os.chmod(target, mode)
                changed.append(path)
            continue
        atomic_write(target, content, mode)
        changed.append(path)
    if root.is_dir():
        wanted = {root / p.lstrip("/") for p in tree.files}
        for existing in sorted(root.rglob("*"), reverse=True):
            if existing.is_file() and existing not in wanted:
                existing.unlink()
                changed.append("/" + existing.relative_to(root).as_posix())
            elif existing.is_dir() and not any(existing.iterdir()):
                existing.rmdir()
    services = json.dumps([s.to_json() for s in tree.services], indent=2) + "\n"
    target = directory / "services.json"
    if not target.is_file() or target.read_text() != services:
        atomic_write(target, services)
    return changed


def remove_tree(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
