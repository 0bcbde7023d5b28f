"""The controller manager's configuration, read from YAML.

```yaml
kubeconfig: /etc/kubernetes/controller-manager.conf
controllers: ["*", "-replicaset"]     # like kube-controller-manager --controllers
leader_elect: true
lease_duration: 15
renew_deadline: 10
retry_period: 2
health_port: 10257                    # 0: a random free port; always on loopback unless health_address says otherwise
ca_file: /etc/kubernetes/pki/ca.crt   # published as kube-root-ca.crt (default: the kubeconfig's CA)
concurrency: {replicaset: 5}
namespaces: []                        # restrict every controller to these namespaces (empty: all)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError

DEFAULT_CONCURRENCY = {"serviceaccount": 1, "root-ca-cert-publisher": 1, "namespace": 10, "replicaset": 5,
                       "replicationcontroller": 5, "statefulset": 5,
                       "daemonset": 2, "job": 5, "cronjob": 5, "ttl-after-finished": 5,
                       "persistentvolume-binder": 2, "hostpath-provisioner": 2}


@dataclass
class ControllerManagerConfig(ComponentConfig):
    what: ClassVar[str] = "controller manager"

    kubeconfig: str = ""
    controllers: list[str] = field(default_factory=lambda: ["*"])
    leader_elect: bool = True
    lease_namespace: str = "kube-system"
    lease_name: str = "kube-controller-manager"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    health_port: int = 10257
    health_address: str = "127.0.0.1"
    ca_file: str = ""
    concurrency: dict[str, int] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    sync_timeout: float = 60.0
    max_endpoints_per_slice: int = 100  # endpointslice: endpoints per EndpointSlice
    resource_quota_sync_period: float = 300.0  # resourcequota: seconds between full recounts
    horizontal_pod_autoscaler_sync_period: float = 15.0  # horizontalpodautoscaling: seconds between syncs
    hostpath_base_dir: str = "/var/lib/kubeprov/volumes"  # where hostpath-provisioner volumes live on nodes
    create_default_storage_class: bool = True  # hostpath-provisioner makes StorageClass standard the default
    # each controller acts as its own ServiceAccount in kube-system (kube-controller-manager's
    # --use-service-account-credentials); the kubeconfig's identity keeps the informers and the Lease
    use_service_account_credentials: bool = False
    # csrsigning: the CA that signs approved CSRs (unset: the signer is off) and how long certificates last
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""
    cluster_signing_duration: float = 365 * 24 * 3600.0
    approve_kubelet_serving: bool = False  # csrapproving: approve nodes' own serving certificates for their addresses
    # serviceaccount-token: the key that signs legacy token Secrets (unset: that controller is off)
    service_account_private_key_file: str = ""
    pod_gc_period: float = 20.0  # podgc: seconds between passes
    terminated_pod_gc_threshold: int = 12500  # podgc: terminated pods kept before the oldest go (0: keep all)
    # service-lb-ipam: LoadBalancer addresses come from these CIDRs or first-last ranges (empty: that controller is off)
    load_balancer_pools: list[str] = field(default_factory=list)
    log_level: str = "info"

    def workers(self, controller: str) -> int:
        return int(self.concurrency.get(controller, DEFAULT_CONCURRENCY.get(controller, 1)))

    def validate(self, source: str = "config") -> None:
        if not isinstance(self.controllers, list) or not all(isinstance(c, str) for c in self.controllers):
            raise KubeprovError(f"{source}: controllers must be a list of names")
        if not isinstance(self.health_port, int) or not 0 <= self.health_port < 65536:
            raise KubeprovError(f"{source}: health_port {self.health_port} out of range")
        for name, count in self.concurrency.items():
            if not isinstance(count, int) or count < 1:
                raise KubeprovError(f"{source}: concurrency of {name} must be at least 1")
        from kubeprov.controllers.servicelb import parse_range

        for pool in self.load_balancer_pools or []:
            try:
                parse_range(pool)
            except ValueError as exc:
                raise KubeprovError(f"{source}: {exc}") from None
        # the names themselves: an unknown controller is a mistake in this file, said here
        from kubeprov.controllers.manager import enabled_controllers

        try:
            enabled_controllers(self.controllers)
        except ValueError as exc:
            raise KubeprovError(f"{source}: {exc}") from None
