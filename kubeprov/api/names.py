"""Name and metadata validation with the API server's exact messages.

The string validators return lists of detail strings (empty when valid), like Kubernetes'
``k8s.io/apimachinery/pkg/util/validation`` helpers; callers wrap each one in a
:class:`~kubeprov.api.fielderrors.FieldError` at the right path. ``validate_object_meta`` does
that wrapping for ``metadata`` itself.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from random import Random
from typing import Any

from kubeprov.api.fielderrors import (
    IMMUTABLE_MSG,
    NEGATIVE_MSG,
    FieldError,
    Path,
    forbidden,
    go_quote,
    invalid,
    required,
    too_long,
    type_invalid,
)

# A name validator takes the name (or generateName prefix) and whether it is a prefix.
NameValidator = Callable[[str, bool], list[str]]

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_QNAME_CHAR = "[A-Za-z0-9]"
_QNAME_EXT_CHAR = "[-A-Za-z0-9_.]"
_QUALIFIED_NAME_FMT = "(" + _QNAME_CHAR + _QNAME_EXT_CHAR + "*)?" + _QNAME_CHAR
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)

_DNS1123_LABEL_RE = re.compile("^" + _DNS1123_LABEL_FMT + "$")
_DNS1123_SUBDOMAIN_RE = re.compile("^" + _DNS1123_SUBDOMAIN_FMT + "$")
_DNS1035_LABEL_RE = re.compile("^" + _DNS1035_LABEL_FMT + "$")
_QUALIFIED_NAME_RE = re.compile("^" + _QUALIFIED_NAME_FMT + "$")
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")

# Kubernetes' alphabet for generated name suffixes: no vowels (no accidental words) and no
# easily confused characters.
GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_NAME_RANDOM_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = 63 - GENERATE_NAME_RANDOM_LENGTH

FINALIZER_ORPHAN = "orphan"
FINALIZER_FOREGROUND = "foregroundDeletion"
STANDARD_FINALIZERS = frozenset({"kubernetes", FINALIZER_ORPHAN, FINALIZER_FOREGROUND})


def _fullmatch(pattern: re.Pattern[str], value: str) -> bool:
    # ``$`` in Python also matches before a trailing newline; Go's does not.
    return "\n" not in value and pattern.match(value) is not None


def _byte_len(value: str) -> int:
    return len(value.encode("utf-8"))


def max_len_error(length: int) -> str:
    """The detail for a string longer than ``length`` characters."""
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """The detail for a string not matching ``fmt``, with examples as Kubernetes phrases it."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # Each example is followed by ", " and joined with " or ", which gives Kubernetes'
    # characteristic double space: "(e.g. 'my-name',  or '123-abc', regex used ...)".
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def empty_error() -> str:
    """The detail for an empty string where one is required."""
    return "must be non-empty"


def is_dns1123_label(value: str) -> list[str]:
    """RFC 1123 label: at most 63 lowercase alphanumerics or '-', alphanumeric at both ends."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _fullmatch(_DNS1123_LABEL_RE, value):
        if _fullmatch(_DNS1123_SUBDOMAIN_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """RFC 1123 subdomain: dot-separated labels, at most 253 characters."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _fullmatch(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """RFC 1035 label: like an RFC 1123 label but starting with a letter (Service names)."""
    errs: list[str] = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _fullmatch(_DNS1035_LABEL_RE, value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key: ``name`` or ``prefix/name`` with a DNS-subdomain prefix and a 63-char name."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if prefix == "":
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if name == "":
        errs.append("name part " + empty_error())
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _fullmatch(_QUALIFIED_NAME_RE, name):
        errs.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or up to 63 alphanumerics, '-', '_' or '.', alphanumeric at the ends."""
    errs: list[str] = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _fullmatch(_LABEL_VALUE_RE, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_valid_path_segment_name(value: str) -> list[str]:
    """A name usable as one URL path segment: not ``.`` or ``..``, no ``/`` and no ``%``."""
    for illegal in (".", ".."):
        if value == illegal:
            return [f"may not be '{illegal}'"]
    return is_valid_path_segment_prefix(value)


def is_valid_path_segment_prefix(value: str) -> list[str]:
    """A generateName prefix for path-segment names: no ``/`` and no ``%``."""
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def _mask_trailing_dash(name: str) -> str:
    # A generateName prefix may end in '-' because random characters follow; Kubernetes
    # checks it by replacing the last two characters with one letter.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """Name validator for most kinds (ConfigMap, Deployment, Pod...)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """Name validator for Namespaces and other label-named kinds."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """Name validator for Services."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def validate_path_segment_name(name: str, prefix: bool) -> list[str]:
    """Name validator for kinds whose names only need to be path segments (RBAC, CRs...)."""
    return is_valid_path_segment_prefix(name) if prefix else is_valid_path_segment_name(name)


def generate_name(base: str, rng: Random | None = None) -> str:
    """The name the server gives an object created with ``generateName: base``.

    The prefix is cut to 58 characters and 5 random characters from Kubernetes' alphabet are
    appended. Pass ``rng`` for reproducible names (tests); the default uses ``secrets``.
    """
    base = base[:MAX_GENERATED_NAME_LENGTH]
    if rng is None:
        suffix = "".join(secrets.choice(GENERATE_NAME_ALPHABET) for _ in range(GENERATE_NAME_RANDOM_LENGTH))
    else:
        suffix = "".join(rng.choice(GENERATE_NAME_ALPHABET) for _ in range(GENERATE_NAME_RANDOM_LENGTH))
    return base + suffix


# --------------------------------------------------------------------------- metadata


def validate_labels(labels: Mapping[str, Any] | None, path: Path) -> list[FieldError]:
    """Each key must be a qualified name and each value a valid label value.

    As in Kubernetes the errors are reported at the map's path, not at each key.
    """
    errs: list[FieldError] = []
    for key, value in (labels or {}).items():
        errs.extend(validate_label_name(key, path))
        if not isinstance(value, str):
            errs.append(invalid(path, value, "must be a string"))
            continue
        errs.extend(invalid(path, value, msg) for msg in is_valid_label_value(value))
    return errs


def validate_label_name(name: str, path: Path) -> list[FieldError]:
    """A label key must be a qualified name."""
    return [invalid(path, name, msg) for msg in is_qualified_name(name)]


def validate_annotations(annotations: Mapping[str, Any] | None, path: Path) -> list[FieldError]:
    """Keys are case-insensitive qualified names; keys and values together are at most 256 KiB."""
    errs: list[FieldError] = []
    total = 0
    for key, value in (annotations or {}).items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(key.lower()))
        total += _byte_len(key) + (_byte_len(value) if isinstance(value, str) else 0)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_finalizers(
    finalizers: list[Any] | None, path: Path, *, kube_rules: bool = True
) -> list[FieldError]:
    """Finalizers are qualified names; ``orphan`` and ``foregroundDeletion`` exclude each other.

    With ``kube_rules`` (built-in kinds) a finalizer that is not a standard one must also be
    domain-qualified (contain a ``/``).
    """
    errs: list[FieldError] = []
    names = [f for f in finalizers or [] if isinstance(f, str)]
    for name in names:
        msgs = is_qualified_name(name)
        errs.extend(invalid(path, name, msg) for msg in msgs)
        if kube_rules and not msgs and name not in STANDARD_FINALIZERS and "/" not in name:
            errs.append(
                invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified")
            )
    if FINALIZER_ORPHAN in names and FINALIZER_FOREGROUND in names:
        errs.append(
            invalid(
                path,
                list(finalizers or []),
                f"finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND} cannot be both set",
            )
        )
    return errs


def _api_version_parts(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, _, version = api_version.partition("/")
        if "/" in version:
            return "", ""
        return group, version
    return "", api_version


def validate_owner_references(refs: list[Any] | None, path: Path) -> list[FieldError]:
    """Owner references need apiVersion, kind, name and uid, and at most one controller."""
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs or []:
        if not isinstance(ref, dict):
            errs.append(invalid(path, ref, "must be an object"))
            continue
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        group, version = _api_version_parts(api_version)
        if not version:
            errs.append(invalid(path.child("apiVersion"), api_version, "version must not be empty"))
        if not kind:
            errs.append(invalid(path.child("kind"), kind, "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(path.child("name"), str(ref.get("name") or ""), "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(path.child("uid"), str(ref.get("uid") or ""), "uid must not be empty"))
        if group == "" and version == "v1" and kind == "Event":
            errs.append(invalid(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                errs.append(
                    invalid(
                        path,
                        refs,
                        "Only one reference can have Controller set to true. "
                        f'Found "true" in references for {first_controller} and {current}',
                    )
                )
            else:
                first_controller = current
    return errs


def validate_object_meta(
    meta: Mapping[str, Any] | None,
    namespaced: bool,
    path: Path | None = None,
    name_validator: NameValidator = name_is_dns_subdomain,
    *,
    kube_finalizer_rules: bool = True,
) -> list[FieldError]:
    """Validate ``metadata`` on create, as the API server does for every kind.

    ``name_validator`` is the kind's name rule (default: DNS subdomain). ``generateName`` is
    checked as a prefix. Namespaced kinds need a namespace (a DNS label); cluster-scoped kinds
    must not have one.
    """
    path = path if path is not None else Path("metadata")
    meta = meta or {}
    errs: list[FieldError] = []
    for key in ("name", "generateName", "namespace"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            errs.append(type_invalid(path.child(key), value, "must be a string"))
    if errs:
        return errs
    generate = meta.get("generateName") or ""
    if generate:
        errs.extend(
            invalid(path.child("generateName"), generate, msg) for msg in name_validator(generate, True)
        )
    name = meta.get("name") or ""
    if not name:
        errs.append(required(path.child("name"), "name or generateName is required"))
    else:
        errs.extend(invalid(path.child("name"), name, msg) for msg in name_validator(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(path.child("namespace")))
        else:
            errs.extend(
                invalid(path.child("namespace"), namespace, msg)
                for msg in name_is_dns_label(namespace, False)
            )
    elif namespace:
        errs.append(forbidden(path.child("namespace"), "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and not isinstance(generation, bool) and generation < 0:
        errs.append(invalid(path.child("generation"), generation, NEGATIVE_MSG))
    errs.extend(validate_labels(meta.get("labels"), path.child("labels")))
    errs.extend(validate_annotations(meta.get("annotations"), path.child("annotations")))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), path.child("ownerReferences")))
    errs.extend(
        validate_finalizers(meta.get("finalizers"), path.child("finalizers"), kube_rules=kube_finalizer_rules)
    )
    return errs


def _go_string_slice(values: list[str]) -> str:
    # Go's %#v of a []string, which Kubernetes prints in the new-finalizers message.
    return "[]string{" + ", ".join(go_quote(v) for v in values) + "}"


def validate_object_meta_update(
    new: Mapping[str, Any] | None, old: Mapping[str, Any] | None, path: Path | None = None
) -> list[FieldError]:
    """Checks on update: identity fields are immutable, resourceVersion is required,
    generation never decreases, and no finalizers are added once deletion has started."""
    path = path if path is not None else Path("metadata")
    new = new or {}
    old = old or {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp"):
        old_finalizers = set(old.get("finalizers") or [])
        extra = sorted({f for f in new.get("finalizers") or [] if f not in old_finalizers})
        if extra:
            errs.append(
                forbidden(
                    path.child("finalizers"),
                    "no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {_go_string_slice(extra)}",
                )
            )
    if not new.get("resourceVersion"):
        errs.append(
            invalid(
                path.child("resourceVersion"),
                new.get("resourceVersion") or "",
                "must be specified for an update",
            )
        )
    new_gen = new.get("generation") or 0
    old_gen = old.get("generation") or 0
    if isinstance(new_gen, int) and isinstance(old_gen, int) and new_gen < old_gen:
        errs.append(invalid(path.child("generation"), new_gen, "must not be decremented"))
    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        if new.get(key) != old.get(key):
            errs.append(
                invalid(path.child(key), new.get(key) if new.get(key) is not None else "", IMMUTABLE_MSG)
            )
    errs.extend(validate_labels(new.get("labels"), path.child("labels")))
    errs.extend(validate_annotations(new.get("annotations"), path.child("annotations")))
    errs.extend(validate_owner_references(new.get("ownerReferences"), path.child("ownerReferences")))
    errs.extend(validate_finalizers(new.get("finalizers"), path.child("finalizers")))
    return errs
