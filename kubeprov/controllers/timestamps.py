"""RFC 3339 timestamps as the API writes them (``2024-01-01T00:00:00Z``), in one place.

Controllers and hollow kubelets stamp conditions, start/finish times and taints, and read them back
to measure ages; they all use these so every writer agrees on the format and every reader on how a
missing or malformed stamp is treated. Kept free of other kubeprov imports so the hollow kubelets can
use it without loading the controller manager.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MICRO_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(moment: datetime) -> str:
    """``moment`` (taken as UTC) at second precision, as ``metav1.Time`` serialises."""
    return moment.strftime(TIME_FORMAT)


def now_text() -> str:
    """The current time as a ``metav1.Time`` string."""
    return format_time(datetime.now(UTC))


def micro_now_text() -> str:
    """The current time as a ``metav1.MicroTime`` string (leases' renewTime)."""
    return datetime.now(UTC).strftime(MICRO_TIME_FORMAT)


def epoch_text(seconds: float) -> str:
    """A Unix time as a ``metav1.Time`` string (for controllers with an injectable clock)."""
    return format_time(datetime.fromtimestamp(seconds, UTC))


def parse_datetime(text: Any) -> datetime | None:
    """An RFC 3339 stamp as an aware datetime; None when missing or malformed."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_epoch(text: Any) -> float | None:
    """An RFC 3339 stamp as a Unix time; None when missing or malformed."""
    moment = parse_datetime(text)
    return None if moment is None else moment.timestamp()


def parse_time(text: Any) -> float:
    """An RFC 3339 stamp as a Unix time; 0.0 when missing or malformed (sorts first, never "recent")."""
    return parse_epoch(text) or 0.0
