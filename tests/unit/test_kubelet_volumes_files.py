"""Volume file layouts: the atomic writer's ..data swap, payload items/modes/optional, downward API values."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from kubeprov.kubelet.volumes import atomic_writer
from kubeprov.kubelet.volumes.atomic_writer import FileProjection
from kubeprov.kubelet.volumes.errors import VolumeError
from kubeprov.kubelet.volumes.projection import downward_payload, keyed_payload, secret_data

POD = {
    "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1", "labels": {"b": "2", "a": 'q"x'}},
    "spec": {"nodeName": "n1", "containers": [
        {"name": "c", "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}}]},
    "status": {"podIP": "10.1.0.5"},
}


def test_writer_puts_files_behind_a_data_symlink_and_links_each_top_level_key(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"a": FileProjection(b"1"), "dir/b": FileProjection(b"2")})
    assert os.readlink(tmp_path / "..data").startswith("..")
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert (tmp_path / "dir" / "b").read_bytes() == b"2"


def test_writer_applies_file_modes(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"key": FileProjection(b"s", 0o400)})
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o400


def test_an_update_swaps_data_removes_the_old_payload_and_stale_keys(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"a": FileProjection(b"1"), "gone": FileProjection(b"x")})
    old = os.readlink(tmp_path / "..data")
    assert atomic_writer.write(tmp_path, {"a": FileProjection(b"2")}) is True
    assert os.readlink(tmp_path / "..data") != old
    assert not (tmp_path / old).exists()
    assert not (tmp_path / "gone").is_symlink()
    assert (tmp_path / "a").read_bytes() == b"2"


def test_an_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"a": FileProjection(b"1")})
    before = os.readlink(tmp_path / "..data")
    assert atomic_writer.write(tmp_path, {"a": FileProjection(b"1")}) is False
    assert os.readlink(tmp_path / "..data") == before


def test_a_mode_change_alone_is_an_update(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"a": FileProjection(b"1", 0o644)})
    assert atomic_writer.write(tmp_path, {"a": FileProjection(b"1", 0o600)}) is True


def test_payload_paths_may_not_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_writer.write(tmp_path, {"x/../../etc": FileProjection(b"")})


def test_all_keys_become_files_with_the_default_mode() -> None:
    payload = keyed_payload("configmap", "cm", {"a": b"1", "b": b"2"}, {})
    assert {path: item.mode for path, item in payload.items()} == {"a": 0o644, "b": 0o644}


def test_items_pick_keys_rename_them_and_override_the_mode() -> None:
    payload = keyed_payload("configmap", "cm", {"a": b"1", "b": b"2"},
                            {"defaultMode": 0o600, "items": [{"key": "a", "path": "conf/a.txt", "mode": 0o400}]})
    assert payload == {"conf/a.txt": FileProjection(b"1", 0o400)}


def test_a_missing_object_is_an_error_unless_optional() -> None:
    with pytest.raises(VolumeError, match='configmap "cm" not found'):
        keyed_payload("configmap", "cm", None, {})
    assert keyed_payload("configmap", "cm", None, {"optional": True}) == {}


def test_a_missing_item_key_is_an_error_unless_optional() -> None:
    source = {"items": [{"key": "nope", "path": "x"}]}
    with pytest.raises(VolumeError, match="non-existent"):
        keyed_payload("secret", "s", {"a": b"1"}, source)
    assert keyed_payload("secret", "s", {"a": b"1"}, {**source, "optional": True}) == {}


def test_secret_data_is_base64_decoded() -> None:
    assert secret_data({"data": {"pw": base64.b64encode(b"\x00hunter2").decode()}}) == {"pw": b"\x00hunter2"}


def test_downward_labels_are_sorted_quoted_lines() -> None:
    payload = downward_payload(POD, [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}], 0o644, {})
    assert payload["labels"].data == b'a="q\\"x"\nb="2"'


def test_downward_simple_fields_and_single_labels() -> None:
    items = [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
             {"path": "ip", "fieldRef": {"fieldPath": "status.podIP"}},
             {"path": "b", "fieldRef": {"fieldPath": "metadata.labels['b']"}}]
    payload = downward_payload(POD, items, 0o644, {})
    assert [payload[p].data for p in ("name", "ip", "b")] == [b"web-0", b"10.1.0.5", b"2"]


def test_resource_field_ref_rounds_up_by_divisor() -> None:
    items = [{"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}},
             {"path": "mcpu", "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu",
                                                   "divisor": "1m"}},
             {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                  "divisor": "1Mi"}}]
    payload = downward_payload(POD, items, 0o644, {})
    assert [payload[p].data for p in ("cpu", "mcpu", "mem")] == [b"2", b"250", b"64"]


def test_a_missing_limit_falls_back_to_node_allocatable() -> None:
    items = [{"path": "eph", "resourceFieldRef": {"containerName": "c", "resource": "limits.ephemeral-storage"}}]
    assert downward_payload(POD, items, 0o644, {"ephemeral-storage": "1Gi"})["eph"].data == b"1073741824"
