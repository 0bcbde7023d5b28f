"""Our wheel plus the wheels of its core dependencies, in one archive machines install from offline.

The version stays the same while the code changes, so a wheelhouse is keyed by version *and* a hash of
the package's source files; each key is built once and cached (``/var/cache/kubeprov/wheelhouse/<key>/``,
root overridable with ``KUBEPROV_WHEELHOUSE_CACHE``). Machines run Debian bookworm's Python 3.11 on glibc
2.36 like the operator's host, so the host's pip picks wheels that fit them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import kubeprov
from kubeprov.errors import KubeprovError

ENV_CACHE = "KUBEPROV_WHEELHOUSE_CACHE"
DEFAULT_CACHE_ROOT = Path("/var/cache/kubeprov/wheelhouse")
ARCHIVE = "wheelhouse.tar"
HASH_CHARS = 12
SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
PIP_TIMEOUT_S = 900
CACHE_KEPT = 5


@dataclass(frozen=True)
class Wheelhouse:
    """A built wheelhouse: ``key`` (``0.1.0-<hash>``) names it on machines too (``/opt/kubeprov/<key>``)."""

    key: str
    version: str
    directory: Path
    built: bool  # False when it came from the cache

    @property
    def archive(self) -> Path:
        return self.directory / ARCHIVE

    def wheels(self) -> list[str]:
        with tarfile.open(self.archive) as tar:
            return sorted(tar.getnames())


def cache_root() -> Path:
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else DEFAULT_CACHE_ROOT


def project_root() -> Path:
    """The source checkout kubeprov runs from (editable install), found from the package's location."""
    package_dir = Path(kubeprov.__file__).resolve().parent
    root = package_dir.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and tomllib.loads(pyproject.read_text()).get("project", {}).get("name") == "kubeprov":
        return root
    raise KubeprovError(
        f"kubeprov runs from an installed wheel ({package_dir}), so the source checkout (pyproject.toml and the "
        "kubeprov package) needed to build the machines' wheelhouse is missing.",
        "install kubeprov from a source checkout with `pip install -e .` and run it from there",
    )


def source_files(root: Path) -> Iterator[Path]:
    """The files a wheel is built from, in a stable order."""
    for name in SOURCE_FILES:
        if (root / name).is_file():
            yield root / name
    for path in sorted((root / "kubeprov").rglob("*")):
        if path.is_file() and not SKIPPED_PARTS.intersection(path.parts) and path.suffix != ".pyc":
            yield path


def source_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def project_version(root: Path) -> str:
    return str(tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"])


def wheelhouse_key(root: Path) -> str:
    return f"{project_version(root)}-{source_hash(root)[:HASH_CHARS]}"


def _pip(args: list[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise KubeprovError(f"pip took over {PIP_TIMEOUT_S} s to {what}.", "check access to PyPI and retry") from None
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise KubeprovError(f"pip could not {what}: {tail}", "check access to PyPI (or your pip index) and retry")


def _has_build_backend() -> bool:
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


def _build_into(root: Path, work: Path, version: str) -> None:
    """Copy the sources aside (building in place would leave build/ and egg-info in the checkout), build
    our wheel there, then let pip fetch wheels of the core dependencies next to it."""
    src = work / "src"
    src.mkdir()
    for path in source_files(root):
        target = src / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    wheels = work / "wheels"
    isolation = ["--no-build-isolation"] if _has_build_backend() else []
    _pip(["wheel", "--quiet", "--no-deps", *isolation, "--wheel-dir", str(wheels), str(src)],
         "build the kubeprov wheel")
    ours = sorted(wheels.glob(f"kubeprov-{version}-*.whl"))
    if not ours:
        raise KubeprovError(f"Building kubeprov {version} produced no wheel.", f"look at {src}")
    _pip(["wheel", "--quiet", "--prefer-binary", "--wheel-dir", str(wheels), str(ours[0])],
         "download kubeprov's dependencies")
    with tarfile.open(work / ARCHIVE, "w") as tar:
        for wheel_file in sorted(wheels.glob("*.whl")):
            tar.add(wheel_file, arcname=wheel_file.name)
    (work / "wheelhouse.json").write_text(json.dumps(
        {"version": version, "source": str(root), "wheels": sorted(p.name for p in wheels.glob("*.whl"))}, indent=1))
    shutil.rmtree(src)
    shutil.rmtree(wheels)  # the archive is what machines get; keeping both doubles the cache


def prune_cache(cache: Path, keep: int) -> list[Path]:
    """Drop all but the ``keep`` newest wheelhouses: every source edit makes a new one."""
    built = sorted((p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    removed = built[keep:]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def build_wheelhouse(progress: Callable[[str], None] = lambda line: None, root: Path | None = None) -> Wheelhouse:
    """The wheelhouse for the current source, built now or taken from the cache."""
    source = root or project_root()
    version = project_version(source)
    key = f"{version}-{source_hash(source)[:HASH_CHARS]}"
    cache = cache_root()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise KubeprovError(f"Cannot create the wheelhouse cache {cache}: {err.strerror}.",
                            f"set {ENV_CACHE} to a writable folder") from None
    final = cache / key
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two kubeprov commands building at once would race on the rename
        if (final / ARCHIVE).is_file():
            return Wheelhouse(key=key, version=version, directory=final, built=False)
        progress(f"building wheelhouse {key} (kubeprov and its dependencies)")
        work = cache / f".build-{key}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            _build_into(source, work, version)
            shutil.rmtree(final, ignore_errors=True)
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        prune_cache(cache, CACHE_KEPT)
    return Wheelhouse(key=key, version=version, directory=final, built=True)
