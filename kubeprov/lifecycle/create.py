"""`kubeprov create`: turn a stack file into a running cluster, as resumable named phases."""

from __future__ import annotations

from rich.console import Console

from kubeprov.errors import NotYetAvailable
from kubeprov.lifecycle.cluster import ClusterRef
from kubeprov.lifecycle.pki_plan import pki_spec_for
from kubeprov.phases import Context, Phase, PhaseResult, PhaseRunner, RunOptions, RunReport
from kubeprov.pki import generate_pki
from kubeprov.stack import plan_machines


def _ref(ctx: Context) -> ClusterRef:
    return ctx.data["cluster"]


def _save_stack(ctx: Context) -> PhaseResult:
    ref = _ref(ctx)
    target = ref.state.file(ref.state.STACK)
    if target.exists() and target.read_text() == ref.stack_text:
        return PhaseResult(changed=False)
    ref.state.save_stack(ref.stack_text)
    return PhaseResult(message=f"stack copied to {target}")


def _plan_stack(ctx: Context) -> list[str]:
    ref = _ref(ctx)
    return [f"copy {ref.stack_path} to {ref.state.file(ref.state.STACK)}"]


def _pki(ctx: Context) -> PhaseResult:
    ref = _ref(ctx)
    spec = pki_spec_for(ref.stack, ref.state.load_inventory())
    report = generate_pki(spec, ref.state.pki_dir, ref.state.kubeconfig_dir)
    changed = bool(report.created or report.reissued)
    parts = [f"{len(report.created)} created"] if report.created else []
    if report.reissued:
        parts.append(f"{len(report.reissued)} reissued")
    return PhaseResult(changed=changed, message=", ".join(parts) if changed else "")


def _plan_pki(ctx: Context) -> list[str]:
    ref = _ref(ctx)
    spec = pki_spec_for(ref.stack, ref.state.load_inventory())
    return [
        f"certificate authorities, service-account keys and leaf certificates in {ref.state.pki_dir}",
        f"kubeconfigs for admin, controller manager, scheduler, proxy and {len(spec.nodes)} kubelets, "
        f"server {spec.api_endpoint}",
    ]


def _machines(ctx: Context) -> PhaseResult:
    ref = _ref(ctx)
    raise NotYetAvailable(
        f"provisioning {ref.stack.provider.type} machines is not yet available in this kubeprov version",
        f"the stack and the PKI are ready in {ref.state.path}; "
        "`kubeprov certs check-expiration` lists the certificates",
    )


def _plan_machines(ctx: Context) -> list[str]:
    ref = _ref(ctx)
    return [
        f"{m.role} {m.name} ({m.address or 'address assigned by the provider'})"
        for m in plan_machines(ref.stack)
    ]


def create_phases() -> list[Phase]:
    return [
        Phase("stack", "Record the stack file in the cluster's state folder.",
              run=_save_stack, plan=_plan_stack),
        Phase("pki", "Generate certificate authorities, certificates and kubeconfigs.",
              run=_pki, plan=_plan_pki),
        Phase("machines", "Provision the stack's machines.", run=_machines, plan=_plan_machines),
    ]


def create(ref: ClusterRef, options: RunOptions, console: Console) -> RunReport:
    runner = PhaseRunner("create", create_phases(), fingerprint=ref.fingerprint)
    ctx = Context(state=ref.state, dry_run=options.dry_run, console=console, data={"cluster": ref})
    if options.dry_run:
        return runner.run(ctx, options)
    with ref.state.lock():
        return runner.run(ctx, options)
