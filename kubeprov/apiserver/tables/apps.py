"""Printers of apps/v1: deployments, replica sets, stateful sets, daemon sets, controller revisions."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import (
    AGE,
    CONTAINERS_DESCRIPTION,
    IMAGES_DESCRIPTION,
    NAME,
    NONE,
    Column,
    Printer,
    containers,
    creation,
    format_label_selector,
    format_labels,
    get,
    name_of,
    selector_string,
    wide,
)

READY_DESCRIPTION = "Number of the pod with ready state"
SELECTOR_DESCRIPTION = "Label query over the pods the controller manages."


def _template_containers(obj: dict) -> tuple[str, str]:
    return containers(get(obj, "spec", "template", "spec"))


def _deployment_cells(d: dict, now: datetime) -> list:
    names, images = _template_containers(d)
    ready = get(d, "status", "readyReplicas", default=0)
    return [name_of(d), f"{ready}/{get(d, 'spec', 'replicas', default=1)}",
            get(d, "status", "updatedReplicas", default=0), get(d, "status", "availableReplicas", default=0),
            since(creation(d), now), names, images, selector_string(get(d, "spec", "selector"))]


DEPLOYMENT = Printer(
    (NAME, Column("Ready", description=READY_DESCRIPTION),
     Column("Up-to-date", description="Total number of pods targeted by this deployment that have the desired "
            "template spec."),
     Column("Available", description="Total number of available pods targeted by this deployment."),
     AGE, wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", SELECTOR_DESCRIPTION)),
    _deployment_cells,
)


def _replica_set_cells(rs: dict, now: datetime) -> list:
    names, images = _template_containers(rs)
    return [name_of(rs), get(rs, "spec", "replicas", default=1), get(rs, "status", "replicas", default=0),
            get(rs, "status", "readyReplicas", default=0), since(creation(rs), now), names, images,
            format_label_selector(get(rs, "spec", "selector"))]


REPLICA_SET = Printer(
    (NAME, Column("Desired", "integer", "Number of desired pods."),
     Column("Current", "integer", "Most recently observed number of replicas."),
     Column("Ready", "integer", "Number of ready replicas."), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", SELECTOR_DESCRIPTION)),
    _replica_set_cells,
)


def _stateful_set_cells(sts: dict, now: datetime) -> list:
    names, images = _template_containers(sts)
    ready = get(sts, "status", "readyReplicas", default=0)
    return [name_of(sts), f"{ready}/{get(sts, 'spec', 'replicas', default=1)}", since(creation(sts), now),
            names, images]


STATEFUL_SET = Printer(
    (NAME, Column("Ready", description=READY_DESCRIPTION), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION)),
    _stateful_set_cells,
)


def _daemon_set_cells(ds: dict, now: datetime) -> list:
    names, images = _template_containers(ds)
    status = ds.get("status") or {}
    return [name_of(ds), status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            format_labels(get(ds, "spec", "template", "spec", "nodeSelector")), since(creation(ds), now),
            names, images, format_label_selector(get(ds, "spec", "selector"))]


DAEMON_SET = Printer(
    (NAME, Column("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
     Column("Current", "integer", "The number of nodes running at least one daemon pod that should."),
     Column("Ready", "integer", "The number of nodes whose daemon pod is ready."),
     Column("Up-to-date", "integer", "The number of nodes running the updated daemon pod."),
     Column("Available", "integer", "The number of nodes whose daemon pod is available."),
     Column("Node Selector", description="Labels a node must carry to run the daemon pod."), AGE,
     wide("Containers", CONTAINERS_DESCRIPTION), wide("Images", IMAGES_DESCRIPTION),
     wide("Selector", SELECTOR_DESCRIPTION)),
    _daemon_set_cells,
)


def controller_name(obj: dict) -> str:
    """``statefulset.apps/web`` for the owner marked as controller, or ``<none>``."""
    for ref in get(obj, "metadata", "ownerReferences", default=[]):
        if ref.get("controller"):
            api_version = ref.get("apiVersion", "")
            group = api_version.split("/")[0] if "/" in api_version else ""
            kind = ref.get("kind", "")
            group_kind = f"{kind}.{group}" if group else kind
            if not group_kind:
                return ref.get("name", "")
            return f"{group_kind.lower()}/{ref.get('name', '')}"
    return NONE


CONTROLLER_REVISION = Printer(
    (NAME, Column("Controller", description="Controller of the object"),
     Column("Revision", description="Revision indicates the revision of the state represented by Data."), AGE),
    lambda cr, now: [name_of(cr), controller_name(cr), cr.get("revision", 0), since(creation(cr), now)],
)
