"""Progress lines for a run: a live spinner on a terminal, plain final lines everywhere else."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from rich.console import Console
from rich.text import Text

from kubeprov.phases.model import SKIPPED_MESSAGE, PhaseNode, PhaseOutcome, RunReport

# status -> (mark on a UTF-8 console, ASCII fallback, style)
_MARKS: dict[str, tuple[str, str, str]] = {
    "done": ("✓", "+", "green"),
    "failed": ("✗", "x", "bold red"),
    "resumed": ("↷", "~", "cyan"),
    "skipped": ("-", "-", "dim"),
    "planned": ("•", "*", "blue"),
}


class Progress:
    """Every line is a rich ``Text`` so phase messages are printed literally, never as markup."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.utf = (console.encoding or "").lower().replace("-", "").startswith("utf")

    @staticmethod
    def _indent(node: PhaseNode) -> str:
        return "  " * (node.depth + 1)

    def note(self, text: str) -> None:
        self.console.print(Text(text, style="dim"))

    def header(self, node: PhaseNode) -> None:
        self.console.print(Text.assemble(self._indent(node), (node.path, "bold")))

    def running(self, node: PhaseNode) -> AbstractContextManager[Any]:
        """A spinner while the phase runs, only on a terminal, so logs hold no control codes."""
        if not self.console.is_terminal or self.console.is_dumb_terminal:
            return nullcontext()
        return self.console.status(Text(f"{node.path}: {node.phase.help}"))

    def leaf(self, node: PhaseNode, outcome: PhaseOutcome, plan: list[str] | None = None) -> None:
        utf_mark, ascii_mark, style = _MARKS[outcome.status]
        message = outcome.message
        if outcome.status == "done" and not message:
            message = "done" if outcome.changed else "no change"
        elif outcome.status == "resumed":
            message = f"resumed ({message})"
        elif outcome.status == "failed":
            message = f"failed: {message}"
        elif outcome.status == "planned":
            message = ""  # the plan lines follow
        parts: list[str | tuple[str, str]] = [
            self._indent(node),
            (utf_mark if self.utf else ascii_mark, style),
            " ",
            (node.path, "bold" if outcome.status in ("done", "failed") else ""),
        ]
        if message:
            parts += ["  ", (message, style if outcome.status == "failed" else "")]
        if outcome.status in ("done", "failed"):
            parts.append((f"  ({outcome.seconds:.1f}s)", "dim"))
        self.console.print(Text.assemble(*parts))
        for line in plan or []:
            self.console.print(Text.assemble(self._indent(node), "    ", line))

    def summary(self, report: RunReport) -> None:
        """``create: 9 phases, 3 changed, 12.3s``; counts resumed and skipped phases when any."""
        results = list(report.results.values())
        if report.dry_run:
            planned = sum(r.status == "planned" for r in results)
            text = f"{report.command} (dry run): {planned} phases planned, nothing changed"
        else:
            ran = sum(r.status == "done" for r in results)
            changed = sum(r.status == "done" and r.changed for r in results)
            text = f"{report.command}: {ran} phases, {changed} changed"
            resumed = sum(r.status == "resumed" for r in results)
            skipped = sum(r.message == SKIPPED_MESSAGE for r in results)
            if resumed:
                text += f", {resumed} resumed"
            if skipped:
                text += f", {skipped} skipped"
            text += f", {report.seconds:.1f}s"
        self.console.print(Text(text, style="bold"))
