"""The authenticator chain: client certificate, then bearer tokens, else anonymous.

Like Kubernetes' union authenticator, the first method that recognises the credentials decides;
a method that recognises them but finds them invalid only fails the request if no other method
succeeds. Bearer tokens are tried against the static token file, service-account tokens, then
bootstrap tokens. Every authenticated user also gets ``system:authenticated``; a request that
presents nothing is anonymous (when allowed), one that presents bad credentials gets a 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubeprov.apiserver.auth.attributes import aggregate_messages
from kubeprov.apiserver.auth.bootstrap import BootstrapTokenAuthenticator
from kubeprov.apiserver.auth.errors import AuthenticationError
from kubeprov.apiserver.auth.jwt import load_public_keys
from kubeprov.apiserver.auth.serviceaccount import ServiceAccountTokenAuthenticator
from kubeprov.apiserver.auth.tokens import StaticTokenAuthenticator
from kubeprov.apiserver.auth.user import ANONYMOUS, UserInfo, with_authenticated_group
from kubeprov.apiserver.auth.x509 import X509Authenticator

ObjectGetter = Callable[[str, str], Awaitable[dict | None]]
Clock = Callable[[], datetime]

INVALID_BEARER_TOKEN = "invalid bearer token"


def bearer_token(authorization_header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None for any other (or no) header."""
    if not authorization_header:
        return None
    parts = authorization_header.strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


@dataclass(frozen=True)
class AuthResult:
    """The outcome of authenticating: a user (None if nobody), the audiences the credential was
    accepted for, and why credentials were rejected."""

    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def error(self) -> str:
        return aggregate_messages(self.errors)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    """Builds the chain from the API server's authentication settings."""

    def __init__(
        self,
        *,
        client_ca_file: Path | None,
        static_token_file: Path | None,
        service_account_public_keys: list[Path],
        service_account_issuer: str,
        api_audiences: list[str],
        secret_getter: ObjectGetter | None,
        service_account_getter: ObjectGetter | None,
        anonymous: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or _utc_now
        self._anonymous = anonymous
        self._x509 = X509Authenticator(client_ca_file)
        self._static = StaticTokenAuthenticator(static_token_file) if static_token_file else None
        # kube-apiserver defaults --api-audiences to the service-account issuer
        self.api_audiences: tuple[str, ...] = tuple(
            api_audiences or ([service_account_issuer] if service_account_issuer else [])
        )
        keys = [key for path in service_account_public_keys for key in load_public_keys(path)]
        self._service_accounts = (
            ServiceAccountTokenAuthenticator(
                public_keys=keys,
                issuers=[service_account_issuer],
                api_audiences=self.api_audiences,
                service_account_getter=service_account_getter,
                secret_getter=secret_getter,
            )
            if keys
            else None
        )
        self._bootstrap = BootstrapTokenAuthenticator(secret_getter) if secret_getter else None

    def _audience_agnostic(self, requested: Sequence[str] | None) -> tuple[str, ...] | None:
        """Audiences a static or bootstrap token counts as having, or None if they do not fit
        the requested ones (such tokens are only good for the API server itself)."""
        if not requested or not self.api_audiences:
            return self.api_audiences
        accepted = tuple(a for a in self.api_audiences if a in requested)
        return accepted or None

    async def _token(self, token: str, audiences: Sequence[str] | None, errors: list[str]) -> AuthResult | None:
        now = self._clock()
        agnostic = self._audience_agnostic(audiences)
        if self._static is not None and agnostic is not None:
            user = self._static.authenticate(token)
            if user is not None:
                return AuthResult(user, agnostic)
        if self._service_accounts is not None:
            try:
                result = await self._service_accounts.authenticate(token, now, audiences)
            except AuthenticationError as exc:
                errors.append(str(exc))
            else:
                if result is not None:
                    return AuthResult(result.user, result.audiences)
        if self._bootstrap is not None and agnostic is not None:
            user = await self._bootstrap.authenticate(token, now)
            if user is not None:
                return AuthResult(user, agnostic)
        if not errors:
            errors.append(INVALID_BEARER_TOKEN)
        return None

    async def authenticate_request(
        self, *, peer_cert_der: bytes | None, authorization_header: str | None
    ) -> AuthResult:
        """Full outcome for one request; ``user`` is None only when the answer must be 401."""
        errors: list[str] = []
        if peer_cert_der:
            try:
                user = self._x509.authenticate(peer_cert_der, self._clock())
            except AuthenticationError as exc:
                errors.append(str(exc))
            else:
                if user is not None:
                    return AuthResult(with_authenticated_group(user), self.api_audiences)
        token = bearer_token(authorization_header)
        if token is not None:
            result = await self._token(token, None, errors)
            if result is not None and result.user is not None:
                return AuthResult(with_authenticated_group(result.user), result.audiences)
        if errors or not self._anonymous:
            return AuthResult(None, (), tuple(errors))
        return AuthResult(ANONYMOUS)

    async def authenticate(self, *, peer_cert_der: bytes | None, authorization_header: str | None) -> UserInfo | None:
        """The request's user; None means credentials were presented but invalid (answer 401)."""
        result = await self.authenticate_request(peer_cert_der=peer_cert_der, authorization_header=authorization_header)
        return result.user

    async def authenticate_token(self, token: str, audiences: Sequence[str] | None = None) -> AuthResult:
        """A bearer token alone, as TokenReview checks it (``audiences`` default to the API server's)."""
        errors: list[str] = []
        result = await self._token(token, audiences or None, errors)
        if result is None or result.user is None:
            return AuthResult(None, (), tuple(errors))
        return AuthResult(with_authenticated_group(result.user), result.audiences)
