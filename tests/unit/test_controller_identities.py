"""Per-controller identities: every controller has a ServiceAccount, a bound role, and tokens that get renewed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import yaml

from kubeprov.apiserver.auth import Attributes, Authorizer, RbacAuthorizer, UserInfo, default_policy
from kubeprov.apiserver.auth.user import service_account_groups
from kubeprov.controllers.base import Controller
from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.identities import (
    EVENT_SOURCES,
    SERVICE_ACCOUNTS,
    ControllerIdentities,
    TokenClient,
    event_source,
    service_account_for,
    username,
)
from kubeprov.controllers.manager import CONTROLLERS
from kubeprov.render import render
from tests.unit.auth_fakes import Store

POLICY = default_policy()


def controller_user(account: str) -> UserInfo:
    return UserInfo(username(account), groups=(*service_account_groups("kube-system"), "system:authenticated"))


def allowed(account: str, verb: str, resource: str, namespace: str = "team", **kw: str) -> bool:
    attrs = Attributes(controller_user(account), verb, True, resource=resource, namespace=namespace, **kw)
    return Authorizer(None, RbacAuthorizer(Store(POLICY))).authorize(attrs).allowed


def objects(kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in POLICY if o["kind"] == kind}


def test_every_registered_controller_has_an_account_with_a_bound_cluster_role() -> None:
    roles, bindings = objects("ClusterRole"), objects("ClusterRoleBinding")
    missing = []
    for name, cls in CONTROLLERS.items():
        if getattr(cls, "uses_manager_identity", False):
            continue  # runs as the manager itself (the token controller signs tokens with its own key)
        account = service_account_for(name, cls)
        role = f"system:controller:{account}"
        binding = bindings.get(role, {})
        subjects = binding.get("subjects") or []
        if not account or role not in roles or subjects != [
                {"kind": "ServiceAccount", "name": account, "namespace": "kube-system"}]:
            missing.append(name)
    assert missing == []


def test_every_account_in_the_table_has_a_role() -> None:
    roles = objects("ClusterRole")
    assert sorted(a for a in set(SERVICE_ACCOUNTS.values()) if f"system:controller:{a}" not in roles) == []


def test_controller_roles_carry_the_bootstrapping_label() -> None:
    role = objects("ClusterRole")["system:controller:replicaset-controller"]
    assert role["metadata"]["labels"] == {"kubernetes.io/bootstrapping": "rbac-defaults"}


def test_the_replicaset_controller_may_create_pods_but_not_delete_replicasets() -> None:
    assert allowed("replicaset-controller", "create", "pods")
    assert not allowed("replicaset-controller", "delete", "replicasets", api_group="apps", name="web")


def test_the_certificate_controller_may_approve_kubelet_client_certificates() -> None:
    assert allowed("certificate-controller", "update", "certificatesigningrequests", "",
                   api_group="certificates.k8s.io", subresource="approval", name="csr-1")
    assert allowed("certificate-controller", "approve", "signers", "", api_group="certificates.k8s.io",
                   name="kubernetes.io/kube-apiserver-client-kubelet")
    assert not allowed("certificate-controller", "approve", "signers", "", api_group="certificates.k8s.io",
                       name="kubernetes.io/kubelet-serving")


def test_a_class_attribute_names_the_account_before_the_table() -> None:
    class Custom(Controller):
        name = "replicaset"
        service_account = "custom-controller"

    assert service_account_for("replicaset", Custom) == "custom-controller"
    assert service_account_for("replicaset") == "replicaset-controller"
    assert service_account_for("unknown") == ""


def test_a_token_is_renewed_when_four_fifths_of_its_life_have_passed() -> None:
    identities = ControllerIdentities(client=None, token_seconds=3600)  # type: ignore[arg-type]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert identities.renew_delay(now + timedelta(seconds=3600), now) == 2880
    assert identities.renew_delay(now - timedelta(seconds=5), now) == 1.0


async def test_a_new_token_replaces_the_authorization_header_of_an_open_session() -> None:
    client = TokenClient("http://127.0.0.1:1", "old")
    try:
        session = client._get_session()
        client.set_token("new")
        assert session.headers["Authorization"] == "Bearer new"
    finally:
        await client.close()


def test_the_config_and_its_template_carry_the_flag() -> None:
    text = render("controller-manager.yaml.j2", kubeconfig="/k", ca_file="/ca", health_port=0,
                  use_service_account_credentials=True)
    assert ControllerManagerConfig.from_dict(yaml.safe_load(text)).use_service_account_credentials is True
    assert ControllerManagerConfig().use_service_account_credentials is False


class FakeTokenApi:
    """Answers TokenRequests with tokens that expire at once, so renewal is due immediately."""

    server = "http://127.0.0.1:1"

    def __init__(self) -> None:
        self.issued = 0

    async def get(self, *args: object, **kwargs: object) -> dict:
        return {}

    async def create(self, api_version: str, resource: str, obj: dict, namespace: str = "", **kwargs: object) -> dict:
        self.issued += 1
        soon = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": {"token": f"token-{self.issued}", "expirationTimestamp": soon}}


async def test_an_expiring_token_is_replaced_in_the_controllers_client() -> None:
    identities = ControllerIdentities(FakeTokenApi())  # type: ignore[arg-type]
    try:
        client = await identities.client_for("replicaset-controller")
        first = client.token
        async with asyncio.timeout(15):
            while client.token == first:
                await asyncio.sleep(0.1)
    finally:
        await identities.close()
    assert (first, client.token) == ("token-1", "token-2")


def test_every_registered_controller_names_its_event_source_like_kube_controller_manager() -> None:
    assert set(EVENT_SOURCES) >= set(CONTROLLERS)
    assert event_source("endpointslice") == "endpoint-slice-controller"
    assert event_source("horizontalpodautoscaling") == "horizontal-pod-autoscaler"
    assert event_source("persistentvolume-binder") == "persistentvolume-controller"
