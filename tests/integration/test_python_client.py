"""The official Kubernetes Python client against our API server: configmaps and deployments end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture(scope="module")
def core(apiserver: ApiServerForTest) -> client.CoreV1Api:
    config.load_kube_config(config_file=str(apiserver.kubeconfig))
    return client.CoreV1Api()


@pytest.fixture(scope="module")
def apps(core: client.CoreV1Api) -> client.AppsV1Api:
    return client.AppsV1Api()


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(api_version="v1", kind="ConfigMap",
                              metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def deployment(name: str = "web", replicas: int = 2) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(name="app", image="nginx:1.27",
                                   ports=[client.V1ContainerPort(container_port=80, name="http")],
                                   env=[client.V1EnvVar(name="MODE", value="prod")])
    return client.V1Deployment(
        api_version="apps/v1", kind="Deployment", metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
                                              spec=client.V1PodSpec(containers=[container]))))


def as_dict(value: Any) -> dict[str, Any]:
    """A response that the client may hand back as a model or as the decoded JSON."""
    if isinstance(value, dict):
        return value
    return client.ApiClient().sanitize_for_serialization(value)


def error_status(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


class WatchCollector:
    """Runs ``Watch().stream`` in a thread from a known resourceVersion and records (type, name, obj)."""

    def __init__(self, list_func: Callable[..., Any], resource_version: str, **kwargs: Any) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(list_func, resource_version, kwargs), daemon=True)
        self._thread.start()

    def _run(self, list_func: Callable[..., Any], resource_version: str, kwargs: dict[str, Any]) -> None:
        try:
            for event in self._watch.stream(list_func, resource_version=resource_version, timeout_seconds=20,
                                            **kwargs):
                obj = event["object"]
                self.events.append((event["type"], obj.metadata.name, obj))
                if event["type"] == "DELETED":
                    self._watch.stop()
                    break
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.done.set()

    def result(self, timeout: float = 25.0) -> list[tuple[str, str, Any]]:
        assert self.done.wait(timeout), f"the watch never saw DELETED; saw {[e[:2] for e in self.events]}"
        if self.error is not None:
            raise self.error
        return self.events


@pytest.fixture
def ns(apiserver: ApiServerForTest) -> Iterator[str]:
    yield apiserver.namespace("py")


# ---- configmaps --------------------------------------------------------------------------------


def test_create_configmap_returns_server_populated_metadata(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, configmap("c1", {"a": "1"}))
    assert created.metadata.name == "c1" and created.metadata.namespace == ns
    assert created.metadata.uid and created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None
    assert created.data == {"a": "1"}
    read = core.read_namespaced_config_map("c1", ns)
    assert (read.metadata.uid, read.metadata.resource_version) == (created.metadata.uid,
                                                                   created.metadata.resource_version)


def test_list_configmaps_with_label_selector(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("red", {}, {"color": "red"}))
    core.create_namespaced_config_map(ns, configmap("blue", {}, {"color": "blue"}))
    listed = core.list_namespaced_config_map(ns, label_selector="color=red")
    assert [i.metadata.name for i in listed.items] == ["red"]
    assert listed.metadata.resource_version
    everything = core.list_namespaced_config_map(ns, label_selector="color")
    assert sorted(i.metadata.name for i in everything.items) == ["blue", "red"]


def test_list_configmaps_in_pages(core: client.CoreV1Api, ns: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(ns, configmap(f"c{i}", {}, {"paged": "yes"}))
    first = core.list_namespaced_config_map(ns, limit=2, label_selector="paged=yes")
    assert [i.metadata.name for i in first.items] == ["c0", "c1"]
    assert first.metadata._continue
    second = core.list_namespaced_config_map(ns, limit=2, label_selector="paged=yes",
                                             _continue=first.metadata._continue)
    third = core.list_namespaced_config_map(ns, limit=2, label_selector="paged=yes",
                                            _continue=second.metadata._continue)
    assert [i.metadata.name for i in second.items + third.items] == ["c2", "c3", "c4"]
    assert not third.metadata._continue


def test_watch_configmaps_sees_added_modified_deleted(core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    collector = WatchCollector(core.list_namespaced_config_map, rv, namespace=ns)
    core.create_namespaced_config_map(ns, configmap("w", {"a": "1"}))
    core.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}}, _content_type=MERGE)
    core.delete_namespaced_config_map("w", ns)
    events = collector.result()
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
    assert events[1][2].data == {"a": "2"}
    assert int(events[2][2].metadata.resource_version) > int(events[1][2].metadata.resource_version)


def test_merge_patch_configmap(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("c", {"a": "1", "b": "2"}))
    patched = core.patch_namespaced_config_map("c", ns, {"data": {"a": None, "c": "3"}}, _content_type=MERGE)
    assert patched.data == {"b": "2", "c": "3"}


def test_json_patch_configmap(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("c", {"a": "1"}))
    patched = core.patch_namespaced_config_map(
        "c", ns, [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "add", "path": "/data/b", "value": "2"}],
        _content_type=JSON_PATCH)
    assert patched.data == {"a": "1", "b": "2"}


def test_replace_with_stale_resource_version_is_409(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, configmap("c", {"a": "1"}))
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("c", ns, created)
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("c", ns, created)
    assert info.value.status == 409
    status = error_status(info.value)
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                                 'please apply your changes to the latest version and try again')


def test_delete_configmap_returns_success_status_then_404(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, configmap("c", {}))
    result = as_dict(core.delete_namespaced_config_map("c", ns))
    assert (result["kind"], result["status"]) == ("Status", "Success")
    assert result["details"] == {"name": "c", "kind": "configmaps", "uid": created.metadata.uid}
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("c", ns)
    assert info.value.status == 404
    assert error_status(info.value)["message"] == 'configmaps "c" not found'


# ---- deployments -------------------------------------------------------------------------------


def test_create_deployment_returns_defaulted_object(apps: client.AppsV1Api, ns: str) -> None:
    created = apps.create_namespaced_deployment(ns, deployment())
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    assert (str(created.spec.strategy.rolling_update.max_surge),
            str(created.spec.strategy.rolling_update.max_unavailable)) == ("25%", "25%")
    assert created.spec.revision_history_limit == 10
    assert created.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent"


def test_list_deployments_across_namespaces(apps: client.AppsV1Api, apiserver: ApiServerForTest, ns: str) -> None:
    other = apiserver.namespace("py")
    apps.create_namespaced_deployment(ns, deployment("web"))
    apps.create_namespaced_deployment(other, deployment("web"))
    listed = apps.list_deployment_for_all_namespaces(label_selector="app=web")
    found = {(d.metadata.namespace, d.metadata.name) for d in listed.items}
    assert {(ns, "web"), (other, "web")} <= found


def test_strategic_patch_deployment_image_keeps_other_container_fields(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}}
    patched = apps.patch_namespaced_deployment("web", ns, patch, _content_type=STRATEGIC)
    [container] = patched.spec.template.spec.containers
    assert container.image == "nginx:1.28"
    assert [(e.name, e.value) for e in container.env] == [("MODE", "prod")]
    assert patched.metadata.generation == 2


def test_scale_subresource_reads_and_patches_replicas(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment(replicas=2))
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 2, "app=web")
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}}, _content_type=MERGE)
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 4


def test_watch_deployments_sees_added_modified_deleted(apps: client.AppsV1Api, ns: str) -> None:
    rv = apps.list_namespaced_deployment(ns).metadata.resource_version
    collector = WatchCollector(apps.list_namespaced_deployment, rv, namespace=ns)
    apps.create_namespaced_deployment(ns, deployment())
    apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 5}}, _content_type=MERGE)
    apps.delete_namespaced_deployment("web", ns)
    events = collector.result()
    assert [(t, n) for t, n, _ in events] == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    assert events[1][2].spec.replicas == 5


def test_delete_deployment_then_read_is_404(apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment())
    result = as_dict(apps.delete_namespaced_deployment("web", ns))
    assert result["status"] == "Success"
    assert (result["details"]["group"], result["details"]["kind"]) == ("apps", "deployments")
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("web", ns)
    assert info.value.status == 404
    assert error_status(info.value)["message"] == 'deployments.apps "web" not found'


def test_invalid_deployment_is_422_from_the_client(apps: client.AppsV1Api, ns: str) -> None:
    body = deployment()
    body.spec.template.metadata.labels = {"app": "other"}
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment(ns, body)
    assert info.value.status == 422
    status = error_status(info.value)
    assert status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.template.metadata.labels"]
