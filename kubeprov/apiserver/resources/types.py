"""What the server knows about one resource: names, scope, verbs, subresources, storage."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeprov.apiserver.storage.keys import prefix_key

STORED_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Subresource:
    """``pods/status``, ``deployments/scale``, ``pods/log`` ...

    ``kind`` is what the subresource accepts and returns (``Scale`` for scale, the parent kind for
    status); ``group``/``version`` default to the parent's. ``connect`` subresources (log, exec,
    portforward, attach, proxy) stream to a kubelet instead of reading storage.
    """

    name: str
    kind: str
    verbs: tuple[str, ...] = ("get", "patch", "update")
    group: str | None = None
    version: str | None = None
    connect: bool = False


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    resource: str  # plural, lower case: "deployments"
    kind: str  # "Deployment"
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STORED_VERBS
    subresources: tuple[Subresource, ...] = ()
    # not persisted: reviews are answered from the request alone
    stored: bool = True
    # the version objects are stored in when a resource is served in several versions
    storage_version: str = ""
    # custom resources carry their CRD's schema; built-ins are validated by code
    custom: bool = False
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` / ``pods``: how Kubernetes names a resource in messages."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps`` / ``Pod``: the prefix of validation messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None

    def etcd_prefix(self, namespace: str | None = None) -> str:
        """``/registry/<group or core>/<resource>/[<namespace>/]``; objects are ``<prefix><name>``."""
        return prefix_key(self.group, self.resource, namespace if self.namespaced and namespace else "")

    def etcd_key(self, namespace: str | None, name: str) -> str:
        return f"{self.etcd_prefix(namespace)}{name}"
