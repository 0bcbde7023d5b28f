"""The API server's one config file (YAML), rendered by the installer or by `kubeprov dev up`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import yaml

from kubeprov.component import ComponentConfig
from kubeprov.errors import KubeprovError

# kube-apiserver's default-on plugins that we have
DEFAULT_ADMISSION_PLUGINS = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultTolerationSeconds",
                             "DefaultStorageClass", "ResourceQuota", "PodSecurity", "Priority")


@dataclass
class ApiServerConfig(ComponentConfig):
    what: ClassVar[str] = "API server"

    etcd_endpoints: list[str]
    bind_address: str = "127.0.0.1"
    port: int = 6443
    # address other components and the kubernetes Service use to reach this server
    advertise_address: str = "127.0.0.1"
    tls_cert_file: str = ""
    tls_key_file: str = ""
    client_ca_file: str = ""
    etcd_ca_file: str = ""
    etcd_cert_file: str = ""
    etcd_key_file: str = ""
    service_cidr: str = "10.96.0.0/12"
    node_port_range: str = "30000-32767"
    cluster_domain: str = "cluster.local"
    service_account_key_files: list[str] = field(default_factory=list)  # public keys that verify tokens
    service_account_signing_key_file: str = ""
    service_account_issuer: str = "https://kubernetes.default.svc.cluster.local"
    api_audiences: list[str] = field(default_factory=list)
    token_auth_file: str = ""
    anonymous_auth: bool = True
    authorization_modes: list[str] = field(default_factory=lambda: ["Node", "RBAC"])
    admission_plugins: list[str] = field(default_factory=lambda: list(DEFAULT_ADMISSION_PLUGINS))
    # the tolerations DefaultTolerationSeconds gives pods that have none for these taints
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    encryption_provider_config: str = ""
    audit_log_path: str = ""
    kubelet_client_cert_file: str = ""
    kubelet_client_key_file: str = ""
    # CA for the kubelets' serving certificates; empty: not verified (kube-apiserver's default too)
    kubelet_certificate_authority: str = ""
    # node address types tried in order to reach a kubelet (empty: InternalIP first, see kubelets/connection.py)
    kubelet_preferred_address_types: list[str] = field(default_factory=list)
    # seconds between scrapes of the kubelets' /metrics/resource for metrics.k8s.io (0: no scraping)
    metric_resolution: float = 15.0
    log_level: str = "info"
    # events kept per resource for watches that resume from a resourceVersion
    watch_cache_size: int = 10_000
    # etcd history older than this is compacted (0 = never), as kube-apiserver does every 5 minutes
    compaction_interval_seconds: float = 300.0

    def validate(self, source: str = "config") -> None:
        if not self.etcd_endpoints:
            raise KubeprovError(f"{source}: etcd_endpoints is required")

    def dump(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=True)
