"""Server-side printing: list and get results as ``meta.k8s.io/v1`` Tables, the columns kubectl shows.

kubectl asks for ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the rows it
gets back, so every column (and its wide-only priority) is decided here, per kind, as Kubernetes
1.32's printers decide it. Cells of wide columns are always sent; kubectl hides priority-1 columns
unless ``-o wide`` is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from kubeprov.apiserver.resources import ResourceType
from kubeprov.apiserver.tables import (
    apps,
    autoscaling,
    batch,
    certificates,
    coordination,
    core,
    networking,
    pods,
    policy,
    rbac,
    scheduling,
    storage,
)
from kubeprov.apiserver.tables.age import human_duration
from kubeprov.apiserver.tables.apiextensions import DEFAULT, custom_resource_printer
from kubeprov.apiserver.tables.common import Column, Printer

__all__ = ["INCLUDE_OBJECT_VALUES", "Column", "Printer", "human_duration", "printer_for", "to_table"]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")

PRINTERS: Mapping[tuple[str, str], Printer] = MappingProxyType({
    ("", "pods"): pods.POD,
    ("", "services"): core.SERVICE,
    ("", "nodes"): core.NODE,
    ("", "namespaces"): core.NAMESPACE,
    ("", "configmaps"): core.CONFIG_MAP,
    ("", "secrets"): core.SECRET,
    ("", "serviceaccounts"): core.SERVICE_ACCOUNT,
    ("", "endpoints"): core.ENDPOINTS,
    ("", "events"): core.EVENT,
    ("", "persistentvolumes"): core.PERSISTENT_VOLUME,
    ("", "persistentvolumeclaims"): core.PERSISTENT_VOLUME_CLAIM,
    ("", "resourcequotas"): core.RESOURCE_QUOTA,
    ("", "replicationcontrollers"): core.REPLICATION_CONTROLLER,
    ("", "podtemplates"): core.POD_TEMPLATE,
    ("apps", "deployments"): apps.DEPLOYMENT,
    ("apps", "replicasets"): apps.REPLICA_SET,
    ("apps", "statefulsets"): apps.STATEFUL_SET,
    ("apps", "daemonsets"): apps.DAEMON_SET,
    ("apps", "controllerrevisions"): apps.CONTROLLER_REVISION,
    ("batch", "jobs"): batch.JOB,
    ("batch", "cronjobs"): batch.CRON_JOB,
    ("autoscaling", "horizontalpodautoscalers"): autoscaling.HORIZONTAL_POD_AUTOSCALER,
    ("coordination.k8s.io", "leases"): coordination.LEASE,
    ("rbac.authorization.k8s.io", "rolebindings"): rbac.ROLE_BINDING,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): rbac.CLUSTER_ROLE_BINDING,
    ("policy", "poddisruptionbudgets"): policy.POD_DISRUPTION_BUDGET,
    ("networking.k8s.io", "ingresses"): networking.INGRESS,
    ("networking.k8s.io", "ingressclasses"): networking.INGRESS_CLASS,
    ("networking.k8s.io", "networkpolicies"): networking.NETWORK_POLICY,
    ("discovery.k8s.io", "endpointslices"): networking.ENDPOINT_SLICE,
    ("storage.k8s.io", "storageclasses"): storage.STORAGE_CLASS,
    ("scheduling.k8s.io", "priorityclasses"): scheduling.PRIORITY_CLASS,
    ("certificates.k8s.io", "certificatesigningrequests"): certificates.CERTIFICATE_SIGNING_REQUEST,
})


def printer_for(rt: ResourceType) -> Printer:
    """The printer of a resource: its own, its CRD's columns for custom resources, or NAME / CREATED AT."""
    if rt.custom:
        crd = rt.extra.get("crd")
        return custom_resource_printer(crd if isinstance(crd, dict) else None, rt.version)
    return PRINTERS.get((rt.group, rt.resource), DEFAULT)


def _row_object(obj: dict, include_object: str) -> dict | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata", {})}


def to_table(rt: ResourceType, objects: list[dict], *, wide: bool = True, include_object: str = "Metadata",
             now: datetime | None = None, resource_version: str = "", continue_token: str = "") -> dict:
    """A ``meta.k8s.io/v1`` Table of ``objects`` (a list result, or one object for a get).

    ``wide`` keeps the priority-1 columns; Kubernetes always sends them (kubectl filters), so the
    server should leave it True. ``include_object`` is the request's ``includeObject`` (None,
    Metadata or Object); ``now`` pins the clock ages are computed against.
    """
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(f"includeObject must be one of {', '.join(INCLUDE_OBJECT_VALUES)}")
    moment = now or datetime.now(UTC)
    printer = printer_for(rt)
    keep = [i for i, column in enumerate(printer.columns) if wide or column.priority == 0]
    rows = []
    for obj in objects:
        cells = printer.cells(obj, moment)
        row: dict = {"cells": [cells[i] for i in keep], "object": _row_object(obj, include_object)}
        conditions = printer.conditions(obj) if printer.conditions else []
        if conditions:
            row["conditions"] = conditions
        rows.append(row)
    metadata: dict = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [printer.columns[i].definition() for i in keep],
        "rows": rows,
    }
