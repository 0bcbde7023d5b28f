"""What every provider hands to the installer: machines it can reach over SSH, and the operations the
lifecycle needs (provision, power, destroy). Lifecycle code depends on this protocol only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubeprov.stack.machines import MachineRole

#: progress callback: one short line per step ("machine local-cp-1 started")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Machine:
    """A provisioned machine as the installer reaches it."""

    name: str
    role: MachineRole
    address: str
    ssh_port: int = 22
    ssh_user: str = "root"
    ssh_key: Path = Path("~/.ssh/id_ed25519")  # private key, expanded by the provider
    become: bool = False
    pool: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ssh_key"] = str(self.ssh_key)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Machine:
        return cls(**{**data, "ssh_key": Path(data["ssh_key"])})


@dataclass
class ProvisionResult:
    machines: list[Machine]
    changed: bool
    messages: list[str] = field(default_factory=list)


class Provider(Protocol):
    """Idempotent: ``provision`` on a finished cluster changes nothing and says so (``changed=False``)."""

    def plan(self) -> list[str]:
        """What ``provision`` would do, one line per action (``--dry-run``)."""
        ...

    def provision(self, progress: Progress) -> ProvisionResult:
        """Create and start every machine of the stack that is missing or stopped; wait until SSH answers."""
        ...

    def machines(self) -> list[Machine]:
        """The machines as provisioned (empty before ``provision``)."""
        ...

    def power_off(self, name: str, progress: Progress) -> None:
        ...

    def power_on(self, name: str, progress: Progress) -> None:
        ...

    def destroy(self, progress: Progress) -> list[str]:
        """Remove every machine and host resource; returns what was removed. Safe to re-run."""
        ...
