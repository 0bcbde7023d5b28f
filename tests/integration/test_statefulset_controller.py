"""The StatefulSet controller against our API server, with hollow nodes (pods become Running and Ready),
the PV binder and the hostPath provisioner (claims get volumes) and the garbage collector (retention)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer
from kubeprov.controllers.garbagecollector import GarbageCollector
from kubeprov.controllers.history import REVISION_HASH_LABEL
from kubeprov.controllers.statefulset import StatefulSetController
from kubeprov.controllers.statefulset_util import POD_INDEX_LABEL, POD_NAME_LABEL, is_running_and_ready
from kubeprov.controllers.volumes.hostpath import PROVISIONER, HostPathProvisioner
from kubeprov.controllers.volumes.pvbinder import PersistentVolumeBinder
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, controller_env, delete_if_present, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CONTROLLERS = [StatefulSetController, PersistentVolumeBinder, HostPathProvisioner, GarbageCollector]
OPTIONS = {HostPathProvisioner: {"create_default_class": False}}


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient) -> AsyncIterator[ControllerEnv]:
    async with controller_env(apiserver, api_client, CONTROLLERS, prefix="sts", options=OPTIONS) as e:
        yield e


@pytest.fixture
async def storage_class(api_client: ApiClient) -> AsyncIterator[str]:
    """A hostPath class of the test's own (cluster-scoped, so removed afterwards with its volumes)."""
    name = f"hp-{uuid.uuid4().hex[:8]}"
    await api_client.create("storage.k8s.io/v1", "storageclasses", {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
        "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})
    yield name
    await api_client.delete("storage.k8s.io/v1", "storageclasses", name)
    volumes, _ = await api_client.list_all("v1", "persistentvolumes")
    for pv in volumes:
        if pv["spec"].get("storageClassName") == name:
            # the provisioner may be deleting its released volumes at the same time
            await delete_if_present(api_client, "v1", "persistentvolumes", pv["metadata"]["name"])


def statefulset(env: ControllerEnv, name: str, replicas: int, image: str = "registry.local/app:1",
                ready_delay: int = 0, claims_class: str | None = None, **spec: Any) -> dict:
    pod_spec = env.pod_spec(image)
    if ready_delay:
        pod_spec["containers"][0]["readinessProbe"] = {"exec": {"command": ["true"]},
                                                       "initialDelaySeconds": ready_delay}
    body: dict[str, Any] = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}
    if claims_class is not None:
        body["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "storageClassName": claims_class,
            "resources": {"requests": {"storage": "1Gi"}}}}]
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": body}


async def create(env: ControllerEnv, body: dict) -> dict:
    return await env.client.create("apps/v1", "statefulsets", body, env.ns)


async def get(env: ControllerEnv, name: str) -> dict:
    return await env.client.get("apps/v1", "statefulsets", name, env.ns)


async def patch(env: ControllerEnv, name: str, body: dict) -> dict:
    return await env.client.patch("apps/v1", "statefulsets", name, body, env.ns)


async def rolled_out(env: ControllerEnv, name: str, timeout: float = 40.0) -> dict:
    """What ``kubectl rollout status`` waits for (without a partition)."""
    async def check() -> dict | None:
        sts = await get(env, name)
        st, want = sts.get("status") or {}, sts["spec"]["replicas"]
        pods = await env.pods(f"app={name}")
        done = (st.get("observedGeneration", 0) >= sts["metadata"]["generation"] and st.get("readyReplicas") == want
                and st.get("updatedReplicas") == want and st.get("currentRevision") == st.get("updateRevision")
                and st.get("replicas") == want and len(pods) == want and all(is_running_and_ready(p) for p in pods))
        return sts if done else None
    return await eventually(check, timeout)


class PodLog:
    """Records, from a watch, each pod's creation with the pods that were Ready at that moment, and deletions."""

    def __init__(self, client: ApiClient, ns: str, app: str) -> None:
        self.informer = Informer(client, "v1", "pods", namespace=ns, label_selector=f"app={app}")
        self.created: list[tuple[str, set[str]]] = []
        self.deleted: list[str] = []
        self.uids: set[str] = set()
        self.failed: set[str] = set()  # uids seen Failed
        self.informer.add_handler(on_add=self._added, on_update=self._updated, on_delete=self._deleted)

    def _ready_now(self) -> set[str]:
        return {p["metadata"]["name"] for p in self.informer.list()
                if is_running_and_ready(p) and not p["metadata"].get("deletionTimestamp")}

    def _added(self, pod: dict) -> None:
        self.uids.add(pod["metadata"]["uid"])
        self.created.append((pod["metadata"]["name"], self._ready_now()))

    def _updated(self, old: dict, new: dict) -> None:
        if (new.get("status") or {}).get("phase") == "Failed":
            self.failed.add(new["metadata"]["uid"])
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get("deletionTimestamp"):
            self.deleted.append(new["metadata"]["name"])

    def _deleted(self, pod: dict) -> None:
        if not pod["metadata"].get("deletionTimestamp") and pod["metadata"]["name"] not in self.deleted[-1:]:
            self.deleted.append(pod["metadata"]["name"])

    async def __aenter__(self) -> PodLog:
        await self.informer.start()
        await self.informer.wait_synced(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


async def test_ordered_ready_creates_each_pod_after_its_predecessor_is_ready(env: ControllerEnv):
    async with PodLog(env.client, env.ns, "web") as log:
        await create(env, statefulset(env, "web", 3, ready_delay=1))
        sts = await rolled_out(env, "web")
    assert [name for name, _ in log.created] == ["web-0", "web-1", "web-2"]
    for i, (name, ready) in enumerate(log.created):
        assert {f"web-{j}" for j in range(i)} <= ready, f"{name} was created before its predecessors were Ready"
    pods = {p["metadata"]["name"]: p for p in await env.pods("app=web")}
    pod = pods["web-1"]
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    assert pod["metadata"]["labels"][POD_NAME_LABEL] == "web-1"
    assert pod["metadata"]["labels"][POD_INDEX_LABEL] == "1"
    assert pod["metadata"]["labels"][REVISION_HASH_LABEL] == sts["status"]["updateRevision"]
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("StatefulSet", "web", sts["metadata"]["uid"],
                                                                          True)
    st = sts["status"]
    assert (st["replicas"], st["readyReplicas"], st["currentReplicas"], st["updatedReplicas"],
            st["availableReplicas"]) == (3, 3, 3, 3, 3)


async def test_min_ready_seconds_delays_the_next_pod(env: ControllerEnv):
    await create(env, statefulset(env, "slow", 2, minReadySeconds=1))
    await rolled_out(env, "slow")

    async def available() -> bool:
        return (await get(env, "slow"))["status"].get("availableReplicas") == 2
    await eventually(available)
    pods = {p["metadata"]["name"]: p for p in await env.pods("app=slow")}
    ready_at = next(c["lastTransitionTime"] for c in pods["slow-0"]["status"]["conditions"] if c["type"] == "Ready")
    created = pods["slow-1"]["metadata"]["creationTimestamp"]
    # timestamps have whole seconds: at least one second after Ready is a later second
    assert datetime.fromisoformat(created) >= datetime.fromisoformat(ready_at) + timedelta(seconds=1)


async def test_parallel_creates_all_pods_without_waiting(env: ControllerEnv):
    await create(env, statefulset(env, "par", 3, ready_delay=600, podManagementPolicy="Parallel"))

    async def all_created() -> list | None:
        pods = await env.pods("app=par")
        return pods if len(pods) == 3 else None
    pods = await eventually(all_created, 30)
    assert sorted(p["metadata"]["name"] for p in pods) == ["par-0", "par-1", "par-2"]
    assert not any(is_running_and_ready(p) for p in pods)


async def test_scale_down_removes_the_highest_ordinal_first(env: ControllerEnv):
    await create(env, statefulset(env, "web", 3))
    await rolled_out(env, "web")
    async with PodLog(env.client, env.ns, "web") as log:
        await patch(env, "web", {"spec": {"replicas": 1}})
        await rolled_out(env, "web")
    assert log.deleted == ["web-2", "web-1"]
    assert [p["metadata"]["name"] for p in await env.pods("app=web")] == ["web-0"]


async def test_claims_are_created_bound_and_mounted(env: ControllerEnv, storage_class: str):
    await create(env, statefulset(env, "db", 2, claims_class=storage_class))
    await rolled_out(env, "db")

    async def bound() -> list | None:
        claims, _ = await env.client.list_all("v1", "persistentvolumeclaims", env.ns)
        return claims if len(claims) == 2 and all(c["status"].get("phase") == "Bound" for c in claims) else None
    claims = {c["metadata"]["name"]: c for c in await eventually(bound, 30)}
    assert set(claims) == {"data-db-0", "data-db-1"}
    claim = claims["data-db-1"]
    assert claim["spec"]["volumeName"] == f"pvc-{claim['metadata']['uid']}"
    assert claim["metadata"]["labels"] == {"app": "db"}
    pv = await env.client.get("v1", "persistentvolumes", claim["spec"]["volumeName"])
    assert pv["status"]["phase"] == "Bound" and pv["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    pod = await env.client.get("v1", "pods", "db-1", env.ns)
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"]["volumes"]


async def test_deleted_pod_comes_back_with_its_name_and_claim(env: ControllerEnv, storage_class: str):
    await create(env, statefulset(env, "db", 2, claims_class=storage_class))
    await rolled_out(env, "db")
    old = await env.client.get("v1", "pods", "db-1", env.ns)
    claim = await env.client.get("v1", "persistentvolumeclaims", "data-db-1", env.ns)
    await env.client.delete("v1", "pods", "db-1", env.ns)

    async def replaced() -> dict | None:
        pod = await env.client.get("v1", "pods", "db-1", env.ns)
        return pod if pod["metadata"]["uid"] != old["metadata"]["uid"] and is_running_and_ready(pod) else None
    pod = await eventually(replaced, 30)
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"]["volumes"]
    again = await env.client.get("v1", "persistentvolumeclaims", "data-db-1", env.ns)
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]


async def test_failed_pod_is_deleted_and_made_again(env: ControllerEnv):
    # bound straight to a node too small for it, the pod is refused by the kubelet and ends Failed
    body = statefulset(env, "big", 1)
    pod_spec = body["spec"]["template"]["spec"]
    pod_spec["nodeName"] = env.node_specs(1)[0].name
    pod_spec["containers"][0]["resources"] = {"requests": {"cpu": "1000"}}
    async with PodLog(env.client, env.ns, "big") as log:
        await create(env, body)

        async def replaced_after_failing() -> bool:
            return bool(log.failed) and len(log.uids) >= 2  # a pod failed and another was made
        await eventually(replaced_after_failing, 30)
    assert {name for name, _ in log.created} == {"big-0"} and "big-0" in log.deleted


async def test_rolling_update_respects_the_partition(env: ControllerEnv):
    await create(env, statefulset(env, "web", 3))
    first = await rolled_out(env, "web")
    old_revision = first["status"]["currentRevision"]
    async with PodLog(env.client, env.ns, "web") as log:
        await patch(env, "web", {"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "c", "image": "registry.local/app:2"}]}}}})

        async def partitioned() -> dict | None:
            sts = await get(env, "web")
            st = sts["status"]
            pods = await env.pods("app=web")
            ok = (st.get("updatedReplicas") == 2 and st.get("readyReplicas") == 3 and len(pods) == 3
                  and all(is_running_and_ready(p) for p in pods))
            return sts if ok else None
        sts = await eventually(partitioned, 40)
    new_revision = sts["status"]["updateRevision"]
    assert new_revision != old_revision and sts["status"]["currentRevision"] == old_revision
    assert log.deleted == ["web-2", "web-1"]
    revisions = {p["metadata"]["name"]: p["metadata"]["labels"][REVISION_HASH_LABEL] for p in await env.pods("app=web")}
    assert revisions == {"web-0": old_revision, "web-1": new_revision, "web-2": new_revision}
    await patch(env, "web", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    done = await rolled_out(env, "web")
    assert done["status"]["currentRevision"] == new_revision and done["status"]["currentReplicas"] == 3


async def test_on_delete_updates_only_pods_that_are_deleted(env: ControllerEnv):
    await create(env, statefulset(env, "web", 2, updateStrategy={"type": "OnDelete"}))
    first = await rolled_out(env, "web")
    await patch(env, "web", {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                            "image": "registry.local/app:2"}]}}}})

    async def observed() -> dict | None:
        sts = await get(env, "web")
        st = sts["status"]
        return sts if st.get("observedGeneration") == sts["metadata"]["generation"] else None
    sts = await eventually(observed)
    new_revision = sts["status"]["updateRevision"]
    assert new_revision != first["status"]["updateRevision"] and sts["status"]["updatedReplicas"] == 0
    assert {p["metadata"]["labels"][REVISION_HASH_LABEL] for p in await env.pods("app=web")} == \
        {first["status"]["updateRevision"]}
    await env.client.delete("v1", "pods", "web-1", env.ns)

    async def recreated() -> dict | None:
        pod = await env.client.get("v1", "pods", "web-1", env.ns)
        return pod if pod["metadata"]["labels"][REVISION_HASH_LABEL] == new_revision else None
    pod = await eventually(recreated, 30)
    assert pod["spec"]["containers"][0]["image"] == "registry.local/app:2"
    web0 = await env.client.get("v1", "pods", "web-0", env.ns)
    assert web0["spec"]["containers"][0]["image"] == "registry.local/app:1"


async def kubectl(env: ControllerEnv, *args: str) -> str:
    out = await env.kubectl(*args)
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def history_numbers(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines()[2:] if line.strip()]


async def test_kubectl_rollout_status_history_and_undo(env: ControllerEnv):
    await create(env, statefulset(env, "web", 2))
    out = await kubectl(env, "rollout", "status", "statefulset/web", "--timeout=40s")
    assert "roll out complete: 2 new pods have been updated" in out, out
    await patch(env, "web", {"metadata": {"annotations": {"kubernetes.io/change-cause": "app version 2"}}})
    await kubectl(env, "set", "image", "statefulset/web", "c=registry.local/app:2")
    await kubectl(env, "rollout", "status", "statefulset/web", "--timeout=40s")
    history = await kubectl(env, "rollout", "history", "statefulset/web")
    assert history_numbers(history) == ["1", "2"] and "app version 2" in history.strip().splitlines()[-1], history
    await kubectl(env, "rollout", "undo", "statefulset/web")
    await kubectl(env, "rollout", "status", "statefulset/web", "--timeout=40s")
    await rolled_out(env, "web")
    assert {p["spec"]["containers"][0]["image"] for p in await env.pods("app=web")} == {"registry.local/app:1"}
    assert history_numbers(await kubectl(env, "rollout", "history", "statefulset/web")) == ["2", "3"]


async def test_old_revisions_beyond_the_history_limit_are_deleted(env: ControllerEnv):
    await create(env, statefulset(env, "web", 1, revisionHistoryLimit=1))
    await rolled_out(env, "web")
    for image in ("registry.local/app:2", "registry.local/app:3"):
        await patch(env, "web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
        await rolled_out(env, "web")
    sts = await get(env, "web")

    async def revisions() -> list[int] | None:
        items, _ = await env.client.list_all("apps/v1", "controllerrevisions", env.ns)
        numbers = sorted(r["revision"] for r in items)
        return numbers if numbers == [2, 3] else None
    await eventually(revisions)
    items, _ = await env.client.list_all("apps/v1", "controllerrevisions", env.ns)
    assert sts["status"]["updateRevision"] in {r["metadata"]["name"] for r in items}


async def test_retention_policy_deletes_claims_when_scaled_and_when_deleted(env: ControllerEnv, storage_class: str):
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    await create(env, statefulset(env, "db", 2, claims_class=storage_class,
                                  persistentVolumeClaimRetentionPolicy=policy))
    sts = await rolled_out(env, "db")
    claim = await env.client.get("v1", "persistentvolumeclaims", "data-db-0", env.ns)
    assert [(r["kind"], r["uid"], r["controller"]) for r in claim["metadata"]["ownerReferences"]] == \
        [("StatefulSet", sts["metadata"]["uid"], True)]
    await patch(env, "db", {"spec": {"replicas": 1}})

    async def claim_names() -> set[str]:
        claims, _ = await env.client.list_all("v1", "persistentvolumeclaims", env.ns)
        return {c["metadata"]["name"] for c in claims if not c["metadata"].get("deletionTimestamp")}
    await eventually(lambda: _equals(claim_names(), {"data-db-0"}), 30)
    await env.client.delete("apps/v1", "statefulsets", "db", env.ns)
    await eventually(lambda: _equals(claim_names(), set()), 30)


async def test_retained_claims_survive_scale_down(env: ControllerEnv, storage_class: str):
    await create(env, statefulset(env, "db", 2, claims_class=storage_class))
    await rolled_out(env, "db")
    await patch(env, "db", {"spec": {"replicas": 1}})
    await rolled_out(env, "db")
    claim = await env.client.get("v1", "persistentvolumeclaims", "data-db-1", env.ns)
    assert not claim["metadata"].get("ownerReferences") and not claim["metadata"].get("deletionTimestamp")


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
