"""RFC3339Nano stamps as the shim writes them (Go's format, trailing zeros trimmed) and their parsing."""

from __future__ import annotations

from kubeprov.kubelet.runtime.shim import rfc3339nano, rfc3339nano_ns


def test_a_stamp_parses_back_to_its_nanoseconds() -> None:
    for ns in (1_795_400_474_000_000_000, 1_795_400_474_650_000_000, 1_795_400_474_654_329_716):
        assert rfc3339nano_ns(rfc3339nano(ns=ns)) == ns


def test_trimmed_fractions_order_by_time_not_by_text() -> None:
    earlier, later = "2026-11-23T02:21:14.65Z", "2026-11-23T02:21:14.654Z"
    assert earlier > later  # as text the shorter fraction sorts last
    assert rfc3339nano_ns(earlier) < rfc3339nano_ns(later)
    assert rfc3339nano_ns("2026-11-23T02:21:14Z") < rfc3339nano_ns(earlier)
