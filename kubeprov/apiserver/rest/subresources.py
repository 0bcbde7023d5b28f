"""Subresources with their own semantics: scale, pods/binding, pods/eviction, serviceaccounts/token."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import labels, status
from kubeprov.api.fielderrors import invalid, required
from kubeprov.api.status import StatusError
from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.rest import negotiate
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.objects import Objects, apply_patch
from kubeprov.apiserver.storage.keys import prefix_key
from kubeprov.apiserver.strategy import strategy_for

Obj = dict[str, Any]


MAX_DISRUPTED_PODS = 2000


def _can_ignore_budget(pod: Obj) -> bool:
    """Pods that are not running (or already going) may always be evicted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(pod["metadata"].get("deletionTimestamp"))


def _selects(pdb: Obj, pod_labels: dict[str, str]) -> bool:
    selector = labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
    return bool(str(selector)) and selector.matches(pod_labels)


def _pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _unhealthy_pod_may_go(pdb: Obj, pod: Obj) -> bool:
    """unhealthyPodEvictionPolicy: a running but not ready pod goes without spending the budget when the
    policy is AlwaysAllow, or (IfHealthyBudget, the default) when the budget is healthy anyway."""
    if _pod_ready(pod):
        return False
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    st = pdb.get("status") or {}
    desired = int(st.get("desiredHealthy") or 0)
    return desired > 0 and int(st.get("currentHealthy") or 0) >= desired


def _budget_refusal(cause: str, retry_after: int) -> dict[str, Any]:
    body = status.too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.",
                                    retry_after)
    body.setdefault("details", {})["causes"] = [{"reason": "DisruptionBudget", "message": cause}]
    return body


def _set_insufficient(st: Obj) -> None:
    conditions = [c for c in st.get("conditions") or [] if c.get("type") != "DisruptionAllowed"]
    old = next((c for c in st.get("conditions") or [] if c.get("type") == "DisruptionAllowed"), {})
    since = old.get("lastTransitionTime") if old.get("status") == "False" else None
    conditions.append({"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
                       "observedGeneration": st.get("observedGeneration", 0),
                       "lastTransitionTime": since or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    st["conditions"] = conditions


class Subresources:
    def __init__(self, objects: Objects, token_issuer: Any = None) -> None:
        self.objects = objects
        self.token_issuer = token_issuer
        self._pdb_type = next(rt for rt in builtin_resources()
                              if (rt.group, rt.resource, rt.version) == ("policy", "poddisruptionbudgets", "v1"))

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
        """Delete the pod unless its PodDisruptionBudget forbids it, as kube-apiserver's eviction does.

        An allowed eviction is first recorded in the budget's status (``disruptionsAllowed`` goes down,
        the pod is listed in ``disruptedPods``) with a compare-and-swap, so two evictions racing for
        the last allowed disruption cannot both pass before the disruption controller recounts.
        """
        pod = await self.objects.get(call)
        if not _can_ignore_budget(pod):
            pod_labels = pod["metadata"].get("labels") or {}
            budgets = [pdb for pdb in self.objects.cache.resource("policy", "poddisruptionbudgets").snapshot(
                prefix_key("policy", "poddisruptionbudgets", call.info.namespace)) if _selects(pdb, pod_labels)]
            if len(budgets) > 1:
                raise StatusError(status.internal_error(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
                    "support."))
            if budgets and not _unhealthy_pod_may_go(budgets[0], pod):
                await self._take_disruption(call, budgets[0], pod["metadata"]["name"])
        options = (eviction or {}).get("deleteOptions") if isinstance(eviction, dict) else None
        await self.objects.delete(call, options or {})
        return status.success(), 201

    async def _take_disruption(self, call: Call, pdb: Obj, pod_name: str) -> None:
        name = pdb["metadata"]["name"]

        async def mutate(current: Obj) -> Obj:
            st = current.setdefault("status", {})
            if int(st.get("observedGeneration") or 0) < int(current["metadata"].get("generation") or 0):
                raise StatusError(_budget_refusal(f"The disruption budget {name} is still being processed by the "
                                                  "server.", 10))
            allowed = int(st.get("disruptionsAllowed") or 0)
            if allowed < 0:
                raise StatusError(status.forbidden_with_message(
                    "poddisruptionbudget.policy", name, "pdb disruptions allowed is negative"))
            disrupted = st.get("disruptedPods") or {}
            if len(disrupted) > MAX_DISRUPTED_PODS:
                raise StatusError(status.forbidden_with_message(
                    "poddisruptionbudget.policy", name,
                    "DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
            if allowed == 0:
                raise StatusError(_budget_refusal(
                    f"The disruption budget {name} needs {int(st.get('desiredHealthy') or 0)} healthy pods and "
                    f"has {int(st.get('currentHealthy') or 0)} currently", 0))
            st["disruptionsAllowed"] = allowed - 1
            if allowed == 1:
                _set_insufficient(st)
            st["disruptedPods"] = {**disrupted, pod_name: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
            return current

        await self.objects.store.update(self._pdb_type, call.info.namespace, name, mutate, dry_run=call.dry_run)

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
