"""DefaultTolerationSeconds: a new pod that does not tolerate the ``node.kubernetes.io/not-ready`` or
``node.kubernetes.io/unreachable`` NoExecute taints gets a toleration for each, for 300 seconds by default.

Without them the node lifecycle controller would evict every pod the moment its node stops reporting;
with them a pod survives a short outage of its kubelet. kube-apiserver's flags
``--default-not-ready-toleration-seconds`` / ``--default-unreachable-toleration-seconds`` are the
config's ``default_not_ready_toleration_seconds`` / ``default_unreachable_toleration_seconds``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubeprov.apiserver.admission.attributes import CREATE, Attributes, maps
from kubeprov.apiserver.admission.lookup import Lookup
from kubeprov.apiserver.admission.plugin import Plugin

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
DEFAULT_SECONDS = 300


def tolerates(tolerations: list[dict[str, Any]], key: str) -> bool:
    """Whether some toleration covers ``key``'s NoExecute taint the way Kubernetes checks it: an empty
    key or effect counts as a wildcard (the operator and value are not looked at)."""
    return any(t.get("key") in (key, "", None) and t.get("effect") in (NO_EXECUTE, "", None) for t in tolerations)


def default_toleration(key: str, seconds: int) -> dict[str, Any]:
    return {"key": key, "operator": "Exists", "effect": NO_EXECUTE, "tolerationSeconds": seconds}


class DefaultTolerationSeconds(Plugin):
    name: ClassVar[str] = "DefaultTolerationSeconds"
    mutating: ClassVar[bool] = True

    def __init__(self, lookup: Lookup, *, not_ready_seconds: int = DEFAULT_SECONDS,
                 unreachable_seconds: int = DEFAULT_SECONDS) -> None:
        super().__init__(lookup)
        self.not_ready_seconds = int(not_ready_seconds)
        self.unreachable_seconds = int(unreachable_seconds)

    async def admit(self, a: Attributes) -> None:
        if not a.is_core("pods") or a.subresource or a.operation != CREATE or a.obj is None:
            return
        spec = a.obj.get("spec")
        if not isinstance(spec, dict):
            return
        existing = maps(spec.get("tolerations"))
        added = [default_toleration(key, seconds)
                 for key, seconds in ((NOT_READY, self.not_ready_seconds), (UNREACHABLE, self.unreachable_seconds))
                 if not tolerates(existing, key)]
        if added:
            current = spec.get("tolerations")
            spec["tolerations"] = [*(current if isinstance(current, list) else []), *added]


def settings_from(config: Any) -> dict[str, Any]:
    """The plugin's constructor keywords from an ``ApiServerConfig``."""
    return {"not_ready_seconds": int(getattr(config, "default_not_ready_toleration_seconds", DEFAULT_SECONDS)),
            "unreachable_seconds": int(getattr(config, "default_unreachable_toleration_seconds", DEFAULT_SECONDS))}
