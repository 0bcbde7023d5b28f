"""The string formats a CRD schema may name, and what each accepts.

Kubernetes keeps a fixed list of formats for custom resources and blanks out any other format
before validating (``StripUnsupportedFormatsPostProcess``), so an unknown format is ignored
rather than rejected. Names are compared without dashes, as go-openapi does (``date-time`` is
``datetime``). Integer and number formats (int32, int64, float, double) only document the value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from datetime import date, datetime
from email.utils import parseaddr
from urllib.parse import urlsplit

from kubeprov.api.quantity import QuantityError, parse_quantity

INTEGER_FORMATS = frozenset({"int32", "int64"})
NUMBER_FORMATS = frozenset({"float", "double"})

_BYTE = r"0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5]"
_UUID = r"[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "bsonobjectid": re.compile(r"^[0-9a-fA-F]{24}$"),
    "uuid": re.compile("^" + _UUID % ("[0-9a-f]", "[0-9a-f]") + "$", re.I),
    "uuid3": re.compile("^" + _UUID % ("3", "[0-9a-f]") + "$", re.I),
    "uuid4": re.compile("^" + _UUID % ("4", "[89ab]") + "$", re.I),
    "uuid5": re.compile("^" + _UUID % ("5", "[89ab]") + "$", re.I),
    "isbn10": re.compile(r"^(?:[0-9]{9}X|[0-9]{10})$"),
    "isbn13": re.compile(r"^(?:[0-9]{13})$"),
    "ssn": re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$"),
    "hexcolor": re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"),
    "rgbcolor": re.compile(rf"^rgb\(\s*({_BYTE})\s*,\s*({_BYTE})\s*,\s*({_BYTE})\s*\)$"),
    "creditcard": re.compile(r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|"
                             r"3[47][0-9]{13}|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})$"),
    "hostname": re.compile(r"^(?:[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62}|"
                           r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63})$"),
    "mac": re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$|"
                      r"^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$"),
}
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$")
_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_LONG_DURATION = re.compile(
    r"^(\d+)\s*(ns|nanos?|nanoseconds?|us|µs|micros?|microseconds?|ms|millis?|milliseconds?|s|secs?|seconds?|m|"
    r"mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)$")


def _date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _date_time(value: str) -> bool:
    match = _DATE_TIME.match(value)
    if not match:
        return False
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    return second <= 60


def _duration(value: str) -> bool:
    return value == "0" or bool(_GO_DURATION.match(value) or _LONG_DURATION.match(value.strip()))


def _ip(version: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return ipaddress.ip_address(value).version == version
        except ValueError:
            return False
    return check


def _cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _uri(value: str) -> bool:
    # Go's url.ParseRequestURI: an absolute URI or an absolute path
    if not value or any(c in value for c in " \t\n"):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) or value.startswith("/")


def _email(value: str) -> bool:
    _, address = parseaddr(value)
    return bool(address) and "@" in address and not address.startswith("@") and not address.endswith("@")


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _quantity(value: str) -> bool:
    try:
        parse_quantity(value)
    except (QuantityError, ValueError):
        return False
    return True


def _isbn(value: str) -> bool:
    cleaned = re.sub(r"[\s-]", "", value)
    return bool(_PATTERNS["isbn10"].match(cleaned) or _PATTERNS["isbn13"].match(cleaned))


def _pattern(name: str, clean: bool = False) -> Callable[[str], bool]:
    pattern = _PATTERNS[name]

    def check(value: str) -> bool:
        return bool(pattern.match(re.sub(r"[\s-]", "", value) if clean else value))
    return check


CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": _pattern("bsonobjectid"),
    "uri": _uri,
    "email": _email,
    "hostname": _pattern("hostname"),
    "ipv4": _ip(4),
    "ipv6": _ip(6),
    "cidr": _cidr,
    "mac": _pattern("mac"),
    "uuid": _pattern("uuid"),
    "uuid3": _pattern("uuid3"),
    "uuid4": _pattern("uuid4"),
    "uuid5": _pattern("uuid5"),
    "isbn": _isbn,
    "isbn10": _pattern("isbn10", clean=True),
    "isbn13": _pattern("isbn13", clean=True),
    "creditcard": _pattern("creditcard", clean=True),
    "ssn": _pattern("ssn"),
    "hexcolor": _pattern("hexcolor"),
    "rgbcolor": _pattern("rgbcolor"),
    "byte": _byte,
    "password": lambda value: True,
    "date": _date,
    "duration": _duration,
    "datetime": _date_time,
    "quantity": _quantity,
}


def normalized(name: str) -> str:
    """go-openapi compares format names without dashes."""
    return name.replace("-", "")


def effective_format(schema_type: str, fmt: str) -> str:
    """The format Kubernetes keeps for validation ("" when it is stripped as unsupported)."""
    if not fmt:
        return ""
    if schema_type in ("", "string"):
        return fmt if normalized(fmt) in CHECKS else ""
    if schema_type == "integer":
        return fmt if fmt in INTEGER_FORMATS else ""
    if schema_type == "number":
        return fmt if fmt in NUMBER_FORMATS else ""
    return ""


def is_string_format(fmt: str) -> bool:
    return normalized(fmt) in CHECKS


def valid(fmt: str, value: str) -> bool:
    """Whether ``value`` is a valid ``fmt`` string (unknown formats accept anything)."""
    check = CHECKS.get(normalized(fmt))
    return check is None or check(value)
