"""The scheduler's one config file (YAML)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import yaml

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError


@dataclass
class SchedulerConfig(ComponentConfig):
    what: ClassVar[str] = "scheduler"

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
