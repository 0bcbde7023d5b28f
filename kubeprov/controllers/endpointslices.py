"""The EndpointSlice controller: ``discovery.k8s.io/v1`` EndpointSlices (IPv4) for every Service with a selector.

Pods with an IP become endpoints with ready/serving/terminating conditions, node, zone (the node's
``topology.kubernetes.io/zone``) and target reference, grouped by the port set they serve. Slices hold at
most ``max_endpoints_per_slice`` endpoints. Like Kubernetes' reconciler, existing slices are updated in
place (kept endpoints stay where they are, new ones fill slices that change anyway, then slices with room,
then new slices), so a pod becoming ready rewrites one slice, not all. A Service with no endpoints keeps one
empty placeholder slice. Slices are owned by their Service, so the garbage collector removes them with it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key
from kubeprov.controllers.endpoints import (
    find_port,
    is_headless,
    pod_reference,
    selects,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
    trigger_time,
)
from kubeprov.controllers.podutil import is_ready

API_VERSION = "discovery.k8s.io/v1"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100
ADDRESS_TYPE = "IPv4"


# ---- desired endpoints -----------------------------------------------------------------------


def slice_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"name": service_port.get("name", ""), "port": number,
                 "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def pod_endpoint(pod: Obj, svc: Obj, zone: str | None) -> Obj:
    """Kubernetes' ``podToEndpoint``: terminating pods are never ``ready`` unless the Service publishes
    not-ready addresses; ``serving`` is the pod's readiness."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    serving = publish or is_ready(pod)
    terminating = bool(meta(pod).get("deletionTimestamp"))
    ready = publish or (serving and not terminating)
    endpoint: Obj = {"addresses": [(pod.get("status") or {})["podIP"]],
                     "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
    if should_set_hostname(pod, svc):
        endpoint["hostname"] = (pod.get("spec") or {})["hostname"]
    endpoint["targetRef"] = pod_reference(pod)
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    if zone:
        endpoint["zone"] = zone
    return endpoint


def port_set_key(ports: list[Obj]) -> tuple:
    return tuple(sorted((p.get("name", ""), p["port"], p.get("protocol", "TCP"), p.get("appProtocol", ""))
                        for p in ports))


def desired_endpoints(svc: Obj, pods: list[Obj], zones: dict[str, str]) -> dict[tuple, tuple[list[Obj], list[Obj]]]:
    """Port set key -> (ports, endpoints) for the pods the Service selects (IPv4 only)."""
    out: dict[tuple, tuple[list[Obj], list[Obj]]] = {}
    service_ports = (svc.get("spec") or {}).get("ports") or []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, True):
            continue
        if ":" in (pod.get("status") or {}).get("podIP", ""):
            continue  # an IPv6 address belongs to an IPv6 slice, which we do not make
        ports = []
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is not None:
                ports.append(slice_port(service_port, number))
        key = port_set_key(ports)
        node = (pod.get("spec") or {}).get("nodeName") or ""
        entry = out.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"])), []))
        entry[1].append(pod_endpoint(pod, svc, zones.get(node)))
    return out


def endpoint_key(endpoint: Obj) -> tuple:
    ref = endpoint.get("targetRef") or {}
    return (ref.get("uid") or "", tuple(endpoint.get("addresses") or []))


# ---- reconciling slices ----------------------------------------------------------------------


@dataclass
class SlicePlan:
    """What to write: new slices (bodies without names), changed slices, slices to delete."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def plan_slices(existing: list[Obj], desired: dict[tuple, tuple[list[Obj], list[Obj]]], template: Obj,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> SlicePlan:
    """Kubernetes' reconciler in short: per port set keep slices in place, drop gone endpoints, refresh
    changed ones, put new endpoints first into slices being updated anyway, then into the fullest slices
    with room, then into new slices; delete slices left empty and those of port sets no longer served.
    ``template`` holds the metadata (labels, annotations, ownerReferences) every slice must carry."""
    plan = SlicePlan()
    by_ports: dict[tuple, list[Obj]] = {}
    for s in existing:
        by_ports.setdefault(port_set_key(s.get("ports") or []), []).append(s)
    placeholder_needed = not any(endpoints for _, endpoints in desired.values())
    if placeholder_needed:
        return _plan_placeholder(existing, template, plan)
    for key, slices in by_ports.items():
        if key not in desired:
            plan.delete.extend(slices)
    for key, (ports, endpoints) in desired.items():
        _plan_port_set(by_ports.get(key, []), ports, endpoints, template, max_per_slice, plan)
    return plan


def _with_metadata(s: Obj, template: Obj) -> bool:
    """Make the slice carry the template's labels/annotations/owner; True if it changed."""
    m = s.setdefault("metadata", {})
    changed = False
    for field_name in ("labels", "ownerReferences"):
        if m.get(field_name) != template["metadata"].get(field_name):
            m[field_name] = copy.deepcopy(template["metadata"].get(field_name))
            changed = True
    return changed


def _plan_placeholder(existing: list[Obj], template: Obj, plan: SlicePlan) -> SlicePlan:
    keep = next((s for s in existing if not s.get("endpoints") and not s.get("ports")), None)
    for s in existing:
        if s is not keep:
            plan.delete.append(s)
    if keep is None:
        body = copy.deepcopy(template)
        body["endpoints"] = []
        body["ports"] = []
        plan.create.append(body)
    else:
        updated = copy.deepcopy(keep)
        if _with_metadata(updated, template):
            plan.update.append(updated)
    return plan


def _plan_port_set(slices: list[Obj], ports: list[Obj], endpoints: list[Obj], template: Obj,
                   max_per_slice: int, plan: SlicePlan) -> None:
    wanted = {endpoint_key(e): e for e in endpoints}
    placed: set[tuple] = set()
    to_update: list[Obj] = []
    unchanged: list[Obj] = []
    for s in slices:
        kept, changed = [], False
        for e in s.get("endpoints") or []:
            key = endpoint_key(e)
            if key not in wanted or key in placed:
                changed = True
                continue
            placed.add(key)
            if wanted[key] != e:
                changed = True
            kept.append(wanted[key])
        if not kept:
            plan.delete.append(s)
            continue
        updated = copy.deepcopy(s)
        updated["endpoints"] = kept
        if updated.get("ports") != ports:
            updated["ports"] = copy.deepcopy(ports)
            changed = True
        changed = _with_metadata(updated, template) or changed
        (to_update if changed else unchanged).append(updated)
    missing = [e for k, e in wanted.items() if k not in placed]
    # first fill slices that are written anyway, then the fullest slices with room
    for s in to_update + sorted(unchanged, key=lambda x: -len(x["endpoints"])):
        if not missing:
            break
        room = max_per_slice - len(s["endpoints"])
        if room <= 0:
            continue
        s["endpoints"].extend(missing[:room])
        missing = missing[room:]
        if s in unchanged:
            unchanged.remove(s)
            to_update.append(s)
    plan.update.extend(to_update)
    while missing:
        body = copy.deepcopy(template)
        body["endpoints"] = missing[:max_per_slice]
        body["ports"] = copy.deepcopy(ports)
        plan.create.append(body)
        missing = missing[max_per_slice:]


# ---- the controller ----------------------------------------------------------------------


def _rv(obj: Obj | None) -> int:
    try:
        return int(meta(obj or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class EndpointSliceController(Controller):
    name = "endpointslice"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"max_endpoints_per_slice": int(getattr(config, "max_endpoints_per_slice", MAX_ENDPOINTS_PER_SLICE))}

    def __init__(self, *args: Any, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_per_slice = max(1, max_endpoints_per_slice)
        self.services = self.informer("v1", "services")
        self.pods = self.informer("v1", "pods")
        self.nodes = self.informer("v1", "nodes")
        self.slices = self.informer(API_VERSION, "endpointslices", indexers={"endpointslice-service": _service_index})
        # service key -> {slice name: resourceVersion we wrote (0: deleted)}: our cache may lag our writes
        self._written: dict[str, dict[str, int]] = {}
        self.services.add_handler(on_add=self._service, on_update=lambda _o, new: self._service(new),
                                  on_delete=self._service)
        self.pods.add_handler(on_add=self._pod, on_update=self._pod_updated, on_delete=self._pod)
        self.slices.add_handler(on_update=lambda _o, new: self._slice(new), on_delete=self._slice)
        self.nodes.add_handler(on_update=self._node_updated)

    def _service(self, svc: Obj) -> None:
        if self.wants(meta(svc).get("namespace", "")):
            self.enqueue(key_of(svc))

    def _pod(self, pod: Obj) -> None:
        namespace = meta(pod).get("namespace", "")
        if self.wants(namespace):
            for svc in self.services.list(namespace):
                if selects(svc, pod):
                    self.enqueue(key_of(svc))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") != meta(new).get("resourceVersion"):
            self._pod(old)
            self._pod(new)

    def _slice(self, s: Obj) -> None:
        """A slice changed or deleted by someone else is put right again."""
        m = meta(s)
        if (m.get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY and self.wants(m.get("namespace", "")):
            service = (m.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if service:
                self.enqueue(f"{m.get('namespace')}/{service}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if (meta(old).get("labels") or {}).get(ZONE_LABEL) == (meta(new).get("labels") or {}).get(ZONE_LABEL):
            return
        node = meta(new).get("name")
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") == node:
                self._pod(pod)

    def _zones(self) -> dict[str, str]:
        return {meta(n).get("name", ""): (meta(n).get("labels") or {})[ZONE_LABEL]
                for n in self.nodes.list() if ZONE_LABEL in (meta(n).get("labels") or {})}

    def template(self, svc: Obj, pods: list[Obj]) -> Obj:
        m = meta(svc)
        slice_labels = {k: v for k, v in (m.get("labels") or {}).items() if k != HEADLESS_LABEL}
        slice_labels[SERVICE_NAME_LABEL] = m["name"]
        slice_labels[MANAGED_BY_LABEL] = MANAGED_BY
        if is_headless(svc):
            slice_labels[HEADLESS_LABEL] = ""
        return {"apiVersion": API_VERSION, "kind": "EndpointSlice", "addressType": ADDRESS_TYPE,
                "metadata": {"generateName": f"{m['name']}-", "namespace": m["namespace"], "labels": slice_labels,
                             "annotations": {TRIGGER_TIME_ANNOTATION: trigger_time(svc, pods)},
                             "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": m["name"],
                                                  "uid": m["uid"], "controller": True, "blockOwnerDeletion": True}]}}

    def _current_slices(self, key: str) -> list[Obj] | None:
        """Our slices of the Service as the cache holds them, or None while the cache lags our writes."""
        slices = [s for s in self.slices.by_index("endpointslice-service", key)
                  if (s.get("addressType") or ADDRESS_TYPE) == ADDRESS_TYPE]
        written = self._written.get(key) or {}
        seen = {meta(s).get("name"): _rv(s) for s in slices}
        # the cache has passed a write when it shows that version (or a later one), or its watch is past it
        # (a slice created and at once deleted by someone else never shows)
        cache_rv = _rv({"metadata": {"resourceVersion": self.slices.resource_version}})
        for name, rv in list(written.items()):
            if (rv == 0 and name not in seen) or (rv and (seen.get(name, 0) >= rv or cache_rv >= rv)):
                del written[name]
        if written:
            return None
        self._written.pop(key, None)
        return slices

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        svc = self.services.get(namespace, name)
        if svc is None or service_selector(svc) is None or meta(svc).get("deletionTimestamp"):
            return  # slices of a deleted Service go with it (ownerReferences)
        slices = self._current_slices(key)
        if slices is None:
            self.queue.add_after(key, 0.1)
            return
        pods = [p for p in self.pods.list(namespace) if selects(svc, p)]
        desired = desired_endpoints(svc, pods, self._zones())
        template = self.template(svc, pods)
        plan = plan_slices(slices, desired, template, self.max_per_slice)
        if plan.empty:
            return
        await self._apply(key, svc, plan, template["metadata"]["annotations"])

    async def _apply(self, key: str, svc: Obj, plan: SlicePlan, stamp: dict[str, str]) -> None:
        namespace = meta(svc)["namespace"]
        written = self._written.setdefault(key, {})
        try:
            for body in plan.create:
                created = await self.client.create(API_VERSION, "endpointslices", body, namespace)
                written[meta(created)["name"]] = _rv(created)
            for body in plan.update:
                body["metadata"]["annotations"] = {**(body["metadata"].get("annotations") or {}), **stamp}
                updated = await self.client.update(API_VERSION, "endpointslices", body, namespace)
                written[meta(updated)["name"]] = _rv(updated)
            for s in plan.delete:
                await self.client.delete(API_VERSION, "endpointslices", meta(s)["name"], namespace)
                written[meta(s)["name"]] = 0
        except StatusError as exc:
            if exc.code == 403 and "terminat" in exc.message:
                return
            if exc.code in (404, 409):
                self.queue.add_after(key, 0.1)
                return
            self.event(svc, "Warning", "FailedToUpdateEndpointSlices",
                       f"Error updating Endpoint Slices for Service {key}: {exc.message}")
            raise


def _service_index(s: Obj) -> list[str]:
    m = meta(s)
    service = (m.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service or (m.get("labels") or {}).get(MANAGED_BY_LABEL) != MANAGED_BY:
        return []
    return [f"{m.get('namespace', '')}/{service}"]
