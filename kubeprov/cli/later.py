"""Commands whose implementation lands in a later release say so, with what to use meanwhile."""

from __future__ import annotations

from kubeprov import __version__
from kubeprov.errors import NotYetAvailable


def not_yet(command: str, meanwhile: str | None = None) -> NotYetAvailable:
    return NotYetAvailable(
        f"`kubeprov {command}` is not yet available in kubeprov {__version__}",
        meanwhile,
    )
