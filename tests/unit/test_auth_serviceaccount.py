"""Service-account tokens: issued by TokenIssuer, verified by the Authenticator, reviewed by TokenReview."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kubeprov.apiserver.auth import (
    Authenticator,
    AuthResult,
    TokenIssuer,
    key_id,
    load_public_keys,
    token_review_answer,
)
from kubeprov.pki.keys import new_rsa_key, write_private_key

ISSUER = "https://kubernetes.default.svc.cluster.local"
SA_UID = "9d3c2a1b-0000-4000-8000-000000000001"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(sa.key, sa.pub, another unrelated private key)."""
    root = tmp_path_factory.mktemp("sa")
    key = new_rsa_key()
    write_private_key(root / "sa.key", key)
    (root / "sa.pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    write_private_key(root / "other.key", new_rsa_key())
    return root / "sa.key", root / "sa.pub", root / "other.key"


def service_account(namespace: str = "default", name: str = "builder", uid: str = SA_UID) -> dict:
    meta = {"namespace": namespace, "name": name, "uid": uid}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def make_authenticator(pub: Path, accounts: list[dict] | None = None, secrets: list[dict] | None = None, **kw):
    def getter(objects: list[dict] | None):
        if objects is None:
            return None

        async def get(namespace: str, name: str) -> dict | None:
            for obj in objects:
                if (obj["metadata"]["namespace"], obj["metadata"]["name"]) == (namespace, name):
                    return obj
            return None

        return get

    return Authenticator(
        client_ca_file=None,
        static_token_file=None,
        service_account_public_keys=[pub],
        service_account_issuer=ISSUER,
        api_audiences=kw.pop("api_audiences", []),
        secret_getter=getter(secrets),
        service_account_getter=getter(accounts),
        **kw,
    )


async def login(auth: Authenticator, token: str) -> AuthResult:
    return await auth.authenticate_request(peer_cert_der=None, authorization_header=f"Bearer {token}")


def issue(key: Path, **changes) -> str:
    args = {
        "namespace": "default",
        "service_account": "builder",
        "sa_uid": SA_UID,
        "audiences": [ISSUER],
        "expiration_seconds": 3600,
        "bound_object": None,
    }
    args.update(changes)
    token, _ = TokenIssuer(signing_key_file=key, issuer=ISSUER).issue(**args)
    return token


def segment(token: str, index: int) -> dict:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def test_issued_token_authenticates_as_the_service_account(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    auth = make_authenticator(pub, accounts=[service_account()])

    user = await auth.authenticate(peer_cert_der=None, authorization_header=f"Bearer {issue(key)}")

    assert user is not None
    assert user.name == "system:serviceaccount:default:builder"
    assert user.uid == SA_UID
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")


def test_token_header_and_claims_have_kubernetes_shape(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    now = datetime(2030, 1, 1, tzinfo=UTC)
    issuer = TokenIssuer(signing_key_file=key, issuer=ISSUER)
    bound = {"kind": "Pod", "name": "web-0", "uid": "pod-uid", "node": {"name": "w-1", "uid": "node-uid"}}
    token, expires = issuer.issue(
        namespace="default",
        service_account="builder",
        sa_uid=SA_UID,
        audiences=["api"],
        expiration_seconds=600,
        bound_object=bound,
        now=now,
    )
    der = load_public_keys(pub)[0].public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected_kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()

    header, claims = segment(token, 0), segment(token, 1)

    assert header == {"alg": "RS256", "kid": expected_kid}
    assert key_id(load_public_keys(pub)[0]) == expected_kid
    assert expires == now + timedelta(seconds=600)
    assert claims["exp"] - claims["iat"] == 600 and claims["nbf"] == claims["iat"]
    assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, ["api"], "system:serviceaccount:default:builder")
    assert claims["kubernetes.io"] == {
        "namespace": "default",
        "serviceaccount": {"name": "builder", "uid": SA_UID},
        "pod": {"name": "web-0", "uid": "pod-uid"},
        "node": {"name": "w-1", "uid": "node-uid"},
    }


async def test_pod_bound_token_carries_pod_and_credential_id_extras(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    token = issue(key, bound_object={"kind": "Pod", "name": "web-0", "uid": "pod-uid"})

    user = await make_authenticator(pub).authenticate(peer_cert_der=None, authorization_header=f"Bearer {token}")

    assert user is not None
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("web-0",)
    assert user.extra["authentication.kubernetes.io/pod-uid"] == ("pod-uid",)
    assert user.extra["authentication.kubernetes.io/credential-id"][0] == f"JTI={segment(token, 1)['jti']}"


async def test_token_signed_with_another_key_is_rejected(keys: tuple[Path, Path, Path]) -> None:
    _, pub, other = keys
    auth = make_authenticator(pub)
    result = await auth.authenticate_request(peer_cert_der=None, authorization_header=f"Bearer {issue(other)}")
    assert result.user is None
    assert result.error


async def test_expired_token_is_rejected(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    token = issue(key, now=datetime.now(UTC) - timedelta(hours=2), expiration_seconds=3600)
    result = await login(make_authenticator(pub), token)
    assert result.user is None
    assert result.error == "service account token has expired"


async def test_token_expired_within_a_minute_of_leeway_is_still_accepted(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    token = issue(key, now=datetime.now(UTC) - timedelta(seconds=630), expiration_seconds=600)
    assert await make_authenticator(pub).authenticate(peer_cert_der=None, authorization_header=f"Bearer {token}")


async def test_token_for_another_audience_is_rejected(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    token = issue(key, audiences=["vault"])
    result = await login(make_authenticator(pub), token)
    assert result.user is None
    assert result.error == f'token audiences ["vault"] is invalid for the target audiences ["{ISSUER}"]'


async def test_token_of_a_deleted_service_account_is_rejected(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    result = await make_authenticator(pub, accounts=[]).authenticate_request(
        peer_cert_der=None, authorization_header=f"Bearer {issue(key)}"
    )
    assert result.user is None
    assert result.error == 'serviceaccounts "builder" not found'


async def test_token_of_a_recreated_service_account_is_rejected(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    auth = make_authenticator(pub, accounts=[service_account(uid="new-uid")])
    result = await auth.authenticate_request(peer_cert_der=None, authorization_header=f"Bearer {issue(key)}")
    assert result.user is None
    assert result.error == f"service account UID (new-uid) does not match claim ({SA_UID})"


async def test_token_from_an_unknown_issuer_is_just_an_invalid_bearer_token(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    token, _ = TokenIssuer(signing_key_file=key, issuer="https://elsewhere").issue(
        namespace="default",
        service_account="builder",
        sa_uid=SA_UID,
        audiences=[ISSUER],
        expiration_seconds=600,
        bound_object=None,
    )
    result = await login(make_authenticator(pub), token)
    assert (result.user, result.error) == (None, "invalid bearer token")


def legacy_secret(token: str) -> dict:
    return {
        "kind": "Secret",
        "metadata": {"namespace": "default", "name": "builder-token", "uid": "s-uid"},
        "type": "kubernetes.io/service-account-token",
        "data": {"token": base64.b64encode(token.encode()).decode()},
    }


async def test_legacy_secret_token_is_valid_while_its_secret_holds_it(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    issuer = TokenIssuer(signing_key_file=key, issuer=ISSUER)
    token = issuer.issue_legacy(
        namespace="default", service_account="builder", sa_uid=SA_UID, secret_name="builder-token"
    )
    good = make_authenticator(pub, accounts=[service_account()], secrets=[legacy_secret(token)])
    stale = make_authenticator(pub, accounts=[service_account()], secrets=[legacy_secret("something-else")])

    user = await good.authenticate(peer_cert_der=None, authorization_header=f"Bearer {token}")
    result = await stale.authenticate_request(peer_cert_der=None, authorization_header=f"Bearer {token}")

    assert user is not None and user.name == "system:serviceaccount:default:builder"
    assert (result.user, result.error) == (None, "Token does not match server's copy")


async def test_token_review_reports_user_and_audiences(keys: tuple[Path, Path, Path]) -> None:
    key, pub, _ = keys
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": issue(key)}}

    answer = await token_review_answer(review, make_authenticator(pub))

    assert answer["status"]["authenticated"] is True
    assert answer["status"]["audiences"] == [ISSUER]
    assert answer["status"]["user"]["username"] == "system:serviceaccount:default:builder"
    assert answer["status"]["user"]["groups"][-1] == "system:authenticated"


async def test_token_review_of_a_bad_token_reports_the_error(keys: tuple[Path, Path, Path]) -> None:
    _, pub, _ = keys
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "garbage"}}
    answer = await token_review_answer(review, make_authenticator(pub))
    assert answer["status"] == {"user": {}, "error": "invalid bearer token"}
