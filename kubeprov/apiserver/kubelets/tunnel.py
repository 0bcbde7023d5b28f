"""Relay one client request to a backend (a kubelet, a pod) the way kube-apiserver's UpgradeAwareHandler does.

The request goes out on its own connection with the path rewritten and only the headers the
backend needs. When the backend answers ``101 Switching Protocols`` the answer goes to the client
and the two connections are spliced byte for byte until either side closes, so WebSocket and
SPDY/3.1 streams work whichever the client chose; any other answer is relayed as status, headers
and body (or turned into a ``Status`` error by the caller).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.kubelets.takeover import ClientStream, switch_protocols

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Dialer = Callable[[], Awaitable[Streams]]

UPGRADE_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                   "Sec-WebSocket-Extensions", "X-Stream-Protocol-Version")
PASSED_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "Content-Length", "User-Agent", "Cache-Control")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}
_CHUNK = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024


@dataclass
class BackendHead:
    """Status line and headers of the backend's answer."""

    status: int
    reason: str
    headers: CIMultiDict[str]


def is_upgrade(request: web.BaseRequest) -> bool:
    return "upgrade" in request.headers.get("Connection", "").lower() and bool(request.headers.get("Upgrade"))


def request_head(method: str, target: str, host: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers if "\r" not in value and "\n" not in value]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def forwarded_headers(request: web.BaseRequest, upgrade: bool) -> list[tuple[str, str]]:
    """The client's headers the backend should see; ``Connection: close`` unless the client upgrades."""
    names = PASSED_HEADERS + (UPGRADE_HEADERS if upgrade else ())
    out = [(k, v) for k, v in request.headers.items() if k.title() in {n.title() for n in names}]
    if not upgrade:
        out.append(("Connection", "close"))
    return out


async def read_head(reader: asyncio.StreamReader) -> BackendHead:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        raise StatusError(status.service_unavailable(f"error reading backend response: {err}")) from None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise StatusError(status.service_unavailable(f"malformed backend response: {lines[0]!r}"))
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.add(name.strip(), value.strip())
    return BackendHead(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


async def iter_body(reader: asyncio.StreamReader, head: BackendHead) -> AsyncIterator[bytes]:
    """The backend's body as it arrives: by Content-Length, chunked, or until the connection closes."""
    if "chunked" in head.headers.get("Transfer-Encoding", "").lower():
        while True:
            size_line = await reader.readline()
            if not size_line:
                return
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data
    length = head.headers.get("Content-Length")
    if length is not None and length.isdigit():
        left = int(length)
        while left > 0:
            data = await reader.read(min(left, _CHUNK))
            if not data:
                return
            left -= len(data)
            yield data
        return
    while data := await reader.read(_CHUNK):
        yield data


async def read_error_body(reader: asyncio.StreamReader, head: BackendHead) -> str:
    body = b""
    with contextlib.suppress(Exception):
        async for data in iter_body(reader, head):
            body += data
            if len(body) > _MAX_ERROR_BODY:
                break
    return body.decode("utf-8", "replace").strip()


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
            504: "Timeout"}


def backend_error(code: int, body: str) -> StatusError:
    """A non-2xx backend answer as a Status, like client-go's NewGenericServerResponse (the body is the message)."""
    with contextlib.suppress(ValueError, AttributeError):
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("kind") == "Status":
            return StatusError(status.failure(code, doc.get("reason") or _REASONS.get(code, "Unknown"),
                                              doc.get("message") or body))
    message = body or f"the server responded with the status code {code} but did not return more information"
    return StatusError(status.failure(code, _REASONS.get(code, "Unknown"), message))


async def splice(client: ClientStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes both ways until one side closes, then close the other."""

    async def upstream() -> None:
        while data := await client.read():
            writer.write(data)
            await writer.drain()

    async def downstream() -> None:
        while data := await reader.read(_CHUNK):
            await client.write(data)

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        writer.close()
        client.close()


async def relay(request: web.Request, dial: Dialer, target: str, host: str, *,
                on_error: Callable[[int, str], StatusError] | None = backend_error,
                content_type: str | None = None) -> web.StreamResponse:
    """Send ``request`` to ``target`` (path and query) on a fresh backend connection and relay the answer.

    With ``on_error`` a non-2xx answer becomes a Status (logs, exec before the upgrade); without it the
    backend's answer is passed through as is (proxy). ``content_type`` overrides the backend's.
    """
    upgrade = is_upgrade(request)
    reader, writer = await dial()
    try:
        writer.write(request_head(request.method, target, host, forwarded_headers(request, upgrade)))
        if request.body_exists and not upgrade:
            async for data in request.content.iter_chunked(_CHUNK):
                writer.write(data)
        await writer.drain()
        head = await read_head(reader)
        if head.status == 101:
            response, client = await switch_protocols(request, head.headers.items())
            await splice(client, reader, writer)
            return response
        if on_error is not None and not 200 <= head.status < 300:
            raise on_error(head.status, await read_error_body(reader, head))
        headers = CIMultiDict((k, v) for k, v in head.headers.items() if k.lower() not in HOP_BY_HOP)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = web.StreamResponse(status=head.status, reason=head.reason or None, headers=headers)
        await response.prepare(request)
        # once the head is sent an error can only end the stream (a client gone, a backend cut off)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ValueError):
            async for data in iter_body(reader, head):
                await response.write(data)
            await response.write_eof()
        return response
    except (ConnectionError, asyncio.IncompleteReadError) as err:
        raise StatusError(status.service_unavailable(f"error proxying to backend: {err}")) from None
    finally:
        writer.close()
