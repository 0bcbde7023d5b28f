"""Container lifecycle hook handlers (postStart, preStop): exec in the container, an HTTP GET, or a sleep.

Unlike a probe, an HTTP hook fails only when no response comes back (the kubelet ignores the status code),
and an exec hook when the command exits non-zero. The messages are the kubelet's, since operators read them
in FailedPostStartHook / FailedPreStopHook events.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from kubeprov.kubelet.probes import Exec, resolve_port, status_line

Obj = dict[str, Any]
# postStart has no deadline in Kubernetes; an HTTP hook that never answers must not block the pod for ever
HTTP_HOOK_TIMEOUT = 60.0


def pod_description(pod: Obj) -> str:
    """The kubelet's format.Pod: ``name_namespace(uid)``."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


async def http_hook(host: str, port: int, path: str, headers: list[Obj], scheme: str, timeout: float) -> None:
    """Send the GET and read the status line; raises OSError (or TimeoutError) when there is no response."""
    if not await status_line(host, port, path, headers, timeout, scheme):
        raise ConnectionResetError("connection closed before a response")


async def run_handler(handler: Obj, container: Obj, pod: Obj, pod_ip: str, exec_: Exec) -> str | None:
    """Run one LifecycleHandler; None when it succeeded, else the failure message."""
    name = container.get("name", "")
    where = f'for Container "{name}" in Pod "{pod_description(pod)}"'
    if "exec" in handler:
        command = [str(a) for a in (handler["exec"] or {}).get("command") or []]
        try:
            code, output = await exec_(command, 0)
        except Exception as exc:  # the runtime could not run it at all
            return f"Exec lifecycle hook ({_go_list(command)}) {where} failed - error: {exc}, message: \"\""
        if code == 0:
            return None
        text = output.decode(errors="replace")
        return (f"Exec lifecycle hook ({_go_list(command)}) {where} failed - error: command "
                f"'{' '.join(command)}' exited with {code}: {text}, message: {_go_quote(text)}")
    if "httpGet" in handler:
        get = handler["httpGet"] or {}
        path = str(get.get("path") or "/")
        try:
            port = resolve_port(get.get("port"), container)
            await http_hook(get.get("host") or pod_ip, port, path, get.get("httpHeaders") or [],
                            str(get.get("scheme") or "HTTP"), HTTP_HOOK_TIMEOUT)
        except (OSError, ValueError, TimeoutError, ssl.SSLError) as exc:
            return f"HTTP lifecycle hook ({path}) {where} failed - error: {exc or type(exc).__name__}"
        return None
    if "sleep" in handler:
        await asyncio.sleep(max(0, int((handler["sleep"] or {}).get("seconds") or 0)))
        return None
    return f"Cannot run handler: unknown handler type {where}"


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
