"""The state store: one folder per cluster holding everything kubeprov knows about it.

Layout of ``<root>/clusters/<name>/``::

    stack.yaml        copy of the stack file last applied
    pki/              CAs, leaf certificates and keys (keys 0600)
    kubeconfigs/      admin, controller manager, scheduler, proxy, one per kubelet
    inventory.json    machines and their addresses, as provisioned
    history.jsonl     append-only record of phases run, read to resume a command
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platformdirs import user_state_dir

from kubeprov.errors import KubeprovError
from kubeprov.state.atomic import append_line, atomic_write

ENV_STATE_DIR = "KUBEPROV_STATE_DIR"


def default_state_root() -> Path:
    """``$KUBEPROV_STATE_DIR`` or the user's XDG state folder (``~/.local/state/kubeprov``)."""
    env = os.environ.get(ENV_STATE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(user_state_dir("kubeprov"))


class StateLocked(KubeprovError):
    """Another kubeprov command holds the cluster's lock."""


class ClusterState:
    """One cluster's folder. All writes go through :func:`atomic_write`."""

    STACK = "stack.yaml"
    INVENTORY = "inventory.json"
    HISTORY = "history.jsonl"

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    @property
    def pki_dir(self) -> Path:
        return self.path / "pki"

    @property
    def kubeconfig_dir(self) -> Path:
        return self.path / "kubeconfigs"

    def exists(self) -> bool:
        return self.path.is_dir()

    def file(self, rel: str) -> Path:
        return self.path / rel

    def ensure(self) -> None:
        """Create the folder private to its owner: it holds keys and admin credentials."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, rel: str, data: bytes | str, mode: int = 0o644) -> Path:
        self.ensure()
        target = self.path / rel
        atomic_write(target, data, mode)
        return target

    def read_text(self, rel: str) -> str:
        return (self.path / rel).read_text()

    def save_stack(self, text: str) -> Path:
        return self.write(self.STACK, text)

    def save_inventory(self, inventory: dict[str, Any]) -> Path:
        return self.write(self.INVENTORY, json.dumps(inventory, indent=2, sort_keys=True) + "\n")

    def load_inventory(self) -> dict[str, Any] | None:
        target = self.path / self.INVENTORY
        if not target.exists():
            return None
        return json.loads(target.read_text())

    def append_history(self, record: dict[str, Any]) -> None:
        entry = {"time": time.time(), **record}
        append_line(self.path / self.HISTORY, json.dumps(entry, sort_keys=True))

    def history(self) -> list[dict[str, Any]]:
        """Every complete record; a torn last line from a crash is ignored."""
        target = self.path / self.HISTORY
        if not target.exists():
            return []
        records = []
        for line in target.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock so two commands never change one cluster at once."""
        self.ensure()
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateLocked(
                    f"cluster {self.name!r} is in use by another kubeprov command",
                    "wait for it to finish, then run this command again",
                ) from None
            yield
        finally:
            os.close(fd)


class StateStore:
    """The root folder holding one :class:`ClusterState` per cluster."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_state_root()

    def cluster(self, name: str) -> ClusterState:
        return ClusterState(self.root / "clusters" / name, name)

    def clusters(self) -> list[str]:
        base = self.root / "clusters"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())
