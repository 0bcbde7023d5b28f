"""User-facing errors: one sentence saying what is wrong and what to do, never a traceback."""

from __future__ import annotations


class KubeprovError(Exception):
    """An error caused by input or environment that the user can fix.

    The CLI prints ``message`` (and ``hint`` when given) and exits with ``exit_code``
    instead of showing a traceback.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(KubeprovError):
    """Bad input on the command line or in a file: exit code 2, like argument errors."""

    exit_code = 2


class NotYetAvailable(KubeprovError):
    """A command whose implementation lands in a later release."""

    exit_code = 3
