"""Hard eviction thresholds (the kubelet's evictionHard) and the node pressure they signal.

A threshold is an amount (``100Mi``, ``1000``) or a share of capacity (``10%``); a signal below it means
pressure: memory.available -> MemoryPressure, nodefs/imagefs available bytes or free inodes -> DiskPressure,
pid.available -> PIDPressure. The memory and nodefs thresholds are also what allocatable leaves out.
(Pods are not evicted here: the conditions let the scheduler keep new pods away.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from kubeprov.api.quantity import Quantity, QuantityError

SIGNALS = {
    "memory.available": "MemoryPressure",
    "nodefs.available": "DiskPressure",
    "nodefs.inodesFree": "DiskPressure",
    "imagefs.available": "DiskPressure",
    "imagefs.inodesFree": "DiskPressure",
    "pid.available": "PIDPressure",
}
DEFAULT_EVICTION_HARD = {"memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "15%",
                         "pid.available": "5%"}


@dataclass(frozen=True)
class Threshold:
    """``signal < amount`` (an absolute amount) or ``signal < share * capacity``."""

    signal: str
    amount: int | None = None
    share: Fraction | None = None

    def limit(self, capacity: int) -> int:
        """The value below which the signal is under pressure, for this capacity."""
        if self.amount is not None:
            return self.amount
        return int((self.share or 0) * capacity)


def parse_threshold(signal: str, text: str) -> Threshold:
    if signal not in SIGNALS:
        raise ValueError(f"unknown eviction signal {signal!r} (known: {', '.join(sorted(SIGNALS))})")
    text = str(text).strip()
    if text.endswith("%"):
        try:
            share = Fraction(text[:-1]) / 100
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{signal}: invalid percentage {text!r}") from None
        if not 0 <= share <= 1:
            raise ValueError(f"{signal}: percentage {text!r} must be between 0% and 100%")
        return Threshold(signal, share=share)
    try:
        amount = Quantity.parse(text)
    except QuantityError:
        raise ValueError(f"{signal}: invalid threshold {text!r}: use a quantity such as 100Mi or a percentage") \
            from None
    if amount.sign() < 0:
        raise ValueError(f"{signal}: threshold {text!r} must not be negative")
    return Threshold(signal, amount=amount.value())


def parse_thresholds(spec: Mapping[str, str]) -> dict[str, Threshold]:
    return {signal: parse_threshold(signal, value) for signal, value in spec.items()}


@dataclass(frozen=True)
class Observations:
    """(available, capacity) per signal, from the machine right now."""

    values: Mapping[str, tuple[int, int]]


def pressure(thresholds: Mapping[str, Threshold], observed: Observations) -> dict[str, bool]:
    """MemoryPressure / DiskPressure / PIDPressure: any threshold of theirs crossed."""
    out = {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}
    for signal, threshold in thresholds.items():
        if signal not in observed.values:
            continue
        available, capacity = observed.values[signal]
        if available < threshold.limit(capacity):
            out[SIGNALS[signal]] = True
    return out


def reserved(thresholds: Mapping[str, Threshold], signal: str, capacity: int) -> int:
    """What allocatable leaves out of ``capacity`` for ``signal`` (0 without a threshold)."""
    threshold = thresholds.get(signal)
    return 0 if threshold is None else min(threshold.limit(capacity), capacity)
