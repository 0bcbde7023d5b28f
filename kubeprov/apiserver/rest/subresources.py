"""Subresources with their own semantics: scale, pods/binding, pods/eviction, serviceaccounts/token."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import labels, status
from kubeprov.api.fielderrors import invalid, required
from kubeprov.api.status import StatusError
from kubeprov.apiserver.rest import negotiate
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.objects import Objects, apply_patch
from kubeprov.apiserver.storage.keys import prefix_key
from kubeprov.apiserver.strategy import strategy_for

Obj = dict[str, Any]


class Subresources:
    def __init__(self, objects: Objects, token_issuer: Any = None) -> None:
        self.objects = objects
        self.token_issuer = token_issuer

    # ---- scale -----------------------------------------------------------------------------

    async def get_scale(self, call: Call) -> Obj:
        obj = await self.objects.get(call)
        return strategy_for(call.rt).to_scale(obj)

    async def update_scale(self, call: Call, scale: Any) -> Obj:
        rt = call.rt
        if not isinstance(scale, dict):
            raise StatusError(status.bad_request("the object provided is unrecognized (must be of type Scale)"))
        strategy = strategy_for(rt)
        wanted_rv = (scale.get("metadata") or {}).get("resourceVersion")

        async def mutate(old: Obj) -> Obj:
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise StatusError(status.conflict(rt.group_resource, call.info.name))
            new = copy.deepcopy(old)
            errors = strategy.apply_scale(new, scale)
            if errors:
                raise StatusError(status.invalid("Scale", "autoscaling", call.info.name, errors))
            return await self.objects._prepare_update(call, new, old, "")

        new, _ = await self.objects._store_update(call, mutate)
        return strategy.to_scale(new)

    async def patch_scale(self, call: Call, raw: bytes, content_type: str) -> Obj:
        current = await self.get_scale(call)
        kind = negotiate.media_type(content_type)
        if kind not in negotiate.PATCH_TYPES[:3]:
            raise StatusError(status.unsupported_media_type(negotiate.PATCH_TYPES[:3]))
        patch = negotiate.decode_body(raw, kind, allowed=negotiate.PATCH_TYPES)
        return await self.update_scale(call, apply_patch("Scale", "autoscaling", kind, current, patch))

    # ---- pods/binding ----------------------------------------------------------------------

    async def bind(self, call: Call, binding: Any) -> Obj:
        """What the scheduler posts: set spec.nodeName once, as Kubernetes does."""
        rt = call.rt
        target = (binding or {}).get("target") if isinstance(binding, dict) else None
        node = (target or {}).get("name") if isinstance(target, dict) else None
        name = call.info.name
        if not node:
            raise StatusError(status.invalid("Binding", "", name, [required("target.name", "")]))
        if (target or {}).get("kind", "Node") not in ("Node", ""):
            raise StatusError(status.invalid("Binding", "", name, [
                invalid("target.kind", target.get("kind"), "must be empty or 'Node'")]))

        async def mutate(pod: Obj) -> Obj:
            spec = pod.setdefault("spec", {})
            if pod["metadata"].get("deletionTimestamp"):
                raise StatusError(status.conflict(rt.group_resource, name, f"pod {name} is being deleted, cannot be "
                                                                            "assigned to a host"))
            if spec.get("nodeName"):
                raise StatusError(status.conflict(rt.group_resource, name,
                                                  f"pod {name} is already assigned to node \"{spec['nodeName']}\""))
            spec["nodeName"] = node
            annotations = ((binding.get("metadata") or {}).get("annotations") or {})
            if annotations:
                pod["metadata"].setdefault("annotations", {}).update(annotations)
            conditions = pod.setdefault("status", {}).setdefault("conditions", [])
            conditions[:] = [c for c in conditions if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
            return pod

        await self.objects._store_update(call, mutate)
        return status.success()

    # ---- pods/eviction ---------------------------------------------------------------------

    async def evict(self, call: Call, eviction: Any) -> tuple[Obj, int]:
        """Delete the pod unless a PodDisruptionBudget forbids it (429 like Kubernetes)."""
        pod = await self.objects.get(call)
        if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
            pod_labels = pod["metadata"].get("labels") or {}
            pdbs = self.objects.cache.resource("policy", "poddisruptionbudgets").snapshot(
                prefix_key("policy", "poddisruptionbudgets", call.info.namespace))
            for pdb in pdbs:
                selector = labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
                if not selector.matches(pod_labels) or not str(selector):
                    continue
                if int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) < 1:
                    raise StatusError(status.too_many_requests(
                        "Cannot evict pod as it would violate the pod's disruption budget.", 0))
        options = (eviction or {}).get("deleteOptions") if isinstance(eviction, dict) else None
        await self.objects.delete(call, options or {})
        return status.success(), 201

    # ---- serviceaccounts/token -------------------------------------------------------------

    async def token(self, call: Call, request: Any) -> Obj:
        if self.token_issuer is None:
            raise StatusError(status.service_unavailable("no service-account signing key is configured"))
        sa = await self.objects.get(call)
        spec = (request or {}).get("spec") or {} if isinstance(request, dict) else {}
        seconds = int(spec.get("expirationSeconds") or 3600)
        if seconds < 600:
            raise StatusError(status.invalid("TokenRequest", "authentication.k8s.io", call.info.name, [
                invalid("spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes")]))
        audiences = list(spec.get("audiences") or [])
        token, expires = self.token_issuer.issue(
            namespace=call.info.namespace, service_account=call.info.name, sa_uid=sa["metadata"].get("uid", ""),
            audiences=audiences, expiration_seconds=seconds, bound_object=spec.get("boundObjectRef"))
        return {
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": call.info.name, "namespace": call.info.namespace,
                         "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"audiences": audiences, "expirationSeconds": seconds,
                     "boundObjectRef": spec.get("boundObjectRef")},
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
