"""Turning ansible-runner events into our progress lines and error messages.

Only results that changed something or failed are worth a line; failures Ansible was told to ignore
(health polls, probes) are part of a role's normal flow and stay silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_unreachable"}
MAX_MESSAGE = 1500


@dataclass(frozen=True)
class TaskFailure:
    """The last failed task of a host: what the error message is made of."""

    host: str
    role: str
    task: str
    message: str
    unreachable: bool = False


def _task_label(data: Mapping[str, Any]) -> str:
    role = data.get("role") or ""
    task = str(data.get("task") or data.get("task_action") or "task").strip()
    return f"{role}: {task}" if role else task


def progress_line(event: Mapping[str, Any]) -> str | None:
    """``local-cp-1: etcd: start kubeprov-etcd.service (changed)`` for a changed or failed result, else None."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    if kind not in RESULT_EVENTS:
        return None
    if kind == "runner_on_ok":
        if not (data.get("res") or {}).get("changed"):
            return None
        status = "changed"
    elif kind == "runner_on_failed":
        if data.get("ignore_errors"):
            return None
        status = "failed"
    else:
        status = "unreachable"
    return f"{data.get('host', '?')}: {_task_label(data)} ({status})"


def result_message(res: Mapping[str, Any]) -> str:
    """Ansible's own words for a failed result: its msg, plus stderr (or stdout) for commands."""
    if res.get("results") and isinstance(res["results"], list):
        for item in res["results"]:
            if isinstance(item, Mapping) and item.get("failed"):
                return result_message(item)
    parts: list[str] = []
    msg = res.get("msg")
    if msg:
        parts.append(str(msg).strip())
    output = str(res.get("stderr") or "").strip() or (str(res.get("stdout") or "").strip() if not msg else "")
    if output and output not in parts:
        parts.append(output)
    if res.get("module_stderr") and not parts:
        parts.append(str(res["module_stderr"]).strip())
    text = ": ".join(parts) or "no message from Ansible"
    return text if len(text) <= MAX_MESSAGE else "..." + text[-MAX_MESSAGE:]


def task_failure(event: Mapping[str, Any]) -> TaskFailure | None:
    """A failure that stops the host (not one the role ignores on purpose), else None."""
    kind = event.get("event")
    data = event.get("event_data") or {}
    if kind == "runner_on_failed" and not data.get("ignore_errors"):
        unreachable = False
    elif kind == "runner_on_unreachable":
        unreachable = True
    else:
        return None
    return TaskFailure(
        host=str(data.get("host", "?")),
        role=str(data.get("role") or ""),
        task=str(data.get("task") or data.get("task_action") or "task").strip(),
        message=result_message(data.get("res") or {}),
        unreachable=unreachable,
    )
