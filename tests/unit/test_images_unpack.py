"""Layer application: whiteouts, opaque directories, hard links, symlinks, devices, traversal, snapshots."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kubeprov.kubelet.images.store import ContentStore, ImageRecord, LayerRecord
from kubeprov.kubelet.images.unpack import (
    COPY,
    OVERLAY,
    LayerApplier,
    LayerError,
    Snapshotter,
    apply_layer,
    chain_ids,
    is_root,
)

needs_root = pytest.mark.skipif(not is_root(), reason="needs root: mknod and trusted.overlay xattrs")

Entry = tuple  # (name, kind, payload)


def make_tar(*entries: Entry) -> bytes:
    """A tar from (name, kind, payload): kind file/dir/symlink/hardlink/chr; payload content or link."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            data = b""
            if kind == "file":
                data = payload
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chr":
                info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 3, 0o666
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def apply(root: Path, data: bytes, mode: str = COPY) -> str:
    return apply_layer(root, io.BytesIO(data), mode)


def test_files_dirs_and_symlinks_are_created_with_modes(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("bin", "dir", None), ("bin/tool", "file", b"x"), ("bin/alias", "symlink", "tool")))
    assert (tmp_path / "bin/tool").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "bin/tool").stat().st_mode) == 0o644
    assert os.readlink(tmp_path / "bin/alias") == "tool"


def test_diff_id_is_the_hash_of_the_uncompressed_tar_also_when_gzipped(tmp_path: Path) -> None:
    data = make_tar(("a", "file", b"1"))
    assert apply(tmp_path, gzip.compress(data)) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (tmp_path / "a").read_bytes() == b"1"


def test_zstd_layers_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="zstd"):
        apply(tmp_path, b"\x28\xb5\x2f\xfd" + b"\0" * 100)


def test_whiteout_removes_file_and_directory_in_copy_mode(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("etc/keep", "file", b"k"), ("etc/gone", "file", b"g"), ("var/cache/x", "file", b"c")))
    apply(tmp_path, make_tar(("etc/.wh.gone", "file", b""), ("var/.wh.cache", "file", b"")))
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["keep"]
    assert list((tmp_path / "var").iterdir()) == []


def test_opaque_directory_hides_lower_content_but_keeps_this_layers(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("d/old1", "file", b"1"), ("d/old2", "file", b"2")))
    apply(tmp_path, make_tar(("d/new", "file", b"n"), ("d/.wh..wh..opq", "file", b"")))
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["new"]


def test_hard_link_shares_the_inode(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("bin/busybox", "file", b"bb"), ("bin/sh", "hardlink", "bin/busybox")))
    assert (tmp_path / "bin/sh").stat().st_ino == (tmp_path / "bin/busybox").stat().st_ino


def test_hard_link_to_a_missing_target_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="target not found"):
        apply(tmp_path, make_tar(("bin/sh", "hardlink", "bin/nothing")))


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/../../evil"])
def test_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(LayerError, match="path traversal"):
        apply(root, make_tar((name, "file", b"x")))
    assert not (tmp_path / "evil").exists()


def test_hard_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="path traversal"):
        apply(tmp_path, make_tar(("passwd", "hardlink", "../../etc/passwd")))


def test_writes_through_a_symlink_stay_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    apply(root, make_tar(("link", "symlink", str(outside)), ("up", "symlink", "../../outside")))
    apply(root, make_tar(("link/file", "file", b"a"), ("up/file2", "file", b"b")))
    assert list(outside.iterdir()) == []
    assert (root / outside.relative_to("/") / "file").read_bytes() == b"a"


def test_device_nodes_are_skipped_without_root(tmp_path: Path) -> None:
    applier = LayerApplier(tmp_path, COPY)
    applier.privileged = False
    with tarfile.open(fileobj=io.BytesIO(make_tar(("dev/null", "chr", None))), mode="r|") as tar:
        applier.apply(tar)
    assert applier.skipped == ["dev/null"] and not (tmp_path / "dev/null").exists()


@needs_root
def test_device_nodes_are_created_as_root(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("dev/null", "chr", None)))
    st = (tmp_path / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


@needs_root
def test_overlay_mode_records_whiteouts_as_overlayfs_does(tmp_path: Path) -> None:
    apply(tmp_path, make_tar(("etc/.wh.gone", "file", b""), ("d/.wh..wh..opq", "file", b"")), OVERLAY)
    st = (tmp_path / "etc/gone").lstat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "d", "trusted.overlay.opaque") == b"y"


def test_chain_ids_follow_the_oci_formula() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def _image(tmp_path: Path, *layers: bytes) -> tuple[ImageRecord, ContentStore]:
    content = ContentStore(tmp_path / "content")
    records = []
    for data in layers:
        blob = gzip.compress(data, mtime=0)
        records.append(
            LayerRecord(content.put(blob), "tar+gzip", len(blob), "sha256:" + hashlib.sha256(data).hexdigest())
        )
    return ImageRecord("registry.local/x:1", "sha256:" + "0" * 64, "m", "sha256:" + "1" * 64, records, 0), content


def test_snapshots_are_keyed_by_chain_id_and_unpacked_once(tmp_path: Path) -> None:
    base = make_tar(("bin/busybox", "file", b"bb"))
    image, content = _image(tmp_path, base, make_tar(("www/index.html", "file", b"v1")))
    snaps = Snapshotter(tmp_path, COPY)
    top = snaps.unpack(image, content)
    assert (top[0] / "bin/busybox").exists() and (top[0] / "www/index.html").exists()
    base_dir = snaps.path(chain_ids([image.layers[0].diff_id])[0])
    marker = base_dir / "marker"
    marker.write_text("kept")
    other, _ = _image(tmp_path, base)
    snaps.unpack(other, content)
    assert marker.exists()


@needs_root
def test_overlay_lowerdirs_are_topmost_first(tmp_path: Path) -> None:
    image, content = _image(tmp_path, make_tar(("a", "file", b"1")), make_tar(("b", "file", b"2")))
    snaps = Snapshotter(tmp_path, OVERLAY)
    lowers = snaps.unpack(image, content)
    assert [sorted(p.name for p in d.iterdir()) for d in lowers] == [["b"], ["a"]]


def test_diff_id_mismatch_leaves_no_snapshot(tmp_path: Path) -> None:
    image, content = _image(tmp_path, make_tar(("a", "file", b"1")))
    image.layers[0].diff_id = "sha256:" + "f" * 64
    snaps = Snapshotter(tmp_path, COPY)
    with pytest.raises(LayerError, match="diff ID mismatch"):
        snaps.unpack(image, content)
    assert list(snaps.root.iterdir()) == []


def test_unused_snapshots_are_removed(tmp_path: Path) -> None:
    image, content = _image(tmp_path, make_tar(("a", "file", b"1")))
    snaps = Snapshotter(tmp_path, COPY)
    snaps.unpack(image, content)
    assert snaps.remove_unused(set()) == [image.layers[0].diff_id.split(":")[1]]
    assert list(snaps.root.iterdir()) == []
