"""Walks one command's phase tree: selection, resume, dry run, failure handling."""

from __future__ import annotations

import asyncio
import difflib
import inspect
import re
import time
import uuid
from collections.abc import Iterable

from kubeprov.errors import KubeprovError, UsageError
from kubeprov.phases.history import HistoryWriter, ResumePoint, find_resume
from kubeprov.phases.model import (
    NOT_SELECTED_MESSAGE,
    SKIPPED_MESSAGE,
    Context,
    Phase,
    PhaseFailed,
    PhaseNode,
    PhaseOutcome,
    PhaseResult,
    RunOptions,
    RunReport,
)
from kubeprov.phases.output import Progress

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KubeprovError):
        return exc.message
    return str(exc) or type(exc).__name__


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


class PhaseRunner:
    """Runs one command's phase tree against a :class:`Context`, recording progress for resume.

    Phases run one at a time in tree order. A sync ``run`` is called on the event loop's thread
    (phases never overlap, so blocking is harmless and thread-unsafe clients stay safe).
    """

    def __init__(self, command: str, phases: list[Phase], *, fingerprint: str = "") -> None:
        self.command = command
        self.phases = phases
        self.fingerprint = fingerprint
        self._nodes: list[PhaseNode] = []
        self._flatten(phases, "", 0)

    def _flatten(self, phases: list[Phase], prefix: str, depth: int) -> None:
        """Check the tree once, up front: a bad tree is a programming error, not a user one."""
        seen: set[str] = set()
        for phase in phases:
            if not _NAME.match(phase.name):
                raise ValueError(f"phase name {phase.name!r} is not a DNS label (a-z, 0-9, '-')")
            if phase.name in seen:
                raise ValueError(f"duplicate phase {prefix}{phase.name}")
            seen.add(phase.name)
            path = prefix + phase.name
            if phase.children and (phase.run is not None or phase.plan is not None):
                raise ValueError(f"phase {path} has children, so it cannot have run or plan")
            if not phase.children and phase.run is None:
                raise ValueError(f"phase {path} needs run or children")
            self._nodes.append(PhaseNode(phase, path, depth))
            self._flatten(phase.children, path + "/", depth + 1)

    def paths(self) -> list[str]:
        """Every phase path, groups included, in tree order ("control-plane", "control-plane/etcd")."""
        return [n.path for n in self._nodes]

    def leaves(self) -> list[str]:
        """The paths of phases that do work (no children), in tree order."""
        return [n.path for n in self._nodes if not n.phase.children]

    def _check_names(self, names: Iterable[str], flag: str) -> list[str]:
        """Normalise ``--only``/``--skip`` values (comma lists allowed) and reject unknown paths."""
        valid = self.paths()
        out: list[str] = []
        for raw in names:
            for name in raw.split(","):
                name = name.strip().strip("/")
                if not name:
                    continue
                if name not in valid:
                    guesses = [p for p in valid if p.endswith("/" + name)]
                    guesses += [g for g in difflib.get_close_matches(name, valid, n=3) if g not in guesses]
                    guess = f"did you mean {' or '.join(guesses)}? " if guesses else ""
                    raise UsageError(
                        f"unknown phase {name!r} in {flag}",
                        f"{guess}valid phases of `{self.command}`: {', '.join(valid)}",
                    )
                out.append(name)
        return out

    def run(self, ctx: Context, options: RunOptions) -> RunReport:
        """Blocking convenience for callers outside an event loop."""
        return asyncio.run(self.arun(ctx, options))

    async def arun(self, ctx: Context, options: RunOptions) -> RunReport:
        """Run (or plan) the selected phases; raises :class:`PhaseFailed` at the first failure."""
        only = self._check_names(options.only, "--only")
        skip = self._check_names(options.skip, "--skip")
        dry = options.dry_run or ctx.dry_run
        ctx.dry_run = dry
        resume = None if options.fresh else find_resume(ctx.state, self.command, self.fingerprint)
        report = RunReport(self.command, uuid.uuid4().hex, resume.run_id if resume else None, dry_run=dry)
        out = Progress(ctx.console)
        history = HistoryWriter(
            ctx.state,
            command=self.command,
            run_id=report.run_id,
            fingerprint=self.fingerprint,
            resumes=report.resumed_from,
            enabled=not dry,
        )

        in_scope = {n.path for n in self._nodes if not only or _under(n.path, only)}
        for path in list(in_scope):  # a leaf in --only brings its ancestors' header lines
            parts = path.split("/")
            in_scope.update("/".join(parts[:i]) for i in range(1, len(parts)))

        already = len(resume.done & set(self.leaves())) if resume else 0
        if resume and already:
            verb = "would resume" if dry else "resuming"
            out.note(
                f"{self.command}: {verb} run {resume.run_id[:8]}, "
                f"{already} phases already done (--fresh runs all)"
            )
        elif dry:
            out.note(f"{self.command} (dry run): nothing will be changed")

        started = time.monotonic()
        try:
            await self._walk(ctx, report, out, history, in_scope, skip, resume)
        finally:
            report.seconds = time.monotonic() - started
        if not dry and all(r.status in ("done", "resumed") for r in report.results.values()):
            history.event(None, "completed")
        out.summary(report)
        return report

    async def _walk(
        self,
        ctx: Context,
        report: RunReport,
        out: Progress,
        history: HistoryWriter,
        in_scope: set[str],
        skip: list[str],
        resume: ResumePoint | None,
    ) -> None:
        """Visit the tree in order: headers for groups; run, resume, skip or plan each leaf."""
        for node in self._nodes:
            path, phase = node.path, node.phase
            if path not in in_scope:
                if not phase.children:
                    report.results[path] = PhaseOutcome(path, "skipped", message=NOT_SELECTED_MESSAGE)
                continue
            if phase.children:
                out.header(node)
                continue
            if _under(path, skip):
                report.results[path] = PhaseOutcome(path, "skipped", message=SKIPPED_MESSAGE)
                history.event(path, "skipped")
                out.leaf(node, report.results[path])
            elif resume and path in resume.done and not phase.always:
                msg = f"done in run {resume.run_id[:8]}"
                report.results[path] = PhaseOutcome(path, "resumed", message=msg)
                history.event(path, "resumed", **{"from": resume.run_id})
                out.leaf(node, report.results[path])
            elif report.dry_run:
                report.results[path] = PhaseOutcome(path, "planned", message=phase.help)
                out.leaf(node, report.results[path], self._plan(ctx, node, report))
            else:
                report.results[path] = await self._run_leaf(ctx, node, out, history, report)

    def _plan(self, ctx: Context, node: PhaseNode, report: RunReport) -> list[str]:
        phase = node.phase
        if phase.plan is None:
            return [phase.help]
        try:
            return [str(line) for line in phase.plan(ctx)]
        except Exception as exc:
            raise self._failed(node.path, exc, report) from exc

    def _failed(self, path: str, exc: BaseException, report: RunReport) -> PhaseFailed:
        """A phase's own KubeprovError knows the fix best: keep its hint and exit code."""
        hint = exc.hint if isinstance(exc, KubeprovError) else None
        failed = PhaseFailed(self.command, path, _reason(exc), hint)
        if isinstance(exc, KubeprovError):
            failed.exit_code = exc.exit_code
        failed.report = report
        return failed

    async def _run_leaf(
        self, ctx: Context, node: PhaseNode, out: Progress, history: HistoryWriter, report: RunReport
    ) -> PhaseOutcome:
        path, run = node.path, node.phase.run
        assert run is not None  # checked in __init__
        history.event(path, "started")
        t0 = time.monotonic()
        try:
            with out.running(node):
                value = run(ctx)
                if inspect.isawaitable(value):
                    value = await value
        except (KeyboardInterrupt, asyncio.CancelledError):
            self._record_failure(node, "interrupted", t0, out, history, report)
            raise
        except Exception as exc:
            self._record_failure(node, _reason(exc), t0, out, history, report)
            raise self._failed(path, exc, report) from exc
        result = value if isinstance(value, PhaseResult) else PhaseResult()
        outcome = PhaseOutcome(path, "done", result.changed, result.message, time.monotonic() - t0)
        history.event(path, "done", changed=result.changed, message=result.message, seconds=outcome.seconds)
        out.leaf(node, outcome)
        return outcome

    @staticmethod
    def _record_failure(
        node: PhaseNode, reason: str, t0: float, out: Progress, history: HistoryWriter, report: RunReport
    ) -> None:
        outcome = PhaseOutcome(node.path, "failed", message=reason, seconds=time.monotonic() - t0)
        report.results[node.path] = outcome
        history.event(node.path, "failed", changed=False, message=reason, seconds=outcome.seconds)
        out.leaf(node, outcome)
