"""Render every machine's tree into ``<state>/rendered/`` and say what changed, machine by machine."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kubeprov.machinefiles.control_plane import add_control_plane
from kubeprov.machinefiles.etcd import add_etcd
from kubeprov.machinefiles.load_balancer import add_load_balancer
from kubeprov.machinefiles.node import add_node
from kubeprov.machinefiles.plan import ClusterPlan
from kubeprov.machinefiles.registry import add_registry
from kubeprov.machinefiles.sources import Sources
from kubeprov.machinefiles.tree import MachineTree, write_tree


@dataclass
class RenderReport:
    directory: Path
    trees: dict[str, MachineTree] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def any_changed(self) -> bool:
        return any(self.changed.values())


def machine_trees(plan: ClusterPlan, src: Sources) -> dict[str, MachineTree]:
    trees = {m.name: MachineTree(m.name) for m in plan.machines}
    for machine in plan.etcd:
        add_etcd(trees[machine.name], plan, machine, src)
    for machine in plan.apiservers:
        add_control_plane(trees[machine.name], plan, machine, src)
    if plan.balancer is not None:
        add_load_balancer(trees[plan.balancer.name], plan)
    if plan.registry is not None:
        add_registry(trees[plan.registry.name], plan, plan.registry)
    for node in plan.nodes:
        add_node(trees[node.name], plan, node, src)
    return trees


def render_machines(plan: ClusterPlan, src: Sources, directory: Path) -> RenderReport:
    report = RenderReport(directory, machine_trees(plan, src))
    for name, tree in report.trees.items():
        report.changed[name] = write_tree(tree, directory / name)
    if directory.is_dir():
        for stale in directory.iterdir():
            if stale.is_dir() and stale.name not in report.trees:
                shutil.rmtree(stale)
    return report
