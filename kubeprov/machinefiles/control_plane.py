"""A control-plane machine's API server, scheduler and controller manager."""

from __future__ import annotations

from kubeprov.machinefiles import paths
from kubeprov.machinefiles.plan import ClusterPlan
from kubeprov.machinefiles.sources import Sources
from kubeprov.machinefiles.tree import MachineTree
from kubeprov.providers.base import Machine
from kubeprov.render import render

PKI = paths.PKI


def add_control_plane(tree: MachineTree, plan: ClusterPlan, machine: Machine, src: Sources) -> None:
    stack = plan.stack
    port = stack.network.api_server_port
    local_api = f"https://{machine.address}:{port}"
    certs = [tree.copy(f"{PKI}/{name}", src.cert(name), 0o600 if name.endswith(".key") else None)
             for name in ("ca.crt", "ca.key", "sa.key", "sa.pub", "apiserver.crt", "apiserver.key",
                          "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key",
                          "apiserver-etcd-client.crt", "apiserver-etcd-client.key", "etcd/ca.crt")]
    config = tree.add(f"{paths.ETC}/apiserver.yaml", render(
        "apiserver.yaml.j2", etcd_endpoints=plan.etcd_endpoints, pki=PKI, bind_address="0.0.0.0", port=port,
        advertise_address=machine.address, service_cidr=str(stack.network.service_cidr),
        node_port_range=stack.network.node_port_range, cluster_domain=stack.network.cluster_domain,
        kubelet_certificate_authority=f"{PKI}/ca.crt", audit_log_path=""))
    tree.service("kubeprov-apiserver.service", "control-plane", "API server",
                 [f"{paths.PYTHON} -m kubeprov.apiserver --config {config}"], [config, *certs],
                 health={"url": f"{local_api}/readyz", "ca": f"{PKI}/ca.crt"}, after=_after_etcd(plan, machine))

    scheduler_kc = tree.add(f"{paths.KUBECONFIGS}/scheduler.conf",
                            src.kubeconfig_for("scheduler.conf", local_api), 0o600)
    scheduler = tree.add(f"{paths.ETC}/scheduler.yaml", render(
        "scheduler.yaml.j2", kubeconfig=scheduler_kc, health_port=10259))
    tree.service("kubeprov-scheduler.service", "control-plane", "scheduler",
                 [f"{paths.PYTHON} -m kubeprov.scheduler --config {scheduler}"], [scheduler, scheduler_kc],
                 health={"url": "http://127.0.0.1:10259/healthz"}, after=["kubeprov-apiserver.service"])

    manager_kc = tree.add(f"{paths.KUBECONFIGS}/controller-manager.conf",
                          src.kubeconfig_for("controller-manager.conf", local_api), 0o600)
    manager = tree.add(f"{paths.ETC}/controller-manager.yaml", render(
        "controller-manager.yaml.j2", kubeconfig=manager_kc, ca_file=f"{PKI}/ca.crt", health_port=10257,
        use_service_account_credentials=True, signing_cert_file=f"{PKI}/ca.crt",
        signing_key_file=f"{PKI}/ca.key", service_account_key_file=f"{PKI}/sa.key"))
    tree.service("kubeprov-controller-manager.service", "control-plane", "controller manager",
                 [f"{paths.PYTHON} -m kubeprov.controllers --config {manager}"], [manager, manager_kc, *certs[:4]],
                 health={"url": "http://127.0.0.1:10257/healthz"}, after=["kubeprov-apiserver.service"])


def _after_etcd(plan: ClusterPlan, machine: Machine) -> list[str]:
    return ["kubeprov-etcd.service"] if machine in plan.etcd else []
