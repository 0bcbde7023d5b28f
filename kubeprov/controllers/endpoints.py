"""The Endpoints controller: one ``v1/Endpoints`` per Service with a selector, listing its pods' addresses.

As in Kubernetes: ready pods go to ``addresses``, pods not ready (yet) to ``notReadyAddresses``
(all to ``addresses`` with ``publishNotReadyAddresses``); addresses are grouped into subsets by the
port set their pod serves (a named ``targetPort`` resolves per pod, a pod lacking it is left out of that
port); more than 1000 addresses are truncated with the ``over-capacity`` annotation. Services without a
selector are left alone (their Endpoints are someone else's); an Endpoints whose Service is gone is deleted.
An unchanged Endpoints is not written again.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.api import labels
from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key
from kubeprov.controllers.podutil import is_ready, ready_condition
from kubeprov.controllers.timestamps import now_text

MAX_CAPACITY = 1000
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"


# ---- pods and services (shared with the EndpointSlice controller) ---------------------------


def service_selector(svc: Obj) -> dict[str, str] | None:
    """The Service's selector, or None when its endpoints are not managed from pods."""
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return None
    selector = spec.get("selector")
    return dict(selector) if selector is not None else None


def selects(svc: Obj, pod: Obj) -> bool:
    selector = service_selector(svc)
    if not selector:  # an empty selector selects nothing for endpoints (as Kubernetes' lister does)
        return False
    return labels.selector_from_set(selector).matches(meta(pod).get("labels") or {})


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """``ShouldPodBeInEndpoints``: a pod with an IP that may still run (by its restart policy)."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if not include_terminating and meta(pod).get("deletionTimestamp"):
        return False
    phase = status.get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def should_set_hostname(pod: Obj, svc: Obj) -> bool:
    spec = pod.get("spec") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == meta(svc).get("name") and \
        meta(pod).get("namespace") == meta(svc).get("namespace")


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """``FindPort``: the pod's port number for a Service port (a named targetPort looks up the containers)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def pod_reference(pod: Obj) -> Obj:
    m = meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace", ""), "name": m.get("name", ""), "uid": m.get("uid", "")}


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def trigger_time(svc: Obj, pods: list[Obj]) -> str:
    """The latest change among the Service and its pods (creation, Ready transitions, deletion)."""
    times = [meta(svc).get("creationTimestamp") or ""]
    for pod in pods:
        times.append(meta(pod).get("creationTimestamp") or "")
        times.append(meta(pod).get("deletionTimestamp") or "")
        times.append((ready_condition(pod) or {}).get("lastTransitionTime") or "")
    return max(t for t in times if t) if any(times) else now_text()


# ---- subsets ---------------------------------------------------------------------------------


def endpoint_address(pod: Obj, svc: Obj) -> Obj:
    address: Obj = {"ip": (pod.get("status") or {})["podIP"]}
    if should_set_hostname(pod, svc):
        address["hostname"] = (pod.get("spec") or {})["hostname"]
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    address["targetRef"] = pod_reference(pod)
    return address


def endpoint_port(service_port: Obj, number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol", "TCP")}
    if service_port.get("name"):
        port["name"] = service_port["name"]
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def _port_key(port: Obj) -> tuple:
    return (port.get("name", ""), port["port"], port.get("protocol", "TCP"), port.get("appProtocol", ""))


def _address_key(address: Obj) -> tuple:
    return (address["ip"], (address.get("targetRef") or {}).get("uid", ""))


def compute_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """Kubernetes' ``RepackSubsets`` of the pods' addresses: one subset per distinct port set, sorted."""
    spec = svc.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    ports = spec.get("ports") or []
    # address key -> (address, ready, set of port keys, ports by key)
    by_address: dict[tuple, tuple[Obj, bool, dict[tuple, Obj]]] = {}
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, tolerate_unready):
            continue
        address = endpoint_address(pod, svc)
        ready = tolerate_unready or is_ready(pod)
        found: dict[tuple, Obj] = {}
        if ports:
            for service_port in ports:
                number = find_port(pod, service_port)
                if number is None:
                    continue
                port = endpoint_port(service_port, number)
                found[_port_key(port)] = port
            if not found:
                continue
        elif not is_headless(svc):
            continue  # a Service without ports gets addresses only when headless
        key = _address_key(address)
        if key in by_address:
            by_address[key][2].update(found)
        else:
            by_address[key] = (address, ready, found)
    groups: dict[tuple, tuple[list[Obj], list[Obj], list[Obj]]] = {}
    for address, ready, found in by_address.values():
        group_key = tuple(sorted(found))
        entry = groups.setdefault(group_key, ([found[k] for k in sorted(found)], [], []))
        (entry[1] if ready else entry[2]).append(address)
    subsets = []
    for ports_list, ready_list, unready_list in groups.values():
        subset: Obj = {}
        if ready_list:
            subset["addresses"] = sorted(ready_list, key=_address_key)
        if unready_list:
            subset["notReadyAddresses"] = sorted(unready_list, key=_address_key)
        if ports_list:
            subset["ports"] = ports_list
        subsets.append(subset)
    return sorted(subsets, key=lambda s: [_port_key(p) for p in s.get("ports") or []])


def address_count(subsets: list[Obj]) -> int:
    return sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)


def truncate(subsets: list[Obj], capacity: int = MAX_CAPACITY) -> list[Obj]:
    """Keep at most ``capacity`` addresses, ready ones first, in subset order (Kubernetes favours ready)."""
    left = capacity
    out = [copy.deepcopy(s) for s in subsets]
    for field in ("addresses", "notReadyAddresses"):
        for subset in out:
            items = subset.get(field) or []
            if not items:
                continue
            kept = items[:max(0, left)]
            left -= len(kept)
            if kept:
                subset[field] = kept
            else:
                subset.pop(field, None)
    return [s for s in out if s.get("addresses") or s.get("notReadyAddresses")]


def desired_labels(svc: Obj) -> dict[str, str]:
    out = dict(meta(svc).get("labels") or {})
    out[SKIP_MIRROR_LABEL] = "true"
    if is_headless(svc):
        out[HEADLESS_LABEL] = ""
    else:
        out.pop(HEADLESS_LABEL, None)
    return out


# ---- the controller ----------------------------------------------------------------------


class EndpointsController(Controller):
    name = "endpoint"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.services = self.informer("v1", "services")
        self.pods = self.informer("v1", "pods")
        self.endpoints = self.informer("v1", "endpoints")
        self.services.add_handler(on_add=self._service, on_update=lambda _o, new: self._service(new),
                                  on_delete=self._service)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_added)
        self.endpoints.add_handler(on_delete=self._endpoints_deleted)

    async def start(self, sync_timeout: float | None = None) -> None:
        await super().start(sync_timeout)
        for ep in self.endpoints.list():
            self._leftover(ep)

    def _service(self, svc: Obj) -> None:
        if self.wants(meta(svc).get("namespace", "")):
            self.enqueue(key_of(svc))

    def _services_of(self, pod: Obj) -> list[str]:
        namespace = meta(pod).get("namespace", "")
        if not self.wants(namespace):
            return []
        return [key_of(svc) for svc in self.services.list(namespace) if selects(svc, pod)]

    def _pod_added(self, pod: Obj) -> None:
        for key in self._services_of(pod):
            self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        for key in set(self._services_of(old)) | set(self._services_of(new)):
            self.enqueue(key)

    def _leftover(self, ep: Obj) -> None:
        """At start, Endpoints without a Service are deleted (as Kubernetes' ``checkLeftoverEndpoints``);
        leader-election locks are not ours."""
        m = meta(ep)
        if not self.wants(m.get("namespace", "")) or LEADER_ANNOTATION in (m.get("annotations") or {}):
            return
        if self.services.get(m.get("namespace", ""), m.get("name", "")) is None:
            self.enqueue(key_of(ep))

    def _endpoints_deleted(self, ep: Obj) -> None:
        m = meta(ep)
        svc = self.services.get(m.get("namespace", ""), m.get("name", ""))
        if svc is not None and self.wants(m.get("namespace", "")):
            self.enqueue(key_of(svc))

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        svc = self.services.get(namespace, name)
        if svc is None:
            await self._delete_endpoints(namespace, name)
            return
        if service_selector(svc) is None or meta(svc).get("deletionTimestamp"):
            return
        pods = [p for p in self.pods.list(namespace) if selects(svc, p)]
        subsets = compute_subsets(svc, pods)
        over = address_count(subsets) > MAX_CAPACITY
        if over:
            subsets = truncate(subsets)
        current = self.endpoints.get(namespace, name)
        wanted_labels = desired_labels(svc)
        if current is not None:
            annotations = meta(current).get("annotations") or {}
            if (current.get("subsets") or []) == subsets and (meta(current).get("labels") or {}) == wanted_labels \
                    and (annotations.get(OVER_CAPACITY_ANNOTATION) == "truncated") == over:
                return
        new = copy.deepcopy(current) if current is not None else {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}}
        new_meta = new["metadata"]
        annotations = dict(new_meta.get("annotations") or {})
        annotations[TRIGGER_TIME_ANNOTATION] = trigger_time(svc, pods)
        if over:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        new_meta["annotations"] = annotations
        new_meta["labels"] = wanted_labels
        new["subsets"] = subsets
        try:
            if current is None:
                await self.client.create("v1", "endpoints", new, namespace)
            else:
                await self.client.update("v1", "endpoints", new, namespace)
        except StatusError as exc:
            if exc.code == 403 and "terminat" in exc.message:
                return
            if exc.code in (404, 409) or exc.reason == "AlreadyExists":
                self.queue.add_after(key, 0.1)  # our cache is behind: try again when it caught up
                return
            self.event(svc, "Warning", "FailedToUpdateEndpoint", f"Failed to update endpoint {key}: {exc.message}")
            raise

    async def _delete_endpoints(self, namespace: str, name: str) -> None:
        ep = self.endpoints.get(namespace, name)
        if ep is None or LEADER_ANNOTATION in (meta(ep).get("annotations") or {}):
            return
        try:
            await self.client.delete("v1", "endpoints", name, namespace,
                                     preconditions={"uid": meta(ep).get("uid")})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
