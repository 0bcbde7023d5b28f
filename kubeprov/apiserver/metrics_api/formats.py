"""How metrics-server writes usage: Go's canonical quantities, metav1.Duration windows, RFC 3339 stamps."""

from __future__ import annotations

from datetime import UTC, datetime

_DECIMAL = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def decimal_quantity(mantissa: int, exponent: int) -> str:
    """``mantissa * 10**exponent`` in canonical DecimalSI form (exponent a multiple of 3, integer mantissa)."""
    if mantissa == 0:
        return "0"
    while exponent % 3:
        mantissa, exponent = mantissa * 10, exponent - 1
    while mantissa % 1000 == 0 and exponent + 3 in _DECIMAL:
        mantissa, exponent = mantissa // 1000, exponent + 3
    return f"{mantissa}{_DECIMAL[exponent]}"


def cpu_quantity(nanocores: int) -> str:
    """resource.NewScaledQuantity(nanocores, resource.Nano).String(): "123456n", "250m", "2"."""
    return decimal_quantity(max(nanocores, 0), -9)


def memory_quantity(num_bytes: int) -> str:
    """resource.NewQuantity(bytes, resource.BinarySI).String(): "2048Ki"; below 1Ki the decimal form."""
    num_bytes = max(num_bytes, 0)
    if num_bytes < 1024:
        return decimal_quantity(num_bytes, 0)
    power = 0
    while num_bytes % 1024 == 0 and power + 1 < len(_BINARY):
        num_bytes, power = num_bytes // 1024, power + 1
    return f"{num_bytes}{_BINARY[power]}"


def _fraction(whole: int, frac: int, digits: int) -> str:
    text = str(whole)
    if frac:
        text += "." + str(frac).rjust(digits, "0").rstrip("0")
    return text


def go_duration(seconds: float) -> str:
    """time.Duration.String(): "15s", "1.5s", "1m30s", "250ms"."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns // 1_000, ns % 1_000, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns // 1_000_000, ns % 1_000_000, 6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return sign + text + _fraction(rest // 10**9, rest % 10**9, 9) + "s"


def rfc3339(timestamp: float) -> str:
    """metav1.Time as JSON: whole seconds, UTC."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
