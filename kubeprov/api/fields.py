"""Field selectors (``fieldSelector=``) and the fields each kind lets clients select on.

Parsing, escaping and the canonical string follow Kubernetes' ``k8s.io/apimachinery/pkg/fields``.
Which fields a kind supports, and the error for an unsupported one, follow the API server's
per-kind field label conversions; values are derived from the object as its registry does
(booleans as ``true``/``false``, counts as decimal strings, missing values as ``""``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeprov.api.labels import SelectorError

__all__ = [
    "FieldSelector",
    "FieldTerm",
    "SelectorError",
    "convert_field_selector",
    "escape_value",
    "object_fields",
    "parse",
    "supported_fields",
    "unescape_value",
]


def escape_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` so a value can sit inside a selector string."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """Undo :func:`escape_value`; unknown escapes and bare ``,`` or ``=`` are errors."""
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for ch in value:
        if in_slash:
            if ch in "\\,=":
                out.append(ch)
            else:
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            in_slash = False
            continue
        if ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Kubernetes prints the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True)
class FieldTerm:
    """``field=value`` (``op`` ``=``) or ``field!=value`` (``op`` ``!=``)."""

    field: str
    op: str
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        """A missing field compares as the empty string, as in Kubernetes."""
        have = fields.get(self.field, "")
        return have == self.value if self.op == "=" else have != self.value

    def __str__(self) -> str:
        return f"{self.field}{self.op}{escape_value(self.value)}"


class FieldSelector:
    """A conjunction of field terms; the empty selector matches everything."""

    __slots__ = ("terms",)

    def __init__(self, terms: tuple[FieldTerm, ...] = ()) -> None:
        self.terms = tuple(terms)

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with these selectable fields is selected."""
        return all(t.matches(fields) for t in self.terms)

    def is_empty(self) -> bool:
        """True when the selector does not restrict anything."""
        return not self.terms

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal, when the selector pins one (for indexing)."""
        for term in self.terms:
            if term.field == field and term.op == "=":
                return term.value
        return None

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldSelector) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse(text: str) -> FieldSelector:
    """Parse ``a=b,c!=d`` (``==`` accepted; ``\\,`` ``\\=`` ``\\\\`` escapes in values).

    Terms are sorted, as Kubernetes does, which gives the canonical string form.
    """
    if text == "":
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = split
        terms.append(FieldTerm(lhs, "!=" if op == "!=" else "=", unescape_value(rhs)))
    return FieldSelector(tuple(terms))


# --------------------------------------------------------------------------- per kind

_META = ("metadata.name", "metadata.namespace")

# Field labels each kind's conversion function accepts. Kinds not listed accept only the
# object-meta fields and answer with the generic message.
_SUPPORTED: dict[str, tuple[str, ...]] = {
    "Pod": _META
    + (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ),
    "Node": ("metadata.name", "spec.unschedulable"),
    "ReplicationController": _META + ("status.replicas",),
    "ReplicaSet": _META + ("status.replicas",),
    "Event": _META
    + (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Namespace": ("metadata.name", "status.phase"),
    "Secret": _META + ("type",),
    "Service": _META + ("spec.clusterIP", "spec.type"),
    "Job": _META + ("status.successful",),
    "CertificateSigningRequest": ("metadata.name", "spec.signerName"),
}

# Field labels that older clients send and the server renames.
_ALIASES: dict[str, dict[str, str]] = {"Pod": {"spec.host": "spec.nodeName"}}


def supported_fields(kind: str) -> tuple[str, ...]:
    """The field labels a kind accepts in ``fieldSelector``."""
    return _SUPPORTED.get(kind, _META)


def convert_field_selector(
    kind: str, selector: FieldSelector, extra_fields: tuple[str, ...] = ()
) -> FieldSelector:
    """Check a selector against a kind's selectable fields, renaming legacy labels.

    ``extra_fields`` adds selectable fields (a CRD's ``selectableFields``). Raises
    :class:`SelectorError` with Kubernetes' message (the server answers 400 Bad Request).
    """
    allowed = set(supported_fields(kind)) | set(extra_fields)
    aliases = _ALIASES.get(kind, {})
    converted: list[FieldTerm] = []
    for term in selector.terms:
        name = aliases.get(term.field, term.field)
        if term.field not in aliases and name not in allowed:
            if kind in _SUPPORTED:
                raise SelectorError(f"field label not supported: {term.field}")
            raise SelectorError(
                f'"{term.field}" is not a known field selector: only "metadata.name", "metadata.namespace"'
            )
        converted.append(FieldTerm(name, term.op, term.value))
    return FieldSelector(tuple(converted))


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    current: Any = obj
    for part in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int_text(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _bool_text(value: Any) -> str:
    return "true" if value is True else "false"


def object_fields(kind: str, obj: Mapping[str, Any], namespaced: bool = True) -> dict[str, str]:
    """The selectable fields of ``obj`` and their string values, as its registry exposes them."""
    meta = obj.get("metadata") or {}
    fields: dict[str, str] = {"metadata.name": _text(meta.get("name"))}
    if namespaced and kind not in ("Node", "Namespace", "CertificateSigningRequest"):
        fields["metadata.namespace"] = _text(meta.get("namespace"))
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if kind == "Pod":
        pod_ips = status.get("podIPs") or []
        first_ip = pod_ips[0].get("ip", "") if pod_ips and isinstance(pod_ips[0], Mapping) else ""
        fields.update(
            {
                "spec.nodeName": _text(spec.get("nodeName")),
                "spec.restartPolicy": _text(spec.get("restartPolicy")),
                "spec.schedulerName": _text(spec.get("schedulerName")),
                "spec.serviceAccountName": _text(spec.get("serviceAccountName")),
                "spec.hostNetwork": _bool_text(spec.get("hostNetwork")),
                "status.phase": _text(status.get("phase")),
                "status.podIP": _text(first_ip or status.get("podIP")),
                "status.nominatedNodeName": _text(status.get("nominatedNodeName")),
            }
        )
    elif kind == "Node":
        fields["spec.unschedulable"] = _bool_text(spec.get("unschedulable"))
    elif kind in ("ReplicaSet", "ReplicationController"):
        fields["status.replicas"] = _int_text(status.get("replicas"))
    elif kind == "Job":
        fields["status.successful"] = _int_text(status.get("succeeded"))
    elif kind == "Event":
        involved = obj.get("involvedObject") or {}
        source = _text(_get(obj, "source", "component")) or _text(obj.get("reportingComponent"))
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            fields[f"involvedObject.{key}"] = _text(involved.get(key))
        fields.update(
            {
                "reason": _text(obj.get("reason")),
                "reportingComponent": _text(obj.get("reportingComponent")),
                "source": source,
                "type": _text(obj.get("type")),
            }
        )
    elif kind == "Secret":
        fields["type"] = _text(obj.get("type"))
    elif kind == "Namespace":
        fields["status.phase"] = _text(status.get("phase"))
    elif kind == "Service":
        fields["spec.clusterIP"] = _text(spec.get("clusterIP"))
        fields["spec.type"] = _text(spec.get("type"))
    elif kind == "CertificateSigningRequest":
        fields["spec.signerName"] = _text(spec.get("signerName"))
    return fields
