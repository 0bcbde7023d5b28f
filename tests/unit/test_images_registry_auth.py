"""The registry client against an in-process aiohttp registry: bearer tokens, basic auth, mirrors,
platform selection from an index, and digest checks."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kubeprov.kubelet.images.errors import DigestMismatch, ImageAccessDenied, ImageNotFound
from kubeprov.kubelet.images.hosts import Endpoint, RegistryHosts, credentials_from_pull_secrets
from kubeprov.kubelet.images.reference import parse
from kubeprov.kubelet.images.registry import OCI_INDEX, OCI_MANIFEST, RegistryClient
from kubeprov.kubelet.images.store import ContentStore, sha256_digest

USER, PASSWORD, TOKEN = "puller", "s3cret", "tok-123"
BLOB = b"config bytes"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(BLOB), "size": 12},
        "layers": [],
    }
).encode()
BIG_MANIFEST = json.dumps({**json.loads(MANIFEST), "annotations": {f"k{i}": "v" * 100 for i in range(3000)}}).encode()
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": "sha256:" + "0" * 64,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm64"},
            },
            {
                "mediaType": OCI_MANIFEST,
                "digest": sha256_digest(MANIFEST),
                "size": len(MANIFEST),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
        ],
    }
).encode()


@dataclass
class FakeRegistry:
    """A registry that wants ``Bearer`` tokens (or Basic, per ``scheme``) and records what it saw."""

    scheme: str = "bearer"
    blob: bytes = BLOB
    token_requests: list[dict] = field(default_factory=list)
    manifest_accepts: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/{name:.+}/manifests/{ref}", self.manifest)
        app.router.add_get("/v2/{name:.+}/blobs/{digest}", self.get_blob)
        return app

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if self.scheme == "bearer":
            return auth == f"Bearer {TOKEN}"
        return auth == "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def _challenge(self, name: str) -> web.Response:
        if self.scheme == "bearer":
            value = f'Bearer realm="{self.url}/token",service="fake",scope="repository:{name}:pull"'
        else:
            value = 'Basic realm="fake"'
        return web.json_response(
            {"errors": [{"code": "UNAUTHORIZED"}]}, status=401, headers={"WWW-Authenticate": value}
        )

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(request.query))
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        return web.json_response({"token": TOKEN})

    async def manifest(self, request: web.Request) -> web.Response:
        name, ref = request.match_info["name"], request.match_info["ref"]
        if not self._authorized(request):
            return self._challenge(name)
        self.manifest_accepts.append(request.headers.get("Accept", ""))
        if ref == "multi":
            return web.Response(body=INDEX, content_type=OCI_INDEX)
        if ref == sha256_digest(BIG_MANIFEST):
            response = web.StreamResponse(headers={"Content-Type": OCI_MANIFEST})
            await response.prepare(request)
            for i in range(0, len(BIG_MANIFEST), 1000):
                await response.write(BIG_MANIFEST[i : i + 1000])
            await response.write_eof()
            return response
        if ref in ("1", sha256_digest(MANIFEST)):
            return web.Response(body=MANIFEST, content_type=OCI_MANIFEST)
        return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, status=404)

    async def get_blob(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._challenge(request.match_info["name"])
        return web.Response(body=self.blob)


async def _serve(fake: FakeRegistry) -> AsyncIterator[TestServer]:
    server = TestServer(fake.app())
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    fake = FakeRegistry()
    async for _ in _serve(fake):
        yield fake


def _hosts(fake: FakeRegistry, *extra_first: str) -> RegistryHosts:
    endpoints = tuple(Endpoint(u) for u in extra_first) + (Endpoint(fake.url),)
    return RegistryHosts({"registry.example": endpoints})


def _secret(user: str, password: str) -> dict:
    config = {"auths": {"registry.example": {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    return {
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }


async def test_bearer_flow_gets_a_token_with_pull_secret_credentials_and_retries(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    async with RegistryClient(_hosts(registry)) as client:
        resolved = await client.resolve(parse("registry.example/team/app:1"), creds)
    assert resolved.manifest.digest == sha256_digest(MANIFEST)
    assert registry.token_requests == [{"service": "fake", "scope": "repository:team/app:pull"}]


async def test_token_is_reused_for_later_requests(registry: FakeRegistry, tmp_path: Path) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    ref = parse("registry.example/team/app:1")
    async with RegistryClient(_hosts(registry)) as client:
        await client.resolve(ref, creds)
        await client.fetch_blob(ref, sha256_digest(BLOB), ContentStore(tmp_path).writer(sha256_digest(BLOB)), creds)
    assert len(registry.token_requests) == 1


async def test_wrong_pull_secret_is_access_denied(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, "wrong")])
    async with RegistryClient(_hosts(registry)) as client:
        with pytest.raises(ImageAccessDenied, match="pull access denied"):
            await client.resolve(parse("registry.example/team/app:1"), creds)


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
async def test_a_wrong_password_is_denied_even_after_the_same_user_pulled_with_the_right_one(scheme: str) -> None:
    fake = FakeRegistry(scheme=scheme)
    ref = parse("registry.example/team/app:1")
    async for _ in _serve(fake):
        async with RegistryClient(_hosts(fake)) as client:
            await client.resolve(ref, credentials_from_pull_secrets([_secret(USER, PASSWORD)]))
            with pytest.raises(ImageAccessDenied):
                await client.resolve(ref, credentials_from_pull_secrets([_secret(USER, "wrong")]))


async def test_basic_challenge_is_answered_with_credentials() -> None:
    fake = FakeRegistry(scheme="basic")
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    async for _ in _serve(fake):
        async with RegistryClient(_hosts(fake)) as client:
            resolved = await client.resolve(parse("registry.example/app:1"), creds)
    assert resolved.manifest.media_type == OCI_MANIFEST


async def test_basic_challenge_without_credentials_is_access_denied() -> None:
    fake = FakeRegistry(scheme="basic")
    async for _ in _serve(fake):
        async with RegistryClient(_hosts(fake)) as client:
            with pytest.raises(ImageAccessDenied):
                await client.resolve(parse("registry.example/app:1"))


async def test_index_resolves_to_linux_amd64_and_accept_lists_all_four_types(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    async with RegistryClient(_hosts(registry)) as client:
        resolved = await client.resolve(parse("registry.example/app:multi"), creds)
    assert resolved.index is not None and resolved.digest == sha256_digest(INDEX)
    assert resolved.manifest.digest == sha256_digest(MANIFEST)
    assert all(t in registry.manifest_accepts[0] for t in (OCI_INDEX, OCI_MANIFEST, "manifest.list.v2", "manifest.v2"))


async def test_large_manifest_streamed_in_pieces_is_read_whole(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    ref = parse(f"registry.example/app@{sha256_digest(BIG_MANIFEST)}")
    async with RegistryClient(_hosts(registry)) as client:
        resolved = await client.resolve(ref, creds)
    assert resolved.manifest.raw == BIG_MANIFEST


async def test_unknown_tag_is_not_found(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    async with RegistryClient(_hosts(registry)) as client:
        with pytest.raises(ImageNotFound, match="registry.example/app:nope: not found"):
            await client.resolve(parse("registry.example/app:nope"), creds)


async def test_unreachable_mirror_falls_back_to_the_next_endpoint(registry: FakeRegistry) -> None:
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    async with RegistryClient(_hosts(registry, "http://127.0.0.1:1")) as client:
        resolved = await client.resolve(parse("registry.example/app:1"), creds)
    assert resolved.manifest.endpoint.url == registry.url


async def test_blob_with_wrong_content_is_a_digest_mismatch_and_not_stored(tmp_path: Path) -> None:
    fake = FakeRegistry(blob=b"tampered")
    creds = credentials_from_pull_secrets([_secret(USER, PASSWORD)])
    store = ContentStore(tmp_path)
    async for _ in _serve(fake):
        async with RegistryClient(_hosts(fake)) as client:
            with pytest.raises(DigestMismatch):
                await client.fetch_blob(
                    parse("registry.example/app:1"), sha256_digest(BLOB), store.writer(sha256_digest(BLOB)), creds
                )
    assert not store.has(sha256_digest(BLOB))


def test_pull_secret_keys_are_normalised_and_dockercfg_is_read() -> None:
    cfg = {"https://index.docker.io/v1/": {"username": "u", "password": "p"}}
    secret = {
        "type": "kubernetes.io/dockercfg",
        "data": {".dockercfg": base64.b64encode(json.dumps(cfg).encode()).decode()},
    }
    assert credentials_from_pull_secrets([secret]) == {"docker.io": ("u", "p")}


def test_hosts_config_aliases_mirrors_and_loopback_defaults(tmp_path: Path) -> None:
    hosts = RegistryHosts.from_config(
        {"registry.local": "http://127.0.0.1:5000", "docker.io": {"mirrors": ["http://mirror:5000"]}}
    )
    assert [e.url for e in hosts.endpoints("registry.local")] == ["http://127.0.0.1:5000"]
    assert [e.url for e in hosts.endpoints("docker.io")] == ["http://mirror:5000", "https://registry-1.docker.io"]
    assert [e.url for e in hosts.endpoints("docker.io", "push")] == ["https://registry-1.docker.io"]
    assert hosts.endpoints("127.0.0.1:5000")[0].url == "http://127.0.0.1:5000"
    assert hosts.endpoints("quay.io")[0].url == "https://quay.io"


def test_containerd_hosts_toml(tmp_path: Path) -> None:
    (tmp_path / "registry.local").mkdir()
    (tmp_path / "registry.local" / "hosts.toml").write_text(
        'server = "https://registry.local"\n[host."http://127.0.0.1:5000"]\ncapabilities = ["pull", "resolve"]\n'
    )
    hosts = RegistryHosts.from_hosts_dir(tmp_path)
    assert [e.url for e in hosts.endpoints("registry.local")] == ["http://127.0.0.1:5000", "https://registry.local"]
