"""fsGroup volume ownership: the modes the kubelet computes, the walk, OnRootMismatch, and the fsUser rule."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubeprov.kubelet.volumes import atomic_writer, ownership
from kubeprov.kubelet.volumes.atomic_writer import FileProjection

GROUP = 2000
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown to a group this user is not in")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_read_only_file_gets_group_read_only() -> None:
    assert ownership.owned_mode(0o400) == 0o440
    assert ownership.owned_mode(0o600) == 0o640


def test_a_default_mode_that_already_grants_group_read_is_unchanged() -> None:
    assert ownership.owned_mode(0o644) == 0o644


def test_a_writable_volume_file_gets_group_read_write() -> None:
    assert ownership.owned_mode(0o600, read_only=False) == 0o660


def test_a_directory_gets_group_execute_and_setgid() -> None:
    assert ownership.owned_mode(0o700, is_dir=True, read_only=False) == 0o2770
    assert ownership.owned_mode(0o755, is_dir=True, read_only=True) == 0o2755
    assert ownership.owned_mode(0o777, is_dir=True, read_only=False) == 0o2777


def test_owned_payload_adjusts_modes_and_keeps_data_and_owner() -> None:
    payload = {"k": FileProjection(b"v", 0o400, 1000)}
    assert ownership.owned_payload(payload, GROUP) == {"k": FileProjection(b"v", 0o440, 1000)}
    assert ownership.owned_payload(payload, None) is payload


def test_fs_user_is_the_one_uid_all_containers_run_as() -> None:
    spec = {"securityContext": {"runAsUser": 1000}, "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b", "securityContext": {"runAsUser": 1000}}]}
    assert ownership.pod_fs_user({"spec": spec}) == 1000


def test_fs_user_is_none_when_containers_differ_or_one_has_no_user() -> None:
    differ = {"containers": [{"name": "a", "securityContext": {"runAsUser": 1}},
                             {"name": "b", "securityContext": {"runAsUser": 2}}]}
    missing = {"containers": [{"name": "a", "securityContext": {"runAsUser": 1}}, {"name": "b"}]}
    assert ownership.pod_fs_user({"spec": differ}) is None
    assert ownership.pod_fs_user({"spec": missing}) is None


def test_without_fs_group_nothing_is_changed(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    os.chmod(tmp_path / "f", 0o600)
    assert ownership.set_volume_ownership(tmp_path, None, read_only=False) is False
    assert mode_of(tmp_path / "f") == 0o600


@as_root
def test_the_walk_gives_every_file_and_directory_the_group_and_bits(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True, mode=0o700)
    os.chmod(root / "sub", 0o700)
    (root / "sub" / "f").write_text("x")
    os.chmod(root / "sub" / "f", 0o600)
    assert ownership.set_volume_ownership(root, GROUP, read_only=False) is True
    for path in (root, root / "sub", root / "sub" / "f"):
        assert path.stat().st_gid == GROUP
        assert path.stat().st_uid == 0  # the owner stays
    assert mode_of(root / "sub") == 0o2770
    assert mode_of(root / "sub" / "f") == 0o660
    assert mode_of(root) & 0o2070 == 0o2070


@as_root
def test_the_walk_leaves_symlinks_and_their_targets_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chmod(outside, 0o600)
    root = tmp_path / "vol"
    root.mkdir()
    (root / "link").symlink_to(outside)
    ownership.set_volume_ownership(root, GROUP, read_only=True)
    assert mode_of(outside) == 0o600
    assert outside.stat().st_gid != GROUP
    assert (root / "link").lstat().st_gid != GROUP


@as_root
def test_on_root_mismatch_skips_the_walk_when_the_root_already_matches(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    root.mkdir()
    (root / "f").write_text("x")
    os.chown(root, -1, GROUP)
    os.chmod(root, 0o2770)
    os.chmod(root / "f", 0o600)
    assert ownership.set_volume_ownership(root, GROUP, False, ownership.ON_ROOT_MISMATCH) is False
    assert mode_of(root / "f") == 0o600


@as_root
def test_on_root_mismatch_walks_when_the_root_lacks_setgid(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    root.mkdir()
    (root / "f").write_text("x")
    os.chown(root, -1, GROUP)
    os.chmod(root, 0o770)
    os.chmod(root / "f", 0o600)
    assert ownership.set_volume_ownership(root, GROUP, False, ownership.ON_ROOT_MISMATCH) is True
    assert mode_of(root / "f") == 0o660


@as_root
def test_the_always_policy_walks_even_when_the_root_matches(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    root.mkdir()
    (root / "f").write_text("x")
    os.chown(root, -1, GROUP)
    os.chmod(root, 0o2770)
    assert ownership.set_volume_ownership(root, GROUP, False, "Always") is True
    assert (root / "f").stat().st_gid == GROUP


@as_root
def test_atomic_writes_keep_the_group_and_an_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    payload = ownership.owned_payload({"k": FileProjection(b"v1", 0o400)}, GROUP)

    def set_perms(root: Path) -> None:
        ownership.set_volume_ownership(root, GROUP, read_only=True)

    assert atomic_writer.write(tmp_path, payload, set_perms) is True
    assert atomic_writer.write(tmp_path, payload, set_perms) is False
    updated = ownership.owned_payload({"k": FileProjection(b"v2", 0o400)}, GROUP)
    assert atomic_writer.write(tmp_path, updated, set_perms) is True
    data_dir = (tmp_path / "..data").resolve()
    assert (tmp_path / "k").read_bytes() == b"v2"
    assert (tmp_path / "k").stat().st_gid == GROUP
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o440
    assert data_dir.stat().st_gid == GROUP
    assert mode_of(data_dir) & 0o2050 == 0o2050


@as_root
def test_a_projection_with_an_owner_is_chowned_to_it(tmp_path: Path) -> None:
    atomic_writer.write(tmp_path, {"token": FileProjection(b"t", 0o600, 1000)})
    assert (tmp_path / "token").stat().st_uid == 1000
