"""`kubeprov destroy`: the provider removes the machines and its host resources, then the cluster's state
folder goes (PKI, kubeconfigs, rendered files, history), so a later create starts from nothing."""

from __future__ import annotations

import shutil

from rich.console import Console
from rich.text import Text

from kubeprov.lifecycle.cluster import ClusterRef
from kubeprov.providers import provider_for


def destroy(ref: ClusterRef, console: Console) -> list[str]:
    if not ref.state.exists():
        console.print(Text(f"cluster {ref.stack.name!r} has no state: nothing to destroy", style="dim"))
        return []
    with ref.state.lock():
        removed = provider_for(ref.stack, ref.state).destroy(
            lambda line: console.print(Text(f"    {line}", style="dim")))
        for child in sorted(ref.state.path.iterdir()):
            if child.name == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    shutil.rmtree(ref.state.path, ignore_errors=True)
    removed.append(f"state folder {ref.state.path}")
    return removed
