"""State store: atomic writes, private modes, append-only history, locking."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kubeprov.state import StateStore, default_state_root
from kubeprov.state.atomic import atomic_write
from kubeprov.state.store import StateLocked


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_root_follows_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBEPROV_STATE_DIR", str(tmp_path / "s"))
    assert default_state_root() == tmp_path / "s"


def test_state_root_defaults_to_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.delenv("KUBEPROV_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_root() == tmp_path / "xdg" / "kubeprov"


def test_one_folder_per_cluster(tmp_path):
    store = StateStore(tmp_path)
    store.cluster("a").save_stack("name: a\n")
    store.cluster("b").save_stack("name: b\n")
    assert store.clusters() == ["a", "b"]
    assert (tmp_path / "clusters" / "a" / "stack.yaml").read_text() == "name: a\n"


def test_private_file_is_created_with_its_mode_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        atomic_write(tmp_path / "k.key", b"secret", 0o600)
    finally:
        os.umask(old)
    assert mode(tmp_path / "k.key") == 0o600


def test_interrupted_write_leaves_old_content_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "admin.conf"
    atomic_write(target, "old", 0o600)

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new", 0o600)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["admin.conf"]


def test_history_is_appended_and_a_torn_last_line_is_ignored(tmp_path):
    cluster = StateStore(tmp_path).cluster("c")
    cluster.append_history({"phase": "pki", "event": "done"})
    cluster.append_history({"phase": "machines", "event": "started"})
    with open(cluster.file("history.jsonl"), "a") as fh:
        fh.write('{"phase": "etc')  # a crash in the middle of a write
    events = [(r["phase"], r["event"]) for r in cluster.history()]
    assert events == [("pki", "done"), ("machines", "started")]
    assert all("time" in r for r in cluster.history())


def test_inventory_round_trips(tmp_path):
    cluster = StateStore(tmp_path).cluster("c")
    assert cluster.load_inventory() is None
    cluster.save_inventory({"machines": [{"name": "c-cp-1", "address": "10.214.0.10"}]})
    assert cluster.load_inventory() == {"machines": [{"name": "c-cp-1", "address": "10.214.0.10"}]}


def test_second_lock_on_a_cluster_is_refused_with_a_clear_error(tmp_path):
    cluster = StateStore(tmp_path).cluster("c")
    with cluster.lock():
        with pytest.raises(StateLocked, match="in use by another kubeprov command"):
            with StateStore(tmp_path).cluster("c").lock():
                pass
    with cluster.lock():  # released after the first holder leaves
        pass


def test_cluster_folder_is_private_to_its_owner(tmp_path):
    cluster = StateStore(tmp_path).cluster("c")
    with cluster.lock():
        pass
    assert mode(cluster.path) == 0o700
