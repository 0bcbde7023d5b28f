"""The wheelhouse: our wheel plus its core dependencies from PyPI, built once per version and source hash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubeprov.install.wheelhouse import ENV_CACHE, build_wheelhouse, source_files, wheelhouse_key

PROJECT = Path(__file__).resolve().parents[2]


def snapshot(target: Path) -> Path:
    """A frozen copy of the checkout: other work editing the tree mid-test must not change the key."""
    for path in source_files(PROJECT):
        copy = target / path.relative_to(PROJECT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    cache = tmp_path_factory.mktemp("wheelhouse-cache")
    source = snapshot(tmp_path_factory.mktemp("source"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_CACHE, str(cache))
        lines: list[str] = []
        first = build_wheelhouse(lines.append, root=source)
        second = build_wheelhouse(lines.append, root=source)
    return first, second, lines, cache, source


def test_first_build_builds_and_says_so(built: tuple) -> None:
    first, _, lines, cache, _ = built
    assert first.built
    assert first.archive.is_file()
    assert first.directory.parent == cache
    assert lines == [f"building wheelhouse {first.key} (kubeprov and its dependencies)"]


def test_second_build_comes_from_the_cache_under_the_same_key(built: tuple) -> None:
    first, second, _, _, _ = built
    assert not second.built
    assert second.key == first.key
    assert second.archive == first.archive


def test_key_is_version_plus_source_hash(built: tuple) -> None:
    first, _, _, _, source = built
    assert first.key == wheelhouse_key(source)
    assert first.key.startswith(f"{first.version}-")


def test_archive_holds_kubeprov_and_its_core_dependencies_only(built: tuple) -> None:
    first, _, _, _, _ = built
    names = {wheel.split("-")[0].lower() for wheel in first.wheels()}
    assert {"kubeprov", "pydantic", "aiohttp", "cryptography", "typer", "pyyaml", "jinja2"} <= names
    assert "ansible_core" not in names  # extras stay out
    assert "pytest" not in names
    assert all(wheel.endswith(".whl") for wheel in first.wheels())
