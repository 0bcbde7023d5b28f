"""An asyncio REST client for the Kubernetes API, as used by kubeprov's own components.

The scheduler, the controller manager and the kubelets reach the API server only through
:class:`ApiClient`: plain JSON dicts in and out, one aiohttp session (one keep-alive pool) per
client, TLS with a client certificate or a bearer token. Every 4xx/5xx answer raises
:class:`~kubeprov.api.status.StatusError` with the server's ``Status`` (or one built from the
HTTP code when the body is not a ``Status``). Reads are retried on connection errors with a
short backoff; writes are never retried blindly (only a 429, which the server did not process).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from kubeprov.api import status
from kubeprov.api.status import StatusError

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.api.client")

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
LIST_PAGE_SIZE = 500
READ_ATTEMPTS = 4
THROTTLE_ATTEMPTS = 5
# a watch that asked for bookmarks hears from the server at least this often (the server sends
# one every 30 s), so a longer silence means the connection is dead
WATCH_READ_TIMEOUT = 120.0


class ApiConnectionError(ConnectionError):
    """The API server could not be reached, or the connection broke mid-answer."""


def resource_path(api_version: str, resource: str, namespace: str = "", name: str = "", subresource: str = "") -> str:
    """``/api/v1/namespaces/ns/pods/x/binding`` and ``/apis/apps/v1/deployments`` style paths."""
    parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
    if namespace:
        parts += ["namespaces", quote(namespace, safe="")]
    parts.append(resource)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        if not name:
            raise ValueError(f"subresource {subresource!r} needs an object name")
        parts.append(subresource)
    return "/".join(parts)


def _error_status(code: int, raw: bytes, method: str) -> Obj:
    """The ``Status`` in an error body, or one built from the HTTP code."""
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        body.setdefault("code", code)
        return body
    return status.generic_server_response(code, text.strip(), verb=method)


def _list_item_kind(list_kind: str) -> str:
    return list_kind[: -len("List")] if list_kind.endswith("List") else list_kind


def _selector_params(label_selector: str, field_selector: str) -> dict[str, str]:
    params: dict[str, str] = {}
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    return params


class ApiClient:
    """One connection pool to one API server; see the module docstring."""

    def __init__(
        self,
        server: str,
        *,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        token: str | None = None,
        user_agent: str = "kubeprov",
        timeout: float = 30.0,
        qps: float = 0.0,
        insecure_skip_tls_verify: bool = False,
    ) -> None:
        self.server = server.rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout
        self.qps = qps
        self._token = token
        self._ssl: ssl.SSLContext | None = None
        if self.server.startswith("https://"):
            ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
            if insecure_skip_tls_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if cert_file:
                ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
            self._ssl = ctx
        self._session: aiohttp.ClientSession | None = None
        self._next_slot = 0.0
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._closed = False

    # ---- construction ----------------------------------------------------------------------

    @classmethod
    def from_kubeconfig(cls, path: Path, *, context: str | None = None, user_agent: str = "kubeprov") -> ApiClient:
        """A client for ``context`` (default: the current one) of a kubeconfig file.

        Embedded ``*-data`` credentials are written to a private temporary directory that
        :meth:`close` removes; file paths are taken relative to the kubeconfig's directory.
        """
        path = Path(path)
        doc = yaml.safe_load(path.read_text()) or {}
        ctx_name = context or doc.get("current-context")
        contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
        if ctx_name:
            if ctx_name not in contexts:
                raise ValueError(f"context {ctx_name!r} not found in {path}")
            ctx = contexts[ctx_name]
        else:
            ctx = {}
        cluster = _named(doc.get("clusters"), ctx.get("cluster"), "cluster", path)
        user = _named(doc.get("users"), ctx.get("user"), "user", path)
        server = cluster.get("server")
        if not server:
            raise ValueError(f"no server for the cluster in {path}")
        tempdir: tempfile.TemporaryDirectory[str] | None = None

        def material(entry: dict[str, Any], key: str, filename: str) -> Path | None:
            nonlocal tempdir
            data = entry.get(f"{key}-data")
            if data:
                if tempdir is None:
                    tempdir = tempfile.TemporaryDirectory(prefix="kubeprov-client-")
                target = Path(tempdir.name) / filename
                target.touch(mode=0o600)
                target.write_bytes(base64.b64decode(data))
                return target
            file = entry.get(key)
            if file:
                file_path = Path(file).expanduser()
                return file_path if file_path.is_absolute() else path.parent / file_path
            return None

        token = user.get("token")
        token_file = user.get("tokenFile")
        if not token and token_file:
            token_path = Path(token_file).expanduser()
            token = (token_path if token_path.is_absolute() else path.parent / token_path).read_text().strip()
        try:
            client = cls(
                server,
                ca_file=material(cluster, "certificate-authority", "ca.crt"),
                cert_file=material(user, "client-certificate", "client.crt"),
                key_file=material(user, "client-key", "client.key"),
                token=token or None,
                user_agent=user_agent,
                insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
            )
        except BaseException:
            if tempdir is not None:
                tempdir.cleanup()
            raise
        client._tempdir = tempdir
        return client

    # ---- lifecycle -------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the API client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=100,
                                             keepalive_timeout=30.0)
            headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._session = aiohttp.ClientSession(connector=connector, headers=headers, trust_env=False)
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- plumbing --------------------------------------------------------------------------

    async def _throttle(self) -> None:
        if self.qps <= 0:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.qps
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        read: bool = False,
    ) -> Obj:
        """Send one request and decode the JSON answer; raise StatusError on 4xx/5xx.

        ``read`` requests (GET) are retried on connection errors; any request is retried on
        a 429 with Retry-After, which the server answers before doing anything.
        """
        session = self._get_session()
        url = self.server + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else None
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        connection_failures = throttled = 0
        while True:
            await self._throttle()
            try:
                async with session.request(method, url, params=params, data=data, headers=headers,
                                           timeout=timeout) as resp:
                    raw = await resp.read()
                    code = resp.status
                    retry_after = resp.headers.get("Retry-After", "")
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                connection_failures += 1
                if not read or connection_failures >= READ_ATTEMPTS:
                    raise ApiConnectionError(f"{method} {url}: {exc!r}") from exc
                await asyncio.sleep(0.1 * 2 ** (connection_failures - 1))
                continue
            if code == 429 and retry_after and throttled < THROTTLE_ATTEMPTS:
                # like client-go: only a 429 that says when to come back is retried (an eviction refused
                # by a disruption budget says nothing and is the caller's to handle)
                throttled += 1
                try:
                    delay = min(float(retry_after), 10.0)
                except ValueError:
                    delay = 0.2 * 2 ** (throttled - 1)
                await asyncio.sleep(delay)
                continue
            if code >= 400:
                raise StatusError(_error_status(code, raw, method))
            if not raw.strip():
                return {}
            return json.loads(raw)

    # ---- reads -----------------------------------------------------------------------------

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "", *,
                  subresource: str = "") -> Obj:
        return await self._request("GET", resource_path(api_version, resource, namespace, name, subresource),
                                   read=True)

    async def list(self, api_version: str, resource: str, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str = "") -> Obj:
        """One list request; the answer is the List object (items without apiVersion/kind)."""
        params = _selector_params(label_selector, field_selector)
        if limit:
            params["limit"] = str(limit)
        if continue_token:
            params["continue"] = continue_token
        if resource_version:
            params["resourceVersion"] = resource_version
        return await self._request("GET", resource_path(api_version, resource, namespace), params=params, read=True)

    async def list_all(self, api_version: str, resource: str, namespace: str = "", *, label_selector: str = "",
                       field_selector: str = "", limit: int = 0, continue_token: str = "",
                       resource_version: str = "") -> tuple[list[Obj], str]:
        """Every item, following continue tokens (pages of ``limit``, default 500).

        Items get ``apiVersion`` and ``kind`` filled in. Returns ``(items, list resourceVersion)``.
        If a continue token expires midway, the whole list is taken again in one request.
        """
        page_size = limit or LIST_PAGE_SIZE
        items: list[Obj] = []
        token = continue_token
        list_rv = ""
        kind = ""
        while True:
            try:
                page = await self.list(api_version, resource, namespace, label_selector=label_selector,
                                       field_selector=field_selector, limit=page_size, continue_token=token,
                                       resource_version="" if token else resource_version)
            except StatusError as exc:
                if exc.code != 410 or not token:
                    raise
                log.info("continue token for %s expired; listing everything at once", resource)
                page = await self.list(api_version, resource, namespace, label_selector=label_selector,
                                       field_selector=field_selector)
                items = []
            meta = page.get("metadata") or {}
            kind = _list_item_kind(page.get("kind", ""))
            items.extend(page.get("items") or [])
            if not list_rv:
                list_rv = meta.get("resourceVersion", "")
            token = meta.get("continue", "")
            if not token:
                break
        filled = []
        for item in items:
            if item.get("apiVersion") and item.get("kind"):
                filled.append(item)
            else:
                filled.append({"apiVersion": api_version, "kind": kind, **item})
        return filled, list_rv

    async def watch(self, api_version: str, resource: str, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "", allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None) -> AsyncIterator[tuple[str, Obj]]:
        """Yield ``(type, object)`` until the server ends the stream.

        An ``ERROR`` event raises :class:`StatusError` (410 Expired when ``resource_version``
        is too old); a broken connection raises :class:`ApiConnectionError`.
        """
        params = _selector_params(label_selector, field_selector)
        params["watch"] = "true"
        if resource_version:
            params["resourceVersion"] = resource_version
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        session = self._get_session()
        url = self.server + resource_path(api_version, resource, namespace)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout,
                                        sock_read=WATCH_READ_TIMEOUT if allow_bookmarks else None)
        await self._throttle()
        try:
            async with session.get(url, params=params, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise StatusError(_error_status(resp.status, await resp.read(), "GET"))
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    while True:
                        end = buffer.find(b"\n")
                        if end < 0:
                            break
                        line, buffer = buffer[:end], buffer[end + 1:]
                        if line.strip():
                            yield _decode_event(line)
                if buffer.strip():
                    yield _decode_event(buffer)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise ApiConnectionError(f"watch {url}: {exc!r}") from exc

    # ---- writes ----------------------------------------------------------------------------

    async def create(self, api_version: str, resource: str, obj: Obj, namespace: str = "", *, name: str = "",
                     subresource: str = "", field_manager: str | None = None) -> Obj:
        """POST ``obj``; with ``name`` and ``subresource``, to e.g. ``pods/<name>/binding``.

        ``namespace`` defaults to the object's ``metadata.namespace``.
        """
        namespace = namespace or (obj.get("metadata") or {}).get("namespace", "")
        params = {"fieldManager": field_manager} if field_manager else None
        return await self._request("POST", resource_path(api_version, resource, namespace, name, subresource),
                                   params=params, body=obj)

    async def update(self, api_version: str, resource: str, obj: Obj, namespace: str = "", *,
                     subresource: str = "", field_manager: str | None = None) -> Obj:
        """PUT ``obj`` (its ``metadata.resourceVersion``, when set, is the precondition)."""
        meta = obj.get("metadata") or {}
        namespace = namespace or meta.get("namespace", "")
        params = {"fieldManager": field_manager} if field_manager else None
        return await self._request("PUT", resource_path(api_version, resource, namespace, meta.get("name", ""),
                                                        subresource), params=params, body=obj)

    async def patch(self, api_version: str, resource: str, name: str, patch: dict | list, namespace: str = "", *,
                    patch_type: str = "merge", subresource: str = "", field_manager: str | None = None,
                    force: bool = False) -> Obj:
        """PATCH with ``patch_type`` ``merge``, ``strategic``, ``json`` or ``apply`` (server-side apply)."""
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"unknown patch type {patch_type!r}; use one of {', '.join(PATCH_CONTENT_TYPES)}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("an apply patch needs a field_manager")
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        return await self._request("PATCH", resource_path(api_version, resource, namespace, name, subresource),
                                   params=params, body=patch, content_type=content_type)

    async def delete(self, api_version: str, resource: str, name: str, namespace: str = "", *,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: dict | None = None) -> Obj:
        """DELETE one object; the answer is the object (if it lingers, e.g. finalizers) or a Status."""
        return await self._request("DELETE", resource_path(api_version, resource, namespace, name),
                                   body=_delete_options(propagation_policy, grace_period_seconds, preconditions))

    async def delete_collection(self, api_version: str, resource: str, namespace: str = "", *,
                                label_selector: str = "", field_selector: str = "",
                                propagation_policy: str | None = None,
                                grace_period_seconds: int | None = None) -> Obj:
        """DELETE every object matching the selectors (in ``namespace`` when given)."""
        return await self._request("DELETE", resource_path(api_version, resource, namespace),
                                   params=_selector_params(label_selector, field_selector),
                                   body=_delete_options(propagation_policy, grace_period_seconds, None))


def _delete_options(propagation_policy: str | None, grace_period_seconds: int | None,
                    preconditions: dict | None) -> Obj:
    options: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        options["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        options["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        options["preconditions"] = preconditions
    return options


def _decode_event(line: bytes) -> tuple[str, Obj]:
    try:
        event = json.loads(line)
        kind, obj = event["type"], event["object"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiConnectionError(f"undecodable watch event: {line[:200]!r}") from exc
    if kind == "ERROR":
        if isinstance(obj, dict) and obj.get("kind") == "Status":
            raise StatusError(obj)
        raise StatusError(status.internal_error(f"watch error: {obj!r}"))
    return kind, obj


def _named(entries: Any, name: str | None, what: str, path: Path) -> dict[str, Any]:
    """The ``cluster``/``user`` body of the entry called ``name`` (the first one without a name)."""
    if not isinstance(entries, list) or not entries:
        if what == "user":
            return {}
        raise ValueError(f"no {what} in {path}")
    for entry in entries:
        if name is None or entry.get("name") == name:
            return entry.get(what) or {}
    raise ValueError(f"{what} {name!r} not found in {path}")
