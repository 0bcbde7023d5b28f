"""Image references normalise like containerd/docker and bad ones fail with a reason."""

from __future__ import annotations

import pytest

from kubeprov.kubelet.images.reference import ReferenceError, parse

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("someone/app:v2", "docker.io/someone/app:v2"),
        ("index.docker.io/someone/app", "docker.io/someone/app:latest"),
        ("registry.local/web:1", "registry.local/web:1"),
        ("localhost/web", "localhost/web:latest"),
        ("localhost:5000/web", "localhost:5000/web:latest"),
        (f"host:5000/a/b@{DIGEST}", f"host:5000/a/b@{DIGEST}"),
        (f"registry.local/web:1@{DIGEST}", f"registry.local/web:1@{DIGEST}"),
        ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
    ],
)
def test_normalises_like_containerd(text: str, normalised: str) -> None:
    assert str(parse(text)) == normalised


def test_parts_of_a_registry_reference() -> None:
    ref = parse("host:5000/a/b:1")
    assert (ref.domain, ref.path, ref.tag, ref.digest, ref.object) == ("host:5000", "a/b", "1", None, "1")


def test_digest_reference_has_no_default_tag_and_asks_by_digest() -> None:
    ref = parse(f"busybox@{DIGEST}")
    assert ref.tag is None and ref.object == DIGEST


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("busybox:", "bad tag"),
        ("busybox:bad/tag", "bad registry host"),
        ("busybox@sha256:abc", "bad digest"),
        (f"busybox@sha256:{'a' * 63}", "invalid checksum digest"),
        ("a//b", "bad path component"),
        ("bad_host.example:x/app", "bad"),
        (" busybox", "whitespace"),
        ("registry.local/", "no repository"),
    ],
)
def test_bad_references_say_why(text: str, why: str) -> None:
    with pytest.raises(ReferenceError, match=why):
        parse(text)
