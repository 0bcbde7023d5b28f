"""``resource.Quantity``: exact fixed-point amounts such as ``100m``, ``1.5Gi`` or ``2e3``.

Values are held as exact fractions. Parsing, rounding (up, to a nanounit, away from zero) and
the canonical string follow Kubernetes' ``k8s.io/apimachinery/pkg/api/resource``, including
the rule that a quantity keeps the exact text it was parsed from when that text is already
canonical (which is what the API server echoes back).
"""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction
from functools import total_ordering
from math import ceil

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_ERROR = "unable to parse quantity's suffix"
NUMERIC_ERROR = "unable to parse numeric part of quantity"

_MAX_INT64 = 2**63 - 1
_NANO = Fraction(1, 10**9)
_MAX_EXPONENT = 1000


class QuantityError(ValueError):
    """A string that is not a quantity; ``str()`` is Kubernetes' message."""


class Format(StrEnum):
    """How a quantity prefers to be written."""

    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi
    DECIMAL_SI = "DecimalSI"  # 12M


_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXPONENT = {v: k for k, v in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {v: k for k, v in _BINARY_SUFFIXES.items()}
_SUFFIX_CHARS = "eEinumkKMGTP"


def _interpret_suffix(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) for a suffix, or raise the suffix error."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        text = suffix[1:]
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isdigit() and digits.isascii():
            exponent = int(text)
            if -(2**31) <= exponent < 2**31:
                return 10, exponent, Format.DECIMAL_EXPONENT
    raise QuantityError(SUFFIX_ERROR)


def _split(text: str) -> tuple[bool, str, str, str]:
    """Split into (positive, integer digits, fraction digits, suffix)."""
    positive = True
    pos = 0
    end = len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    start = pos
    while pos < end and text[pos] in "0123456789":
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in "0123456789":
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, num, denom, ""
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in "0123456789":
        pos += 1
    if pos < end:
        raise QuantityError(FORMAT_ERROR)
    return positive, num, denom, text[suffix_start:]


def _round_up_to(value: Fraction, unit: Fraction) -> tuple[Fraction, bool]:
    """Round away from zero to a multiple of ``unit``; also say whether it was exact."""
    steps = value / unit
    if steps.denominator == 1:
        return value, True
    magnitude = ceil(abs(steps))
    return (magnitude if value > 0 else -magnitude) * unit, False


@total_ordering
class Quantity:
    """An exact amount plus its preferred format. Immutable; compares by value."""

    __slots__ = ("_text", "amount", "format")

    def __init__(
        self, amount: Fraction | int, fmt: Format = Format.DECIMAL_SI, text: str | None = None
    ) -> None:
        self.amount = Fraction(amount)
        self.format = fmt
        self._text = text

    # ------------------------------------------------------------------ parsing

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse a quantity string, raising :class:`QuantityError` with Kubernetes' message."""
        if text == "":
            raise QuantityError(FORMAT_ERROR)
        if text == "0":
            return cls(0, Format.DECIMAL_SI, "0")
        positive, num, denom, suffix = _split(text)
        base, exponent, fmt = _interpret_suffix(suffix)
        if abs(exponent) > _MAX_EXPONENT:
            # Far beyond any real resource amount; refusing keeps exact arithmetic cheap.
            raise QuantityError(NUMERIC_ERROR)
        try:
            digits = int(num + denom)
        except ValueError:  # more digits than Python converts by default
            raise QuantityError(NUMERIC_ERROR) from None
        magnitude = Fraction(digits, 10 ** len(denom))
        if base == 10:
            magnitude *= Fraction(10) ** exponent
        else:
            magnitude *= 2**exponent
        value = magnitude if positive else -magnitude
        if _uses_fast_path(fmt, exponent, num, denom, digits):
            # Kubernetes keeps such values exactly, and keeps the text when it is canonical.
            keep = _keeps_text(fmt, exponent, num, denom, digits)
            return cls(value, fmt, text if keep else None)
        if magnitude != 0:
            magnitude, _ = _round_up_to(magnitude, _NANO)
        if fmt == Format.BINARY_SI and magnitude > _MAX_INT64:
            magnitude = Fraction(_MAX_INT64)
        if fmt == Format.BINARY_SI and 0 < magnitude < 1:
            fmt = Format.DECIMAL_SI
        return cls(magnitude if positive else -magnitude, fmt)

    # ------------------------------------------------------------------ formatting

    def canonical(self) -> str:
        """The canonical string: ``500m`` for 0.5, ``1Gi`` for 1024Mi, ``1M`` for 1000k."""
        if self.amount == 0:
            return "0"
        fmt = self.format
        if fmt == Format.BINARY_SI:
            if -1024 < self.amount < 1024:
                fmt = Format.DECIMAL_SI
            else:
                rounded, exact = _round_up_to(self.amount, Fraction(1))
                if not exact:
                    fmt = Format.DECIMAL_SI
                else:
                    return _base1024(int(rounded))
        mantissa, exponent = _base10(self.amount)
        if fmt == Format.DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
            return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
        return f"{mantissa}e{exponent}" if exponent != 0 else str(mantissa)

    def __str__(self) -> str:
        """What the API server writes: the parsed text when already canonical, else canonical."""
        return self._text if self._text is not None else self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def to_json(self) -> str:
        """The JSON value (a string) for this quantity."""
        return str(self)

    # ------------------------------------------------------------------ values

    def value(self) -> int:
        """The value rounded up (away from zero) to an integer, like ``Quantity.Value()``."""
        rounded, _ = _round_up_to(self.amount, Fraction(1))
        return int(rounded)

    def milli_value(self) -> int:
        """The value in thousandths, rounded up (away from zero), like ``MilliValue()``."""
        rounded, _ = _round_up_to(self.amount * 1000, Fraction(1))
        return int(rounded)

    def is_zero(self) -> bool:
        """True when the amount is zero."""
        return self.amount == 0

    def sign(self) -> int:
        """-1, 0 or 1."""
        return (self.amount > 0) - (self.amount < 0)

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(self.amount + other.amount, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = other.format if self.amount == 0 else self.format
        return Quantity(self.amount - other.amount, fmt)

    def __neg__(self) -> Quantity:
        return Quantity(-self.amount, self.format)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount == other.amount

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.amount < other.amount

    def __hash__(self) -> int:
        return hash(self.amount)


def _is_finite_decimal(value: Fraction) -> bool:
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _base10(value: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with the exponent a multiple of 3, as Kubernetes prints."""
    if not _is_finite_decimal(value):
        value, _ = _round_up_to(value, _NANO)
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    mantissa = int(value)
    while mantissa != 0 and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3 != 0:
        mantissa *= 10
        exponent -= 1
    return mantissa, exponent


def _base1024(value: int) -> str:
    exponent = 0
    while value != 0 and value % 1024 == 0 and exponent < 60:
        value //= 1024
        exponent += 10
    return f"{value}{_BINARY_BY_EXPONENT.get(exponent, '')}"


def _uses_fast_path(fmt: Format, exponent: int, num: str, denom: str, digits: int) -> bool:
    """Whether Kubernetes stores the value as a scaled int64 (no rounding) after parsing."""
    if fmt == Format.BINARY_SI:
        if exponent < 0 or denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
        multiplier = 2**exponent
    else:
        precision = 18 - (len(num) + len(denom))
        scale = exponent
        multiplier = 1
    if precision < 0:
        return False
    scale -= len(denom)
    if scale < -9:
        return False
    if digits > _MAX_INT64:
        return False
    return digits * multiplier <= _MAX_INT64


def _keeps_text(fmt: Format, exponent: int, num: str, denom: str, digits: int) -> bool:
    """Whether Kubernetes keeps the original text as the quantity's string form."""
    shifted = num + denom
    if fmt == Format.BINARY_SI:
        return exponent % 10 == 0 and (digits & 0x07) != 0
    scale = exponent - len(denom)
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def parse_quantity(text: str) -> Quantity:
    """Parse a quantity string (see :meth:`Quantity.parse`)."""
    return Quantity.parse(text)
