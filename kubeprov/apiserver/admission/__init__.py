"""The admission chain: what Kubernetes' built-in admission plugins decide between a request's
defaulting and its write to storage.

The REST layer calls :meth:`Admission.mutate` after defaulting (plugins may change the object), then
:meth:`Admission.validate` after the resource's own validation (plugins may only refuse or warn), and
:meth:`Admission.validate_delete` before a delete. Enabled plugins always run in Kubernetes' order,
whatever order the configuration lists them in:

* mutating: NamespaceLifecycle, LimitRanger (defaults), ServiceAccount, Priority, DefaultTolerationSeconds,
  DefaultStorageClass
* validating: NamespaceLifecycle, LimitRanger (limits), ServiceAccount, PodSecurity, Priority, ResourceQuota
"""

from __future__ import annotations

from typing import Any

from kubeprov.apiserver.admission.attributes import DELETE, Attributes
from kubeprov.apiserver.admission.defaultstorageclass import DefaultStorageClass
from kubeprov.apiserver.admission.defaulttolerationseconds import DefaultTolerationSeconds, settings_from
from kubeprov.apiserver.admission.limitranger import LimitRanger
from kubeprov.apiserver.admission.lookup import Lookup
from kubeprov.apiserver.admission.namespacelifecycle import NamespaceLifecycle
from kubeprov.apiserver.admission.plugin import Plugin
from kubeprov.apiserver.admission.podsecurity import PodSecurity
from kubeprov.apiserver.admission.priority import Priority
from kubeprov.apiserver.admission.resourcequota import ResourceQuota
from kubeprov.apiserver.admission.serviceaccount import ServiceAccount

# Kubernetes' plugin order (a subset of kube-apiserver's AllOrderedPlugins)
ORDERED_PLUGINS: tuple[type[Plugin], ...] = (
    NamespaceLifecycle,
    LimitRanger,
    ServiceAccount,
    PodSecurity,
    Priority,
    DefaultTolerationSeconds,
    DefaultStorageClass,
    ResourceQuota,
)
PLUGIN_NAMES: tuple[str, ...] = tuple(p.name for p in ORDERED_PLUGINS)

__all__ = ["PLUGIN_NAMES", "Admission", "Attributes", "Plugin", "admission_settings"]

Obj = dict[str, Any]


def admission_settings(config: Any) -> dict[str, dict[str, Any]]:
    """Plugin constructor keywords taken from an ``ApiServerConfig``."""
    return {DefaultTolerationSeconds.name: settings_from(config)}


class Admission:
    def __init__(self, plugins: list[str], *, cache: Any, store: Any, registry: Any,
                 settings: dict[str, dict[str, Any]] | None = None) -> None:
        """``settings`` gives a plugin (by name) its constructor keywords."""
        unknown = [name for name in plugins if name not in PLUGIN_NAMES]
        if unknown:
            raise ValueError(f"unknown admission plugin{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(n) for n in unknown)}; valid plugins: {', '.join(PLUGIN_NAMES)}")
        self.lookup = Lookup(cache, store, registry)
        enabled = set(plugins)
        self.plugins: list[Plugin] = [cls(self.lookup, **(settings or {}).get(cls.name, {}))
                                      for cls in ORDERED_PLUGINS if cls.name in enabled]
        self._mutating = [p for p in self.plugins if p.mutating]
        self._validating = [p for p in self.plugins if p.validating]

    @property
    def enabled(self) -> list[str]:
        return [p.name for p in self.plugins]

    def plugin(self, name: str) -> Plugin | None:
        return next((p for p in self.plugins if p.name == name), None)

    async def mutate(self, call: Any, obj: Obj, old: Obj | None) -> None:
        """Mutating phase; ``old`` is None on create. Changes ``obj`` in place; raises StatusError."""
        a = Attributes.from_call(call, obj, old)
        for plugin in self._mutating:
            await plugin.admit(a)

    async def validate(self, call: Any, obj: Obj, old: Obj | None) -> None:
        """Validating phase; raises StatusError, may add ``call.warnings``."""
        a = Attributes.from_call(call, obj, old)
        for plugin in self._validating:
            await plugin.validate(a)

    async def validate_delete(self, call: Any, obj: Obj) -> None:
        """Before a delete of ``obj`` (as stored); raises StatusError."""
        a = Attributes.from_call(call, obj, obj, DELETE)
        for plugin in self.plugins:
            await plugin.validate_delete(a)
