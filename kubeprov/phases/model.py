"""The phase tree and what a run reports: plain dataclasses shared by runner, history and output."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console

from kubeprov.cli.output import make_console
from kubeprov.errors import KubeprovError
from kubeprov.state.store import ClusterState

Status = Literal["done", "skipped", "resumed", "failed", "planned"]

SKIPPED_MESSAGE = "skipped (--skip)"
NOT_SELECTED_MESSAGE = "not selected"


@dataclass
class PhaseResult:
    """What a phase did; ``changed=False`` lets a re-run on a finished cluster say "no change"."""

    changed: bool = True
    message: str = ""


@dataclass
class Context:
    """Shared by every phase of one run. Commands subclass it (``@dataclass(kw_only=True)``) or use ``data``.

    ``dry_run`` is set to True by the runner during a dry run so ``plan`` callables can see it.
    """

    state: ClusterState | None = None
    dry_run: bool = False
    console: Console = field(default_factory=make_console)
    data: dict[str, Any] = field(default_factory=dict)


PhaseFn = Callable[[Context], PhaseResult | None | Awaitable[PhaseResult | None]]


@dataclass
class Phase:
    """A named step: a leaf with ``run`` (and optionally ``plan``) or a group with ``children``."""

    name: str
    help: str
    run: PhaseFn | None = None
    plan: Callable[[Context], list[str]] | None = None
    children: list[Phase] = field(default_factory=list)
    always: bool = False  # rerun even when resuming a run that finished it (wait-* gates, checks)


@dataclass
class PhaseNode:
    """A phase placed in its tree: the path used by ``--only``/``--skip`` and the history."""

    phase: Phase
    path: str
    depth: int


@dataclass
class RunOptions:
    """What the operator asked for on the command line."""

    only: list[str] = field(default_factory=list)
    skip: list[str] = field(default_factory=list)
    dry_run: bool = False
    fresh: bool = False


@dataclass
class PhaseOutcome:
    """How one leaf phase ended in this run."""

    path: str
    status: Status
    changed: bool = False
    message: str = ""
    seconds: float = 0.0


@dataclass
class RunReport:
    """Every leaf phase's outcome in tree order; leaves outside ``--only`` are "skipped" too."""

    command: str
    run_id: str
    resumed_from: str | None = None
    dry_run: bool = False
    results: dict[str, PhaseOutcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.results.values())

    def with_status(self, status: Status) -> list[str]:
        """Paths of the leaves that ended with ``status``, in tree order."""
        return [p for p, r in self.results.items() if r.status == status]


class PhaseFailed(KubeprovError):
    """A phase raised; the run stopped there and the next run of the command resumes at it."""

    def __init__(self, command: str, path: str, reason: str, hint: str | None = None) -> None:
        generic = f"fix the cause and run `kubeprov {command}` again; completed phases are skipped"
        super().__init__(f"phase {path} failed: {reason}", hint or generic)
        self.command = command
        self.path = path
        self.reason = reason
        self.report: RunReport | None = None  # what ran before the failure
