"""Prometheus text exposition (format 0.0.4) written the way the Go client writes it, so scrapers and people
comparing with a real kubelet see the same numbers (``1.767225601e+09``, ``+Inf``) and escaping."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Sequence[tuple[str, str]]


def go_float(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form from 1e+06 and below 1e-04."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exp10 = len(digits) + int(digits_tuple.exponent) - 1  # type: ignore[arg-type]
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    point = exp10 + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def sample(name: str, labels: Labels, value: float, timestamp_ms: int | None = None) -> str:
    """One sample line; labels in the order given (callers sort them like the Go client)."""
    label_text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
    line = f"{name}{{{label_text}}} {go_float(value)}" if labels else f"{name} {go_float(value)}"
    return f"{line} {timestamp_ms}\n" if timestamp_ms is not None else line + "\n"


def family(name: str, help_text: str, kind: str, samples: Iterable[str]) -> str:
    """HELP and TYPE lines then the samples (the Go client writes HELP/TYPE even with no samples)."""
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {kind}\n" + "".join(samples)


def histogram(name: str, labels: Labels, buckets: Sequence[float], counts: Sequence[int], total: float,
              count: int) -> str:
    """The ``_bucket`` (cumulative, ``le`` last), ``_sum`` and ``_count`` lines of one histogram."""
    lines, running = [], 0
    for bound, n in zip(buckets, counts, strict=True):
        running += n
        lines.append(sample(f"{name}_bucket", [*labels, ("le", go_float(bound))], running))
    lines.append(sample(f"{name}_bucket", [*labels, ("le", "+Inf")], count))
    lines.append(sample(f"{name}_sum", labels, total))
    lines.append(sample(f"{name}_count", labels, count))
    return "".join(lines)
