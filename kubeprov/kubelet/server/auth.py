"""Who is calling the kubelet, and may they: the kubelet's webhook authentication and authorization.

A verified client certificate names the user (CN) and groups (O); a bearer token is checked with a
TokenReview; an anonymous request is refused unless ``anonymous_auth``. Every request is then checked
with a SubjectAccessReview on the Node: resource ``nodes``, name = node, a subresource chosen by path
(stats, metrics, log, spec, else proxy) and the verb from the HTTP method. Answers are cached briefly,
as the kubelet's webhook caches do, so a scrape every few seconds costs no API round trip.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.api.client import ApiClient

ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
AUTHENTICATED = "system:authenticated"
# the kubelet's webhook defaults: tokens 2 minutes, allowed 5 minutes, denied 30 seconds
TOKEN_TTL = 120.0
ALLOWED_TTL = 300.0
DENIED_TTL = 30.0

VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# path prefix -> subresource of nodes; everything else is "proxy" (containerLogs, exec, pods, healthz...)
SUBRESOURCES = (("/stats", "stats"), ("/metrics", "metrics"), ("/logs", "log"), ("/spec", "spec"))


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Attributes:
    """What one request asks of the Node (the kubelet's authorizer.AttributesRecord)."""

    user: User
    verb: str
    node: str
    subresource: str
    path: str

    def forbidden_message(self) -> str:
        return (f"Forbidden (user={self.user.name}, verb={self.verb}, resource=nodes, "
                f"subresource(s)=[{self.subresource}])")


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def subresource_for(path: str) -> str:
    """The nodes subresource the kubelet checks for ``path``."""
    for prefix, subresource in SUBRESOURCES:
        if _is_under(path, prefix):
            return subresource
    return "proxy"


def verb_for(method: str) -> str:
    """The API verb for an HTTP method (the kubelet passes unknown methods on lower-cased)."""
    return VERBS.get(method.upper(), method.lower())


def request_attributes(user: User, method: str, path: str, node: str) -> Attributes:
    return Attributes(user=user, verb=verb_for(method), node=node, subresource=subresource_for(path), path=path)


def user_from_certificate(subject: Any) -> User | None:
    """The user named by a verified peer certificate (``ssl.getpeercert()`` form): CN and the Os."""
    if not subject:
        return None
    cn, orgs = "", []
    for rdn in subject.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    if not cn:
        return None
    return User(cn, (*orgs, AUTHENTICATED))


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, None for anything else."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class _TTLCache:
    """A small time-bounded map; the clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float], limit: int = 4096) -> None:
        self._clock = clock
        self._limit = limit
        self._items: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] <= self._clock():
            self._items.pop(key, None)
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if len(self._items) >= self._limit:
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= self._limit:
                self._items.clear()
        self._items[key] = (self._clock() + ttl, value)


class WebhookAuth:
    """TokenReview authentication and SubjectAccessReview authorization through ``client``."""

    def __init__(self, client: ApiClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._tokens = _TTLCache(clock)
        self._decisions = _TTLCache(clock)

    async def authenticate_token(self, token: str) -> User | None:
        """The user behind ``token``, None when the API server says it is not valid."""
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached or None
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        answer = await self.client.create("authentication.k8s.io/v1", "tokenreviews", review)
        status = answer.get("status") or {}
        user: User | None = None
        if status.get("authenticated"):
            info = status.get("user") or {}
            user = User(info.get("username", ""), tuple(info.get("groups") or ()), info.get("uid", ""),
                        {k: list(v) for k, v in (info.get("extra") or {}).items()})
        self._tokens.put(key, user or False, TOKEN_TTL)
        return user

    async def authorize(self, attrs: Attributes) -> bool:
        """A SubjectAccessReview for ``attrs``; allowed answers are kept 5 minutes, denied 30 seconds."""
        user = attrs.user
        key = (user.name, user.groups, user.uid, attrs.verb, attrs.node, attrs.subresource)
        cached = self._decisions.get(key)
        if cached is not None:
            return bool(cached)
        spec: dict[str, Any] = {
            "user": user.name, "groups": list(user.groups),
            "resourceAttributes": {"verb": attrs.verb, "resource": "nodes", "version": "v1",
                                   "name": attrs.node, "subresource": attrs.subresource},
        }
        if user.uid:
            spec["uid"] = user.uid
        if user.extra:
            spec["extra"] = user.extra
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        answer = await self.client.create("authorization.k8s.io/v1", "subjectaccessreviews", review)
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self._decisions.put(key, allowed, ALLOWED_TTL if allowed else DENIED_TTL)
        return allowed
