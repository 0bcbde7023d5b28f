"""What the create phases share: the cluster, its provider, the provisioned machines and the plan of who
runs what. Each is made on first use, so any phase can run alone (``--only``) or after a resume."""

from __future__ import annotations

import json
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.lifecycle.cluster import ClusterRef
from kubeprov.machinefiles import ClusterPlan, plan_cluster
from kubeprov.machinefiles.sources import Sources
from kubeprov.phases import Context
from kubeprov.providers import provider_for
from kubeprov.providers.base import Machine, Provider


def ref(ctx: Context) -> ClusterRef:
    return ctx.data["cluster"]


def provider(ctx: Context) -> Provider:
    if "provider" not in ctx.data:
        ctx.data["provider"] = provider_for(ref(ctx).stack, ref(ctx).state)
    return ctx.data["provider"]


def machines(ctx: Context) -> list[Machine]:
    """The machines as provisioned (the inventory the machines phase saved)."""
    if "machines" not in ctx.data:
        inventory = ref(ctx).state.load_inventory() or {}
        listed = [Machine.from_json(m) for m in inventory.get("machines", []) if "role" in m]
        if not listed:
            raise KubeprovError(f"cluster {ref(ctx).stack.name!r} has no machines yet",
                                "run `kubeprov create` without --only/--skip so its machines phase runs first")
        ctx.data["machines"] = listed
    return ctx.data["machines"]


def save_machines(ctx: Context, provisioned: list[Machine]) -> bool:
    """Record the machines in the inventory; True when it changed."""
    state = ref(ctx).state
    inventory = {"machines": [m.to_json() for m in provisioned]}
    ctx.data["machines"] = provisioned
    ctx.data.pop("plan", None)
    if state.load_inventory() == json.loads(json.dumps(inventory)):
        return False
    state.save_inventory(inventory)
    return True


def plan(ctx: Context) -> ClusterPlan:
    if "plan" not in ctx.data:
        ctx.data["plan"] = plan_cluster(ref(ctx).stack, machines(ctx))
    return ctx.data["plan"]


def sources(ctx: Context) -> Sources:
    state = ref(ctx).state
    return Sources(state.pki_dir, state.kubeconfig_dir)


def rendered_dir(ctx: Context) -> Path:
    return ref(ctx).state.path / "rendered"


def admin_kubeconfig(ctx: Context) -> Path:
    return ref(ctx).state.kubeconfig_dir / "admin.conf"
