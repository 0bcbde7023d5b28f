"""HTTP details shared by the unary calls and the watch streams: JSON codec and error mapping."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque

import aiohttp

from kubeprov.etcd.errors import GRPC_OUT_OF_RANGE, EtcdCompacted, EtcdError
from kubeprov.etcd.types import Json

JSON_HEADERS = {"Content-Type": "application/json"}
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False).encode
loads = json.loads


def is_tls_rejection(exc: BaseException) -> bool:
    """The peer ended the TLS session with an alert: it refused us before reading any request."""
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        return True
    text = str(exc)
    return isinstance(exc, aiohttp.ClientOSError) and "SSL" in text and "ALERT" in text


def describe_failure(exc: BaseException) -> str:
    """A short reason for an endpoint failure, naming TLS rejections plainly."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"etcd's certificate was not accepted: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return str(exc.os_error) or type(exc.os_error).__name__
    if is_tls_rejection(exc):
        return (
            f"TLS rejected by etcd ({exc}); does the client present a certificate signed by "
            "the etcd CA, with clientAuth usage?"
        )
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "connection timed out"
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer before the timeout"
    if isinstance(exc, EtcdError):
        return exc.message
    return str(exc) or type(exc).__name__


def error_from_answer(status: int, raw: bytes, endpoint: str) -> EtcdError:
    """Turn a non-200 gateway answer (``{"error", "message", "code"}``) into the matching exception."""
    try:
        body = loads(raw)
        message = str(body.get("message") or body.get("error"))
        code = body.get("code")
    except (ValueError, AttributeError):
        message, code = raw[:200].decode(errors="replace").strip() or f"HTTP {status}", None
    if code == GRPC_OUT_OF_RANGE and "compacted" in message:
        return EtcdCompacted(message, code=code, http_status=status, endpoint=endpoint)
    return EtcdError(message, code=code, http_status=status, endpoint=endpoint)


def stream_error(message: Json, endpoint: str) -> EtcdError:
    """The error object a streaming answer carries instead of a ``result``."""
    err = message.get("error")
    if isinstance(err, dict):
        code = err.get("grpc_code", err.get("code"))
        return EtcdError(
            str(err.get("message", err)), code=code, http_status=err.get("http_code"), endpoint=endpoint
        )
    return EtcdError(f"unexpected message from the etcd gateway: {str(message)[:200]}", endpoint=endpoint)


class LineSplitter:
    """Cuts a byte stream into newline-terminated lines in linear time.

    A watch message can be megabytes long (a replay of many events) and arrive in many chunks, and
    one chunk can hold many messages; blank lines are dropped.
    """

    __slots__ = ("_lines", "_parts")

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the start of a line whose end has not arrived
        self._lines: deque[bytes] = deque()

    def feed(self, chunk: bytes) -> None:
        if b"\n" not in chunk:
            if chunk:
                self._parts.append(chunk)
            return
        if self._parts:
            self._parts.append(chunk)
            chunk = b"".join(self._parts)
            self._parts.clear()
        *complete, rest = chunk.split(b"\n")
        if rest:
            self._parts.append(rest)
        self._lines.extend(line for line in complete if line.strip())

    def pop(self) -> bytes | None:
        """The oldest complete line, or None until more data arrives."""
        return self._lines.popleft() if self._lines else None

    @property
    def pending(self) -> int:
        """Bytes received of a line not yet complete."""
        return sum(len(p) for p in self._parts)
