"""Problems found in a stack file, and the single error that reports all of them at once.

Users fix stack files faster when every problem is listed in one run, each with the place in the
file, the field and what to change, so nothing here stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

from kubeprov.errors import UsageError

# A field path in YAML spelling, as pydantic reports it: ("workers", 1, "taints", 0, "effect").
Loc = tuple[str | int, ...]

SCHEMA_HINT = "`kubeprov stack schema` prints the full schema of stack files"

# The pydantic error type used by every check of this package; ctx carries "message" and "fix".
CHECK_ERROR = "stack_check"


def invalid(message: str, fix: str) -> PydanticCustomError:
    """An error for a field check that the loader can turn into a problem with a fix."""
    return PydanticCustomError(CHECK_ERROR, "{message}", {"message": message, "fix": fix})


@dataclass(frozen=True)
class Issue:
    """A rule broken by a validated stack, before it is placed in the file."""

    loc: Loc
    message: str
    fix: str


@dataclass(frozen=True)
class StackProblem:
    """One problem in a stack file, placed at a 1-based line and column."""

    file: str
    line: int
    column: int
    path: str  # YAML spelling, e.g. "workers[1].taints[0].effect"; empty for syntax problems
    message: str
    fix: str

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{_sentence(self.message)} Fix: {_sentence(self.fix)}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


class StackError(UsageError):
    """A stack file that cannot be used; ``message`` holds the whole report, one problem per line."""

    def __init__(self, message: str, hint: str | None = None, problems: Sequence[StackProblem] = ()) -> None:
        super().__init__(message, hint)
        self.problems: tuple[StackProblem, ...] = tuple(problems)

    @classmethod
    def from_problems(cls, file: str, problems: Sequence[StackProblem]) -> StackError:
        # one mistake can break two checks the same way: report it once
        ordered = sorted(set(problems), key=lambda p: (p.line, p.column, p.path, p.message))
        count = len(ordered)
        header = f"stack file {file} has {count} problem{'s' if count != 1 else ''}:"
        message = "\n".join([header, *(p.format() for p in ordered)])
        return cls(message, SCHEMA_HINT, ordered)


def format_path(loc: Loc) -> str:
    """``("workers", 1, "labels", "a/b")`` -> ``workers[1].labels["a/b"]``: the YAML spelling of a field."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.replace("-", "").replace("_", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text
