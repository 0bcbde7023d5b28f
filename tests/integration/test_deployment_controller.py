"""The Deployment controller against our API server, with the ReplicaSet controller, a scheduler of the
test's own and hollow nodes (so pods become Running and Ready): rollouts, bounds, undo, scaling,
Recreate, pause, revisions and history cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer
from kubeprov.api.status import StatusError
from kubeprov.controllers.deployment import DeploymentController
from kubeprov.controllers.deployment_util import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    compute_hash,
    max_unavailable,
    resolve_fenceposts,
)
from kubeprov.controllers.podutil import is_ready
from kubeprov.controllers.replicaset import ReplicaSetController
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import ControllerEnv, eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Env(ControllerEnv):
    """The controller test bed with the ReplicaSet and Deployment controllers, plus deployment helpers."""

    def deployment(self, name: str, replicas: int, image: str = "nginx:1", **spec: object) -> dict:
        body = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": self.pod_spec(image)}}
        body.update(spec)
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": body}

    async def create(self, name: str, replicas: int, image: str = "nginx:1", **spec: object) -> dict:
        return await self.client.create("apps/v1", "deployments", self.deployment(name, replicas, image, **spec),
                                        self.ns)

    async def get(self, name: str) -> dict:
        return await self.client.get("apps/v1", "deployments", name, self.ns)

    async def patch(self, name: str, patch: dict) -> dict:
        return await self.client.patch("apps/v1", "deployments", name, patch, self.ns)

    async def set_image(self, name: str, image: str) -> dict:
        return await self.patch(name, {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                                       "image": image}]}}}})

    async def sets(self, name: str) -> list[dict]:
        items, _ = await self.client.list_all("apps/v1", "replicasets", self.ns, label_selector=f"app={name}")
        return sorted(items, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION, "0")))

    async def complete(self, name: str, timeout: float = 20.0) -> dict:
        """Wait for what ``kubectl rollout status`` waits for; return the deployment."""
        async def check():
            d = await self.get(name)
            st, want = d.get("status") or {}, d["spec"]["replicas"]
            pods = await self.pods(f"app={name}")
            if (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas", 0) == want
                    and st.get("replicas", 0) == want and st.get("availableReplicas", 0) == want
                    and len(pods) == want):
                return d
            return None
        return await eventually(check, timeout)


@pytest.fixture
async def env(apiserver: ApiServerForTest, api_client: ApiClient) -> AsyncIterator[Env]:
    e = Env(apiserver, api_client, "deploy")
    try:
        await e.start([ReplicaSetController, DeploymentController])
        yield e
    finally:
        await e.stop()


class PodBounds:
    """Watches a deployment's pods and records the most existing and fewest ready (non-terminating) ones."""

    def __init__(self, client: ApiClient, ns: str, app: str) -> None:
        self.informer = Informer(client, "v1", "pods", namespace=ns, label_selector=f"app={app}")
        self.max_pods = 0
        self.min_ready: int | None = None
        self.informer.add_handler(on_add=self._check, on_update=lambda _o, n: self._check(n),
                                  on_delete=self._check)

    def _check(self, _pod: dict) -> None:
        live = [p for p in self.informer.list() if not p["metadata"].get("deletionTimestamp")]
        self.max_pods = max(self.max_pods, len(live))
        ready = sum(1 for p in live if is_ready(p))
        self.min_ready = ready if self.min_ready is None else min(self.min_ready, ready)

    async def __aenter__(self) -> PodBounds:
        await self.informer.start()
        await self.informer.wait_synced(10)
        self._check({})
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


def test_fenceposts_and_hash():
    def d(replicas, surge, unavailable, type_="RollingUpdate"):
        return {"spec": {"replicas": replicas, "strategy": {"type": type_, "rollingUpdate": {
            "maxSurge": surge, "maxUnavailable": unavailable}}}}
    assert resolve_fenceposts(d(10, "25%", "25%")) == (3, 2)  # surge rounds up, unavailable down
    assert resolve_fenceposts(d(3, "0%", "0%")) == (0, 1)
    assert resolve_fenceposts(d(5, 2, "50%")) == (2, 2)
    assert max_unavailable(d(2, 0, 5)) == 2
    assert max_unavailable(d(2, 0, 5, "Recreate")) == 0
    t = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    h = compute_hash(t, None)
    assert h == compute_hash({"metadata": {"labels": {"app": "x", HASH_LABEL: h}}, "spec": t["spec"]}, None)
    assert h != compute_hash(t, 1) and all(c in "bcdfghjklmnpqrstvwxz2456789" for c in h)


async def test_create_rollout_and_undo(env: Env):
    await env.create("web", 4, strategy={"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})
    d = await env.complete("web")
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"]) == (4, 4, 4, 4)
    assert st.get("unavailableReplicas", 0) == 0
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert d["metadata"]["annotations"][REVISION] == "1"
    [rs1] = await env.sets("web")
    pod_hash = rs1["metadata"]["labels"][HASH_LABEL]
    assert rs1["metadata"]["name"] == f"web-{pod_hash}"
    assert rs1["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: pod_hash}
    assert rs1["spec"]["template"]["metadata"]["labels"][HASH_LABEL] == pod_hash
    ref = rs1["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Deployment", "web", d["metadata"]["uid"],
                                                                         True)
    ann = rs1["metadata"]["annotations"]
    assert (ann[REVISION], ann[DESIRED_REPLICAS], ann[MAX_REPLICAS]) == ("1", "4", "5")
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert out.returncode == 0, out.stderr
    assert "successfully rolled out" in out.stdout

    # a new image rolls out within maxSurge/maxUnavailable
    async with PodBounds(env.client, env.ns, "web") as bounds:
        await env.patch("web", {"metadata": {"annotations": {"kubernetes.io/change-cause": "image v2"}}})
        await env.set_image("web", "nginx:2")
        out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert out.returncode == 0, out.stderr
        d = await env.complete("web")
    assert bounds.max_pods <= 5, bounds.max_pods
    assert bounds.min_ready is not None and bounds.min_ready >= 3, bounds.min_ready
    old, new = await env.sets("web")
    assert old["metadata"]["name"] == rs1["metadata"]["name"] and old["spec"]["replicas"] == 0
    assert new["metadata"]["annotations"][REVISION] == "2" and d["metadata"]["annotations"][REVISION] == "2"
    assert new["metadata"]["annotations"]["kubernetes.io/change-cause"] == "image v2"
    assert new["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    pods = await env.pods("app=web", active_only=False)
    assert all(p["metadata"]["labels"][HASH_LABEL] == new["metadata"]["labels"][HASH_LABEL] for p in pods
               if not p["metadata"].get("deletionTimestamp"))

    # kubectl rollout undo: back to the first ReplicaSet, now revision 3, no third set
    out = await env.kubectl("rollout", "undo", "deployment/web")
    assert out.returncode == 0, out.stderr
    out = await env.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert out.returncode == 0, out.stderr
    d = await env.complete("web")
    sets = await env.sets("web")
    assert [s["metadata"]["name"] for s in sets] == [new["metadata"]["name"], rs1["metadata"]["name"]]
    assert sets[1]["metadata"]["annotations"][REVISION] == "3" and sets[1]["spec"]["replicas"] == 4
    assert sets[0]["spec"]["replicas"] == 0
    assert d["metadata"]["annotations"][REVISION] == "3"
    out = await env.kubectl("rollout", "history", "deployment/web")
    assert out.returncode == 0 and "image v2" in out.stdout, out.stdout + out.stderr


async def test_scale_up_and_down(env: Env):
    await env.create("sc", 2)
    await env.complete("sc")
    out = await env.kubectl("scale", "deployment/sc", "--replicas=5")
    assert out.returncode == 0, out.stderr
    d = await env.complete("sc")
    [rs] = await env.sets("sc")
    assert rs["spec"]["replicas"] == 5 and rs["metadata"]["annotations"][DESIRED_REPLICAS] == "5"
    assert d["status"]["availableReplicas"] == 5
    await env.patch("sc", {"spec": {"replicas": 1}})
    d = await env.complete("sc")
    [rs] = await env.sets("sc")
    assert rs["spec"]["replicas"] == 1 and d["status"]["replicas"] == 1
    assert d["metadata"]["annotations"][REVISION] == "1"


async def test_proportional_scaling_during_stuck_rollout(env: Env):
    await env.create("prop", 10, strategy={"type": "RollingUpdate",
                                           "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}})
    await env.complete("prop", 30)
    # the new template's pods fit no node: the rollout stops at old 8 / new 5
    await env.patch("prop", {"spec": {"template": {"spec": {"nodeSelector": {"nowhere": "x"}}}}})

    async def stuck():
        sets = await env.sets("prop")
        return len(sets) == 2 and [s["spec"]["replicas"] for s in sets] == [8, 5] and sets
    await eventually(stuck)
    await asyncio.sleep(0.5)
    assert [s["spec"]["replicas"] for s in await env.sets("prop")] == [8, 5]
    await env.patch("prop", {"spec": {"replicas": 20}})

    async def scaled():
        sets = await env.sets("prop")
        return [s["spec"]["replicas"] for s in sets] == [14, 9] and sets
    sets = await eventually(scaled)
    assert all(s["metadata"]["annotations"][DESIRED_REPLICAS] == "20" for s in sets)
    assert all(s["metadata"]["annotations"][MAX_REPLICAS] == "23" for s in sets)
    d = await env.get("prop")
    assert d["status"]["updatedReplicas"] in (5, 9) and d["status"]["availableReplicas"] >= 8


async def test_progress_deadline_exceeded(env: Env):
    await env.create("slow", 2, progressDeadlineSeconds=1)
    await env.complete("slow")
    await env.patch("slow", {"spec": {"template": {"spec": {"nodeSelector": {"nowhere": "x"}}}}})

    async def timed_out():
        d = await env.get("slow")
        conds = {c["type"]: c for c in d["status"].get("conditions", [])}
        p = conds.get("Progressing")
        return p is not None and p["reason"] == "ProgressDeadlineExceeded" and d
    d = await eventually(timed_out, 15)
    conds = {c["type"]: c for c in d["status"]["conditions"]}
    assert conds["Progressing"]["status"] == "False"
    assert "has timed out progressing" in conds["Progressing"]["message"]
    assert conds["Available"]["status"] == "True"  # the old pods still serve
    out = await env.kubectl("rollout", "status", "deployment/slow", "--timeout=10s")
    assert out.returncode != 0 and "exceeded its progress deadline" in out.stderr, out.stdout + out.stderr


async def test_recreate(env: Env):
    await env.create("rec", 3, strategy={"type": "Recreate"})
    await env.complete("rec")
    [rs1] = await env.sets("rec")
    old_hash = rs1["metadata"]["labels"][HASH_LABEL]
    overlap = []
    pods = Informer(env.client, "v1", "pods", namespace=env.ns, label_selector="app=rec")

    def check(_pod: dict) -> None:
        hashes = {p["metadata"]["labels"][HASH_LABEL] for p in pods.list()}
        if len(hashes) > 1:
            overlap.append(hashes)
    pods.add_handler(on_add=check, on_update=lambda _o, n: check(n), on_delete=check)
    await pods.start()
    try:
        await pods.wait_synced(10)
        await env.set_image("rec", "nginx:2")
        d = await env.complete("rec")
    finally:
        await pods.stop()
    assert not overlap, overlap  # no new pod while an old one existed
    old, new = await env.sets("rec")
    assert old["metadata"]["labels"][HASH_LABEL] == old_hash and old["spec"]["replicas"] == 0
    assert new["spec"]["replicas"] == 3 and new["metadata"]["annotations"][REVISION] == "2"
    assert new["metadata"]["annotations"][MAX_REPLICAS] == "3"
    assert d["status"]["updatedReplicas"] == 3


async def test_paused_does_not_roll_but_scales(env: Env):
    await env.create("pz", 2)
    await env.complete("pz")
    out = await env.kubectl("rollout", "pause", "deployment/pz")
    assert out.returncode == 0, out.stderr

    async def paused_cond():
        d = await env.get("pz")
        return any(c["type"] == "Progressing" and c["reason"] == "DeploymentPaused"
                   for c in d["status"].get("conditions", [])) and d
    await eventually(paused_cond)
    await env.set_image("pz", "nginx:2")
    await env.patch("pz", {"spec": {"replicas": 3}})

    async def scaled():
        sets = await env.sets("pz")
        return len(sets) == 1 and sets[0]["spec"]["replicas"] == 3 and sets
    await eventually(scaled)
    await asyncio.sleep(0.5)
    [rs] = await env.sets("pz")
    assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1"
    d = await env.get("pz")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    out = await env.kubectl("rollout", "resume", "deployment/pz")
    assert out.returncode == 0, out.stderr
    d = await env.complete("pz")
    sets = await env.sets("pz")
    assert len(sets) == 2 and sets[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert d["metadata"]["annotations"][REVISION] == "2"


async def test_revision_history_limit_and_adoption(env: Env):
    await env.create("hist", 1, revisionHistoryLimit=1)
    await env.complete("hist")
    for i in (2, 3, 4):
        await env.set_image("hist", f"nginx:{i}")
        await env.complete("hist")

    async def cleaned():
        sets = await env.sets("hist")
        return len(sets) == 2 and sets
    sets = await eventually(cleaned)
    assert [s["metadata"]["annotations"][REVISION] for s in sets] == ["3", "4"]
    assert sets[0]["spec"]["replicas"] == 0

    # an orphaned ReplicaSet matching the selector is adopted; one that stops matching is released
    orphan = sets[0]
    await env.client.patch("apps/v1", "replicasets", orphan["metadata"]["name"],
                           {"metadata": {"ownerReferences": None}}, env.ns)

    async def adopted():
        rs = await env.client.get("apps/v1", "replicasets", orphan["metadata"]["name"], env.ns)
        return rs["metadata"].get("ownerReferences") and rs
    await eventually(adopted)
    await env.client.patch("apps/v1", "replicasets", orphan["metadata"]["name"],
                           {"metadata": {"labels": {"app": "elsewhere"}}}, env.ns)

    async def released():
        rs = await env.client.get("apps/v1", "replicasets", orphan["metadata"]["name"], env.ns)
        return not rs["metadata"].get("ownerReferences")
    await eventually(released)
    try:
        await env.client.delete("apps/v1", "replicasets", orphan["metadata"]["name"], env.ns)
    except StatusError:
        pass
