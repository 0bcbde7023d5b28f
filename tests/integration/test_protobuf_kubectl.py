"""The real kubectl's protobuf request bodies decode to the JSON kubectl itself prints for the same object.

A tiny aiohttp server plays API server: just enough discovery for kubectl, and every POST is recorded and
answered 201 with the decoded object. The reference is ``kubectl create ... -o json --dry-run=client``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kubeprov.apiserver.protobuf import MAGIC, PROTOBUF_CONTENT_TYPE, ProtobufCodec, ProtobufError, extract

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KUBECTL = shutil.which("kubectl")
CORE_RESOURCES = [
    ("namespaces", "namespace", False, "Namespace"),
    ("configmaps", "configmap", True, "ConfigMap"),
    ("secrets", "secret", True, "Secret"),
]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes
    decoded: dict[str, Any]


@dataclass
class FakeApiServer:
    url: str
    posts: list[Recorded] = field(default_factory=list)


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> ProtobufCodec:
    if KUBECTL is None or not extract.kubectl_candidates():
        pytest.skip(reason="kubectl is not installed")
    out = tmp_path_factory.mktemp("protobuf") / "k8s-descriptors.binpb.gz"
    assert extract.main(["--output", str(out)]) == 0
    loaded = ProtobufCodec.load(out)
    assert loaded is not None, "kubectl exists but no descriptors were extracted from it"
    return loaded


def _discovery_app(codec: ProtobufCodec, server: FakeApiServer) -> web.Application:
    async def version(_: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})

    async def api(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})

    async def apis(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_v1(_: web.Request) -> web.Response:
        resources = [
            {"name": n, "singularName": s, "namespaced": ns, "kind": k, "verbs": ["create", "get", "list"]}
            for n, s, ns, k in CORE_RESOURCES
        ]
        return web.json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources})

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            decoded = codec.decode(body) if body.startswith(MAGIC) else json.loads(body)
        except ProtobufError as exc:
            return web.json_response(
                {"kind": "Status", "status": "Failure", "message": str(exc), "code": 400}, status=400
            )
        server.posts.append(Recorded(request.path, dict(request.headers), body, decoded))
        return web.json_response(decoded, status=201)

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", api_v1)
    app.router.add_post("/api/v1/namespaces", create)
    app.router.add_post("/api/v1/namespaces/{namespace}/{resource}", create)
    return app


@pytest.fixture
async def apiserver(codec: ProtobufCodec) -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer(url="")
    runner = web.AppRunner(_discovery_app(codec, server))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


async def kubectl(server: FakeApiServer, home: Path, *args: str) -> str:
    assert KUBECTL is not None
    kubeconfig = home / "kubeconfig"
    kubeconfig.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
    env["HOME"] = str(home)
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--server={server.url}",
        f"--kubeconfig={kubeconfig}",
        f"--cache-dir={home / 'cache'}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed: {err.decode()}"
    return out.decode()


async def test_kubectl_create_bodies_decode_like_kubectl_json(
    apiserver: FakeApiServer, codec: ProtobufCodec, tmp_path: Path
) -> None:
    binary = tmp_path / "blob.bin"
    blob = bytes([0, 1, 2, 0xFF, 0xFE]) + "ü".encode()
    binary.write_bytes(blob)
    commands = [
        ["create", "namespace", "demo"],
        ["create", "configmap", "c1", "-n", "demo", "--from-literal=a=b", f"--from-file={binary}"],
        ["create", "secret", "generic", "s1", "-n", "demo", "--from-literal=pw=s3cr3t"],
    ]
    for args in commands:
        before = len(apiserver.posts)
        await kubectl(apiserver, tmp_path, *args)
        assert len(apiserver.posts) == before + 1, f"kubectl {' '.join(args)} sent no body"
        post = apiserver.posts[-1]
        # The typed client really spoke protobuf, and asks for protobuf back with JSON as a fallback.
        assert post.headers["Content-Type"] == PROTOBUF_CONTENT_TYPE
        assert post.body.startswith(MAGIC)
        assert post.headers["Accept"] == f"{PROTOBUF_CONTENT_TYPE},application/json"

        expected = json.loads(await kubectl(apiserver, tmp_path, *args, "-o", "json", "--dry-run=client"))
        assert post.decoded == expected
        # Our encoder writes the very bytes Go's serializer wrote.
        assert codec.encode(post.decoded) == post.body

    paths = [p.path for p in apiserver.posts]
    assert paths == ["/api/v1/namespaces", "/api/v1/namespaces/demo/configmaps", "/api/v1/namespaces/demo/secrets"]
    configmap = apiserver.posts[1].decoded
    assert configmap["data"] == {"a": "b"}
    assert configmap["binaryData"] == {"blob.bin": "AAEC//7DvA=="}
    assert apiserver.posts[2].decoded["data"] == {"pw": "czNjcjN0"}
