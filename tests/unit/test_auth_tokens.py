"""Bearer tokens from the static token file and bootstrap-token Secrets; anonymous requests."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeprov.apiserver.auth import ANONYMOUS, Authenticator, bearer_token
from kubeprov.apiserver.auth.tokens import TokenFileError, parse_token_file

TOKEN_FILE = """tok-alice,alice,uid-1,"dev,ops"
tok-bob,bob,uid-2

tok-carol,carol,uid-3,admins
"""


def make_authenticator(tmp_path: Path | None = None, secrets: dict | None = None, **kwargs) -> Authenticator:
    token_file = None
    if tmp_path is not None:
        token_file = tmp_path / "tokens.csv"
        token_file.write_text(TOKEN_FILE)

    async def get_secret(namespace: str, name: str) -> dict | None:
        return (secrets or {}).get((namespace, name))

    return Authenticator(
        client_ca_file=None,
        static_token_file=token_file,
        service_account_public_keys=[],
        service_account_issuer="https://kubernetes.default.svc.cluster.local",
        api_audiences=[],
        secret_getter=get_secret if secrets is not None else None,
        service_account_getter=None,
        **kwargs,
    )


# --------------------------------------------------------------------------- token file


def test_token_file_quoted_groups_are_split_on_commas() -> None:
    tokens = parse_token_file(TOKEN_FILE)
    assert tokens["tok-alice"].groups == ("dev", "ops")
    assert (tokens["tok-alice"].name, tokens["tok-alice"].uid) == ("alice", "uid-1")


def test_token_file_three_columns_means_no_groups_and_blank_lines_are_skipped() -> None:
    tokens = parse_token_file(TOKEN_FILE)
    assert set(tokens) == {"tok-alice", "tok-bob", "tok-carol"}
    assert tokens["tok-bob"].groups == ()


def test_token_file_with_fewer_than_three_columns_is_refused() -> None:
    with pytest.raises(TokenFileError, match=r"must have at least 3 columns \(token, user name, user uid\), found 2"):
        parse_token_file("tok,alice\n", "tokens.csv")


def test_token_file_later_duplicate_token_wins() -> None:
    assert parse_token_file("t,first,1\nt,second,2\n")["t"].name == "second"


async def test_static_token_authenticates_and_adds_system_authenticated(tmp_path: Path) -> None:
    user = await make_authenticator(tmp_path).authenticate(peer_cert_der=None, authorization_header="Bearer tok-alice")
    assert user is not None
    assert user.name == "alice"
    assert user.groups == ("dev", "ops", "system:authenticated")


async def test_unknown_bearer_token_is_unauthorized(tmp_path: Path) -> None:
    auth = make_authenticator(tmp_path)
    result = await auth.authenticate_request(peer_cert_der=None, authorization_header="Bearer nope")
    assert result.user is None
    assert result.error == "invalid bearer token"


# --------------------------------------------------------------------------- anonymous


async def test_no_credentials_is_anonymous() -> None:
    user = await make_authenticator().authenticate(peer_cert_der=None, authorization_header=None)
    assert user == ANONYMOUS
    assert user.groups == ("system:unauthenticated",)


async def test_no_credentials_with_anonymous_disabled_is_unauthorized() -> None:
    auth = make_authenticator(anonymous=False)
    assert await auth.authenticate(peer_cert_der=None, authorization_header=None) is None


async def test_non_bearer_authorization_header_is_ignored() -> None:
    user = await make_authenticator().authenticate(peer_cert_der=None, authorization_header="Basic YWxpY2U6cHc=")
    assert user == ANONYMOUS


def test_bearer_token_parsing_follows_kubernetes() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer abc extra") == "abc"
    assert bearer_token("Bearer  abc") is None  # empty token before the second space
    assert bearer_token("Bearer") is None
    assert bearer_token(None) is None


# --------------------------------------------------------------------------- bootstrap tokens


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bootstrap_secret(token_id: str = "abcdef", secret: str = "0123456789abcdef", **data: str) -> dict:
    values = {
        "token-id": token_id,
        "token-secret": secret,
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:kubeprov:default-node-token",
        **data,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: b64(v) for k, v in values.items()},
    }


def secrets_with(secret: dict) -> dict:
    return {("kube-system", secret["metadata"]["name"]): secret}


async def test_bootstrap_token_authenticates_as_bootstrap_user() -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth = make_authenticator(secrets=secrets_with(bootstrap_secret(expiration=expires)))

    user = await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.0123456789abcdef")

    assert user is not None
    assert user.name == "system:bootstrap:abcdef"
    assert user.groups == (
        "system:bootstrappers",
        "system:bootstrappers:kubeprov:default-node-token",
        "system:authenticated",
    )


async def test_expired_bootstrap_token_is_unauthorized() -> None:
    expired = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth = make_authenticator(secrets=secrets_with(bootstrap_secret(expiration=expired)))
    assert await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.0123456789abcdef") is None


async def test_bootstrap_token_with_wrong_secret_is_unauthorized() -> None:
    auth = make_authenticator(secrets=secrets_with(bootstrap_secret()))
    assert await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.ffffffffffffffff") is None


async def test_bootstrap_token_not_marked_for_authentication_is_unauthorized() -> None:
    auth = make_authenticator(secrets=secrets_with(bootstrap_secret(**{"usage-bootstrap-authentication": "false"})))
    assert await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.0123456789abcdef") is None


async def test_bootstrap_token_without_its_secret_is_unauthorized() -> None:
    auth = make_authenticator(secrets={})
    assert await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.0123456789abcdef") is None


async def test_bootstrap_token_secret_of_another_type_is_ignored() -> None:
    secret = bootstrap_secret()
    secret["type"] = "Opaque"
    auth = make_authenticator(secrets=secrets_with(secret))
    assert await auth.authenticate(peer_cert_der=None, authorization_header="Bearer abcdef.0123456789abcdef") is None
