"""The node's content store and image records, pull-policy decisions and image GC choices.

Layout under the store root (like containerd's content store): ``blobs/sha256/<hex>`` for verified
content, ``ingest/`` for partial downloads (a blob becomes visible only by a rename after its digest
checked out), ``images/<sha256 of name>.json`` for records (name -> manifest digest, config, layers).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from kubeprov.kubelet.images.reference import DEFAULT_TAG, Reference, parse

ALWAYS, IF_NOT_PRESENT, NEVER = "Always", "IfNotPresent", "Never"


class BlobDigestError(ValueError):
    """Written content did not hash to the expected digest; nothing was stored."""

    def __init__(self, expected: str, actual: str) -> None:
        self.expected, self.actual = expected, actual
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _hex(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ValueError(f"unsupported digest {digest!r} (only sha256)")
    return value


class BlobWriter:
    """Streams one blob into ``ingest/`` while hashing it; ``commit`` verifies and publishes it."""

    def __init__(self, store: ContentStore, expected: str | None) -> None:
        self._store = store
        self.expected = expected
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=store.ingest_dir)
        self._tmp = Path(name)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)

    def commit(self) -> str:
        """Fsync, check the digest, rename into ``blobs/``; on mismatch the partial file is removed."""
        digest = "sha256:" + self._hash.hexdigest()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            if self.expected and digest != self.expected:
                raise BlobDigestError(self.expected, digest)
            os.replace(self._tmp, self._store.blob_path(digest))
        finally:
            self.abort()
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


class ContentStore:
    """Content-addressed blobs on disk; only verified content is ever visible under ``blobs/``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs" / "sha256"
        self.ingest_dir = self.root / "ingest"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / _hex(digest)

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def writer(self, expected: str | None = None) -> BlobWriter:
        return BlobWriter(self, expected)

    def put(self, data: bytes, expected: str | None = None) -> str:
        w = self.writer(expected)
        w.write(data)
        return w.commit()

    def read(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def open(self, digest: str) -> BinaryIO:
        return self.blob_path(digest).open("rb")

    def digests(self) -> set[str]:
        return {"sha256:" + p.name for p in self.blobs_dir.iterdir()}

    def delete(self, digest: str) -> None:
        self.blob_path(digest).unlink(missing_ok=True)

    def size(self, digest: str) -> int:
        return self.blob_path(digest).stat().st_size


@dataclass
class LayerRecord:
    digest: str
    media_type: str
    size: int
    diff_id: str


@dataclass
class ImageRecord:
    """What the node knows about one image name: the resolved manifest and what it references."""

    name: str
    digest: str
    media_type: str
    config_digest: str
    layers: list[LayerRecord]
    size: int
    config: dict = field(default_factory=dict)
    last_used: float = 0.0
    first_seen: float = 0.0
    platform_manifest: str = ""

    @property
    def image_id(self) -> str:
        """The config digest: what `crictl images` and containerStatuses' image ID are built from."""
        return self.config_digest

    @property
    def repo_digest(self) -> str:
        """``repository@digest``: the containerStatuses ``imageID`` the kubelet reports."""
        return f"{parse(self.name).repository}@{self.digest}"

    def blobs(self) -> set[str]:
        out = {self.digest, self.config_digest, *(layer.digest for layer in self.layers)}
        if self.platform_manifest:
            out.add(self.platform_manifest)
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ImageRecord:
        layers = [LayerRecord(**layer) for layer in data.pop("layers")]
        return cls(layers=layers, **data)


class ImageStore:
    """Image records next to the content store; writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.content = ContentStore(self.root)
        self.images_dir = self.root / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)

    def _record_path(self, name: str) -> Path:
        return self.images_dir / (hashlib.sha256(name.encode()).hexdigest() + ".json")

    def get(self, name: str) -> ImageRecord | None:
        try:
            return ImageRecord.from_json(json.loads(self._record_path(name).read_text()))
        except FileNotFoundError:
            return None

    def put(self, record: ImageRecord) -> None:
        if not record.first_seen:
            record.first_seen = time.time()
        path = self._record_path(record.name)
        fd, tmp = tempfile.mkstemp(dir=self.images_dir, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(record.to_json(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def touch(self, name: str, when: float | None = None) -> None:
        record = self.get(name)
        if record:
            record.last_used = time.time() if when is None else when
            self.put(record)

    def remove(self, name: str) -> None:
        self._record_path(name).unlink(missing_ok=True)

    def list(self) -> list[ImageRecord]:
        out = []
        for path in sorted(self.images_dir.glob("*.json")):
            try:
                out.append(ImageRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        return out

    def remove_unreferenced_blobs(self) -> list[str]:
        """Delete blobs no record references (after records were removed by GC)."""
        keep: set[str] = set()
        for record in self.list():
            keep |= record.blobs()
        gone = sorted(self.content.digests() - keep)
        for digest in gone:
            self.content.delete(digest)
        return gone


def default_pull_policy(ref: Reference) -> str:
    """The API server's defaulting: Always for ``:latest`` or no tag (without digest), else IfNotPresent."""
    if ref.digest is None and ref.tag in (None, DEFAULT_TAG):
        return ALWAYS
    return IF_NOT_PRESENT


def should_pull(policy: str, present: bool) -> bool:
    """Whether to contact the registry; Never with a missing image is the caller's ErrImageNeverPull."""
    if policy == ALWAYS:
        return True
    if policy == IF_NOT_PRESENT:
        return not present
    if policy == NEVER:
        return False
    raise ValueError(f"unknown imagePullPolicy {policy!r}")


@dataclass(frozen=True)
class GCCandidate:
    """One image as GC sees it: its key (manifest digest), size on disk, last use and first sighting."""

    key: str
    size: int
    last_used: float
    first_seen: float


def choose_images_to_free(
    images: Iterable[GCCandidate],
    in_use: set[str],
    used_bytes: int,
    capacity_bytes: int,
    high_percent: int = 85,
    low_percent: int = 80,
    now: float | None = None,
    min_age: float = 0.0,
) -> list[GCCandidate]:
    """kubelet's image GC: above high% usage, free unused images, least recently used first, to low%.

    Returns the images to delete (possibly fewer than needed when the rest are in use or too young).
    """
    if capacity_bytes <= 0 or used_bytes * 100 < high_percent * capacity_bytes:
        return []
    to_free = used_bytes - capacity_bytes * low_percent // 100
    now = time.time() if now is None else now
    chosen: list[GCCandidate] = []
    freed = 0
    for image in sorted(images, key=lambda i: (i.last_used, i.first_seen)):
        if freed >= to_free:
            break
        if image.key in in_use or now - image.first_seen < min_age:
            continue
        chosen.append(image)
        freed += image.size
    return chosen


def disk_usage(path: Path) -> tuple[int, int]:
    """(used, capacity) bytes of the filesystem holding ``path``; used = capacity - available, as the
    kubelet counts it (blocks reserved for root count as used)."""
    total, _used, available = shutil.disk_usage(path)
    return total - available, total
