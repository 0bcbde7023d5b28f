"""`kubeprov create`: turn a stack file into a running cluster, as resumable named phases.

Order: stack, machines, preflight, pki, render, install, etcd, wait-etcd, control-plane, wait-apiservers,
bootstrap, nodes, wait-nodes, addons, kubeconfig. Preflight runs once the machines answer SSH (a local
stack's machines only exist after the machines phase). Every phase is idempotent: on a finished cluster
each one reports no change. Render and the install playbooks run again even when resuming: they are
cheap when nothing changed, and a resumed run must still carry what changed since (a fixed template,
a new kubeprov version) to the machines.
"""

from __future__ import annotations

from rich.console import Console

from kubeprov.lifecycle import create_cluster, create_install, create_machines
from kubeprov.lifecycle.cluster import ClusterRef
from kubeprov.lifecycle.create_context import ref
from kubeprov.lifecycle.pki_plan import pki_spec_for
from kubeprov.phases import Context, Phase, PhaseResult, PhaseRunner, RunOptions, RunReport
from kubeprov.pki import generate_pki


def _save_stack(ctx: Context) -> PhaseResult:
    cluster = ref(ctx)
    target = cluster.state.file(cluster.state.STACK)
    if target.exists() and target.read_text() == cluster.stack_text:
        return PhaseResult(changed=False)
    cluster.state.save_stack(cluster.stack_text)
    return PhaseResult(message=f"stack copied to {target}")


def _plan_stack(ctx: Context) -> list[str]:
    cluster = ref(ctx)
    return [f"copy {cluster.stack_path} to {cluster.state.file(cluster.state.STACK)}"]


def _pki(ctx: Context) -> PhaseResult:
    cluster = ref(ctx)
    spec = pki_spec_for(cluster.stack, cluster.state.load_inventory())
    report = generate_pki(spec, cluster.state.pki_dir, cluster.state.kubeconfig_dir)
    changed = bool(report.created or report.reissued)
    parts = [f"{len(report.created)} created"] if report.created else []
    if report.reissued:
        parts.append(f"{len(report.reissued)} reissued")
    return PhaseResult(changed=changed, message=", ".join(parts) if changed else "")


def _plan_pki(ctx: Context) -> list[str]:
    cluster = ref(ctx)
    spec = pki_spec_for(cluster.stack, cluster.state.load_inventory())
    return [
        f"certificate authorities, service-account keys and leaf certificates in {cluster.state.pki_dir}",
        f"kubeconfigs for admin, controller manager, scheduler, proxy, DNS and {len(spec.nodes)} kubelets, "
        f"server {spec.api_endpoint}",
    ]


def create_phases() -> list[Phase]:
    return [
        Phase("stack", "Record the stack file in the cluster's state folder.", run=_save_stack, plan=_plan_stack),
        Phase("machines", "Provision the stack's machines and wait until they answer SSH.",
              run=create_machines.provision, plan=create_machines.plan_provision),
        Phase("preflight", "Check every machine over SSH: OS, Python, ports, time, kernel, disk.",
              run=create_machines.preflight, plan=create_machines.plan_preflight, always=True),
        Phase("pki", "Generate certificate authorities, certificates and kubeconfigs.", run=_pki, plan=_plan_pki),
        Phase("render", "Render every machine's configs, certificates and systemd units.",
              run=create_install.render, plan=create_install.plan_render, always=True),
        Phase("install", "Install packages, kubeprov and the rendered files on every machine.",
              run=create_install.install("common"), plan=create_install.plan_playbook("common"), always=True),
        Phase("etcd", "Start the etcd members.", run=create_install.install("etcd"),
              plan=create_install.plan_playbook("etcd"), always=True),
        Phase("wait-etcd", "Wait until every etcd member is healthy and there is a leader.",
              run=create_cluster.wait_etcd, always=True),
        Phase("control-plane", "Start the API servers, schedulers, controller managers and the load balancer.",
              run=create_install.install("control-plane", "load-balancer"),
              plan=create_install.plan_playbook("control-plane", "load-balancer"), always=True),
        Phase("wait-apiservers", "Wait until every API server and the cluster endpoint are ready.",
              run=create_cluster.wait_apiservers, always=True),
        Phase("bootstrap", "Create cluster-info, the cluster DNS's RBAC and the kube-dns Service.",
              run=create_cluster.bootstrap, plan=create_cluster.plan_bootstrap),
        Phase("nodes", "Start the node network, cluster DNS, kubelet and service proxy on every node.",
              run=create_install.install("node"), plan=create_install.plan_playbook("node"), always=True),
        Phase("wait-nodes", "Wait until every node is Ready; label the control-plane nodes.",
              run=create_cluster.wait_nodes, always=True),
        Phase("addons", "Start the cluster's image registry and seed it with the demo and test images.",
              run=create_cluster.addons, plan=create_cluster.plan_addons),
        Phase("kubeconfig", "Say where the admin kubeconfig is and how to use it.",
              run=create_cluster.kubeconfig, always=True),
    ]


def create(ref_: ClusterRef, options: RunOptions, console: Console) -> RunReport:
    runner = PhaseRunner("create", create_phases(), fingerprint=ref_.fingerprint)
    ctx = Context(state=ref_.state, dry_run=options.dry_run, console=console, data={"cluster": ref_})
    if options.dry_run:
        return runner.run(ctx, options)
    with ref_.state.lock():
        return runner.run(ctx, options)
