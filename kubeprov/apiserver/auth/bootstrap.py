"""Bootstrap tokens: ``<id>.<secret>`` bearer tokens backed by Secrets in kube-system.

A joining node presents one before it has a certificate. The token is valid while its Secret
``kube-system/bootstrap-token-<id>`` exists, has type ``bootstrap.kubernetes.io/token``, holds
the same id and secret, is marked for authentication and has not expired. Anything off makes
the token simply not authenticate (no error), as in Kubernetes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubeprov.apiserver.auth.user import UserInfo

SecretGetter = Callable[[str, str], Awaitable[dict | None]]

TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
USER_PREFIX = "system:bootstrap:"
DEFAULT_GROUP = "system:bootstrappers"
_GROUP_PATTERN = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed bootstrap token, else None."""
    match = TOKEN_PATTERN.match(token)
    return (match.group(1), match.group(2)) if match else None


def secret_data(secret: Mapping[str, Any], key: str) -> str:
    """A Secret value as text: ``data`` (base64) as stored, else ``stringData``; "" when absent."""
    raw = (secret.get("data") or {}).get(key)
    if raw is not None:
        try:
            return base64.b64decode(str(raw), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return ""
    return str((secret.get("stringData") or {}).get(key) or "")


def _expired(secret: Mapping[str, Any], now: datetime) -> bool:
    text = secret_data(secret, "expiration")
    if not text:
        return False
    try:
        expires = datetime.fromisoformat(text)
    except ValueError:
        return True  # an unreadable expiration counts as expired
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return now > expires


def token_groups(secret: Mapping[str, Any]) -> tuple[str, ...] | None:
    """``system:bootstrappers`` plus ``auth-extra-groups``, sorted; None if a group is not allowed."""
    groups = {DEFAULT_GROUP}
    extra = secret_data(secret, "auth-extra-groups")
    if extra:
        for group in extra.split(","):
            if not _GROUP_PATTERN.match(group):
                return None
            groups.add(group)
    return tuple(sorted(groups))


class BootstrapTokenAuthenticator:
    """Authenticates bootstrap tokens against their Secrets."""

    def __init__(self, secret_getter: SecretGetter) -> None:
        self._get_secret = secret_getter

    async def authenticate(self, token: str, now: datetime) -> UserInfo | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, token_secret = parsed
        secret = await self._get_secret(SECRET_NAMESPACE, SECRET_PREFIX + token_id)
        if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
            return None
        if secret.get("type") != SECRET_TYPE or not (secret.get("data") or secret.get("stringData")):
            return None
        if not hmac.compare_digest(secret_data(secret, "token-secret").encode(), token_secret.encode()):
            return None
        if secret_data(secret, "token-id") != token_id or _expired(secret, now):
            return None
        if secret_data(secret, "usage-bootstrap-authentication") != "true":
            return None
        groups = token_groups(secret)
        if groups is None:
            return None
        return UserInfo(USER_PREFIX + token_id, groups=groups)
