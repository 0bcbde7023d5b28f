"""The PersistentVolume binder: pairs claims with volumes and reclaims volumes whose claim is gone.

As Kubernetes' persistent-volume controller: a pending claim is bound to the smallest Available volume
that satisfies it (same class, same volumeMode, at least the requested size, a superset of the access
modes, the claim's selector) or to the volume it names; a volume pre-bound to a claim waits for that
claim. Binding writes ``PV.spec.claimRef`` and phase Bound first, then the claim's ``volumeName``,
annotations and status. A claim with nothing to match waits for its class's provisioner (annotated
``volume.kubernetes.io/storage-provisioner``, event ExternalProvisioning) or reports FailedBinding.
``WaitForFirstConsumer`` claims wait until the scheduler has chosen a node for a pod using them: it records
the node in ``volume.kubernetes.io/selected-node`` (or pre-binds a static volume) before binding the pod. For
a pod that skipped the scheduler (created with ``spec.nodeName``) the binder records that node itself. A
free volume whose ``kubernetes.io/hostname`` node affinity excludes the selected node is not used. A volume whose
claim is deleted goes Released and is deleted (``Delete``; dynamically provisioned ones are left to
their provisioner) or kept (``Retain``).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import labels
from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
NO_VOLUMES = "no persistent volumes available for this claim and no storage class is set"


# ---- matching (pure) -------------------------------------------------------------------------

def spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def claim_class(claim: Obj) -> str:
    """The claim's class; unset and ``""`` both mean no class."""
    value = spec(claim).get("storageClassName")
    if value is None:
        value = (meta(claim).get("annotations") or {}).get(BETA_CLASS, "")
    return value or ""


def volume_class(pv: Obj) -> str:
    value = spec(pv).get("storageClassName")
    if value is None:
        value = (meta(pv).get("annotations") or {}).get(BETA_CLASS, "")
    return value or ""


def quantity(text: Any) -> Quantity | None:
    if text is None:
        return None
    try:
        return Quantity.parse(str(text))
    except QuantityError:
        return None


def requested(claim: Obj) -> Quantity:
    return quantity(((spec(claim).get("resources") or {}).get("requests") or {}).get("storage")) \
        or Quantity.parse("0")


def capacity(pv: Obj) -> Quantity:
    return quantity((spec(pv).get("capacity") or {}).get("storage")) or Quantity.parse("0")


def is_bound_to(pv: Obj, claim: Obj) -> bool:
    """The volume's claimRef names this claim (with its uid, or with none yet: pre-bound by name)."""
    ref = spec(pv).get("claimRef")
    if not ref:
        return False
    m = meta(claim)
    if ref.get("name") != m.get("name") or ref.get("namespace") != m.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == m.get("uid")


def mismatch(pv: Obj, claim: Obj) -> str:
    """Why ``pv`` cannot satisfy ``claim`` (``""`` when it can), ignoring claimRef and phase."""
    if volume_class(pv) != claim_class(claim):
        return "storageClassName does not match"
    if (spec(pv).get("volumeMode") or "Filesystem") != (spec(claim).get("volumeMode") or "Filesystem"):
        return "incompatible volumeMode"
    if not set(spec(claim).get("accessModes") or []) <= set(spec(pv).get("accessModes") or []):
        return "incompatible accessMode"
    if capacity(pv) < requested(claim):
        return "requested PV is too small"
    try:
        selector = labels.from_label_selector(spec(claim).get("selector"))
    except labels.SelectorError:
        return "invalid selector"
    if spec(claim).get("selector") and not selector.matches(meta(pv).get("labels") or {}):
        return "selector does not match"
    return ""


def reachable_from(pv: Obj, node: str) -> bool:
    """Whether a volume's required node affinity, as far as it names hostnames (``kubernetes.io/hostname In``),
    admits ``node`` (the label is taken to equal the node name, as the scheduler's eligible-node check does)."""
    terms = ((spec(pv).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    named: set[str] = set()
    for term in terms:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") == "kubernetes.io/hostname" and expr.get("operator") == "In":
                named |= set(expr.get("values") or [])
    return not named or node in named


def find_best_volume(claim: Obj, volumes: list[Obj]) -> Obj | None:
    """A volume pre-bound to the claim if one fits, else the smallest free volume that fits (then by name)."""
    usable = [pv for pv in volumes if not meta(pv).get("deletionTimestamp")]
    for pv in sorted(usable, key=lambda v: meta(v).get("name", "")):
        if is_bound_to(pv, claim) and not mismatch(pv, claim):
            return pv
    node = (meta(claim).get("annotations") or {}).get(SELECTED_NODE)
    free = [pv for pv in usable if not spec(pv).get("claimRef")
            and (pv.get("status") or {}).get("phase", "Pending") in ("Available", "Pending", "")
            and not mismatch(pv, claim) and (not node or reachable_from(pv, node))]
    if not free:
        return None
    return min(free, key=lambda v: (capacity(v), meta(v).get("name", "")))


def claim_ref(claim: Obj) -> Obj:
    m = meta(claim)
    return {"kind": "PersistentVolumeClaim", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"],
            "apiVersion": "v1", "resourceVersion": m.get("resourceVersion", "")}


def pods_using(pods: list[Obj], claim_name: str) -> list[Obj]:
    return [p for p in pods if any((v.get("persistentVolumeClaim") or {}).get("claimName") == claim_name
                                   for v in spec(p).get("volumes") or [])]


# ---- the controller ---------------------------------------------------------------------------

class PersistentVolumeBinder(Controller):
    name = "persistentvolume-binder"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.volumes = self.informer("v1", "persistentvolumes")
        self.claims = self.informer("v1", "persistentvolumeclaims")
        self.classes = self.informer("storage.k8s.io/v1", "storageclasses")
        self.pods = self.informer("v1", "pods")
        self.volumes.add_handler(on_add=self._volume_changed, on_update=lambda _o, n: self._volume_changed(n),
                                 on_delete=self._volume_changed)
        self.claims.add_handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n),
                                on_delete=self._claim_deleted)
        self.classes.add_handler(on_add=self._class_changed, on_update=lambda _o, n: self._class_changed(n))
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated)

    # ---- event handlers ----------------------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        if self.wants(meta(claim).get("namespace", "")):
            self.enqueue("pvc:" + key_of(claim))

    def _claim_deleted(self, claim: Obj) -> None:
        if not self.wants(meta(claim).get("namespace", "")):
            return
        m = meta(claim)
        for pv in self.volumes.list():
            ref = spec(pv).get("claimRef") or {}
            if ref.get("uid") == m.get("uid") or (ref.get("name"), ref.get("namespace")) == (m.get("name"),
                                                                                             m.get("namespace")):
                self.enqueue("pv:" + meta(pv)["name"])

    def _volume_changed(self, pv: Obj) -> None:
        ref = spec(pv).get("claimRef")
        if ref:
            if self.wants(ref.get("namespace", "")):
                self.enqueue("pv:" + meta(pv)["name"])
                self.enqueue(f"pvc:{ref.get('namespace')}/{ref.get('name')}")
            return
        if self.namespace_filter is None:
            self.enqueue("pv:" + meta(pv)["name"])
        self._pending_claims_again()

    def _class_changed(self, _sc: Obj) -> None:
        self._pending_claims_again()

    def _pending_claims_again(self) -> None:
        for claim in self.claims.list():
            if (claim.get("status") or {}).get("phase", "Pending") == "Pending" and \
                    self.wants(meta(claim).get("namespace", "")):
                self.enqueue("pvc:" + key_of(claim))

    def _pod_changed(self, pod: Obj) -> None:
        if not spec(pod).get("nodeName") or not self.wants(meta(pod).get("namespace", "")):
            return
        for volume in spec(pod).get("volumes") or []:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if name:
                self.enqueue(f"pvc:{meta(pod).get('namespace')}/{name}")

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if spec(new).get("nodeName") and not spec(old).get("nodeName"):
            self._pod_changed(new)

    # ---- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        try:
            if kind == "pv":
                await self._sync_volume(rest)
            else:
                await self._sync_claim(rest)
        except StatusError as exc:
            if exc.code != 409:
                raise
            self.log.debug("%s: conflict, retrying: %s", key, exc.message)
            self.queue.add_after(key, 0.1)

    # ---- claims ------------------------------------------------------------------------------

    async def _sync_claim(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        cached = self.claims.get(namespace, name)
        if cached is None or meta(cached).get("deletionTimestamp"):
            return
        claim = copy.deepcopy(cached)
        volume_name = spec(claim).get("volumeName")
        if volume_name:
            await self._sync_named_claim(claim, volume_name)
            return
        sc = self.classes.get("", claim_class(claim)) if claim_class(claim) else None
        delayed = sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer"
        prebound = any(is_bound_to(pv, claim) and not mismatch(pv, claim) for pv in self.volumes.list())
        if delayed and not prebound and not (meta(claim).get("annotations") or {}).get(SELECTED_NODE):
            # a volume the scheduler pre-bound to the claim is bound at once, as Kubernetes' binder does
            node = self._consumer_node(claim)
            if node is None:
                self.event(claim, "Normal", "WaitForFirstConsumer",
                           "waiting for first consumer to be created before binding")
                return
            claim = await self._annotate(claim, {SELECTED_NODE: node})
        pv = find_best_volume(claim, self.volumes.list())
        if pv is not None:
            await self._bind(copy.deepcopy(pv), claim)
            return
        provisioner = (sc or {}).get("provisioner", "")
        if sc is not None and provisioner and provisioner != NO_PROVISIONER:
            annotations = meta(claim).get("annotations") or {}
            if annotations.get(STORAGE_PROVISIONER) != provisioner:
                claim = await self._annotate(claim, {STORAGE_PROVISIONER: provisioner,
                                                     BETA_STORAGE_PROVISIONER: provisioner})
            self.event(claim, "Normal", "ExternalProvisioning",
                       f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
                       "manually by the system administrator. If volume creation is delayed, please verify that "
                       "your external provisioner is running and correctly registered.")
        elif claim_class(claim) and sc is None:
            self.event(claim, "Warning", "ProvisioningFailed",
                       f'storageclass.storage.k8s.io "{claim_class(claim)}" not found')
        else:
            self.event(claim, "Normal", "FailedBinding", NO_VOLUMES)

    def _consumer_node(self, claim: Obj) -> str | None:
        users = pods_using(self.pods.list(meta(claim).get("namespace", "")), meta(claim)["name"])
        nodes = sorted(spec(p)["nodeName"] for p in users if spec(p).get("nodeName"))
        return nodes[0] if nodes else None

    async def _sync_named_claim(self, claim: Obj, volume_name: str) -> None:
        """A claim naming its volume: complete the binding, or report why it cannot be."""
        pv = self.volumes.get("", volume_name)
        phase = (claim.get("status") or {}).get("phase", "Pending")
        if pv is None:
            if phase == "Bound":
                await self._claim_status(claim, {"phase": "Lost"})
                self.event(claim, "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the "
                                                          "volume is lost!")
            else:
                self.event(claim, "Normal", "FailedBinding", f'volume "{volume_name}" not found')
            return
        if not spec(pv).get("claimRef"):
            why = mismatch(pv, claim)
            if why:
                self.event(claim, "Warning", "VolumeMismatch", f'Cannot bind to requested volume "{volume_name}": '
                                                               f"{why}")
                return
            await self._bind(copy.deepcopy(pv), claim)
            return
        if is_bound_to(pv, claim):
            await self._bind(copy.deepcopy(pv), claim)
            return
        if phase == "Bound":
            await self._claim_status(claim, {"phase": "Lost"})
            self.event(claim, "Warning", "ClaimMisbound", "Two claims are bound to the same volume, this one is "
                                                          "bound incorrectly")
        else:
            self.event(claim, "Normal", "FailedBinding", f'volume "{volume_name}" already bound to a different claim.')

    async def _bind(self, pv: Obj, claim: Obj) -> None:
        """Volume first (claimRef, then phase Bound), then the claim (volumeName and annotations, then status)."""
        ref = spec(pv).get("claimRef") or {}
        if ref.get("uid") != meta(claim).get("uid") or ref.get("name") != meta(claim)["name"]:
            if not ref:
                pv["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
            pv["spec"]["claimRef"] = claim_ref(claim)
            pv = await self.client.update("v1", "persistentvolumes", pv)
            self.log.info("bound volume %s to claim %s", meta(pv)["name"], key_of(claim))
        if (pv.get("status") or {}).get("phase") != "Bound":
            pv = await self._volume_status(pv, "Bound")
        annotations = meta(claim).get("annotations") or {}
        if spec(claim).get("volumeName") != meta(pv)["name"] or annotations.get(BIND_COMPLETED) != "yes":
            new = copy.deepcopy(claim)
            new_annotations = new["metadata"].setdefault("annotations", {})
            if spec(new).get("volumeName") != meta(pv)["name"]:
                new["spec"]["volumeName"] = meta(pv)["name"]
                new_annotations[BOUND_BY_CONTROLLER] = "yes"
            new_annotations[BIND_COMPLETED] = "yes"
            claim = await self.client.update("v1", "persistentvolumeclaims", new)
        status = claim.get("status") or {}
        wanted = {"phase": "Bound", "accessModes": spec(pv).get("accessModes") or [],
                  "capacity": dict(spec(pv).get("capacity") or {})}
        if any(status.get(k) != v for k, v in wanted.items()):
            await self._claim_status(claim, wanted)

    async def _annotate(self, claim: Obj, annotations: dict[str, str | None]) -> Obj:
        """Set (or, for None, remove) annotations with an update of the version we read."""
        new = copy.deepcopy(claim)
        merged = {**(meta(claim).get("annotations") or {}), **annotations}
        new["metadata"]["annotations"] = {k: v for k, v in merged.items() if v is not None}
        return await self.client.update("v1", "persistentvolumeclaims", new, meta(claim)["namespace"])

    async def _claim_status(self, claim: Obj, values: Obj) -> Obj:
        new = copy.deepcopy(claim)
        new["status"] = {**(claim.get("status") or {}), **values}
        return await self.client.update("v1", "persistentvolumeclaims", new, subresource="status")

    async def _volume_status(self, pv: Obj, phase: str, message: str = "") -> Obj:
        new = copy.deepcopy(pv)
        status = {k: v for k, v in (pv.get("status") or {}).items() if k not in ("message", "reason")}
        if status.get("phase") != phase:
            status["lastPhaseTransitionTime"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status["phase"] = phase
        if message:
            status["message"] = message
        new["status"] = status
        return await self.client.update("v1", "persistentvolumes", new, subresource="status")

    # ---- volumes -----------------------------------------------------------------------------

    async def _sync_volume(self, name: str) -> None:
        cached = self.volumes.get("", name)
        if cached is None or meta(cached).get("deletionTimestamp"):
            return
        pv = copy.deepcopy(cached)
        phase = (pv.get("status") or {}).get("phase", "Pending")
        ref = spec(pv).get("claimRef")
        if not ref:
            if phase != "Available" and self.namespace_filter is None:
                await self._volume_status(pv, "Available")
            return
        if not self.wants(ref.get("namespace", "")):
            return
        if not ref.get("uid"):
            # pre-bound by name: the claim will come (or is being bound)
            if phase not in ("Available", "Bound"):
                await self._volume_status(pv, "Available")
            return
        claim = self.claims.get(ref.get("namespace", ""), ref.get("name", ""))
        if claim is not None and meta(claim).get("uid") == ref.get("uid"):
            if spec(claim).get("volumeName") == name and phase != "Bound":
                await self._volume_status(pv, "Bound")
            elif spec(claim).get("volumeName") not in (None, "", name) and \
                    (meta(pv).get("annotations") or {}).get(BOUND_BY_CONTROLLER):
                await self._unbind(pv)
            return
        if not await self._claim_gone(ref):
            return
        await self._reclaim(pv, phase)

    async def _claim_gone(self, ref: Obj) -> bool:
        """The informer may lag: ask the API before releasing a volume."""
        try:
            live = await self.client.get("v1", "persistentvolumeclaims", ref.get("name", ""), ref.get("namespace", ""))
        except StatusError as exc:
            if exc.code == 404:
                return True
            raise
        return meta(live).get("uid") != ref.get("uid")

    async def _unbind(self, pv: Obj) -> None:
        pv["spec"].pop("claimRef", None)
        pv["metadata"].get("annotations", {}).pop(BOUND_BY_CONTROLLER, None)
        pv = await self.client.update("v1", "persistentvolumes", pv)
        await self._volume_status(pv, "Available")

    async def _reclaim(self, pv: Obj, phase: str) -> None:
        if phase not in ("Released", "Failed"):
            pv = await self._volume_status(pv, "Released")
            self.log.info("volume %s released", meta(pv)["name"])
        policy = spec(pv).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Retain" or phase == "Failed":
            return
        if policy == "Recycle":
            await self._volume_status(pv, "Failed", "Recycle is not supported; use Delete or Retain")
            self.event(pv, "Warning", "VolumeFailedRecycle", "Recycle is not supported; use Delete or Retain")
            return
        provisioner = (meta(pv).get("annotations") or {}).get(PROVISIONED_BY, "")
        if provisioner and not provisioner.startswith("kubernetes.io/"):
            return  # an external provisioner deletes what it made
        try:
            await self.client.delete("v1", "persistentvolumes", meta(pv)["name"])
        except StatusError as exc:
            if exc.code != 404:
                raise
        self.log.info("volume %s deleted (reclaim policy Delete)", meta(pv)["name"])
