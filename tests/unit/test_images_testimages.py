"""Our test images are deterministic and carry what the node tests rely on."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from kubeprov.kubelet.images.testimages import build_test_images


def _names(blob: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_rebuilding_gives_the_same_digests() -> None:
    assert [i.digest for i in build_test_images()] == [i.digest for i in build_test_images()]


def test_images_and_their_contents() -> None:
    busybox, web1, web2 = build_test_images()
    assert (busybox.name, web1.name, web2.name) == (
        "registry.local/busybox:1",
        "registry.local/web:1",
        "registry.local/web:2",
    )
    assert busybox.index is not None and web1.index is None
    base = json.loads(busybox.manifest)["layers"][0]["digest"]
    assert json.loads(web1.manifest)["layers"][0]["digest"] == base
    members = _names(busybox.blobs[base])
    assert members["bin/busybox"].mode == 0o755
    assert all(members[f"bin/{a}"].linkname == "busybox" for a in ("sh", "nc", "nslookup", "httpd"))
    web_layer = json.loads(web2.manifest)["layers"][1]["digest"]
    assert "usr/local/bin/start-web" in _names(web2.blobs[web_layer])
    config = json.loads(web2.blobs[json.loads(web2.manifest)["config"]["digest"]])["config"]
    assert config["ExposedPorts"] == {"8080/tcp": {}} and "WEB_VERSION=2" in config["Env"]
