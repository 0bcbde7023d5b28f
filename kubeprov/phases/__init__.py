"""The phase runner: every lifecycle command is an ordered tree of named, idempotent phases.

Why phases instead of one function per command:

- ``--only`` / ``--skip`` let an operator rerun or bypass one step (like ``kubeadm init phase``);
- a command that stopped half-way resumes where it stopped: leaves the interrupted run recorded
  as done are not run again, so a retry after fixing the cause is quick;
- ``--dry-run`` asks every phase what it would change instead of changing it (like kops' plan).

The history format and the resume rules are described in :mod:`kubeprov.phases.history`.

Callers hold ``ClusterState.lock()`` around a run; the runner does not take it (flock is not
re-entrant across file descriptors, so locking twice in one process would fail).
"""

from kubeprov.phases.model import (
    Context,
    Phase,
    PhaseFailed,
    PhaseFn,
    PhaseOutcome,
    PhaseResult,
    RunOptions,
    RunReport,
    Status,
)
from kubeprov.phases.runner import PhaseRunner

__all__ = [
    "Context",
    "Phase",
    "PhaseFailed",
    "PhaseFn",
    "PhaseOutcome",
    "PhaseResult",
    "PhaseRunner",
    "RunOptions",
    "RunReport",
    "Status",
]
