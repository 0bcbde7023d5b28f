"""The create phases that put software on machines: render each machine's tree, then run the install
playbooks (kubeprov/install) that copy it and start the units, one playbook per phase."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text

from kubeprov.lifecycle.create_context import machines, plan, ref, rendered_dir, sources
from kubeprov.machinefiles import render_machines
from kubeprov.machinefiles.render import machine_trees
from kubeprov.phases import Context, PhaseResult


def render(ctx: Context) -> PhaseResult:
    report = render_machines(plan(ctx), sources(ctx), rendered_dir(ctx))
    changed = {name: paths for name, paths in report.changed.items() if paths}
    for name, paths in changed.items():
        ctx.console.print(Text(f"    {name}: {len(paths)} files changed", style="dim"))
    return PhaseResult(changed=bool(changed),
                       message=f"{len(changed)} machines changed" if changed else "")


def plan_render(ctx: Context) -> list[str]:
    try:
        trees = machine_trees(plan(ctx), sources(ctx))
    except Exception:  # before machines and PKI exist there is nothing to show yet
        return [f"configs, certificates and units for every machine into {rendered_dir(ctx)}"]
    return [f"{name}: {', '.join(s.unit for s in tree.services) or 'no services'}" for name, tree in trees.items()]


def install(*playbooks: str) -> Callable[[Context], PhaseResult]:
    def run(ctx: Context) -> PhaseResult:
        from kubeprov.install.runner import run_playbook

        changed = 0
        for name in playbooks:
            report = run_playbook(name, machines(ctx), rendered_dir=rendered_dir(ctx),
                                  private_dir=ref(ctx).state.path / "ansible",
                                  progress=lambda line: ctx.console.print(Text(f"    {line}", style="dim")))
            changed += report.changed
        return PhaseResult(changed=changed > 0, message=f"{changed} changes" if changed else "")

    return run


def plan_playbook(*playbooks: str) -> Callable[[Context], list[str]]:
    def plan_(ctx: Context) -> list[str]:
        return [f"run the {name} playbook on the machines that need it" for name in playbooks]

    return plan_
