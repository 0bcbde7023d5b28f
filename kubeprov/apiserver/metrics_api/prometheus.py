"""Samples from Prometheus text exposition, enough for the kubelet's ``/metrics/resource``.

Each sample line is ``name{label="value",...} value [timestamp-ms]``; comments, blank lines and
malformed lines are skipped (a broken line must not hide a node's other metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    value: float
    timestamp_ms: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


def _parse_labels(text: str, start: int) -> tuple[dict[str, str], int]:
    """Labels from just after ``{``; returns them and the index after ``}``."""
    labels: dict[str, str] = {}
    i = start
    while True:
        while i < len(text) and text[i] in " ,":
            i += 1
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        eq = text.index("=", i)
        key = text[i:eq].strip()
        i = eq + 1
        while text[i] == " ":
            i += 1
        if text[i] != '"':
            raise ValueError("label value must be quoted")
        i += 1
        value: list[str] = []
        while text[i] != '"':
            if text[i] == "\\":
                value.append(_ESCAPES.get(text[i + 1], "\\" + text[i + 1]))
                i += 2
            else:
                value.append(text[i])
                i += 1
        labels[key] = "".join(value)
        i += 1


def _parse_value(text: str) -> float:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    return float(text)


def parse_line(line: str) -> Sample | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    try:
        brace = line.find("{")
        space = line.find(" ")
        if brace != -1 and (space == -1 or brace < space):
            name = line[:brace]
            labels, end = _parse_labels(line, brace + 1)
            rest = line[end:].split()
        else:
            name, *rest = line.split()
            labels = {}
        if not rest:
            return None
        timestamp = int(rest[1]) if len(rest) > 1 else None
        return Sample(name.strip(), _parse_value(rest[0]), timestamp, labels)
    except (ValueError, IndexError):
        return None


def parse_text(text: str) -> list[Sample]:
    return [s for s in map(parse_line, text.splitlines()) if s is not None]
