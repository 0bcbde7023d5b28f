"""Int-or-percent fields (``maxSurge``, ``maxUnavailable``, ``minAvailable``) resolved against a total.

Kubernetes' ``intstr.GetScaledValueFromIntOrPercent``: an int is taken as is, ``"N%"`` is N percent of
the total rounded up or down as the caller's rule says. Deployments, DaemonSets and disruption budgets
differ only in their defaults and rounding, so they share this.
"""

from __future__ import annotations

import math
from typing import Any


def scaled_value(value: Any, total: int, round_up: bool, default: int | str | None = None) -> int:
    """``value`` (``default`` when unset) as a count out of ``total``; ValueError when it is neither an
    int, a numeric string nor ``"N%"``."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"invalid value for IntOrString: {text!r}") from None
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {text!r}") from None
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)
