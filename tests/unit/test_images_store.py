"""Content store (verified blobs, atomic records), pull policy, image GC choice and pull back-off."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprov.kubelet.images.errors import (
    ImageNotFound,
    NeverPullError,
    PullBackoff,
    backoff_message,
    pull_failed_message,
)
from kubeprov.kubelet.images.reference import parse
from kubeprov.kubelet.images.store import (
    ALWAYS,
    IF_NOT_PRESENT,
    NEVER,
    BlobDigestError,
    ContentStore,
    GCCandidate,
    ImageRecord,
    ImageStore,
    LayerRecord,
    choose_images_to_free,
    default_pull_policy,
    sha256_digest,
    should_pull,
)


def test_blob_visible_only_after_digest_checked(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"layer bytes"
    writer = store.writer(sha256_digest(data))
    writer.write(data)
    assert not store.has(sha256_digest(data))
    digest = writer.commit()
    assert store.has(digest) and store.read(digest) == data


def test_blob_with_wrong_digest_is_never_stored(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    wrong = sha256_digest(b"something else")
    with pytest.raises(BlobDigestError):
        store.put(b"tampered", wrong)
    assert store.digests() == set() and list(store.ingest_dir.iterdir()) == []


def _record(name: str, n: int) -> ImageRecord:
    layer = LayerRecord(sha256_digest(b"l%d" % n), "application/vnd.oci.image.layer.v1.tar", 2, sha256_digest(b"d"))
    return ImageRecord(name, sha256_digest(b"m%d" % n), "m", sha256_digest(b"c%d" % n), [layer], 10)


def test_records_round_trip_and_unreferenced_blobs_are_removed(tmp_path: Path) -> None:
    images = ImageStore(tmp_path)
    for n in (1, 2):
        for data in (b"m%d" % n, b"c%d" % n, b"l%d" % n):
            images.content.put(data)
    images.put(_record("registry.local/a:1", 1))
    images.put(_record("registry.local/b:1", 2))
    assert images.get("registry.local/a:1").layers == _record("registry.local/a:1", 1).layers
    images.remove("registry.local/b:1")
    gone = images.remove_unreferenced_blobs()
    assert set(gone) == {sha256_digest(b"m2"), sha256_digest(b"c2"), sha256_digest(b"l2")}
    assert [r.name for r in images.list()] == ["registry.local/a:1"]


def test_record_reports_repo_digest_as_image_id(tmp_path: Path) -> None:
    record = _record("registry.local/web:1", 1)
    assert record.repo_digest == f"registry.local/web@{record.digest}"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", ALWAYS),
        ("busybox:latest", ALWAYS),
        ("busybox:1", IF_NOT_PRESENT),
        (f"busybox@sha256:{'a' * 64}", IF_NOT_PRESENT),
    ],
)
def test_default_pull_policy_like_the_api_server(image: str, policy: str) -> None:
    assert default_pull_policy(parse(image)) == policy


@pytest.mark.parametrize(
    ("policy", "present", "pull"),
    [(ALWAYS, True, True), (IF_NOT_PRESENT, True, False), (IF_NOT_PRESENT, False, True), (NEVER, False, False)],
)
def test_should_pull(policy: str, present: bool, pull: bool) -> None:
    assert should_pull(policy, present) is pull


def _candidate(key: str, size: int, last_used: float) -> GCCandidate:
    return GCCandidate(key, size, last_used, first_seen=0.0)


def test_gc_does_nothing_below_high_threshold() -> None:
    images = [_candidate("a", 50, 1)]
    assert choose_images_to_free(images, set(), used_bytes=84, capacity_bytes=100, high_percent=85, now=10) == []


def test_gc_frees_least_recently_used_down_to_low_threshold_and_spares_images_in_use() -> None:
    images = [
        _candidate("old-in-use", 10, 1),
        _candidate("old", 5, 2),
        _candidate("mid", 5, 3),
        _candidate("new", 5, 4),
    ]
    chosen = choose_images_to_free(
        images, {"old-in-use"}, used_bytes=90, capacity_bytes=100, high_percent=85, low_percent=80, now=10
    )
    assert [c.key for c in chosen] == ["old", "mid"]


def test_gc_spares_images_younger_than_min_age() -> None:
    images = [GCCandidate("young", 50, 0.0, first_seen=9.0), GCCandidate("aged", 50, 1.0, first_seen=0.0)]
    chosen = choose_images_to_free(images, set(), used_bytes=95, capacity_bytes=100, now=10, min_age=5)
    assert [c.key for c in chosen] == ["aged"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_pull_backoff_doubles_from_10s_to_5min_per_key() -> None:
    clock = FakeClock()
    backoff = PullBackoff(clock=clock)
    delays = [backoff.failed("pod_img") for _ in range(7)]
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.delay("other_img") == 0


def test_pull_backoff_window_and_expiry() -> None:
    clock = FakeClock()
    backoff = PullBackoff(clock=clock)
    backoff.failed("k")
    clock.now = 9.9
    assert backoff.in_backoff("k")
    clock.now = 10.1
    assert not backoff.in_backoff("k")
    clock.now = 700
    assert backoff.failed("k") == 10


def test_kubelet_messages() -> None:
    err = ImageNotFound("registry.local/nope:1")
    assert pull_failed_message("registry.local/nope:1", err) == (
        'Failed to pull image "registry.local/nope:1": failed to pull and unpack image "registry.local/nope:1": '
        'failed to resolve reference "registry.local/nope:1": registry.local/nope:1: not found'
    )
    assert backoff_message("web:1") == 'Back-off pulling image "web:1"'
    assert str(NeverPullError("web:1")) == 'Container image "web:1" is not present with pull policy of Never'
