"""Validate stack data in one pass that finds both field errors and broken cross-field rules.

Pydantic stops before model-level checks when any field is invalid. To still report every broken
rule, the invalid fields are cut out (so defaults take their place) and the data is validated
again; rules that read a cut field are skipped, since they would judge values nobody wrote.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubeprov.stack.errors import Issue, Loc
from kubeprov.stack.introspect import choices_at
from kubeprov.stack.messages import closest
from kubeprov.stack.model import CONTEXT_BROKEN, CONTEXT_ISSUES, PROVIDER_TYPES, Stack

# Stands in for a broken cluster name while the rules that do not read it still run.
PLACEHOLDER_NAME = "stack"
# Each retry cuts at least one more field; nesting in stack files is far shallower than this.
_MAX_RETRIES = 12


def validate_data(data: dict[Any, Any]) -> tuple[Stack | None, list[ErrorDetails], list[Issue]]:
    """The stack (None when invalid), the field errors, and the broken rules."""
    issues: list[Issue] = []
    try:
        return Stack.model_validate(data, context={CONTEXT_ISSUES: issues}), [], issues
    except ValidationError as err:
        errors = err.errors()
    return None, errors, _rules_despite(errors, data)


def _rules_despite(errors: list[ErrorDetails], data: dict[Any, Any]) -> list[Issue]:
    pruned = copy.deepcopy(data)
    broken: set[Loc] = set()
    pending = errors
    for _ in range(_MAX_RETRIES):
        for error in pending:
            loc, _ = yaml_loc(error["loc"])
            broken.add(_cut(pruned, loc))
            broken.update(_misspelt_section(error, loc))
        issues: list[Issue] = []
        try:
            Stack.model_validate(pruned, context={CONTEXT_ISSUES: issues, CONTEXT_BROKEN: frozenset(broken)})
        except ValidationError as err:
            pending = err.errors()
            continue
        return issues
    return []


def _cut(data: dict[Any, Any], loc: Loc) -> Loc:
    """Remove the deepest mapping key on ``loc`` that exists; returns the path of what was removed.

    List items are never removed (later indexes would shift), so a bad item removes its list.
    """
    node: Any = data
    steps: list[tuple[Any, str | int]] = []
    for part in loc:
        if isinstance(node, dict) and part in node:
            steps.append((node, part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            steps.append((node, part))
        else:
            break
        node = node[part]
    for depth in range(len(steps) - 1, -1, -1):
        container, part = steps[depth]
        if isinstance(container, dict) and (depth > 0 or part != "name"):
            del container[part]
            return tuple(step for _, step in steps[: depth + 1])
    data["name"] = PLACEHOLDER_NAME  # the only required top-level field
    return ("name",)


def _misspelt_section(error: ErrorDetails, loc: Loc) -> list[Loc]:
    """A misspelt top-level key ('wokers') leaves the real section at its default: mark it broken."""
    if error["type"] != "extra_forbidden" or len(loc) != 1:
        return []
    guess = closest(str(loc[0]), choices_at(Stack, ()))
    return [(guess,)] if guess else []


def yaml_loc(loc: Loc, key_error: bool = False) -> tuple[Loc, bool]:
    """The path as written in YAML, and whether the error is about a key rather than its value.

    Pydantic puts the provider's type tag into paths ('provider', 'ssh', 'hosts'); YAML has none.
    """
    parts = list(loc)
    if key_error:  # a key that is not text: the path stops at its mapping
        parts = parts[:-1]
    if len(parts) > 1 and parts[0] == "provider" and parts[1] in PROVIDER_TYPES:
        del parts[1]
    at_key = bool(parts) and parts[-1] == "[key]"
    if at_key:
        parts.pop()
    return tuple(parts), at_key
