"""The kubelet's one config file (YAML), rendered from templates/kubelet.yaml.j2."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError
from kubeprov.kubelet.eviction import parse_thresholds

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass
class KubeletConfig(ComponentConfig):
    what: ClassVar[str] = "kubelet"

    kubeconfig: str = ""
    # the Node's name; empty = this machine's hostname (lower-cased, as the kubelet does)
    node_name: str = ""
    # InternalIP of the Node; empty = the address of the interface with the default route
    node_ip: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)
    # --register-with-taints: put on the Node when this kubelet creates it (never re-applied to an existing one)
    register_with_taints: list[dict[str, str]] = field(default_factory=list)
    # images, containers, volumes and CNI state live under root_dir; namespaces, runc state under run_dir
    root_dir: str = "/var/lib/kubeprov/kubelet"
    run_dir: str = "/run/kubeprov"
    cgroup_parent: str = "/kubeprov"
    # the pod network: Node.spec.podCIDR when set, else this
    pod_cidr: str = ""
    cni_bridge: str = "kubeprov0"
    cni_network: str = "kubeprov"
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    # registry name -> URL or {server, mirrors} (see kubelet/images/hosts.py)
    registries: dict[str, Any] = field(default_factory=dict)
    max_pods: int = 110
    node_status_update_frequency: float = 60.0
    node_lease_renew_interval: float = 10.0
    node_lease_duration_seconds: int = 40
    # how often a pod worker looks at its containers when nothing else wakes it
    pod_sync_interval: float = 1.0
    # the kubelet's syncFrequency: how often configMap/secret/downwardAPI/projected volumes are brought up to date
    sync_frequency: float = 60.0
    # image GC: above high% use of the images filesystem, unused images go (least recently used first) until
    # low%; 100 disables it; images younger than image_minimum_gc_age seconds stay; a pass every image_gc_period s
    image_gc_high_threshold_percent: int = 85
    image_gc_low_threshold_percent: int = 80
    image_minimum_gc_age: float = 120.0
    image_gc_period: float = 300.0
    # evictionHard: signal -> threshold ("100Mi" or "10%"); the node's pressure conditions and allocatable
    eviction_hard: dict[str, str] = field(default_factory=lambda: {
        "memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "15%", "pid.available": "5%"})
    # the HTTPS server (logs, exec, metrics): port 0 picks a free one; without tls_cert_file a self-signed pair
    # is made under <root_dir>/pki; client certificates are verified against client_ca_file when set
    address: str = "0.0.0.0"
    port: int = 10250
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    anonymous_auth: bool = False
    # plain-HTTP /healthz on 127.0.0.1
    health_port: int = 10248
    log_level: str = "info"

    def validate(self, source: str = "config") -> None:
        if self.pod_cidr:
            try:
                ipaddress.ip_network(self.pod_cidr)
            except ValueError:
                raise KubeprovError(f"{source}: pod_cidr {self.pod_cidr!r} is not a CIDR") from None
        if self.max_pods < 1:
            raise KubeprovError(f"{source}: max_pods must be at least 1")
        for taint in self.register_with_taints:
            if not isinstance(taint, dict) or not taint.get("key") or taint.get("effect") not in TAINT_EFFECTS:
                raise KubeprovError(f"{source}: register_with_taints entry {taint!r} needs a key and an effect "
                                    f"({', '.join(TAINT_EFFECTS)})")
        if not self.node_lease_renew_interval > 0 or not self.node_status_update_frequency > 0:
            raise KubeprovError(f"{source}: node_lease_renew_interval and node_status_update_frequency must be > 0")
        if not self.sync_frequency > 0:
            raise KubeprovError(f"{source}: sync_frequency must be > 0")
        if not 0 <= self.image_gc_low_threshold_percent <= self.image_gc_high_threshold_percent <= 100:
            raise KubeprovError(f"{source}: need 0 <= image_gc_low_threshold_percent <= "
                                "image_gc_high_threshold_percent <= 100")
        if not self.image_gc_period > 0 or self.image_minimum_gc_age < 0:
            raise KubeprovError(f"{source}: image_gc_period must be > 0 and image_minimum_gc_age >= 0")
        try:
            parse_thresholds(self.eviction_hard)
        except ValueError as exc:
            raise KubeprovError(f"{source}: eviction_hard: {exc}") from None
        if self.node_lease_duration_seconds <= self.node_lease_renew_interval:
            raise KubeprovError(f"{source}: node_lease_duration_seconds must exceed node_lease_renew_interval")
        self._validate_server(source)

    def _validate_server(self, source: str) -> None:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            raise KubeprovError(f"{source}: address {self.address!r} is not an IP address") from None
        for name in ("port", "health_port"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
                raise KubeprovError(f"{source}: {name} must be a port number from 0 to 65535, not {value!r}")
        if bool(self.tls_cert_file) != bool(self.tls_private_key_file):
            raise KubeprovError(f"{source}: tls_cert_file and tls_private_key_file must be set together")
        for name in ("tls_cert_file", "tls_private_key_file", "client_ca_file"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise KubeprovError(f"{source}: {name} {path} does not exist")
        if not isinstance(self.anonymous_auth, bool):
            raise KubeprovError(f"{source}: anonymous_auth must be true or false")

    @property
    def name(self) -> str:
        return self.node_name or socket.gethostname().lower()
