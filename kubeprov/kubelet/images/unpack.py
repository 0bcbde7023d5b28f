"""Layer application and chain-ID snapshots (one directory per layer, shared between images).

Two snapshot modes:

* ``overlay`` (the default as root, what the runtime mounts): each snapshot holds only its layer's
  changes; OCI whiteouts become overlayfs whiteouts (``.wh.x`` -> a 0/0 character device ``x``,
  ``.wh..wh..opq`` -> the ``trusted.overlay.opaque=y`` xattr), so ``lowerdirs(image)`` stacked by
  overlayfs give the image's root filesystem. Needs root (mknod, trusted xattrs).
* ``copy`` (without root): each snapshot is its parent's tree copied plus the layer applied, whiteouts
  deleting what they name; the top snapshot alone is the root filesystem.

Layers may be gzip-compressed or plain tar (zstd is refused with a clear error: Debian's Python has no
zstd module and our images and the common public ones use gzip). Entries are confined to the snapshot:
names escaping it are refused and symlinks in parent paths resolve inside it, as containerd's
``fs.RootPath`` does. Device nodes are skipped when not root.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from kubeprov.kubelet.images.store import ContentStore, ImageRecord

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY, COPY = "overlay", "copy"
MAX_LINKS = 40


class LayerError(ValueError):
    """A layer that cannot be applied safely (traversal, unsupported compression, bad diff ID)."""


def is_root() -> bool:
    return os.geteuid() == 0


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


class _HashingReader(io.RawIOBase):
    """Hashes the uncompressed stream as tarfile reads it: that hash is the layer's diff ID."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.hash.update(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(1 << 16):
            pass


def _decompressed(raw: BinaryIO) -> BinaryIO:
    magic = raw.read(4)
    raw.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        raise LayerError("zstd-compressed layers are not supported (use gzip or uncompressed tar)")
    return raw


def clean_name(name: str) -> str:
    """The entry's path relative to the snapshot root; raises on names that leave it."""
    path = posixpath.normpath(name.lstrip("/") or ".")
    if path == ".." or path.startswith("../") or "\x00" in path:
        raise LayerError(f"path traversal refused: layer entry {name!r} leaves the root")
    return "" if path == "." else path


def resolve_in_root(root: Path, rel: str, follow_last: bool = False) -> Path:
    """Resolve ``rel`` under ``root`` following symlinks but never above ``root`` (like securejoin)."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if (parts or follow_last) and candidate.is_symlink():
            links += 1
            if links > MAX_LINKS:
                raise LayerError(f"too many levels of symbolic links resolving {rel!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class LayerApplier:
    """Applies one uncompressed layer tar stream onto ``root`` in the given mode."""

    def __init__(self, root: Path, mode: str, lowers: list[Path] | None = None) -> None:
        self.root = root
        self.mode = mode
        self.lowers = lowers or []
        self.privileged = is_root()
        self.created: set[str] = set()
        self.skipped: list[str] = []
        self._dir_times: list[tuple[Path, int]] = []

    def apply(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            self._entry(tar, member)
        for path, mtime in reversed(self._dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = clean_name(member.name)
        if not rel:
            return
        parent_rel, base = posixpath.split(rel)
        parent = resolve_in_root(self.root, parent_rel, follow_last=True)
        if base == OPAQUE:
            self._opaque(parent, parent_rel)
            return
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, base[len(WHITEOUT_PREFIX) :])
            return
        parent.mkdir(parents=True, exist_ok=True)
        target = parent / base
        if target.is_symlink() or target.exists():
            if not (member.isdir() and target.is_dir() and not target.is_symlink()):
                _remove(target)
        self.created.add(str(target.relative_to(self.root)))
        if member.isdir():
            target.mkdir(exist_ok=True)
            self._dir_times.append((target, int(member.mtime)))
        elif member.isreg():
            self._file(tar, member, target)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            self._hardlink(member, target)
        elif member.isfifo():
            os.mkfifo(target)
        elif member.ischr() or member.isblk():
            if not self.privileged:
                self.skipped.append(rel)
                return
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(target, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor))
        else:
            self.skipped.append(rel)
            return
        self._attributes(member, target)

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
        src = tar.extractfile(member)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            if src is not None:
                shutil.copyfileobj(src, out, 1 << 16)

    def _hardlink(self, member: tarfile.TarInfo, target: Path) -> None:
        link_rel = clean_name(member.linkname)
        source = resolve_in_root(self.root, link_rel)
        if source.exists() or source.is_symlink():
            os.link(source, target, follow_symlinks=False)
            return
        for lower in self.lowers:
            candidate = resolve_in_root(lower, link_rel)
            if candidate.exists():
                shutil.copy2(candidate, target, follow_symlinks=False)
                return
        raise LayerError(f"hard link {member.name!r} -> {member.linkname!r}: target not found")

    def _attributes(self, member: tarfile.TarInfo, target: Path) -> None:
        if self.privileged:
            os.lchown(target, member.uid, member.gid)
        if not member.issym():
            os.chmod(target, member.mode & 0o7777)
        if not member.isdir():
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)

    def _whiteout(self, parent: Path, name: str) -> None:
        if not name or "/" in name:
            raise LayerError(f"bad whiteout {WHITEOUT_PREFIX}{name!r}")
        target = parent / name
        if self.mode == COPY:
            if target.is_symlink() or target.exists():
                _remove(target)
            return
        if not self.privileged:
            raise LayerError("overlay snapshots need root to record whiteouts (use copy mode)")
        parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            _remove(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def _opaque(self, parent: Path, parent_rel: str) -> None:
        parent.mkdir(parents=True, exist_ok=True)
        if self.mode == COPY:
            for child in list(parent.iterdir()):
                if str(child.relative_to(self.root)) not in self.created:
                    _remove(child)
            return
        if not self.privileged:
            raise LayerError("overlay snapshots need root to mark opaque directories (use copy mode)")
        os.setxattr(parent, "trusted.overlay.opaque", b"y")


def apply_layer(root: Path, blob: BinaryIO, mode: str = COPY, lowers: list[Path] | None = None) -> str:
    """Apply one layer blob (gzip or plain tar) onto ``root``; returns the diff ID actually read."""
    reader = _HashingReader(_decompressed(blob))
    buffered = io.BufferedReader(reader, 1 << 16)
    try:
        with tarfile.open(fileobj=buffered, mode="r|") as tar:
            LayerApplier(root, mode, lowers).apply(tar)
        reader.drain()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as e:
        raise LayerError(f"corrupt layer: {e}") from e
    return "sha256:" + reader.hash.hexdigest()


class Snapshotter:
    """Snapshots keyed by chain ID under ``<root>/snapshots/<hex>/fs``; a layer is unpacked only once."""

    def __init__(self, root: Path, mode: str | None = None) -> None:
        self.root = Path(root) / "snapshots"
        self.root.mkdir(parents=True, exist_ok=True)
        self.mode = mode or (OVERLAY if is_root() else COPY)
        for leftover in self.root.glob("tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def path(self, chain_id: str) -> Path:
        return self.root / chain_id.split(":", 1)[1] / "fs"

    def has(self, chain_id: str) -> bool:
        return self.path(chain_id).is_dir()

    def unpack(self, image: ImageRecord, content: ContentStore) -> list[Path]:
        """Make every snapshot of ``image`` exist (unpacking only missing layers); returns lowerdirs."""
        chain = chain_ids(layer.diff_id for layer in image.layers)
        for i, (layer, chain_id) in enumerate(zip(image.layers, chain, strict=True)):
            if self.has(chain_id):
                continue
            parents = [self.path(c) for c in reversed(chain[:i])]
            work = Path(tempfile.mkdtemp(prefix="tmp-", dir=self.root))
            try:
                fs = work / "fs"
                if self.mode == COPY and parents:
                    shutil.copytree(parents[0], fs, symlinks=True)
                else:
                    fs.mkdir()
                with content.open(layer.digest) as blob:
                    diff_id = apply_layer(fs, blob, self.mode, parents)
                if diff_id != layer.diff_id:
                    raise LayerError(f"layer {layer.digest}: diff ID mismatch: expected {layer.diff_id}, got {diff_id}")
                try:
                    work.rename(self.root / chain_id.split(":", 1)[1])
                except OSError:
                    if not self.has(chain_id):
                        raise
            finally:
                if work.exists():
                    shutil.rmtree(work)
        return self.lowerdirs(image)

    def lowerdirs(self, image: ImageRecord) -> list[Path]:
        """Snapshot directories in overlayfs lowerdir order (topmost layer first)."""
        chain = chain_ids(layer.diff_id for layer in image.layers)
        if self.mode == COPY:
            return [self.path(chain[-1])] if chain else []
        return [self.path(c) for c in reversed(chain)]

    def rootfs_hint(self, image: ImageRecord) -> str:
        """``lowerdir=a:b:c`` for an overlay mount of the image (runtime use)."""
        return "lowerdir=" + ":".join(str(p) for p in self.lowerdirs(image))

    def chain_ids_in_use(self, images: Iterable[ImageRecord]) -> set[str]:
        keep: set[str] = set()
        for image in images:
            keep.update(chain_ids(layer.diff_id for layer in image.layers))
        return keep

    def remove_unused(self, keep: set[str]) -> list[str]:
        """Delete snapshots whose chain ID no kept image uses (unpacks in progress are left alone)."""
        keep_hex = {c.split(":", 1)[1] for c in keep}
        removed = []
        for entry in self.root.iterdir():
            if entry.name not in keep_hex and not entry.name.startswith("tmp-"):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed
