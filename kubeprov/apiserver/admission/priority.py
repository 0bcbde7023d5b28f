"""Priority: a new pod's ``spec.priority`` and ``spec.preemptionPolicy`` come from its PriorityClass.

The scheduler orders its queue and chooses preemption victims by ``spec.priority`` alone, so the value must
be the class's, never the user's: a pod naming an unknown class is refused (``no PriorityClass with name x
was found``), one giving a priority or preemption policy different from its class's too. A pod naming no
class gets the global default class (the lowest-valued one if several claim it), else priority 0 and
``PreemptLowerPriority``. On update the stored values are kept (the fields are immutable). A PriorityClass
may only be ``globalDefault`` while no other one is.

kube-apiserver creates ``system-node-critical`` and ``system-cluster-critical`` at start-up; our API server
does not, so those two names resolve to their fixed values when no such object is stored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, Attributes, mapping, meta
from kubeprov.apiserver.admission.plugin import Plugin
from kubeprov.apiserver.strategy.scheduling import SYSTEM_CLASSES

GROUP = "scheduling.k8s.io"
RESOURCE = "priorityclasses"
PREEMPT_LOWER = "PreemptLowerPriority"

Obj = dict[str, Any]


def default_class(classes: list[Obj]) -> Obj | None:
    """The global default class with the lowest value, as kube-apiserver picks it."""
    defaults = [c for c in classes if c.get("globalDefault") is True]
    return min(defaults, key=lambda c: int(c.get("value") or 0), default=None)


class Priority(Plugin):
    name: ClassVar[str] = "Priority"
    mutating: ClassVar[bool] = True
    validating: ClassVar[bool] = True

    async def admit(self, a: Attributes) -> None:
        if not a.is_core("pods") or a.subresource or a.obj is None:
            return
        spec = a.obj.get("spec")
        if not isinstance(spec, dict):
            return
        if a.operation == UPDATE:
            old_spec = mapping((a.old or {}).get("spec"))
            for field in ("priority", "preemptionPolicy"):
                if spec.get(field) is None and old_spec.get(field) is not None:
                    spec[field] = old_spec[field]
            return
        if a.operation != CREATE:
            return
        class_name = spec.get("priorityClassName") or ""
        if not class_name:
            found = default_class(await self.lookup.list(GROUP, RESOURCE, ""))
            if found is not None:
                spec["priorityClassName"] = meta(found).get("name", "")
            value = int(found.get("value") or 0) if found is not None else 0
            policy = (found.get("preemptionPolicy") if found is not None else None) or PREEMPT_LOWER
        else:
            found = await self.lookup.get(GROUP, RESOURCE, "", str(class_name))
            if found is None and class_name in SYSTEM_CLASSES:
                found = {"value": SYSTEM_CLASSES[class_name], "preemptionPolicy": PREEMPT_LOWER}
            if found is None:
                raise a.forbidden(f"no PriorityClass with name {class_name} was found")
            value = int(found.get("value") or 0)
            policy = found.get("preemptionPolicy") or PREEMPT_LOWER
        given = spec.get("priority")
        if given is not None and given != value:
            raise a.forbidden(f"the integer value of priority ({given}) must not be provided in pod spec; priority "
                              f"admission controller computed {value} from the given PriorityClass name")
        spec["priority"] = value
        given_policy = spec.get("preemptionPolicy")
        if given_policy is not None and given_policy != policy:
            raise a.forbidden(f"the string value of PreemptionPolicy ({given_policy}) must not be provided in pod "
                              f"spec; priority admission controller computed {policy} from the given PriorityClass "
                              "name")
        spec["preemptionPolicy"] = policy

    async def validate(self, a: Attributes) -> None:
        if a.group != GROUP or a.resource != RESOURCE or a.subresource or a.obj is None:
            return
        if a.obj.get("globalDefault") is not True or a.operation not in (CREATE, UPDATE):
            return
        current = default_class(await self.lookup.list(GROUP, RESOURCE, ""))
        if current is None:
            return
        name = meta(current).get("name", "")
        if a.operation == CREATE or name != meta(a.obj).get("name"):
            raise a.forbidden(f"PriorityClass {name} is already marked as default. Only one default can exist")
