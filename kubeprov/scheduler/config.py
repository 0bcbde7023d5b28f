"""The scheduler's one config file (YAML)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeprov.errors import KubeprovError


@dataclass
class SchedulerConfig:
    kubeconfig: str = ""
    scheduler_name: str = "default-scheduler"
    leader_elect: bool = True
    lease_name: str = "kube-scheduler"
    lease_namespace: str = "kube-system"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # /healthz, /readyz and /metrics (0 = a free port, see Scheduler.health_port)
    health_port: int = 10259
    health_bind_address: str = "127.0.0.1"
    # bindings in flight at once while the next pods are scheduled
    parallel_binds: int = 16
    percentage_of_nodes_to_score: int = 0
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 10.0
    log_level: str = "info"

    @classmethod
    def load(cls, path: Path) -> SchedulerConfig:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeprovError(f"cannot read scheduler config {path}: {exc}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> SchedulerConfig:
        if not isinstance(raw, dict):
            raise KubeprovError(f"{source}: expected a mapping of settings")
        known = {f.name for f in dataclasses.fields(cls)}
        names = {str(k).replace("-", "_"): v for k, v in raw.items()}
        unknown = sorted(set(names) - known)
        if unknown:
            raise KubeprovError(f"{source}: unknown settings {', '.join(unknown)}",
                                f"known settings: {', '.join(sorted(known))}")
        config = cls(**names)
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        if not self.scheduler_name:
            raise KubeprovError(f"{source}: scheduler_name must not be empty")
        if not isinstance(self.health_port, int) or not 0 <= self.health_port <= 65535:
            raise KubeprovError(f"{source}: health_port must be a port number (0 for any free port)")
        if self.parallel_binds < 1:
            raise KubeprovError(f"{source}: parallel_binds must be at least 1")
        if self.leader_elect:
            if not self.lease_name or not self.lease_namespace:
                raise KubeprovError(f"{source}: lease_name and lease_namespace are needed for leader election")
            if not (self.lease_duration > self.renew_deadline > 1.2 * self.retry_period > 0):
                raise KubeprovError(f"{source}: need lease_duration > renew_deadline > 1.2 * retry_period > 0")

    def dump(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=True)
