"""A node: the network set-up (node-local DNS address, routes to the other nodes' pods), the cluster DNS,
the kubelet and the service proxy."""

from __future__ import annotations

from kubeprov.machinefiles import paths
from kubeprov.machinefiles.plan import ClusterPlan, NodePlan
from kubeprov.machinefiles.sources import Sources
from kubeprov.machinefiles.tree import MachineTree
from kubeprov.render import render

PKI = paths.PKI


def add_node(tree: MachineTree, plan: ClusterPlan, node: NodePlan, src: Sources) -> None:
    stack = plan.stack
    machine = node.machine
    ca = tree.copy(f"{PKI}/ca.crt", src.cert("ca.crt"))

    script = tree.add(f"{paths.ETC}/node-network.sh", render(
        "node-network.sh.j2", node=node.name, dns_address=paths.NODE_DNS_ADDRESS,
        routes=[{"cidr": other.pod_cidr, "via": other.machine.address} for other in plan.nodes if other != node]),
        0o755)
    tree.service("kubeprov-node-network.service", "node", "node network (DNS address, pod routes)",
                 [f"/bin/sh {script}"], [script], oneshot=True)

    dns_kc = tree.copy(f"{paths.KUBECONFIGS}/dns.conf", src.kubeconfig("dns.conf"), 0o600)
    dns = tree.add(f"{paths.ETC}/dns.yaml", render(
        "dns.yaml.j2", kubeconfig=dns_kc, listen_address=paths.NODE_DNS_ADDRESS, port=53,
        cluster_domain=stack.network.cluster_domain, health_port=8081))
    tree.service("kubeprov-dns.service", "node", "cluster DNS (node-local)",
                 [f"{paths.PYTHON} -m kubeprov.dns --config {dns}"], [dns, dns_kc],
                 health={"url": "http://127.0.0.1:8081/healthz"}, after=["kubeprov-node-network.service"])

    kubelet_kc = tree.copy(f"{paths.KUBECONFIGS}/kubelet.conf", src.kubeconfig(f"kubelet-{node.name}.conf"), 0o600)
    cert = tree.copy(f"{PKI}/kubelet.crt", src.cert(f"nodes/{node.name}/kubelet.crt"))
    key = tree.copy(f"{PKI}/kubelet.key", src.cert(f"nodes/{node.name}/kubelet.key"), 0o600)
    registries = {paths.REGISTRY_NAME: f"http://{plan.registry_address}"} if plan.registry_address else {}
    kubelet = tree.add(f"{paths.ETC}/kubelet.yaml", render(
        "kubelet.yaml.j2", kubeconfig=kubelet_kc, node_name=node.name, node_ip=machine.address,
        node_labels=node.labels, register_with_taints=node.taints, root_dir=f"{paths.DATA}/kubelet",
        run_dir="/run/kubeprov", pod_cidr=node.pod_cidr, cni_bridge="kubeprov0", cgroup_parent="/kubeprov",
        registries=registries, cluster_dns=[paths.NODE_DNS_ADDRESS], cluster_domain=stack.network.cluster_domain,
        address=machine.address, port=10250, tls_cert_file=cert, tls_private_key_file=key, client_ca_file=ca,
        health_port=10248))
    tree.service("kubeprov-kubelet.service", "node", f"kubelet of node {node.name}",
                 [f"{paths.PYTHON} -m kubeprov.kubelet --config {kubelet}"], [kubelet, kubelet_kc, cert, key, ca],
                 health={"url": "http://127.0.0.1:10248/healthz"}, after=["kubeprov-node-network.service"])

    proxy_kc = tree.copy(f"{paths.KUBECONFIGS}/proxy.conf", src.kubeconfig("proxy.conf"), 0o600)
    proxy = tree.add(f"{paths.ETC}/proxy.yaml", render(
        "proxy.yaml.j2", kubeconfig=proxy_kc, node_name=node.name, cluster_cidr=str(stack.network.pod_cidr),
        nodeport_addresses=[f"{machine.address}/32"], health_port=10256))
    tree.service("kubeprov-proxy.service", "node", "service proxy",
                 [f"{paths.PYTHON} -m kubeprov.proxy --config {proxy}"], [proxy, proxy_kc],
                 health={"url": "http://127.0.0.1:10256/healthz"})
