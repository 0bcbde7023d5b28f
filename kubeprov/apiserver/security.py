"""Authentication and authorization wired to the server: sources over the watch cache, request
attributes from the request info, and the review resources answered from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.auth import (
    Attributes,
    Authenticator,
    Authorizer,
    NodeAuthorizer,
    RbacAuthorizer,
    UserInfo,
    forbidden_status,
    name_from_field_selector,
    review_answer,
    self_subject_review,
    token_review_answer,
)
from kubeprov.apiserver.config import ApiServerConfig
from kubeprov.apiserver.request_info import RequestInfo
from kubeprov.apiserver.storage.keys import object_key, prefix_key
from kubeprov.apiserver.storage.store import Store
from kubeprov.apiserver.storage.watchcache import WatchCache

RBAC = "rbac.authorization.k8s.io"
# where each resource the Node authorizer follows is cached: resource -> (group, namespaced)
_NODE_GRAPH = {
    "persistentvolumeclaims": ("", True),
    "persistentvolumes": ("", False),
    "volumeattachments": ("storage.k8s.io", False),
    "resourceslices": ("resource.k8s.io", False),
    "secrets": ("", True),
    "configmaps": ("", True),
    "serviceaccounts": ("", True),
    "pods": ("", True),
    "nodes": ("", False),
}


class CacheViews:
    """RbacSource and NodeSource over the watch cache: authorization never waits on etcd."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache

    def _list(self, group: str, resource: str, namespace: str | None = None) -> list[dict]:
        return self.cache.resource(group, resource).snapshot(prefix_key(group, resource, namespace or ""))

    def roles(self, namespace: str) -> list[dict]:
        return self._list(RBAC, "roles", namespace)

    def role_bindings(self, namespace: str) -> list[dict]:
        return self._list(RBAC, "rolebindings", namespace)

    def cluster_roles(self) -> list[dict]:
        return self._list(RBAC, "clusterroles")

    def cluster_role_bindings(self) -> list[dict]:
        return self._list(RBAC, "clusterrolebindings")

    def pods_on_node(self, node: str) -> list[dict]:
        pods = self.cache.resource("", "pods").objects.values()
        return [p for p in pods if (p.get("spec") or {}).get("nodeName") == node]

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        group, namespaced = _NODE_GRAPH.get(resource, ("", True))
        return self.cache.resource(group, resource).objects.get(
            object_key(group, resource, namespace if namespaced else "", name))


class Security:
    """Who is asking (x509, tokens, anonymous) and whether they may (Node + RBAC)."""

    def __init__(self, config: ApiServerConfig, cache: WatchCache, store: Store, registry: Any) -> None:
        self.config = config
        self.views = CacheViews(cache)
        self.store = store
        self.registry = registry

        async def get_secret(namespace: str, name: str) -> dict | None:
            kv = await store.client.get(object_key("", "secrets", namespace, name))
            return store.decode(kv) if kv is not None else None

        async def get_service_account(namespace: str, name: str) -> dict | None:
            kv = await store.client.get(object_key("", "serviceaccounts", namespace, name))
            return store.decode(kv) if kv is not None else None

        self.authenticator = Authenticator(
            client_ca_file=Path(config.client_ca_file) if config.client_ca_file else None,
            static_token_file=Path(config.token_auth_file) if config.token_auth_file else None,
            service_account_public_keys=[Path(p) for p in config.service_account_key_files],
            service_account_issuer=config.service_account_issuer,
            api_audiences=list(config.api_audiences),
            secret_getter=get_secret,
            service_account_getter=get_service_account,
            anonymous=config.anonymous_auth,
        )
        self.rbac = RbacAuthorizer(self.views)
        node = NodeAuthorizer(self.views) if "Node" in config.authorization_modes else None
        self.always_allow = "AlwaysAllow" in config.authorization_modes
        self.authorizer = Authorizer(node, self.rbac)

    async def authenticate(self, request: web.Request) -> UserInfo:
        der = None
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
        user = await self.authenticator.authenticate(peer_cert_der=der,
                                                     authorization_header=request.headers.get("Authorization"))
        if user is None:
            raise StatusError(status.unauthorized("Unauthorized"))
        return user

    def attributes(self, user: UserInfo, info: RequestInfo, query: Any) -> Attributes:
        if not info.resource_request:
            return Attributes(user=user, verb=info.verb, resource_request=False, path=info.path)
        field_selector = query.get("fieldSelector", "") if info.verb in ("list", "watch") else ""
        name = info.name or (name_from_field_selector(field_selector) if field_selector else "")
        return Attributes(user=user, verb=info.verb, resource_request=True, api_group=info.group,
                          api_version=info.version, resource=info.resource, subresource=info.subresource,
                          namespace=info.namespace, name=name, field_selector=field_selector,
                          label_selector=query.get("labelSelector", "") if info.verb in ("list", "watch") else "")

    def authorize(self, user: UserInfo, info: RequestInfo, query: Any) -> None:
        if self.always_allow:
            return
        attrs = self.attributes(user, info, query)
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            raise StatusError(forbidden_status(attrs, decision.reason))

    async def review(self, kind: str, obj: dict, user: UserInfo, namespace: str) -> dict:
        if kind == "TokenReview":
            return await token_review_answer(obj, self.authenticator)
        if kind == "SelfSubjectReview":
            return self_subject_review(user)
        if kind == "LocalSubjectAccessReview":
            obj.setdefault("metadata", {})["namespace"] = namespace
        return review_answer(kind, obj, user, self.authorizer, self.rbac)
