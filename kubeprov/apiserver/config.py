"""The API server's one config file (YAML), rendered by the installer or by `kubeprov dev up`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeprov.errors import KubeprovError

# kube-apiserver's default-on plugins that we have
DEFAULT_ADMISSION_PLUGINS = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultTolerationSeconds",
                             "DefaultStorageClass", "ResourceQuota", "PodSecurity", "Priority")


@dataclass
class ApiServerConfig:
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
    log_level: str = "info"
    # events kept per resource for watches that resume from a resourceVersion
    watch_cache_size: int = 10_000
    # etcd history older than this is compacted (0 = never), as kube-apiserver does every 5 minutes
    compaction_interval_seconds: float = 300.0

    @classmethod
    def load(cls, path: Path) -> ApiServerConfig:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeprovError(f"cannot read API server config {path}: {exc}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> ApiServerConfig:
        if not isinstance(raw, dict):
            raise KubeprovError(f"{source}: expected a mapping of settings")
        known = {f.name: f for f in dataclasses.fields(cls)}
        names = {k.replace("-", "_"): v for k, v in raw.items()}
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise KubeprovError(f"{source}: unknown settings {', '.join(unknown)}",
                                f"known settings: {', '.join(sorted(known))}")
        if "etcd_endpoints" not in names:
            raise KubeprovError(f"{source}: etcd_endpoints is required")
        return cls(**names)

    def dump(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=True)
