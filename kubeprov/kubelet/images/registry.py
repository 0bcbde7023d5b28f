"""Async registry v2 client (aiohttp): resolve manifests, stream blobs into the store, push.

Auth follows the distribution spec: a 401 with ``WWW-Authenticate: Bearer realm=..,service=..,scope=..``
sends us to the token endpoint (with basic auth when a pull secret has credentials for the registry)
and the request is retried with the token; a ``Basic`` challenge is answered directly. Tokens are
cached per endpoint, repository scope and credentials (user and password: a token got with one
password must never serve a pull that brings another).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from urllib.parse import urljoin

import aiohttp

from kubeprov.kubelet.images.errors import (
    DigestMismatch,
    ImageAccessDenied,
    ImageNotFound,
    ImagePullError,
    RegistryUnavailable,
)
from kubeprov.kubelet.images.hosts import Credentials, Endpoint, RegistryHosts, lookup_credentials
from kubeprov.kubelet.images.reference import Reference
from kubeprov.kubelet.images.store import BlobDigestError, BlobWriter, sha256_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
MAX_MANIFEST = 4 << 20
CHUNK = 1 << 16
DEFAULT_PLATFORM = ("linux", "amd64")

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Manifest:
    """A manifest as fetched: its digest and media type, the raw bytes (stored verbatim) and JSON."""

    digest: str
    media_type: str
    raw: bytes
    endpoint: Endpoint

    @property
    def json(self) -> dict:
        return json.loads(self.raw)


@dataclass(frozen=True)
class Resolved:
    """The platform manifest an image reference resolved to, plus the index it came through (if any)."""

    manifest: Manifest
    index: Manifest | None

    @property
    def digest(self) -> str:
        """The digest the reference resolved to (the index's when multi-platform), like containerd."""
        return (self.index or self.manifest).digest


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="..",service=".."`` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


def select_platform(index: dict, platform: tuple[str, str] = DEFAULT_PLATFORM) -> dict | None:
    """The first descriptor in an index for ``(os, architecture)``; None when there is none."""
    os_name, arch = platform
    for desc in index.get("manifests", []):
        p = desc.get("platform") or {}
        if p.get("os") == os_name and p.get("architecture") == arch:
            return desc
    return None


class RegistryClient:
    """One client per kubelet; credentials are passed per call because they come from each pod."""

    def __init__(
        self,
        hosts: RegistryHosts | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 60.0,
        platform: tuple[str, str] = DEFAULT_PLATFORM,
    ) -> None:
        self.hosts = hosts or RegistryHosts()
        self.platform = platform
        self._own_session = session is None
        self._session = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout)
        )
        self._tokens: dict[tuple[str, str, str, str], str] = {}

    async def close(self) -> None:
        if self._own_session:
            await self._session.close()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- requests with auth ---------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        endpoint: Endpoint,
        ref: Reference,
        url: str,
        creds: Credentials | None,
        actions: str = "pull",
        **kwargs: object,
    ) -> aiohttp.ClientResponse:
        user_pass = lookup_credentials(creds, ref.domain, endpoint)
        token_key = (endpoint.url, ref.path, actions, _identity(user_pass))
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        if token_key in self._tokens:
            headers["Authorization"] = self._tokens[token_key]
        ssl = False if endpoint.skip_verify else None
        resp = await self._session.request(method, url, headers=headers, ssl=ssl, **kwargs)  # type: ignore[arg-type]
        if resp.status != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        resp.release()
        scheme, params = parse_challenge(challenge)
        if scheme == "bearer" and "realm" in params:
            auth = await self._fetch_token(ref, params, user_pass, actions)
        elif scheme == "basic" and user_pass:
            auth = basic_auth(*user_pass)
        else:
            raise ImageAccessDenied(str(ref), "authorization failed")
        self._tokens[token_key] = auth
        headers["Authorization"] = auth
        resp = await self._session.request(method, url, headers=headers, ssl=ssl, **kwargs)  # type: ignore[arg-type]
        if resp.status in (401, 403):
            resp.release()
            self._tokens.pop(token_key, None)
            raise ImageAccessDenied(str(ref), "insufficient_scope: authorization failed")
        return resp

    async def _fetch_token(
        self, ref: Reference, params: dict[str, str], user_pass: tuple[str, str] | None, actions: str
    ) -> str:
        query = {k: v for k, v in params.items() if k in ("service",)}
        query["scope"] = params.get("scope") or f"repository:{ref.path}:{actions}"
        headers = {"Authorization": basic_auth(*user_pass)} if user_pass else {}
        try:
            async with self._session.get(params["realm"], params=query, headers=headers) as resp:
                if resp.status in (401, 403):
                    raise ImageAccessDenied(
                        str(ref), f"failed to fetch oauth token: unexpected status: {resp.status} {resp.reason}"
                    )
                if resp.status != 200:
                    raise RegistryUnavailable(str(ref), f"token endpoint {params['realm']} answered {resp.status}")
                body = await resp.json(content_type=None)
        except aiohttp.ClientError as e:
            raise RegistryUnavailable(str(ref), f"failed to fetch token from {params['realm']}: {e}") from e
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryUnavailable(str(ref), "token endpoint answered without a token")
        return f"Bearer {token}"

    # -- pull -----------------------------------------------------------------------------------

    async def resolve(self, ref: Reference, creds: Credentials | None = None) -> Resolved:
        """Fetch the reference's manifest, descending through an index to this node's platform."""
        top = await self.get_manifest(ref, ref.object, creds)
        if top.media_type not in INDEX_TYPES:
            return Resolved(top, None)
        desc = select_platform(top.json, self.platform)
        if desc is None:
            raise ImagePullError(str(ref), "no match for platform in manifest: not found")
        manifest = await self.get_manifest(ref, desc["digest"], creds, endpoints=[top.endpoint])
        return Resolved(manifest, top)

    async def get_manifest(
        self,
        ref: Reference,
        obj: str,
        creds: Credentials | None = None,
        endpoints: list[Endpoint] | None = None,
    ) -> Manifest:
        """GET one manifest by tag or digest, trying each endpoint (mirrors first) until one has it."""
        image = str(ref)
        endpoints = endpoints or self.hosts.endpoints(ref.domain, "resolve")
        last: ImagePullError = ImageNotFound(image)
        for endpoint in endpoints:
            url = f"{endpoint.url}/v2/{ref.path}/manifests/{obj}"
            try:
                resp = await self._request("GET", endpoint, ref, url, creds, headers={"Accept": ACCEPT})
                async with resp:
                    if resp.status == 404:
                        last = ImageNotFound(image)
                        continue
                    if resp.status in (401, 403):
                        raise ImageAccessDenied(image, f"{resp.status} {resp.reason}")
                    if resp.status != 200:
                        last = RegistryUnavailable(image, f"unexpected status from GET request to {url}: {resp.status}")
                        continue
                    raw = await _read_limited(resp, MAX_MANIFEST + 1)
                    header_digest = resp.headers.get("Docker-Content-Digest")
                    media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
            except aiohttp.ClientError as e:
                last = RegistryUnavailable(image, f'failed to resolve reference "{image}": {url}: {e}')
                continue
            if len(raw) > MAX_MANIFEST:
                raise ImagePullError(image, f"manifest {obj} larger than {MAX_MANIFEST} bytes")
            digest = sha256_digest(raw)
            expected = obj if obj.startswith("sha256:") else header_digest
            if expected and expected.startswith("sha256:") and expected != digest:
                raise DigestMismatch(image, expected, digest)
            return Manifest(digest, _media_type(media_type, raw), raw, endpoint)
        raise last

    async def fetch_blob(
        self,
        ref: Reference,
        digest: str,
        writer: BlobWriter,
        creds: Credentials | None = None,
        endpoints: list[Endpoint] | None = None,
    ) -> str:
        """Stream one blob into ``writer`` and commit it; a wrong digest never becomes visible."""
        image = str(ref)
        last: ImagePullError = ImageNotFound(image)
        for endpoint in endpoints or self.hosts.endpoints(ref.domain, "pull"):
            url = f"{endpoint.url}/v2/{ref.path}/blobs/{digest}"
            try:
                resp = await self._request("GET", endpoint, ref, url, creds)
                async with resp:
                    if resp.status == 404:
                        last = ImagePullError(image, f"failed to copy: content at {url} not found: not found")
                        continue
                    if resp.status != 200:
                        last = RegistryUnavailable(image, f"unexpected status from GET request to {url}: {resp.status}")
                        continue
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        writer.write(chunk)
            except aiohttp.ClientError as e:
                writer.abort()
                raise RegistryUnavailable(image, f"failed to copy: {url}: {e}") from e
            try:
                return writer.commit()
            except BlobDigestError as e:
                raise DigestMismatch(image, e.expected, e.actual) from e
        writer.abort()
        raise last

    # -- push (test images) -----------------------------------------------------------------------

    async def push_blob(self, ref: Reference, data: bytes, creds: Credentials | None = None) -> str:
        """Upload one blob monolithically unless the registry already has it; returns its digest."""
        digest = sha256_digest(data)
        endpoint = self._push_endpoint(ref)
        base = f"{endpoint.url}/v2/{ref.path}/blobs/"
        async with await self._request("HEAD", endpoint, ref, base + digest, creds, "pull,push") as resp:
            if resp.status == 200:
                return digest
        async with await self._request("POST", endpoint, ref, base + "uploads/", creds, "pull,push") as resp:
            if resp.status != 202:
                raise RegistryUnavailable(str(ref), f"blob upload start answered {resp.status}: {await resp.text()}")
            location = urljoin(endpoint.url + "/", resp.headers["Location"])
        sep = "&" if "?" in location else "?"
        async with await self._request(
            "PUT",
            endpoint,
            ref,
            f"{location}{sep}digest={digest}",
            creds,
            "pull,push",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        ) as resp:
            if resp.status != 201:
                raise RegistryUnavailable(str(ref), f"blob upload answered {resp.status}: {await resp.text()}")
        return digest

    async def push_manifest(self, ref: Reference, raw: bytes, media_type: str, creds: Credentials | None = None) -> str:
        """PUT a manifest under the reference's tag (or its digest); returns the manifest digest."""
        endpoint = self._push_endpoint(ref)
        digest = sha256_digest(raw)
        url = f"{endpoint.url}/v2/{ref.path}/manifests/{ref.tag or digest}"
        async with await self._request(
            "PUT", endpoint, ref, url, creds, "pull,push", data=raw, headers={"Content-Type": media_type}
        ) as resp:
            if resp.status != 201:
                raise RegistryUnavailable(str(ref), f"manifest upload answered {resp.status}: {await resp.text()}")
        return digest

    def _push_endpoint(self, ref: Reference) -> Endpoint:
        endpoints = self.hosts.endpoints(ref.domain, "push") or self.hosts.endpoints(ref.domain, "pull")
        if not endpoints:
            raise RegistryUnavailable(str(ref), f"no endpoint for {ref.domain} allows push")
        return endpoints[-1]


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, or its first ``limit`` bytes (``StreamReader.read(n)`` may return less than is there)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _media_type(header: str, raw: bytes) -> str:
    if header in INDEX_TYPES or header in MANIFEST_TYPES:
        return header
    try:
        body = json.loads(raw)
    except ValueError:
        return header
    if body.get("mediaType"):
        return str(body["mediaType"])
    return OCI_INDEX if "manifests" in body else OCI_MANIFEST


def _identity(user_pass: tuple[str, str] | None) -> str:
    """The token cache's key for a set of credentials; a hash, so passwords are not kept as dict keys."""
    if not user_pass:
        return ""
    return hashlib.sha256(f"{user_pass[0]}\0{user_pass[1]}".encode()).hexdigest()
