"""What the PKI must contain for one cluster, independent of how the stack file spells it.

The lifecycle builds a :class:`PkiSpec` from the stack and the inventory; the PKI code never reads
stack files itself, so clouds (addresses known only after provisioning) and bare metal share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeSpec:
    """A machine that needs certificates: its name and every address it is reached at."""

    name: str
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class PkiSpec:
    cluster_name: str
    cluster_domain: str
    service_cidr: str
    # https://HOST:PORT written into every kubeconfig (load balancer, or the only apiserver)
    api_endpoint: str
    # machines running an apiserver; their addresses go into the apiserver serving cert
    control_plane: tuple[NodeSpec, ...]
    # etcd members (the control plane when stacked, dedicated machines when external)
    etcd_members: tuple[NodeSpec, ...]
    # every machine running a kubelet (control plane included)
    nodes: tuple[NodeSpec, ...]
    # extra apiserver SANs: the load balancer address, user-supplied names
    extra_apiserver_sans: tuple[str, ...] = field(default=())
    ca_validity_days: int = 3650
    validity_days: int = 365
