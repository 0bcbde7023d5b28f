"""The transport-neutral side of a streaming session: what exec/attach read from and write to, whatever the wire
(websocket channels or SPDY streams) underneath.

A transport feeds ``stdin`` (None = end of input) and ``resizes`` and implements ``send``; the runners in
``remotecommand.py`` only see this class, so one exec implementation serves every protocol version.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.kubelet.streaming.channels import ERROR, STDERR, STDOUT

Sender = Callable[[int, bytes], Awaitable[None]]


@dataclass
class TerminalSize:
    width: int
    height: int


def parse_resize(payload: bytes) -> list[TerminalSize]:
    """The resize channel carries JSON ``{"Width": w, "Height": h}`` objects; Go decodes keys case-insensitively
    (the Python client sends lowercase ones) and a SPDY stream may carry several back to back."""
    sizes: list[TerminalSize] = []
    text = payload.decode("utf-8", "replace").strip()
    decoder = json.JSONDecoder()
    while text:
        try:
            obj, end = decoder.raw_decode(text)
        except json.JSONDecodeError:
            break
        text = text[end:].lstrip()
        if isinstance(obj, dict):
            lower = {str(k).lower(): v for k, v in obj.items()}
            try:
                sizes.append(TerminalSize(int(lower.get("width", 0)), int(lower.get("height", 0))))
            except (TypeError, ValueError):
                continue
    return sizes


@dataclass
class StreamSession:
    """One exec/attach session's endpoints. ``status_json`` selects the v4+ error-channel format (a metav1.Status)
    over the plain-text one of protocols v1-v3."""

    send: Sender
    status_json: bool = True
    stdin: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    resizes: asyncio.Queue[TerminalSize] = field(default_factory=asyncio.Queue)
    #: set by the transport when the client's connection is over
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    async def stdout(self, data: bytes) -> None:
        await self.send(STDOUT, data)

    async def stderr(self, data: bytes) -> None:
        await self.send(STDERR, data)

    async def finish(self, exit_code: int | None, error: str = "") -> None:
        """Report the outcome on the error channel the way the kubelet does: v4 sends a Status (Success, or
        Failure/NonZeroExitCode with the code as an ExitCode cause, which kubectl turns into its own exit
        code); older protocols send only a failure's text."""
        if self.status_json:
            await self.send(ERROR, json.dumps(exit_status(exit_code, error)).encode())
        elif error or exit_code:
            await self.send(ERROR, (error or exit_message(exit_code or 0)).encode())


def exit_message(code: int) -> str:
    return f"command terminated with non-zero exit code: error executing command, exit code {code}"


def exit_status(exit_code: int | None, error: str = "") -> dict[str, Any]:
    """The v4 error-channel Status for a finished (``exit_code``) or failed (``error``) command."""
    if error:  # apierrors.NewInternalError(err), as the kubelet sends it
        return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {error}",
                "reason": "InternalError", "details": {"causes": [{"message": error}]}, "code": 500}
    if not exit_code:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": exit_message(exit_code), "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
