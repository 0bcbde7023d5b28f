"""Legacy service-account token Secrets against our API server: filled in by the serviceaccount-token
controller, accepted by the API server as the account, and deleted with their account."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import aiohttp
import pytest

from kubeprov.api.status import StatusError
from kubeprov.controllers.serviceaccount_tokens import UID_ANNOTATION, ServiceAccountTokensController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def token_secret(name: str, account: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": account}}}


async def filled(env: ControllerEnv, name: str) -> dict[str, Any] | None:
    secret = await env.client.get("v1", "secrets", name, env.ns)
    return secret if (secret.get("data") or {}).get("token") else None


async def whoami(apiserver: ApiServerForTest, token: str) -> str:
    context = ssl.create_default_context(cafile=str(apiserver.pki_dir / "ca.crt"))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{apiserver.url}/apis/authentication.k8s.io/v1/selfsubjectreviews", ssl=context,
                                headers={"Authorization": f"Bearer {token}"},
                                json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}) as r:
            body = await r.json()
            assert r.status == 201, body
            return body["status"]["userInfo"]["username"]


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: Any):
    key = apiserver.pki_dir / "sa.key"
    ca = (apiserver.pki_dir / "ca.crt").read_text()
    async with controller_env(apiserver, api_client, [ServiceAccountTokensController], prefix="satok", nodes=0,
                              scheduler=False,
                              options={ServiceAccountTokensController: {"signing_key_file": key,
                                                                        "ca_data": ca}}) as e:
        yield e


async def test_a_token_secret_is_filled_in_and_authenticates_as_its_account(env: ControllerEnv,
                                                                              apiserver: ApiServerForTest) -> None:
    account = await env.client.create("v1", "serviceaccounts", {"metadata": {"name": "robot"}}, env.ns)
    await env.client.create("v1", "secrets", token_secret("robot-token", "robot"), env.ns)
    secret = await eventually(lambda: filled(env, "robot-token"))
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["namespace"] == env.ns
    assert data["ca.crt"] == (apiserver.pki_dir / "ca.crt").read_text()
    assert secret["metadata"]["annotations"][UID_ANNOTATION] == account["metadata"]["uid"]
    assert await whoami(apiserver, data["token"]) == f"system:serviceaccount:{env.ns}:robot"


async def test_a_token_secret_for_a_missing_account_is_deleted(env: ControllerEnv) -> None:
    await env.client.create("v1", "secrets", token_secret("ghost-token", "ghost"), env.ns)

    async def gone() -> bool:
        try:
            await env.client.get("v1", "secrets", "ghost-token", env.ns)
        except StatusError as exc:
            return exc.code == 404
        return False
    assert await eventually(gone)


async def test_deleting_the_account_deletes_its_token_secrets(env: ControllerEnv) -> None:
    await env.client.create("v1", "serviceaccounts", {"metadata": {"name": "temp"}}, env.ns)
    await env.client.create("v1", "secrets", token_secret("temp-token", "temp"), env.ns)
    await eventually(lambda: filled(env, "temp-token"))
    await env.client.delete("v1", "serviceaccounts", "temp", env.ns)

    async def gone() -> bool:
        try:
            await env.client.get("v1", "secrets", "temp-token", env.ns)
        except StatusError as exc:
            return exc.code == 404
        return False
    assert await eventually(gone)
