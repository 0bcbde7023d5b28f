"""The controller manager against our API server: service accounts, root CA, namespace deletion,
ReplicaSets, leader election. Controllers are restricted to the namespaces each test creates."""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import sys
import uuid

import aiohttp
import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers import ControllerManager, ControllerManagerConfig, enabled_controllers
from kubeprov.controllers.manager import CONTROLLERS
from kubeprov.controllers.replicaset import deletion_rank
from kubeprov.controllers.rootcacert import DESCRIPTION
from kubeprov.errors import KubeprovError
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def new_namespace(client: ApiClient, prefix: str = "kcm") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.create("v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def config(apiserver: ApiServerForTest, namespaces: list[str], **overrides: object) -> ControllerManagerConfig:
    values: dict = {"kubeconfig": str(apiserver.kubeconfig), "ca_file": str(apiserver.pki_dir / "ca.crt"),
                    "health_port": 0, "leader_elect": False, "namespaces": namespaces}
    values.update(overrides)
    return ControllerManagerConfig.from_dict(values)



def replicaset(name: str, replicas: int, app: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app, "tier": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def active_pods(client: ApiClient, ns: str, app: str) -> list[dict]:
    items, _ = await client.list_all("v1", "pods", ns, label_selector=f"app={app}")
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def scale(client: ApiClient, ns: str, name: str, replicas: int) -> None:
    await client.patch("apps/v1", "replicasets", name, {"spec": {"replicas": replicas}}, ns)


def test_controller_selection():
    every = list(CONTROLLERS)
    assert {"serviceaccount", "namespace", "replicaset", "deployment", "garbagecollector", "nodelifecycle",
            "statefulset", "daemonset", "job", "cronjob", "endpoint", "endpointslice"} <= set(every)
    assert enabled_controllers(["*"]) == every
    assert enabled_controllers(["*", "-replicaset"]) == [n for n in every if n != "replicaset"]
    assert enabled_controllers(["replicaset-controller"]) == ["replicaset"]
    with pytest.raises(ValueError):
        enabled_controllers(["nope"])
    with pytest.raises(KubeprovError, match="unknown settings bogus"):
        ControllerManagerConfig.from_dict({"bogus": 1})
    with pytest.raises(KubeprovError, match="unknown controller '-nope'"):
        ControllerManagerConfig.from_dict({"controllers": ["*", "-nope"]})


def test_deletion_rank():
    def pod(name, node="", phase="Pending", ready=False, restarts=0, created="2026-01-01T00:00:00Z"):
        return {"metadata": {"name": name, "creationTimestamp": created},
                "spec": {"nodeName": node},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                           "containerStatuses": [{"restartCount": restarts}]}}
    pods = [pod("running-ready", "n", "Running", True), pod("unscheduled"), pod("pending", "n"),
            pod("running", "n", "Running"), pod("running-restarts", "n", "Running", restarts=3),
            pod("running-newer", "n", "Running", created="2026-02-01T00:00:00Z")]
    order = [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)]
    assert order == ["unscheduled", "pending", "running-restarts", "running-newer", "running", "running-ready"]


async def test_namespace_gets_default_serviceaccount_and_root_ca(apiserver, client):
    ns = await new_namespace(client)
    manager = ControllerManager(config(apiserver, [ns], controllers=["serviceaccount", "root-ca-cert-publisher"]))
    await manager.start()
    try:
        ca = (apiserver.pki_dir / "ca.crt").read_text()
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))
        cm = await eventually(lambda: client.get("v1", "configmaps", "kube-root-ca.crt", ns))
        assert cm["data"] == {"ca.crt": ca}
        assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION

        # deleted: recreated; tampered with: restored
        await client.delete("v1", "serviceaccounts", "default", ns)
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))
        cm["data"] = {"ca.crt": "garbage"}
        await client.update("v1", "configmaps", cm, ns)

        async def restored():
            return (await client.get("v1", "configmaps", "kube-root-ca.crt", ns))["data"] == {"ca.crt": ca}
        await eventually(restored)

        # a namespace outside the filter is left alone
        other = await new_namespace(client, "kcm-other")
        await asyncio.sleep(0.5)
        with pytest.raises(StatusError):
            await client.get("v1", "configmaps", "kube-root-ca.crt", other)

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{manager.port}"
            for path in ("/healthz", "/readyz"):
                async with http.get(base + path) as resp:
                    assert resp.status == 200, path
            async with http.get(base + "/metrics") as resp:
                text = await resp.text()
        assert 'kubeprov_controller_syncs_total{controller="serviceaccount"}' in text
        assert 'workqueue_depth{name="root-ca-cert-publisher"}' in text
    finally:
        await manager.stop()


async def test_namespace_deletion_removes_content(apiserver, client):
    ns = await new_namespace(client)
    manager = ControllerManager(config(apiserver, [ns], controllers=["namespace", "serviceaccount"]))
    await manager.start()
    try:
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))  # pods need it
        await client.create("v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "cm"}, "data": {"a": "b"}}, ns)
        await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, ns)
        deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                           "template": {"metadata": {"labels": {"app": "d"}},
                                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        await client.create("apps/v1", "deployments", deploy, ns)
        await client.delete("v1", "namespaces", ns)

        async def gone():
            for api_version, resource in (("v1", "configmaps"), ("v1", "pods"), ("apps/v1", "deployments")):
                items, _ = await client.list_all(api_version, resource, ns)
                if items:
                    return False
            try:
                await client.get("v1", "namespaces", ns)
            except StatusError as exc:
                return exc.code == 404
            return False
        await eventually(gone, timeout=30)
    finally:
        await manager.stop()


async def test_terminating_namespace_is_emptied_then_finalized(apiserver, client):
    """A namespace held in Terminating (a finalizer of someone else's) goes through the full path:
    content deleted, status conditions written, the ``kubernetes`` finalizer removed via /finalize."""
    ns = await new_namespace(client)
    await client.patch("v1", "namespaces", ns, {"metadata": {"finalizers": ["example.com/hold"]}})
    manager = ControllerManager(config(apiserver, [ns], controllers=["namespace"]))
    await manager.start()
    try:
        await client.create("v1", "configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                                 "metadata": {"name": "cm"}}, ns)
        await client.delete("v1", "namespaces", ns)

        async def finalized():
            got = await client.get("v1", "namespaces", ns)
            return got if not (got.get("spec") or {}).get("finalizers") else None
        got = await eventually(finalized)
        assert got["status"]["phase"] == "Terminating"
        conditions = {c["type"]: c for c in got["status"]["conditions"]}
        assert conditions["NamespaceDeletionContentFailure"]["status"] == "False"
        assert conditions["NamespaceDeletionContentFailure"]["reason"] == "ContentDeleted"
        assert conditions["NamespaceContentRemaining"]["reason"] in ("ContentRemoved", "SomeResourcesRemain")
        items, _ = await client.list_all("v1", "configmaps", ns)
        assert items == []
        await client.patch("v1", "namespaces", ns, {"metadata": {"finalizers": None}})

        async def gone():
            try:
                await client.get("v1", "namespaces", ns)
            except StatusError as exc:
                return exc.code == 404
            return False
        await eventually(gone)
    finally:
        await manager.stop()


async def test_replicaset_scales_replaces_and_adopts(apiserver, client):
    ns = await new_namespace(client)
    manager = ControllerManager(config(apiserver, [ns], controllers=["replicaset", "serviceaccount"]))
    await manager.start()
    try:
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))  # pods need it
        # an orphan matching the selector exists before the ReplicaSet: it is adopted
        orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "web"}},
                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        await client.create("v1", "pods", orphan, ns)
        rs = await client.create("apps/v1", "replicasets", replicaset("web", 3, "web"), ns)
        uid = rs["metadata"]["uid"]

        async def count(n):
            pods = await active_pods(client, ns, "web")
            owned = [p for p in pods if any(r["uid"] == uid and r.get("controller") and r.get("blockOwnerDeletion")
                                            for r in p["metadata"].get("ownerReferences") or [])]
            return pods if len(pods) == n and len(owned) == n else None

        pods = await eventually(lambda: count(3))
        names = {p["metadata"]["name"] for p in pods}
        assert "orphan" in names
        assert all(n == "orphan" or n.startswith("web-") for n in names)
        created = next(p for p in pods if p["metadata"]["name"] != "orphan")
        assert created["metadata"]["labels"] == {"app": "web", "tier": "web"}

        async def status_is(replicas):
            got = await client.get("apps/v1", "replicasets", "web", ns)
            st = got.get("status") or {}
            return (st.get("replicas") == replicas and st.get("observedGeneration") == got["metadata"]["generation"]
                    and st.get("fullyLabeledReplicas", 0) == replicas - (1 if "orphan" in names else 0))
        await eventually(lambda: status_is(3))

        await scale(client, ns, "web", 5)
        await eventually(lambda: count(5))
        await scale(client, ns, "web", 1)
        await eventually(lambda: count(1))
        await asyncio.sleep(0.5)
        assert len(await active_pods(client, ns, "web")) == 1  # no overshoot after converging

        victim = (await active_pods(client, ns, "web"))[0]["metadata"]["name"]
        await client.delete("v1", "pods", victim, ns)

        async def replaced():
            pods = await count(1)
            return pods and pods[0]["metadata"]["name"] != victim
        await eventually(replaced)

        # an owned pod whose labels stop matching is released (and replaced)
        kept = (await active_pods(client, ns, "web"))[0]
        await client.patch("v1", "pods", kept["metadata"]["name"], {"metadata": {"labels": {"app": "other"}}}, ns)

        async def released():
            pod = await client.get("v1", "pods", kept["metadata"]["name"], ns)
            return not pod["metadata"].get("ownerReferences") and await count(1)
        await eventually(released)
    finally:
        await manager.stop()


async def test_replicationcontroller_keeps_its_pods(apiserver, client):
    ns = await new_namespace(client)
    manager = ControllerManager(config(apiserver, [ns], controllers=["replicationcontroller", "serviceaccount"]))
    await manager.start()
    try:
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))
        rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
              "spec": {"replicas": 2, "selector": {"app": "rc"},
                       "template": {"metadata": {"labels": {"app": "rc"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        await client.create("v1", "replicationcontrollers", rc, ns)
        await eventually(lambda: _len_is(active_pods(client, ns, "rc"), 2))
        pods = await active_pods(client, ns, "rc")
        assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController" for p in pods)
        await client.patch("v1", "replicationcontrollers", "rc", {"spec": {"replicas": 1}}, ns)
        await eventually(lambda: _len_is(active_pods(client, ns, "rc"), 1))

        async def status_ok():
            got = await client.get("v1", "replicationcontrollers", "rc", ns)
            return (got.get("status") or {}).get("replicas") == 1
        await eventually(status_ok)
    finally:
        await manager.stop()


async def test_leader_election_only_leader_runs_and_standby_takes_over(apiserver, client):
    ns = await new_namespace(client)
    lease = f"kcm-test-{uuid.uuid4().hex[:6]}"
    timings = {"leader_elect": True, "lease_name": lease, "lease_duration": 2.0, "renew_deadline": 1.5,
               "retry_period": 0.3, "controllers": ["replicaset", "serviceaccount"]}
    first = ControllerManager(config(apiserver, [ns], identity="first", **timings))
    second = ControllerManager(config(apiserver, [ns], identity="second", **copy.deepcopy(timings)))
    await first.start()
    await eventually(lambda: _true(first.leading))
    await second.start()
    try:
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns))  # pods need it
        await client.create("apps/v1", "replicasets", replicaset("le", 2, "le"), ns)
        await eventually(lambda: _len_is(active_pods(client, ns, "le"), 2))
        assert first.leading and not second.leading
        assert not second.controllers
        lease_obj = await client.get("coordination.k8s.io/v1", "leases", lease, "kube-system")
        assert lease_obj["spec"]["holderIdentity"] == "first"

        await first.stop()
        await eventually(lambda: _true(second.leading), timeout=15)
        await scale(client, ns, "le", 4)
        await eventually(lambda: _len_is(active_pods(client, ns, "le"), 4))
        lease_obj = await client.get("coordination.k8s.io/v1", "leases", lease, "kube-system")
        assert lease_obj["spec"]["holderIdentity"] == "second"
    finally:
        await first.stop()
        await second.stop()


async def _true(value: bool) -> bool:
    return value


async def _len_is(coro, n: int) -> bool:
    return len(await coro) == n


async def test_module_entry_point_runs_the_manager(apiserver, client, tmp_path):
    ns = await new_namespace(client)
    port = free_port()
    cfg = tmp_path / "kcm.yaml"
    cfg.write_text(yaml.safe_dump({"kubeconfig": str(apiserver.kubeconfig), "leader_elect": False,
                                   "health_port": port, "controllers": ["serviceaccount"], "namespaces": [ns]}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeprov.controllers", "--config", str(cfg),
                                                stderr=asyncio.subprocess.PIPE)
    try:
        await eventually(lambda: client.get("v1", "serviceaccounts", "default", ns), timeout=30)

        async def healthy():
            try:
                async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False
        await eventually(healthy)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()[-2000:]
    first = err.decode().splitlines()[0]
    assert json.loads(first)["logger"].startswith("kubeprov.controllers")
