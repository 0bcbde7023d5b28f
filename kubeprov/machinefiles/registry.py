"""The cluster's own image registry (Debian's docker-registry), for clusters whose machines cannot reach
public registries; the create command seeds it with the demo and test images."""

from __future__ import annotations

from kubeprov.machinefiles import paths
from kubeprov.machinefiles.plan import ClusterPlan
from kubeprov.machinefiles.tree import MachineTree
from kubeprov.providers.base import Machine
from kubeprov.render import render

CONFIG = f"{paths.ETC}/registry.yml"


def add_registry(tree: MachineTree, plan: ClusterPlan, machine: Machine) -> None:
    config = tree.add(CONFIG, render("registry.yml.j2", root=f"{paths.DATA}/registry", address=machine.address,
                                     port=paths.REGISTRY_PORT))
    tree.service("kubeprov-registry.service", "registry", "image registry",
                 [f"{paths.REGISTRY_BINARY} serve {config}"], [config],
                 health={"url": f"http://{machine.address}:{paths.REGISTRY_PORT}/v2/"})
