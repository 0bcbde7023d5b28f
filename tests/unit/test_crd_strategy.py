"""The custom resource Strategy: schema validation, status and scale subresources, generation."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.apiserver.crd.controller import resource_types
from kubeprov.apiserver.crd.strategy import CustomResourceStrategy
from kubeprov.apiserver.strategy import strategy_for

SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {"type": "object", "required": ["cronSpec"], "properties": {
            "cronSpec": {"type": "string"},
            "replicas": {"type": "integer", "maximum": 10, "default": 1},
            "image": {"type": "string"},
        }},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                    "selector": {"type": "string"}}},
    },
}


def crd(*, status: bool = True, scale: bool = True) -> dict[str, Any]:
    subresources: dict[str, Any] = {}
    if status:
        subresources["status"] = {}
    if scale:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                                 "labelSelectorPath": ".status.selector"}
    return {
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {"group": "stable.example.com", "scope": "Namespaced",
                 "names": {"plural": "crontabs", "kind": "CronTab"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": SCHEMA}, "subresources": subresources}]},
    }


def strategy(**kw: bool) -> CustomResourceStrategy:
    definition = crd(**kw)
    [rt] = resource_types(definition, {"plural": "crontabs", "singular": "crontab", "kind": "CronTab"})
    result = strategy_for(rt)
    assert isinstance(result, CustomResourceStrategy)
    return result


def cron(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "c", "namespace": "ns", "resourceVersion": "5"},
            "spec": {"cronSpec": "* * * * *", **spec}}


def messages(errs: list) -> list[str]:
    return [str(e) for e in errs]


def test_create_defaults_prunes_and_drops_status() -> None:
    s = strategy()
    obj = {**cron(junk=1), "status": {"replicas": 4}, "extra": True}
    s.default(obj)
    s.prepare_for_create(obj)
    assert obj["spec"] == {"cronSpec": "* * * * *", "replicas": 1}
    assert "status" not in obj and "extra" not in obj
    assert obj["metadata"]["generation"] == 1
    assert s.validate(obj) == []


def test_validation_messages() -> None:
    s = strategy()
    obj = cron(replicas=20)
    del obj["spec"]["cronSpec"]
    assert messages(s.validate(obj)) == [
        "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
        "spec.cronSpec: Required value",
    ]


def test_type_meta_must_match() -> None:
    obj = {**cron(), "kind": "Other", "apiVersion": "stable.example.com/v2"}
    assert messages(strategy().validate(obj)) == [
        'kind: Invalid value: "Other": must be CronTab',
        'apiVersion: Invalid value: "stable.example.com/v2": must be stable.example.com/v1',
    ]


def test_metadata_is_validated() -> None:
    obj = cron()
    obj["metadata"]["name"] = "Bad_Name"
    [err] = messages(strategy().validate(obj))
    assert err.startswith('metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain')


def test_main_resource_keeps_stored_status_and_counts_generation() -> None:
    s = strategy()
    old = {**cron(), "status": {"replicas": 2}}
    old["metadata"]["generation"] = 3
    new = {**cron(image="x"), "status": {"replicas": 9}}
    new["metadata"]["generation"] = 3
    s.prepare_for_update(new, old)
    assert new["status"] == {"replicas": 2}
    assert new["metadata"]["generation"] == 4
    same = {**copy.deepcopy(old), "status": {"replicas": 7}}
    s.prepare_for_update(same, old)
    assert same["metadata"]["generation"] == 3  # only a status change: ignored, no new generation


def test_status_subresource_changes_only_status() -> None:
    s = strategy()
    old = {**cron(), "status": {"replicas": 2}}
    old["metadata"]["labels"] = {"a": "b"}
    new = {**cron(image="changed"), "status": {"replicas": 5}}
    new["metadata"]["managedFields"] = [{"manager": "m"}]
    s.prepare_for_subresource_update("status", new, old)
    assert new["spec"] == old["spec"]
    assert new["status"] == {"replicas": 5}
    assert new["metadata"]["labels"] == {"a": "b"}
    assert new["metadata"]["managedFields"] == [{"manager": "m"}]
    assert messages(s.validate_status_update({**new, "status": {"replicas": "x"}}, old)) == [
        'status.replicas: Invalid value: "string": status.replicas in body must be of type integer: "string"',
        '.status.replicas: Invalid value: 0: .status.replicas accessor error: x is of the type string, expected int64',
    ]


def test_without_status_subresource_status_is_ordinary_content() -> None:
    s = strategy(status=False, scale=False)
    obj = {**cron(), "status": {"replicas": 1}}
    s.prepare_for_create(obj)
    assert obj["status"] == {"replicas": 1}
    new = {**copy.deepcopy(obj), "status": {"replicas": 2}}
    obj["metadata"]["generation"] = 1
    s.prepare_for_update(new, obj)
    assert new["status"] == {"replicas": 2}
    assert new["metadata"]["generation"] == 2


def test_scale_reads_and_writes_the_crd_paths() -> None:
    s = strategy()
    obj = {**cron(replicas=3), "status": {"replicas": 2, "selector": "app=x"}}
    obj["metadata"].update(uid="u", creationTimestamp="2024-01-01T00:00:00Z")
    assert s.to_scale(obj) == {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": "c", "namespace": "ns", "uid": "u", "resourceVersion": "5",
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=x"},
    }
    assert s.apply_scale(obj, {"spec": {"replicas": 7}}) == []
    assert obj["spec"]["replicas"] == 7
    assert messages(s.apply_scale(obj, {"spec": {"replicas": -1}})) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]


def test_scale_of_missing_paths_is_zero_and_replicas_path_is_validated() -> None:
    s = strategy()
    obj = cron()
    assert s.to_scale(obj)["spec"] == {"replicas": 0}
    assert s.to_scale(obj)["status"] == {"replicas": 0, "selector": ""}
    obj["spec"]["replicas"] = -2
    assert messages(s.validate(obj)) == [".spec.replicas: Invalid value: -2: should be a non-negative integer"]


def test_resource_types_per_served_version() -> None:
    definition = crd()
    definition["spec"]["versions"].append({"name": "v1beta1", "served": True, "storage": False,
                                           "schema": {"openAPIV3Schema": SCHEMA}})
    definition["spec"]["versions"].append({"name": "v2alpha1", "served": False, "storage": False})
    names = {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"],
             "categories": ["all"]}
    types = resource_types(definition, names)
    assert [(rt.version, [sub.name for sub in rt.subresources]) for rt in types] == [
        ("v1", ["status", "scale"]), ("v1beta1", [])]
    first = types[0]
    assert (first.resource, first.kind, first.singular, first.short_names, first.categories, first.storage_version,
            first.namespaced, first.custom) == ("crontabs", "CronTab", "crontab", ("ct",), ("all",), "v1", True, True)
    assert first.extra["crd"] is definition
