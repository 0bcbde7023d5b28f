"""Int-or-percent resolution shared by Deployments, DaemonSets and disruption budgets."""

from __future__ import annotations

import pytest

from kubeprov.controllers.intstr import scaled_value


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 10, True, 3), ("3", 10, False, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("0%", 7, True, 0),
])
def test_ints_are_kept_and_percentages_rounded_as_asked(value: int | str, total: int, up: bool, expected: int) -> None:
    assert scaled_value(value, total, up) == expected


def test_an_unset_value_takes_the_default() -> None:
    assert scaled_value(None, 8, True, default="25%") == 2
    assert scaled_value(None, 8, True, default=1) == 1


@pytest.mark.parametrize("value", ["x", "a%", "1.5"])
def test_invalid_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="invalid value for IntOrString"):
        scaled_value(value, 10, True)
