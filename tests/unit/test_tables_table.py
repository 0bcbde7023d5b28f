"""The Table envelope: column definitions, row objects (includeObject), list metadata, fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from kubeprov.apiserver.tables import to_table

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = Registry(builtin_resources())
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="},
              "metadata": {"name": "settings", "namespace": "default", "uid": "u-1",
                           "creationTimestamp": "2025-03-01T11:00:00Z", "labels": {"app": "web"}}}


def rt(group: str, version: str, resource: str) -> ResourceType:
    found = REGISTRY.get(group, version, resource)
    assert found is not None
    return found


def test_table_is_a_meta_v1_table() -> None:
    table = to_table(rt("", "v1", "configmaps"), [CONFIG_MAP], now=NOW, resource_version="42", continue_token="abc")
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    assert table["rows"][0]["cells"] == ["settings", 3, "60m"]


def test_column_definitions_carry_every_field() -> None:
    columns = to_table(rt("", "v1", "configmaps"), [], now=NOW)["columnDefinitions"]
    assert [c["name"] for c in columns] == ["Name", "Data", "Age"]
    assert set(columns[0]) == {"name", "type", "format", "description", "priority"}
    assert columns[0]["format"] == "name" and columns[0]["description"]


def test_rows_carry_partial_object_metadata_by_default() -> None:
    row = to_table(rt("", "v1", "configmaps"), [CONFIG_MAP], now=NOW)["rows"][0]
    assert row["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": CONFIG_MAP["metadata"]}


def test_include_object_can_send_the_whole_object_or_nothing() -> None:
    resource = rt("", "v1", "configmaps")
    assert to_table(resource, [CONFIG_MAP], include_object="Object", now=NOW)["rows"][0]["object"] is CONFIG_MAP
    assert to_table(resource, [CONFIG_MAP], include_object="None", now=NOW)["rows"][0]["object"] is None


def test_include_object_rejects_other_values() -> None:
    with pytest.raises(ValueError):
        to_table(rt("", "v1", "configmaps"), [CONFIG_MAP], include_object="Everything")


def test_wide_columns_are_sent_unless_asked_not_to() -> None:
    deployments = rt("apps", "v1", "deployments")
    assert len(to_table(deployments, [], now=NOW)["columnDefinitions"]) == 8
    narrow = to_table(deployments, [{"metadata": {"name": "d"}}], wide=False, now=NOW)
    assert [c["name"] for c in narrow["columnDefinitions"]] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert len(narrow["rows"][0]["cells"]) == 5


@pytest.mark.parametrize(("group", "resource"), [
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("", "limitranges"), ("apiextensions.k8s.io", "customresourcedefinitions"),
])
def test_kinds_without_a_printer_show_name_and_created_at(group: str, resource: str) -> None:
    obj = {"metadata": {"name": "x", "creationTimestamp": "2025-02-28T10:00:00+01:00"}}
    table = to_table(rt(group, "v1", resource), [obj], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [("Name", "string"), ("Created At", "date")]
    assert table["rows"][0]["cells"] == ["x", "2025-02-28T09:00:00Z"]


def test_an_object_without_creation_time_has_unknown_age() -> None:
    assert to_table(rt("", "v1", "configmaps"), [{"metadata": {"name": "c"}}], now=NOW)["rows"][0]["cells"] == [
        "c", 0, "<unknown>"]


def test_now_defaults_to_the_current_time() -> None:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cells = to_table(rt("", "v1", "configmaps"), [{"metadata": {"name": "c", "creationTimestamp": created}}])
    assert cells["rows"][0]["cells"][2] in ("0s", "1s", "2s")
