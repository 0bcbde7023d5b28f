"""Type-tolerant helpers shared by the per-kind strategies.

Request bodies are arbitrary JSON, so every strategy reads them through these helpers: a field
of the wrong JSON type is treated as absent (or reported) instead of raising, which keeps the
server from answering 500 on malformed input. The validators return Kubernetes-worded
:class:`~kubeprov.api.fielderrors.FieldError` lists.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from math import ceil
from typing import Any

from kubeprov.api.fielderrors import (
    IMMUTABLE_MSG,
    NEGATIVE_MSG,
    OMIT,
    ErrorType,
    FieldError,
    Path,
    go_quote,
    invalid,
    required,
    type_invalid,
)
from kubeprov.api.labels import Selector, SelectorError, from_label_selector, validate_label_selector
from kubeprov.api.names import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    max_len_error,
    regex_error,
    validate_labels,
)
from kubeprov.api.quantity import Quantity, QuantityError, parse_quantity

Obj = dict[str, Any]

MAX_INT32 = 2**31 - 1


# --------------------------------------------------------------------------- reading


def as_map(value: Any) -> Obj:
    """``value`` when it is a JSON object, else an empty (throw-away) dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """``value`` when it is a string, else ``""``."""
    return value if isinstance(value, str) else ""


def is_int(value: Any) -> bool:
    """True for JSON integers (booleans are not integers here, unlike in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: Any, fallback: int = 0) -> int:
    """``value`` when it is an integer, else ``fallback``."""
    return value if is_int(value) else fallback


def dig(obj: Any, *keys: str) -> Any:
    """``obj[k1][k2]...`` or ``None`` when a level is missing or not an object."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def maps(items: Any) -> Iterable[tuple[int, Obj]]:
    """Index and value of the JSON objects in a list (other items are skipped)."""
    for i, item in enumerate(as_list(items)):
        if isinstance(item, dict):
            yield i, item


def str_map(value: Any) -> dict[str, str]:
    """The string-valued entries of a JSON object."""
    return {k: v for k, v in as_map(value).items() if isinstance(v, str)}


# --------------------------------------------------------------------------- defaulting


def sub(obj: Obj, key: str) -> Obj | None:
    """The object at ``obj[key]``, created empty when missing or null; None when of another type."""
    value = obj.get(key)
    if value is None:
        value = obj[key] = {}
    return value if isinstance(value, dict) else None


def default(obj: Obj, key: str, value: Any) -> None:
    """Set ``obj[key]`` when missing or null (Go's nil-pointer defaulting)."""
    if obj.get(key) is None:
        obj[key] = copy.deepcopy(value)


def default_str(obj: Obj, key: str, value: str) -> None:
    """Set ``obj[key]`` when missing, null or empty (Go's ``== ""`` defaulting)."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def default_int(obj: Obj, key: str, value: int) -> None:
    """Set ``obj[key]`` when missing, null or 0 (Go's zero-int defaulting)."""
    if obj.get(key) in (None, 0) and not isinstance(obj.get(key), bool):
        obj[key] = value


def keep_old(new: Obj, old: Obj, key: str) -> None:
    """Make ``new[key]`` what it was in ``old`` (absent if it was absent)."""
    if key in old:
        new[key] = copy.deepcopy(old[key])
    else:
        new.pop(key, None)


# --------------------------------------------------------------------------- scalar checks


def inclusive_range_error(lo: int, hi: int) -> str:
    """Kubernetes' ``InclusiveRangeError``."""
    return f"must be between {lo} and {hi}, inclusive"


def check_int(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> int | None:
    """The integer at ``obj[key]`` (None when absent); a non-integer is reported."""
    value = obj.get(key)
    if value is None:
        return None
    if not is_int(value):
        errs.append(type_invalid(path, value, "must be an integer"))
        return None
    return value


def check_nonneg(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> int | None:
    """An optional integer that must not be negative (``ValidateNonnegativeField``)."""
    value = check_int(obj, key, path, errs)
    if value is not None and value < 0:
        errs.append(invalid(path, value, NEGATIVE_MSG))
    return value


def check_str(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> str:
    """The string at ``obj[key]`` ("" when absent); another type is reported."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        errs.append(type_invalid(path, value, "must be a string"))
        return ""
    return value


def check_bool(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> bool | None:
    """The boolean at ``obj[key]``; another type is reported."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        errs.append(type_invalid(path, value, "must be a boolean"))
        return None
    return value


def check_map(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> Obj:
    """The object at ``obj[key]`` ({} when absent); another type is reported."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errs.append(type_invalid(path, value, "must be an object"))
        return {}
    return value


def check_list(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> list[Any]:
    """The array at ``obj[key]`` ([] when absent); another type is reported."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        errs.append(type_invalid(path, value, "must be an array"))
        return []
    return value


def check_str_map(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> dict[str, str]:
    """A ``map[string]string`` field; non-string values are reported and dropped."""
    out: dict[str, str] = {}
    for k, v in check_map(obj, key, path, errs).items():
        if isinstance(v, str):
            out[k] = v
        else:
            errs.append(type_invalid(path.key(k), v, "must be a string"))
    return out


def enum(value: Any, path: Path, supported: Iterable[str], errs: list[FieldError], *, required_: bool = True) -> None:
    """``value`` must be one of ``supported`` (reported ``Required`` when empty)."""
    from kubeprov.api.fielderrors import not_supported

    if value in (None, ""):
        if required_:
            errs.append(required(path, ""))
        return
    if value not in supported:
        errs.append(not_supported(path, value, supported))


def msgs_to_errors(path: Path, value: Any, messages: Iterable[str]) -> list[FieldError]:
    """One ``Invalid`` error per message, as Kubernetes wraps its string validators."""
    return [invalid(path, value, msg) for msg in messages]


def dns_label(value: str, path: Path) -> list[FieldError]:
    return msgs_to_errors(path, value, is_dns1123_label(value))


def dns_subdomain(value: str, path: Path) -> list[FieldError]:
    return msgs_to_errors(path, value, is_dns1123_subdomain(value))


def dns1035_label(value: str, path: Path) -> list[FieldError]:
    return msgs_to_errors(path, value, is_dns1035_label(value))


def qualified_name(value: str, path: Path) -> list[FieldError]:
    return msgs_to_errors(path, value, is_qualified_name(value))


def label_value(value: str, path: Path) -> list[FieldError]:
    return msgs_to_errors(path, value, is_valid_label_value(value))


def labels_map(value: Any, path: Path) -> list[FieldError]:
    """A ``map[string]string`` of labels (type errors included)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [type_invalid(path, value, "must be an object")]
    return validate_labels(value, path)


def path_segment_name(value: str) -> list[str]:
    """``IsValidPathSegmentName``: usable as one URL path segment."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def immutable(new: Any, old: Any, path: Path) -> list[FieldError]:
    """``ValidateImmutableField``: the value may not change on update."""
    if new == old:
        return []
    return [invalid(path, new if new is not None else "null", IMMUTABLE_MSG)]


# --------------------------------------------------------------------------- ports


_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+$")
_HAS_LETTER = re.compile(r"[a-z]")


def port_num_errors(port: int) -> list[str]:
    """``IsValidPortNum``: 1-65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def port_name_errors(name: str) -> list[str]:
    """``IsValidPortName`` (IANA_SVC_NAME)."""
    errs: list[str] = []
    if len(name) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARS.match(name) or "\n" in name:
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _HAS_LETTER.search(name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def port_num_or_name(value: Any, path: Path) -> list[FieldError]:
    """``ValidatePortNumOrName`` for an int-or-string port."""
    if is_int(value):
        return msgs_to_errors(path, value, port_num_errors(value))
    if isinstance(value, str):
        return msgs_to_errors(path, value, port_name_errors(value))
    return [type_invalid(path, value, "must be an integer or a string")]


# --------------------------------------------------------------------------- IPs

_SLOPPY_V4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``ParseIPSloppy``: like ``net.ParseIP`` but IPv4 octets may have leading zeros."""
    if not isinstance(value, str) or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        pass
    m = _SLOPPY_V4.match(value)
    if m and all(int(p) <= 255 for p in m.groups()):
        return ipaddress.IPv4Address(".".join(str(int(p)) for p in m.groups()))
    return None


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Go's ``ParseCIDRSloppy`` (host bits may be set)."""
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    addr, _, bits = value.partition("/")
    ip = parse_ip(addr)
    if ip is None or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return None
    try:
        return ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError:
        return None


def ip_errors(value: Any, path: Path) -> list[FieldError]:
    """``IsValidIP``."""
    if parse_ip(value) is None:
        return [invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def cidr_errors(value: Any, path: Path) -> list[FieldError]:
    """``IsValidCIDR``."""
    if parse_cidr(value) is None:
        return [invalid(path, value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


# --------------------------------------------------------------------------- quantities


def quantity_of(value: Any) -> Quantity | None:
    """A quantity from a JSON string or number (Kubernetes accepts both), None if unparseable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    try:
        return parse_quantity(text)
    except (QuantityError, ValueError, ArithmeticError):
        return None


def quantity_error(value: Any, path: Path) -> FieldError | None:
    """Why ``value`` is not a quantity (the decoder's message), or None."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return type_invalid(path, value, "must be a quantity string")
    text = value if isinstance(value, str) else str(value)
    try:
        parse_quantity(text)
    except QuantityError as err:
        return invalid(path, value, str(err))
    except (ValueError, ArithmeticError):
        return invalid(path, value, "unable to parse quantity's suffix")
    return None


def canonical_quantity(value: Any) -> Any:
    """Round up to milli-units and re-serialize as the API server stores quantities."""
    q = quantity_of(value)
    if q is None:
        return value
    milli = q.amount * 1000
    if milli.denominator != 1:
        magnitude = Fraction(ceil(abs(milli)), 1000)
        q = Quantity(magnitude if q.amount > 0 else -magnitude, q.format)
    return str(q)


def canonicalize_resources(obj: Any, *keys: str) -> None:
    """Canonicalize each quantity of the resource lists ``obj[key]``."""
    if not isinstance(obj, dict):
        return
    for key in keys:
        rl = obj.get(key)
        if isinstance(rl, dict):
            for name in list(rl):
                rl[name] = canonical_quantity(rl[name])


def resource_list(value: Any, path: Path, errs: list[FieldError]) -> dict[str, Quantity]:
    """Parse a ``ResourceList``; unparseable entries are reported and left out."""
    out: dict[str, Quantity] = {}
    if value is None:
        return out
    if not isinstance(value, dict):
        errs.append(type_invalid(path, value, "must be an object"))
        return out
    for name, raw in value.items():
        err = quantity_error(raw, path.key(name))
        if err is not None:
            errs.append(err)
            continue
        q = quantity_of(raw)
        if q is not None:
            out[name] = q
    return out


# --------------------------------------------------------------------------- int-or-percent

_PERCENT = re.compile(r"^[0-9]+%$")


def percent_errors(value: str) -> list[str]:
    """``IsValidPercent``."""
    if _PERCENT.match(value) and "\n" not in value:
        return []
    return [
        regex_error("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", "1%", "93%")
    ]


def int_or_percent(value: Any, path: Path) -> list[FieldError]:
    """``ValidatePositiveIntOrPercent``: a non-negative integer or ``N%``."""
    if isinstance(value, str):
        return msgs_to_errors(path, value, percent_errors(value))
    if is_int(value):
        return [invalid(path, value, NEGATIVE_MSG)] if value < 0 else []
    return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]


def int_or_percent_value(value: Any) -> int:
    """The number in ``5`` or ``"5%"`` (0 when unparseable), like ``getIntOrPercentValue``."""
    if is_int(value):
        return value
    if isinstance(value, str):
        if not percent_errors(value):
            return int(value[:-1])
        if re.fullmatch(r"[+-]?[0-9]+", value):
            return int(value)
    return 0


def not_more_than_100_percent(value: Any, path: Path) -> list[FieldError]:
    """``IsNotMoreThan100Percent``."""
    if isinstance(value, str) and not percent_errors(value) and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


# --------------------------------------------------------------------------- label selectors


def _clean_selector(sel: Obj, path: Path, errs: list[FieldError]) -> Obj:
    """A copy of a LabelSelector with only well-typed parts (type errors reported)."""
    clean: Obj = {}
    match_labels = check_str_map(sel, "matchLabels", path.child("matchLabels"), errs)
    if "matchLabels" in sel and sel["matchLabels"] is not None:
        clean["matchLabels"] = match_labels
    exprs = []
    for i, expr in enumerate(check_list(sel, "matchExpressions", path.child("matchExpressions"), errs)):
        epath = path.child("matchExpressions").index(i)
        if not isinstance(expr, dict):
            errs.append(type_invalid(epath, expr, "must be an object"))
            continue
        values = check_list(expr, "values", epath.child("values"), errs)
        good_values = []
        for j, v in enumerate(values):
            if isinstance(v, str):
                good_values.append(v)
            else:
                errs.append(type_invalid(epath.child("values").index(j), v, "must be a string"))
        exprs.append(
            {
                "key": check_str(expr, "key", epath.child("key"), errs),
                "operator": check_str(expr, "operator", epath.child("operator"), errs),
                "values": good_values,
            }
        )
    if exprs:
        clean["matchExpressions"] = exprs
    return clean


def label_selector(
    sel: Any, path: Path, *, allow_invalid_values: bool = False
) -> tuple[list[FieldError], Selector | None]:
    """Validate a ``metav1.LabelSelector`` and convert it (None when absent or unusable)."""
    if sel is None:
        return [], None
    if not isinstance(sel, dict):
        return [type_invalid(path, sel, "must be an object")], None
    errs: list[FieldError] = []
    clean = _clean_selector(sel, path, errs)
    errs.extend(validate_label_selector(clean, path, allow_invalid_label_values=allow_invalid_values))
    try:
        return errs, from_label_selector(clean)
    except (SelectorError, ValueError, TypeError):
        return errs, None


def selector_string(sel: Any) -> str:
    """The ``labelSelector=`` form of a LabelSelector (as in ``Scale.status.selector``)."""
    _, selector = label_selector(sel, Path("selector"))
    return str(selector) if selector is not None else ""


def is_empty_selector(sel: Any) -> bool:
    """A LabelSelector with neither matchLabels nor matchExpressions."""
    sel = as_map(sel)
    return not as_map(sel.get("matchLabels")) and not as_list(sel.get("matchExpressions"))


# --------------------------------------------------------------------------- misc


def guarded(fn: Callable[[], list[FieldError]], path: str = "") -> list[FieldError]:
    """Run a validator; a crash on unexpected input becomes one ``Invalid`` error, never a 500."""
    try:
        return fn()
    except (TypeError, AttributeError, KeyError, ValueError, IndexError, ArithmeticError, RecursionError) as err:
        return [invalid(path or "<root>", "<unparseable>", f"malformed object: {type(err).__name__}")]


def dedupe(errs: Iterable[FieldError]) -> list[FieldError]:
    """Drop repeated errors, keeping the first occurrence order."""
    seen: set[str] = set()
    out: list[FieldError] = []
    for err in errs:
        key = str(err)
        if key not in seen:
            seen.add(key)
            out.append(err)
    return out


_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def config_key_errors(key: str) -> list[str]:
    """``IsConfigMapKey``: keys of ConfigMaps and Secrets (they become file names)."""
    errs: list[str] = []
    if len(key) > 253:
        errs.append(max_len_error(253))
    if not _CONFIG_KEY.match(key) or "\n" in key:
        errs.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                "[-._a-zA-Z0-9]+",
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if key == ".":
        errs.append("must not be '.'")
    elif key == "..":
        errs.append("must not be '..'")
    elif key.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def local_descending_path(target: str, path: Path) -> list[FieldError]:
    """``validateLocalDescendingPath``: relative, without ``..`` elements."""
    errs: list[FieldError] = []
    if target.startswith("/"):
        errs.append(invalid(path, target, "must be a relative path"))
    errs.extend(no_backsteps(target, path))
    return errs


def no_backsteps(target: str, path: Path) -> list[FieldError]:
    """``validatePathNoBacksteps``."""
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid(path, target, "must not contain '..'")]
    return []


def local_non_reserved_path(target: str, path: Path) -> list[FieldError]:
    """``ValidateLocalNonReservedPath``."""
    errs = local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid(path, target, "must not start with '..'"))
    return errs


# --------------------------------------------------------------------------- Go-syntax values
#
# Kubernetes prints a composite bad value with Go's ``%#v`` (``map[string]string{"app":"web"}``),
# not as JSON. These render the common ones; the error keeps the text in its detail (value OMIT).


def go_str_map(value: Any) -> str:
    """``%#v`` of a ``map[string]string`` (nil when absent)."""
    if not isinstance(value, dict):
        return "map[string]string(nil)"
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(as_str(v))}" for k, v in sorted(value.items()))
    return "map[string]string{" + items + "}"


def go_str_list(value: Any, type_name: str = "[]string") -> str:
    """``%#v`` of a slice of strings (or string-kinded values)."""
    if not isinstance(value, list):
        return f"{type_name}(nil)"
    return type_name + "{" + ", ".join(go_quote(as_str(v)) for v in value) + "}"


def go_label_selector(value: Any) -> str:
    """``%#v`` of a ``metav1.LabelSelector`` (as Kubernetes shows selectors in errors)."""
    sel = as_map(value)
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        parts = [
            "v1.LabelSelectorRequirement{Key:"
            + go_quote(as_str(as_map(e).get("key")))
            + ", Operator:"
            + go_quote(as_str(as_map(e).get("operator")))
            + ", Values:"
            + go_str_list(as_map(e).get("values"))
            + "}"
            for e in exprs
        ]
        rendered = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        rendered = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{go_str_map(sel.get('matchLabels'))}, MatchExpressions:{rendered}}}"


def go_value_error(kind: ErrorType, path: Path | str, rendered: str, detail: str) -> FieldError:
    """An error whose bad value is already rendered in Go syntax."""
    body = f"{rendered}: {detail}" if detail else rendered
    return FieldError(kind, str(path), OMIT, body)


def go_invalid(path: Path | str, rendered: str, detail: str) -> FieldError:
    """``field.Invalid`` with a Go-syntax value."""
    return go_value_error(ErrorType.INVALID, path, rendered, detail)
