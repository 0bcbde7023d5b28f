"""The create phases that deal with machines: provision them, then check them over SSH."""

from __future__ import annotations

from rich.text import Text

from kubeprov.lifecycle.create_context import machines, provider, ref, save_machines
from kubeprov.phases import Context, PhaseResult
from kubeprov.stack import plan_machines


def _say(ctx: Context, line: str) -> None:
    ctx.console.print(Text(f"    {line}", style="dim"))


def provision(ctx: Context) -> PhaseResult:
    result = provider(ctx).provision(lambda line: _say(ctx, line))
    recorded = save_machines(ctx, result.machines)
    changed = result.changed or recorded
    return PhaseResult(changed=changed, message=f"{len(result.machines)} machines" if changed else "")


def plan_provision(ctx: Context) -> list[str]:
    planned = [f"{m.role} {m.name} ({m.address or 'address assigned by the provider'})"
               for m in plan_machines(ref(ctx).stack)]
    return planned + provider(ctx).plan()


def preflight(ctx: Context) -> PhaseResult:
    from kubeprov.preflight import run_preflight

    report = run_preflight(machines(ctx), lambda line: _say(ctx, line))
    for line in report.lines(("warning",)):
        _say(ctx, line)
    report.raise_if_failed()
    return PhaseResult(changed=False)


def plan_preflight(ctx: Context) -> list[str]:
    return ["OS and Python version, free ports, time skew, kernel features, disk and memory on every machine"]
