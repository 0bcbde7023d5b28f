"""Printers of the core (v1) kinds other than pods."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import parse_timestamp, since
from kubeprov.apiserver.tables.common import (
    AGE,
    CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
    NAME,
    NONE,
    UNSET,
    Column,
    Printer,
    containers,
    creation,
    format_labels,
    get,
    name_of,
    wide,
)

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                ("ReadWriteOncePod", "RWOP"))


# --- services -----------------------------------------------------------------------------------

def _load_balancer_addresses(status: dict) -> list[str]:
    found = {i.get("ip") or i.get("hostname") for i in get(status, "loadBalancer", "ingress", default=[])}
    return sorted(a for a in found if a)


def service_external_ip(svc: dict) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if kind == "LoadBalancer":
        addresses = _load_balancer_addresses(svc.get("status") or {})
        if external:
            return ",".join([*addresses, *external])
        return ",".join(addresses) if addresses else "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def service_ports(ports: list[dict]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            pieces.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port')}/{protocol}")
    return ",".join(pieces) or NONE


def _service_cells(svc: dict, now: datetime) -> list:
    spec = svc.get("spec") or {}
    cluster_ip = get(spec, "clusterIPs", 0) or spec.get("clusterIP") or NONE
    return [name_of(svc), spec.get("type") or "ClusterIP", cluster_ip, service_external_ip(svc),
            service_ports(spec.get("ports") or []), since(creation(svc), now), format_labels(spec.get("selector"))]


SERVICE = Printer(
    (NAME, Column("Type", description="How the service is exposed: ClusterIP, NodePort, LoadBalancer or "
                  "ExternalName."),
     Column("Cluster-IP", description="The IP address of the service inside the cluster."),
     Column("External-IP", description="Addresses the service is reachable at from outside the cluster."),
     Column("Port(s)", description="The ports the service exposes."),
     AGE, wide("Selector", "Labels of the pods the service routes traffic to.")),
    _service_cells,
)


# --- nodes --------------------------------------------------------------------------------------

def node_roles(node: dict) -> str:
    roles = set()
    for key, value in (get(node, "metadata", "labels") or {}).items():
        if key.startswith(ROLE_LABEL_PREFIX) and key.removeprefix(ROLE_LABEL_PREFIX):
            roles.add(key.removeprefix(ROLE_LABEL_PREFIX))
        elif key == ROLE_LABEL and value:
            roles.add(value)
    return ",".join(sorted(roles)) or NONE


def node_status(node: dict) -> str:
    states = []
    for condition in get(node, "status", "conditions", default=[]):
        if condition.get("type") == "Ready":
            states = ["Ready" if condition.get("status") == "True" else "NotReady"]
    if not states:
        states = ["Unknown"]
    if get(node, "spec", "unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_address(node: dict, kind: str) -> str:
    for address in get(node, "status", "addresses", default=[]):
        if address.get("type") == kind:
            return address.get("address", "")
    return NONE


def _node_cells(node: dict, now: datetime) -> list:
    info = get(node, "status", "nodeInfo", default={})
    return [name_of(node), node_status(node), node_roles(node), since(creation(node), now),
            info.get("kubeletVersion", ""), _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


NODE = Printer(
    (NAME, Column("Status", description="The status of the node"), Column("Roles", description="The roles of the node"),
     AGE, Column("Version", description="Kubelet version reported by the node."),
     wide("Internal-IP", "The first InternalIP address of the node."),
     wide("External-IP", "The first ExternalIP address of the node."),
     wide("OS-Image", "OS image reported by the node."),
     wide("Kernel-Version", "Kernel version reported by the node."),
     wide("Container-Runtime", "Container runtime version reported by the node.")),
    _node_cells,
)


# --- simple counters ----------------------------------------------------------------------------

NAMESPACE = Printer(
    (NAME, Column("Status", description="The status of the namespace"), AGE),
    lambda ns, now: [name_of(ns), get(ns, "status", "phase", default=""), since(creation(ns), now)],
)

CONFIG_MAP = Printer(
    (NAME, Column("Data", description="Number of keys in data and binaryData."), AGE),
    lambda cm, now: [name_of(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
                     since(creation(cm), now)],
)

SECRET = Printer(
    (NAME, Column("Type", description="Used to facilitate programmatic handling of secret data."),
     Column("Data", description="Number of keys in data."), AGE),
    lambda s, now: [name_of(s), s.get("type", ""), len(s.get("data") or {}), since(creation(s), now)],
)

SERVICE_ACCOUNT = Printer(
    (NAME, Column("Secrets", description="Number of secrets listed by the service account."), AGE),
    lambda sa, now: [name_of(sa), len(sa.get("secrets") or []), since(creation(sa), now)],
)


# --- endpoints and events -----------------------------------------------------------------------

def format_endpoints(endpoints: dict) -> str:
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return NONE
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            shown.extend(addresses[: max(0, 3 - len(shown))])
            continue
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < 3:
                    host = f"[{ip}]" if ":" in ip else ip
                    shown.append(f"{host}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text


ENDPOINTS = Printer(
    (NAME, Column("Endpoints", description="Addresses and ports of the endpoints."), AGE),
    lambda ep, now: [name_of(ep), format_endpoints(ep), since(creation(ep), now)],
)


def _event_source(event: dict) -> str:
    component = get(event, "source", "component") or event.get("reportingComponent") or ""
    host = get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _event_cells(event: dict, now: datetime) -> list:
    first = since(event.get("firstTimestamp"), now)
    if parse_timestamp(event.get("firstTimestamp")) is None:
        first = since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1
    involved = event.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last, event.get("type", ""), event.get("reason", ""), target, involved.get("fieldPath", ""),
            _event_source(event), (event.get("message") or "").strip(), first, count, name_of(event)]


EVENT = Printer(
    (Column("Last Seen", description="The time at which the most recent occurrence of this event was recorded."),
     Column("Type", description="Type of this event (Normal, Warning)."),
     Column("Reason", description="Short, machine understandable reason for the transition."),
     Column("Object", description="The object that this event is about."),
     wide("Subobject", "The part of the object the event is about, such as a container."),
     wide("Source", "The component reporting this event."),
     Column("Message", description="A human-readable description of the status of this operation."),
     wide("First Seen", "The time at which the event was first recorded."),
     wide("Count", "The number of times this event has occurred."),
     Column("Name", description="Name of the event.", priority=1, format="name")),
    _event_cells,
)


# --- volumes ------------------------------------------------------------------------------------

def access_modes(modes: list[str] | None) -> str:
    present = set(modes or [])
    return ",".join(short for mode, short in ACCESS_MODES if mode in present)


def _pv_cells(pv: dict, now: datetime) -> list:
    spec = pv.get("spec") or {}
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    storage_class = get(pv, "metadata", "annotations", BETA_STORAGE_CLASS) or spec.get("storageClassName", "")
    phase = "Terminating" if get(pv, "metadata", "deletionTimestamp") else get(pv, "status", "phase", default="")
    return [name_of(pv), get(spec, "capacity", "storage", default="0"), access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), phase, claim_text, storage_class,
            spec.get("volumeAttributesClassName") or UNSET, get(pv, "status", "reason", default=""),
            since(creation(pv), now), spec.get("volumeMode") or UNSET]


PERSISTENT_VOLUME = Printer(
    (NAME, Column("Capacity", description="Capacity of the volume."),
     Column("Access Modes", description="Ways the volume can be mounted."),
     Column("Reclaim Policy", description="What happens to the volume when released from its claim."),
     Column("Status", description="Phase of the volume."),
     Column("Claim", description="The claim bound to this volume."),
     Column("StorageClass", description="StorageClass of the pv"),
     Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
     Column("Reason", description="Reason the volume is in its phase."),
     AGE, wide("VolumeMode", "Block or Filesystem.")),
    _pv_cells,
)


def _pvc_cells(pvc: dict, now: datetime) -> list:
    spec = pvc.get("spec") or {}
    phase = "Terminating" if get(pvc, "metadata", "deletionTimestamp") else get(pvc, "status", "phase", default="")
    capacity, modes = "", ""
    if spec.get("volumeName"):
        modes = access_modes(get(pvc, "status", "accessModes"))
        capacity = get(pvc, "status", "capacity", "storage", default="0")
    storage_class = get(pvc, "metadata", "annotations", BETA_STORAGE_CLASS) or spec.get("storageClassName") or ""
    return [name_of(pvc), phase, spec.get("volumeName", ""), capacity, modes, storage_class,
            spec.get("volumeAttributesClassName") or UNSET, since(creation(pvc), now), spec.get("volumeMode") or UNSET]


PERSISTENT_VOLUME_CLAIM = Printer(
    (NAME, Column("Status", description="Phase of the claim."),
     Column("Volume", description="The volume bound to this claim."),
     Column("Capacity", description="Capacity of the bound volume."),
     Column("Access Modes", description="Access modes of the bound volume."),
     Column("StorageClass", description="StorageClass of the pvc"),
     Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
     AGE, wide("VolumeMode", "Block or Filesystem.")),
    _pvc_cells,
)


# --- quotas, controllers, templates -------------------------------------------------------------

def _quota_cells(quota: dict, now: datetime) -> list:
    hard = get(quota, "status", "hard", default={})
    used = get(quota, "status", "used", default={})
    requests, limits = [], []
    for resource in sorted(hard):
        text = f"{resource}: {used.get(resource, '0')}/{hard[resource]}"
        (limits if resource.split(".")[0] == "limits" and "." in resource else requests).append(text)
    return [name_of(quota), ", ".join(requests), ", ".join(limits), since(creation(quota), now)]


RESOURCE_QUOTA = Printer(
    (NAME, Column("Request", description="Request represents a minimum amount of cpu/memory that a container "
                  "may consume."),
     Column("Limit", description="Limits control the maximum amount of cpu/memory that a container may use "
            "independent of contention on the node."), AGE),
    _quota_cells,
)


def _rc_cells(rc: dict, now: datetime) -> list:
    names, images = containers(get(rc, "spec", "template", "spec"))
    return [name_of(rc), get(rc, "spec", "replicas", default=1), get(rc, "status", "replicas", default=0),
            get(rc, "status", "readyReplicas", default=0), since(creation(rc), now), names, images,
            format_labels(get(rc, "spec", "selector"))]


REPLICATION_CONTROLLER = Printer(
    (NAME, Column("Desired", "integer", "Number of desired pods."),
     Column("Current", "integer", "Most recently observed number of replicas."),
     Column("Ready", "integer", "Number of ready replicas."), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", "Label query over the pods the controller manages.")),
    _rc_cells,
)


def _pod_template_cells(template: dict, now: datetime) -> list:
    names, images = containers(get(template, "template", "spec"))
    return [name_of(template), names, images, format_labels(get(template, "template", "metadata", "labels"))]


POD_TEMPLATE = Printer(
    (NAME, Column("Containers", description=CONTAINERS_DESCRIPTION),
     Column("Images", description=IMAGES_DESCRIPTION),
     Column("Pod Labels", description="The labels for the pod template.")),
    _pod_template_cells,
)
