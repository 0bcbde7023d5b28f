"""Service environment variables (``<SVC>_SERVICE_HOST``, docker-link ``<SVC>_PORT_...``) as the kubelet sets them.

Only Services with a cluster IP count (headless and ExternalName ones do not). The pod's own namespace supplies
them when ``enableServiceLinks`` is true (the default); ``default/kubernetes`` is always there, unless a Service of
the same name in the pod's namespace takes its place.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _has_cluster_ip(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def services_for_pod(pod: Obj, services: list[Obj]) -> list[Obj]:
    """The Services whose variables the pod gets, keyed by name (pod-namespace ones win over default/kubernetes)."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks")
    links = True if links is None else bool(links)
    chosen: dict[str, Obj] = {}
    for service in services:
        if not _has_cluster_ip(service):
            continue
        meta = service.get("metadata") or {}
        name, svc_ns = meta.get("name", ""), meta.get("namespace", "")
        if svc_ns == MASTER_NAMESPACE and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif svc_ns == namespace and links:
            chosen[name] = service
    return [chosen[name] for name in sorted(chosen)]


def service_env(service: Obj) -> dict[str, str]:
    """One Service's variables, in the kubelet's order."""
    spec = service.get("spec") or {}
    name = _env_name((service.get("metadata") or {}).get("name", ""))
    ip = spec.get("clusterIP") or ""
    host = f"[{ip}]" if ":" in ip else ip
    ports = spec.get("ports") or []
    env = {f"{name}_SERVICE_HOST": ip}
    if not ports:
        return env
    env[f"{name}_SERVICE_PORT"] = str(ports[0].get("port"))
    for port in ports:
        if port.get("name"):
            env[f"{name}_SERVICE_PORT_{_env_name(port['name'])}"] = str(port.get("port"))
    first = ports[0]
    env[f"{name}_PORT"] = f"{str(first.get('protocol') or 'TCP').lower()}://{host}:{first.get('port')}"
    for port in ports:
        protocol = str(port.get("protocol") or "TCP")
        prefix = f"{name}_PORT_{port.get('port')}_{protocol.upper()}"
        env[prefix] = f"{protocol.lower()}://{host}:{port.get('port')}"
        env[f"{prefix}_PROTO"] = protocol.lower()
        env[f"{prefix}_PORT"] = str(port.get("port"))
        env[f"{prefix}_ADDR"] = ip
    return env


def service_env_for_pod(pod: Obj, services: list[Obj]) -> dict[str, str]:
    """Every service variable the pod's containers start with (their own ``env`` entries override these)."""
    env: dict[str, str] = {}
    for service in services_for_pod(pod, services):
        env.update(service_env(service))
    return env
