"""ResourceQuota: a create (or an update that grows usage) is refused when it would take a quota of its
namespace past ``spec.hard``; otherwise the quota's ``status.used`` is raised before the object is
stored, through a compare-and-swap write, so concurrent requests cannot both take the last unit.

Usage only goes down when a quota controller recounts the namespace (the controller manager's job);
until then deleted objects stay counted. A quota whose status has no usage for a resource yet (new, or
``spec.hard`` grew) gets it counted here from the namespace's objects, as that controller would.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, Attributes, mapping, meta
from kubeprov.apiserver.admission.plugin import Plugin
from kubeprov.apiserver.admission.quotausage import Evaluator, evaluator_for, evaluators_for_names, scope_selectors
from kubeprov.apiserver.admission.resources import (
    ZERO,
    ResourceList,
    add,
    add_into,
    mask,
    parse_list,
    pretty,
    remove_zeros,
    subtract_non_negative,
    to_json,
)

Obj = dict[str, Any]


def quota_hard(quota: Obj) -> ResourceList:
    """The limits in force: ``spec.hard`` (``status.hard`` is only its copy)."""
    return parse_list(mapping(quota.get("spec")).get("hard"))


class ResourceQuota(Plugin):
    name: ClassVar[str] = "ResourceQuota"
    validating: ClassVar[bool] = True

    async def validate(self, a: Attributes) -> None:
        if a.subresource or not a.namespace or a.obj is None or a.operation not in (CREATE, UPDATE):
            return
        rt = self.lookup.resource_type(a.group, a.resource)
        if rt is not None and not rt.stored:
            return
        evaluator = evaluator_for(a.group, a.resource)
        if evaluator is None or not evaluator.handles(a.operation):
            return
        quotas = await self.lookup.list("", "resourcequotas", a.namespace)
        if not quotas:
            return
        obj = a.obj
        interesting: list[Obj] = []
        for quota in sorted(quotas, key=lambda q: str(meta(q).get("name", ""))):
            names = sorted(quota_hard(quota))
            if not evaluator.matches(quota, names, obj):
                continue
            problem = evaluator.constraints(evaluator.matching_resources(names), obj)
            if problem:
                raise a.forbidden(f"failed quota: {meta(quota).get('name', '')}: {problem}")
            interesting.append(quota)
        if not interesting:
            return
        usage = evaluator.usage(obj)
        negative = sorted(name for name, value in usage.items() if value.sign() < 0)
        if negative:
            raise a.forbidden(f"quota usage is negative for resource(s): {','.join(negative)}")
        charges: list[tuple[str, ResourceList]] = []
        for quota in interesting:
            delta = usage
            if a.operation == UPDATE and a.old is not None and meta(a.old).get("resourceVersion"):
                if evaluator.matches(quota, sorted(quota_hard(quota)), a.old):
                    delta = subtract_non_negative(usage, evaluator.usage(a.old))
            delta = remove_zeros(delta)
            if delta:
                charges.append((str(meta(quota).get("name", "")), delta))
        done: list[tuple[str, ResourceList]] = []
        try:
            for name, delta in charges:
                if await self._charge(a, name, delta):
                    done.append((name, delta))
        except StatusError:
            for name, delta in done:
                await self._refund(a.namespace, name, delta)
            raise

    # ---- the quota object -----------------------------------------------------------------

    def _quota_type(self) -> Any:
        rt = self.lookup.resource_type("", "resourcequotas")
        if rt is None:  # pragma: no cover - always served
            raise RuntimeError("resourcequotas are not served")
        return rt

    async def _charge(self, a: Attributes, name: str, delta: ResourceList) -> bool:
        """Check the quota with this request's usage and record it; False when the quota is gone
        (or this is a dry run, which records nothing)."""
        if a.dry_run:
            current = await self.lookup.get("", "resourcequotas", a.namespace, name)
            if current is not None:
                await self._apply(a, copy.deepcopy(current), delta)
            return False

        async def mutate(current: Obj) -> Obj:
            return await self._apply(a, current, delta)

        try:
            await self.lookup.store.update(self._quota_type(), a.namespace, name, mutate)
        except StatusError as err:
            if err.code == 404:
                return False
            raise
        return True

    async def _apply(self, a: Attributes, quota: Obj, delta: ResourceList) -> Obj:
        hard = quota_hard(quota)
        status = quota.get("status")
        if not isinstance(status, dict):
            status = quota["status"] = {}
        used = parse_list(status.get("used"))
        missing = [n for n in sorted(hard) if n not in used]
        if missing:
            used.update(await self.namespace_usage(quota, missing, a.namespace))
        requested = mask(delta, hard)
        new_used = add(used, requested)
        grown = mask(new_used, requested)
        exceeded = [n for n in sorted(hard) if n in grown and grown[n] > hard[n]]
        if exceeded:
            raise a.forbidden(
                f"exceeded quota: {meta(quota).get('name', '')}, requested: {pretty(mask(requested, exceeded))}, "
                f"used: {pretty(mask(used, exceeded))}, limited: {pretty(mask(hard, exceeded))}")
        status["hard"] = to_json(hard)
        status["used"] = to_json(mask(new_used, hard))
        return quota

    async def _refund(self, namespace: str, name: str, delta: ResourceList) -> None:
        """Give back what a request took from a quota when a later quota refused it."""

        async def mutate(current: Obj) -> Obj:
            status = current.get("status")
            if isinstance(status, dict):
                used = parse_list(status.get("used"))
                for resource, value in delta.items():
                    if resource in used:
                        left = used[resource] - value
                        used[resource] = left if left > ZERO else ZERO
                status["used"] = to_json(used)
            return current

        try:
            await self.lookup.store.update(self._quota_type(), namespace, name, mutate)
        except StatusError:
            pass

    async def namespace_usage(self, quota: Obj, names: list[str], namespace: str) -> ResourceList:
        """What the namespace's objects use of ``names`` (within the quota's scopes)."""
        out: ResourceList = {name: ZERO for name in names}
        selectors = scope_selectors(quota)
        evaluators: list[Evaluator] = evaluators_for_names(names)
        for evaluator in evaluators:
            wanted = evaluator.matching_resources(names)
            for obj in await self.lookup.list(evaluator.group, evaluator.resource, namespace):
                if all(evaluator.matches_scope(sel, obj) for sel in selectors):
                    add_into(out, mask(evaluator.usage(obj), wanted))
        return out
