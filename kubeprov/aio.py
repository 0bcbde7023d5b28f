"""Small asyncio helpers every component's start/stop needs."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has finished. Unlike ``await task`` under a suppressed
    CancelledError, a cancellation of the caller itself still propagates; an error the task ended with
    is raised here, as awaiting it would."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
