"""Wheelhouse keys and sources, without building anything."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import kubeprov
from kubeprov.errors import KubeprovError
from kubeprov.install import wheelhouse
from kubeprov.install.wheelhouse import prune_cache, wheelhouse_key

PROJECT = Path(__file__).resolve().parents[2]


def small_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "kubeprov").mkdir(parents=True)
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    (root / "kubeprov" / "__init__.py").write_text("x = 1\n")
    return root


def test_key_changes_when_a_source_file_changes_but_the_version_does_not(tmp_path: Path) -> None:
    root = small_project(tmp_path)
    before = wheelhouse_key(root)
    (root / "kubeprov" / "__init__.py").write_text("x = 2\n")
    after = wheelhouse_key(root)
    assert before != after
    assert before.split("-")[0] == after.split("-")[0]


def test_bytecode_caches_do_not_change_the_key(tmp_path: Path) -> None:
    root = small_project(tmp_path)
    before = wheelhouse_key(root)
    (root / "kubeprov" / "__pycache__").mkdir()
    (root / "kubeprov" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert wheelhouse_key(root) == before


def test_an_install_from_a_wheel_says_the_source_checkout_is_missing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages" / "kubeprov"
    site.mkdir(parents=True)
    monkeypatch.setattr(kubeprov, "__file__", str(site / "__init__.py"))
    with pytest.raises(KubeprovError, match="source checkout"):
        wheelhouse.project_root()


def test_the_source_checkout_is_found_from_the_package_location() -> None:
    assert wheelhouse.project_root() == PROJECT


def test_cache_keeps_only_the_newest_wheelhouses(tmp_path: Path) -> None:
    for age, name in enumerate(["new", "mid", "old"]):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (1_000_000 - age * 100, 1_000_000 - age * 100))
    removed = prune_cache(tmp_path, keep=2)
    assert [p.name for p in removed] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid", "new"]
