"""Service-account tokens: issuing them (TokenRequest) and authenticating with them.

Bound tokens carry the issuer, audiences, lifetime and a ``kubernetes.io`` claim naming the
namespace, the ServiceAccount (name and uid) and what the token is bound to (pod, secret or
node). Legacy tokens (issuer ``kubernetes/serviceaccount``, stored in Secrets of type
``kubernetes.io/service-account-token``) carry flat ``kubernetes.io/serviceaccount/*`` claims and
never expire; they stay valid only while their Secret holds the same token.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubeprov.api.fielderrors import go_quote
from kubeprov.apiserver.auth import jwt
from kubeprov.apiserver.auth.bootstrap import secret_data
from kubeprov.apiserver.auth.errors import AuthenticationError
from kubeprov.apiserver.auth.user import (
    UserInfo,
    service_account_groups,
    service_account_username,
    split_service_account_username,
)

ObjectGetter = Callable[[str, str], Awaitable[dict | None]]

LEGACY_ISSUER = "kubernetes/serviceaccount"
LEEWAY = timedelta(seconds=60)  # clock skew tolerated on exp/nbf/iat and on deletion times

_LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
_LEGACY_SECRET = "kubernetes.io/serviceaccount/secret.name"
_LEGACY_SA_NAME = "kubernetes.io/serviceaccount/service-account.name"
_LEGACY_SA_UID = "kubernetes.io/serviceaccount/service-account.uid"
_INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"

EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name"
EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid"
EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name"
EXTRA_NODE_UID = "authentication.kubernetes.io/node-uid"
EXTRA_CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _ref(obj: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not obj or not obj.get("name"):
        return None
    return {"name": str(obj["name"]), "uid": str(obj.get("uid") or "")}


class TokenIssuer:
    """Signs service-account tokens with the cluster's service-account key (``sa.key``)."""

    def __init__(self, *, signing_key_file: Path, issuer: str) -> None:
        self._key = jwt.load_signing_key(signing_key_file)
        self._kid = jwt.key_id(self._key.public_key())
        self.issuer = issuer

    @property
    def key_id(self) -> str:
        return self._kid

    def issue(
        self,
        *,
        namespace: str,
        service_account: str,
        sa_uid: str,
        audiences: list[str],
        expiration_seconds: int,
        bound_object: dict | None,
        now: datetime | None = None,
        warn_after_seconds: int = 0,
    ) -> tuple[str, datetime]:
        """A bound token and its expiry, for ``serviceaccounts/<name>/token``.

        ``bound_object`` is the request's ``boundObjectRef`` (``kind`` Pod, Secret or Node, with
        ``name`` and ``uid``); for a Pod, an extra ``node`` entry (``name``, ``uid``) records the
        node it runs on, as Kubernetes does.
        """
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + timedelta(seconds=expiration_seconds)
        kube: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": service_account, "uid": sa_uid},
        }
        if bound_object:
            kind = bound_object.get("kind")
            ref = _ref(bound_object)
            if kind == "Pod":
                kube["pod"] = ref
                if _ref(bound_object.get("node")):
                    kube["node"] = _ref(bound_object.get("node"))
            elif kind == "Secret":
                kube["secret"] = ref
            elif kind == "Node":
                kube["node"] = ref
            else:
                raise ValueError(f"cannot bind a token to a {kind!r}")
        if warn_after_seconds:
            kube["warnafter"] = _seconds(issued + timedelta(seconds=warn_after_seconds))
        claims = {
            "aud": list(audiences),
            "exp": _seconds(expires),
            "iat": _seconds(issued),
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": kube,
            "nbf": _seconds(issued),
            "sub": service_account_username(namespace, service_account),
        }
        return jwt.encode(claims, self._key, self._kid), expires

    def issue_legacy(self, *, namespace: str, service_account: str, sa_uid: str, secret_name: str) -> str:
        """A non-expiring token for a ``kubernetes.io/service-account-token`` Secret."""
        claims = {
            "iss": LEGACY_ISSUER,
            _LEGACY_NAMESPACE: namespace,
            _LEGACY_SECRET: secret_name,
            _LEGACY_SA_NAME: service_account,
            _LEGACY_SA_UID: sa_uid,
            "sub": service_account_username(namespace, service_account),
        }
        return jwt.encode(claims, self._key, self._kid)


@dataclass(frozen=True)
class ServiceAccountResult:
    user: UserInfo
    audiences: tuple[str, ...]


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud] if aud else []
    return [str(a) for a in aud] if isinstance(aud, list) else []


def _go_list(values: Sequence[str]) -> str:
    return "[" + " ".join(go_quote(v) for v in values) + "]"


def _time_claim(claims: Mapping[str, Any], key: str) -> datetime | None:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC)


def _deleted_before(obj: Mapping[str, Any], moment: datetime) -> bool:
    stamp = (obj.get("metadata") or {}).get("deletionTimestamp")
    if not stamp:
        return False
    try:
        deleted = datetime.fromisoformat(str(stamp))
    except ValueError:
        return True
    return deleted.replace(tzinfo=deleted.tzinfo or UTC) < moment


def _uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


class ServiceAccountTokenAuthenticator:
    """Verifies bound and legacy service-account tokens signed by one of the configured keys."""

    def __init__(
        self,
        *,
        public_keys: Sequence[jwt.PublicKey],
        issuers: Sequence[str],
        api_audiences: Sequence[str],
        service_account_getter: ObjectGetter | None,
        secret_getter: ObjectGetter | None,
    ) -> None:
        self._keys = list(public_keys)
        self._issuers = {i for i in issuers if i}
        self._implicit = list(api_audiences)
        self._get_sa = service_account_getter
        self._get_secret = secret_getter

    async def authenticate(
        self, token: str, now: datetime, audiences: Sequence[str] | None = None
    ) -> ServiceAccountResult | None:
        """None when the token is not one of ours; :class:`AuthenticationError` when it is but fails."""
        unverified = jwt.unverified_claims(token)
        if unverified is None:
            return None
        issuer = unverified.get("iss")
        legacy = issuer == LEGACY_ISSUER
        if not legacy and issuer not in self._issuers:
            return None
        try:
            claims = jwt.verify(token, self._keys)
        except jwt.JwtError as exc:
            raise AuthenticationError(str(exc)) from exc
        token_auds = _audiences(claims) or list(self._implicit)
        requested = list(audiences) if audiences else list(self._implicit)
        accepted = tuple(a for a in token_auds if a in requested)
        if not accepted and self._implicit:
            raise AuthenticationError(
                f"token audiences {_go_list(token_auds)} is invalid for the target audiences {_go_list(requested)}"
            )
        if legacy:
            user = await self._legacy_user(token, claims)
        else:
            user = await self._bound_user(claims, now)
        return ServiceAccountResult(user, accepted)

    async def _legacy_user(self, token: str, claims: Mapping[str, Any]) -> UserInfo:
        namespace = str(claims.get(_LEGACY_NAMESPACE) or "")
        secret_name = str(claims.get(_LEGACY_SECRET) or "")
        name = str(claims.get(_LEGACY_SA_NAME) or "")
        uid = str(claims.get(_LEGACY_SA_UID) or "")
        for value, what in (
            (claims.get("sub"), "sub"),
            (namespace, "namespace"),
            (secret_name, "secretName"),
            (name, "serviceAccountName"),
            (uid, "serviceAccountUID"),
        ):
            if not value:
                raise AuthenticationError(f"{what} claim is missing")
        if split_service_account_username(str(claims["sub"])) != (namespace, name):
            raise AuthenticationError("sub claim is invalid")
        if self._get_secret is not None:
            secret = await self._get_secret(namespace, secret_name)
            if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
                raise AuthenticationError("Token has been invalidated")
            if secret_data(secret, "token") != token:
                raise AuthenticationError("Token does not match server's copy")
            if _INVALID_SINCE_LABEL in ((secret.get("metadata") or {}).get("labels") or {}):
                raise AuthenticationError("Token has been invalidated")
        if self._get_sa is not None:
            account = await self._get_sa(namespace, name)
            if account is None:
                raise AuthenticationError(f"serviceaccounts {go_quote(name)} not found")
            if (account.get("metadata") or {}).get("deletionTimestamp"):
                raise AuthenticationError(f"ServiceAccount {namespace}/{name} has been deleted")
            if _uid(account) != uid:
                raise AuthenticationError(f"ServiceAccount UID ({_uid(account)}) does not match claim ({uid})")
        return UserInfo(service_account_username(namespace, name), uid=uid, groups=service_account_groups(namespace))

    def _check_times(self, claims: Mapping[str, Any], now: datetime) -> None:
        expiry, not_before, issued = (_time_claim(claims, k) for k in ("exp", "nbf", "iat"))
        if expiry is not None and now - LEEWAY > expiry:
            raise AuthenticationError("service account token has expired")
        if (not_before is not None and now + LEEWAY < not_before) or (issued is not None and now + LEEWAY < issued):
            raise AuthenticationError("service account token could not be validated")

    async def _bound_user(self, claims: Mapping[str, Any], now: datetime) -> UserInfo:
        self._check_times(claims, now)
        kube = claims.get("kubernetes.io")
        kube = kube if isinstance(kube, Mapping) else {}
        namespace = str(kube.get("namespace") or "")
        account_ref = kube.get("serviceaccount") if isinstance(kube.get("serviceaccount"), Mapping) else {}
        name, uid = str(account_ref.get("name") or ""), str(account_ref.get("uid") or "")
        if not namespace or not name:
            raise AuthenticationError("service account token claims are incomplete")
        deleted_if_before = now - LEEWAY
        if self._get_sa is not None:
            account = await self._get_sa(namespace, name)
            if account is None:
                raise AuthenticationError(f"serviceaccounts {go_quote(name)} not found")
            if _uid(account) != uid:
                raise AuthenticationError(f"service account UID ({_uid(account)}) does not match claim ({uid})")
            if _deleted_before(account, deleted_if_before):
                raise AuthenticationError(f"service account {namespace}/{name} has been deleted")
        secret_ref = kube.get("secret") if isinstance(kube.get("secret"), Mapping) else None
        if secret_ref and self._get_secret is not None:
            secret_name, secret_uid = str(secret_ref.get("name") or ""), str(secret_ref.get("uid") or "")
            secret = await self._get_secret(namespace, secret_name)
            if secret is None:
                raise AuthenticationError(f"secrets {go_quote(secret_name)} not found")
            if _uid(secret) != secret_uid:
                raise AuthenticationError(
                    f"secret UID ({_uid(secret)}) does not match service account secret ref claim ({secret_uid})"
                )
            if _deleted_before(secret, deleted_if_before):
                raise AuthenticationError(f"secret {namespace}/{secret_name} has been deleted")
        return UserInfo(
            service_account_username(namespace, name),
            uid=uid,
            groups=service_account_groups(namespace),
            extra=_bound_extra(kube, claims),
        )


def _bound_extra(kube: Mapping[str, Any], claims: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """What the token is bound to, as user extras (pod, node, and the token's id)."""
    extra: dict[str, tuple[str, ...]] = {}
    pod, node = kube.get("pod"), kube.get("node")
    if isinstance(pod, Mapping) and pod.get("name") and pod.get("uid"):
        extra[EXTRA_POD_NAME] = (str(pod["name"]),)
        extra[EXTRA_POD_UID] = (str(pod["uid"]),)
    if isinstance(node, Mapping) and node.get("name"):
        extra[EXTRA_NODE_NAME] = (str(node["name"]),)
        if node.get("uid"):
            extra[EXTRA_NODE_UID] = (str(node["uid"]),)
    if claims.get("jti"):
        extra[EXTRA_CREDENTIAL_ID] = (f"JTI={claims['jti']}",)
    return extra
