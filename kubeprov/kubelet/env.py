"""Container environment pieces the kubelet computes itself: resourceFieldRef values and the termination
message (file written by the container, or its log's tail with FallbackToLogsOnError)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from kubeprov.api.quantity import Quantity, QuantityError
from kubeprov.kubelet.runtime.logs import read_log

Obj = dict[str, Any]
# the kubelet's limits on a termination message (pkg/kubelet/container)
MAX_MESSAGE_BYTES = 4096
MAX_LOG_MESSAGE_BYTES = 2048
MAX_LOG_MESSAGE_LINES = 80
RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _amount(text: Any) -> Fraction:
    try:
        return Quantity.parse(str(text)).amount
    except QuantityError as exc:
        raise ValueError(f"invalid quantity {text!r}: {exc}") from None


def resource_field_value(ref: Obj, container: Obj, allocatable: Mapping[str, str]) -> str:
    """A resourceFieldRef as the kubelet writes it: the container's limit (the node's allocatable when the
    container has none) or request, divided by ``divisor`` and rounded up to a whole number; cpu divides
    milli-values, so ``limits.cpu`` of 250m is 1 with the default divisor 1 and 250 with divisor 1m."""
    resource = str(ref.get("resource") or "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not (name in RESOURCES or name.startswith("hugepages-")):
        raise ValueError(f"unsupported container resource : {resource}")
    divisor = _amount(ref.get("divisor") or "1")
    if divisor <= 0:
        raise ValueError(f"invalid divisor {ref.get('divisor')!r} for {resource}")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)  # the API's defaulting, for objects that skipped it
    if value is None and kind == "limits":
        value = allocatable.get(name)
    amount = _amount(value) if value is not None else Fraction(0)
    if name == "cpu":
        # milli-values rounded up first, like Quantity.MilliValue()
        return str(math.ceil(Fraction(math.ceil(amount * 1000)) / Fraction(math.ceil(divisor * 1000))))
    return str(math.ceil(Fraction(math.ceil(amount)) / Fraction(math.ceil(divisor))))


def termination_message(container: Obj, host_file: Path | None, exit_code: int | None, log_path: Path) -> str:
    """What a terminated container reports as ``state.terminated.message``: its termination message file
    (at most 4096 bytes) or, with FallbackToLogsOnError after a failure and an empty file, the last 80 log
    lines (at most 2048 bytes)."""
    text = ""
    if host_file is not None:
        try:
            with host_file.open("rb") as fh:
                text = fh.read(MAX_MESSAGE_BYTES).decode(errors="replace")
        except OSError:
            text = ""
    if text or container.get("terminationMessagePolicy") != "FallbackToLogsOnError" or not exit_code:
        return text
    lines = [e.text + "\n" for e in read_log(log_path)][-MAX_LOG_MESSAGE_LINES:]
    tail = "".join(lines).encode()[-MAX_LOG_MESSAGE_BYTES:]
    return tail.decode(errors="replace")
