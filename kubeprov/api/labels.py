"""Label selectors: the ``labelSelector=`` string grammar and ``metav1.LabelSelector`` objects.

The parser follows Kubernetes' own (``k8s.io/apimachinery/pkg/labels``) token by token, so the
same inputs are accepted, the same canonical string comes back (requirements sorted by key,
set values sorted) and errors read the same (``unable to parse requirement: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    aggregate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubeprov.api.names import is_qualified_name, is_valid_label_value, validate_labels


class SelectorError(ValueError):
    """A selector that cannot be parsed or built; ``str()`` is the API server's message."""


class Operator(StrEnum):
    """Requirement operators, with the spellings Kubernetes uses internally."""

    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    IN = "in"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    EXISTS = "exists"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_VALID_OPERATORS = [
    Operator.IN,
    Operator.NOT_IN,
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.EXISTS,
    Operator.DOES_NOT_EXIST,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
]
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
_INT64 = re.compile(r"^[+-]?[0-9]+$")


def _parse_int64(text: str) -> int | None:
    if not _INT64.match(text) or "\n" in text:
        return None
    value = int(text)
    if not -(2**63) <= value < 2**63:
        return None
    return value


@dataclass(frozen=True)
class Requirement:
    """One ``key op values`` condition. Build through :func:`new_requirement` to validate."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes semantics: ``!=`` and ``notin`` match objects that lack the key."""
        present = self.key in labels
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if op == Operator.EXISTS:
            return present
        if op == Operator.DOES_NOT_EXIST:
            return not present
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            if not present or len(self.values) != 1:
                return False
            have = _parse_int64(labels[self.key])
            want = _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == Operator.GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        prefix = "!" if op == Operator.DOES_NOT_EXIST else ""
        if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return prefix + self.key
        spelled = {
            Operator.EQUALS: "=",
            Operator.DOUBLE_EQUALS: "==",
            Operator.NOT_EQUALS: "!=",
            Operator.IN: " in ",
            Operator.NOT_IN: " notin ",
            Operator.GREATER_THAN: ">",
            Operator.LESS_THAN: "<",
        }[op]
        values = ",".join(self.values if len(self.values) == 1 else sorted(self.values))
        if op in (Operator.IN, Operator.NOT_IN):
            values = f"({values})"
        return f"{self.key}{spelled}{values}"


def new_requirement(
    key: str, operator: Operator | str, values: Iterable[str] = (), path: Path | None = None
) -> Requirement:
    """Build a requirement, validating it like Kubernetes' ``NewRequirement``.

    Raises :class:`SelectorError` whose message aggregates the field errors.
    """
    vals = list(values)
    errs: list[FieldError] = []
    base = path if path is not None else Path()
    key_errs = is_qualified_name(key)
    if key_errs:
        errs.append(invalid(base.child("key"), key, "; ".join(key_errs)))
    values_path = base.child("values")
    try:
        op = Operator(operator)
    except ValueError:
        op = None
    if op in (Operator.IN, Operator.NOT_IN):
        if not vals:
            errs.append(invalid(values_path, vals, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
        if len(vals) != 1:
            errs.append(invalid(values_path, vals, "exact-match compatibility requires one single value"))
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        if vals:
            errs.append(invalid(values_path, vals, "values set must be empty for exists and does not exist"))
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(vals) != 1:
            errs.append(invalid(values_path, vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                errs.append(
                    invalid(values_path.index(i), v, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    else:
        errs.append(not_supported(base.child("operator"), str(operator), [str(o) for o in _VALID_OPERATORS]))
    for i, v in enumerate(vals):
        value_errs = is_valid_label_value(v)
        if value_errs:
            errs.append(invalid(values_path.index(i).key(key), v, "; ".join(value_errs)))
    if errs:
        raise SelectorError(aggregate(errs))
    assert op is not None
    return Requirement(key, op, tuple(vals))


class Selector:
    """A conjunction of requirements (every one must match).

    ``Selector.everything()`` matches all objects; ``Selector.nothing()`` (what a missing
    ``metav1.LabelSelector`` means) matches none. Both print as the empty string.
    """

    __slots__ = ("_nothing", "requirements")

    def __init__(self, requirements: Iterable[Requirement] = (), *, nothing: bool = False) -> None:
        # A stable sort by key, as Kubernetes sorts requirements for a deterministic form.
        self.requirements: tuple[Requirement, ...] = tuple(sorted(requirements, key=lambda r: r.key))
        self._nothing = nothing

    @classmethod
    def everything(cls) -> Selector:
        """The empty selector, matching every object."""
        return cls()

    @classmethod
    def nothing(cls) -> Selector:
        """The selector that matches no object."""
        return cls(nothing=True)

    def is_empty(self) -> bool:
        """True when the selector does not restrict anything (matches everything)."""
        return not self._nothing and not self.requirements

    def is_nothing(self) -> bool:
        """True for the selector that matches no object."""
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self._nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def add(self, *requirements: Requirement) -> Selector:
        """A new selector with more requirements."""
        return Selector(self.requirements + requirements, nothing=self._nothing)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, when the selector pins one (for indexing)."""
        for r in self.requirements:
            if r.key == key:
                exact = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                if r.operator in exact and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return "Selector.nothing()" if self._nothing else f"Selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return self._nothing == other._nothing and self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash((self._nothing, self.requirements))


# --------------------------------------------------------------------------- parsing

_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_SYMBOLS = {")": ")", ",": ",", "!": "!", "==": "==", "=": "=", ">": ">", "<": "<", "!=": "!=", "(": "("}
_KEYWORDS = {"in": "in", "notin": "notin"}

_ID = "id"
_END = "end"
_ERROR = "error"


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a selector into (token, literal) pairs, ending with the end-of-string token."""
    # Kubernetes scans bytes; work on UTF-8 bytes so multi-byte characters behave the same.
    data = text.encode("utf-8")
    pos = 0
    tokens: list[tuple[str, str]] = []
    n = len(data)
    while True:
        while pos < n and chr(data[pos]) in _WHITESPACE:
            pos += 1
        if pos >= n:
            tokens.append((_END, ""))
            return tokens
        ch = chr(data[pos])
        if ch in _SPECIAL:
            buffer = ""
            last: tuple[str, str] | None = None
            while pos < n and chr(data[pos]) in _SPECIAL:
                buffer += chr(data[pos])
                pos += 1
                if buffer in _SYMBOLS:
                    last = (_SYMBOLS[buffer], buffer)
                elif last is not None:
                    pos -= 1
                    break
            if last is None:
                tokens.append((_ERROR, f"error expected: keyword found '{buffer}'"))
            else:
                tokens.append(last)
            continue
        start = pos
        while pos < n and chr(data[pos]) not in _SPECIAL and chr(data[pos]) not in _WHITESPACE:
            pos += 1
        literal = data[start:pos].decode("utf-8", errors="replace")
        tokens.append((_KEYWORDS.get(literal, _ID), literal))


class _Parser:
    """Recursive-descent parser over the token list, mirroring Kubernetes' parser."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def _get(self, values_context: bool, advance: bool) -> tuple[str, str]:
        index = min(self.position, len(self.items) - 1)
        tok, lit = self.items[index]
        if advance:
            self.position += 1
        if values_context and tok in ("in", "notin"):
            tok = _ID
        return tok, lit

    def lookahead(self, values_context: bool = True) -> tuple[str, str]:
        """The next token without consuming it (``in``/``notin`` are values in value context)."""
        return self._get(values_context, advance=False)

    def consume(self, values_context: bool = True) -> tuple[str, str]:
        """The next token, consumed."""
        return self._get(values_context, advance=True)

    def parse(self) -> list[Requirement]:
        """The whole selector: requirements separated by commas."""
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, "!"):
                try:
                    requirements.append(self.parse_requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume()
                if tok == _END:
                    return requirements
                if tok == ",":
                    tok2, lit2 = self.lookahead()
                    if tok2 not in (_ID, "!"):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _END:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        """``[!]key [op values]``."""
        key, operator = self.parse_key_and_infer_operator()
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return new_requirement(key, operator, [])
        op = self.parse_operator()
        if op in (Operator.IN, Operator.NOT_IN):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return new_requirement(key, op, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, Operator | None]:
        """The key; a bare key means "exists" and ``!key`` "does not exist"."""
        operator: Operator | None = None
        tok, lit = self.consume()
        if tok == "!":
            operator = Operator.DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key_errs = is_qualified_name(lit)
        if key_errs:
            # Kubernetes reports key errors from the string parser at a nil path.
            raise SelectorError(str(invalid(None, lit, "; ".join(key_errs))))
        if self.lookahead()[0] in (_END, ","):
            if operator != Operator.DOES_NOT_EXIST:
                operator = Operator.EXISTS
        return lit, operator

    def parse_operator(self) -> Operator:
        """A binary operator (keywords count as operators here)."""
        tok, lit = self.consume(values_context=False)
        mapping = {
            "in": Operator.IN,
            "=": Operator.EQUALS,
            "==": Operator.DOUBLE_EQUALS,
            ">": Operator.GREATER_THAN,
            "<": Operator.LESS_THAN,
            "notin": Operator.NOT_IN,
            "!=": Operator.NOT_EQUALS,
        }
        if tok not in mapping:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        return mapping[tok]

    def parse_values(self) -> set[str]:
        """``(v1,v2,...)`` after ``in``/``notin``; empty entries are the empty value."""
        tok, lit = self.consume()
        if tok != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, ","):
            values = self.parse_identifiers_list()
            if self.consume()[0] != ")":
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == ")":
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        """The comma-separated values inside the parentheses."""
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == ",":
                    continue
                if tok2 == ")":
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == ",":
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == ")":
                    values.add("")
                    return values
                if tok2 == ",":
                    self.consume()
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        """The single value after ``=``, ``==``, ``!=``, ``>`` or ``<`` (may be empty)."""
        tok, _ = self.lookahead()
        if tok in (_END, ","):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse(text: str) -> Selector:
    """Parse the ``labelSelector=`` form (``a=b,c in (x,y),!d``) into a :class:`Selector`.

    Raises :class:`SelectorError` with Kubernetes' message when the text is malformed.
    """
    return Selector(_Parser(text).parse())


def selector_from_set(labels: Mapping[str, str] | None) -> Selector:
    """A selector requiring exactly these key=value pairs (empty: everything)."""
    return Selector(Requirement(k, Operator.EQUALS, (v,)) for k, v in (labels or {}).items())


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def from_label_selector(label_selector: Mapping[str, Any] | None) -> Selector:
    """Convert a ``metav1.LabelSelector`` dict, like ``metav1.LabelSelectorAsSelector``.

    ``None`` selects nothing; an empty selector selects everything.
    """
    if label_selector is None:
        return Selector.nothing()
    match_labels = label_selector.get("matchLabels") or {}
    expressions = label_selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return Selector.everything()
    requirements: list[Requirement] = []
    for key, value in match_labels.items():
        requirements.append(new_requirement(key, Operator.EQUALS, [value]))
    for expr in expressions:
        op_name = expr.get("operator", "")
        if op_name not in _EXPRESSION_OPERATORS:
            raise SelectorError(f'"{op_name}" is not a valid label selector operator')
        requirements.append(
            new_requirement(expr.get("key", ""), _EXPRESSION_OPERATORS[op_name], expr.get("values") or [])
        )
    return Selector(requirements)


def validate_label_selector(
    label_selector: Mapping[str, Any] | None,
    path: Path,
    *,
    allow_invalid_label_values: bool = False,
) -> list[FieldError]:
    """Validate a ``metav1.LabelSelector`` dict into field errors (as in object validation)."""
    if label_selector is None:
        return []
    errs = validate_labels(label_selector.get("matchLabels"), path.child("matchLabels"))
    for i, expr in enumerate(label_selector.get("matchExpressions") or []):
        errs.extend(
            _validate_requirement(expr, path.child("matchExpressions").index(i), allow_invalid_label_values)
        )
    return errs


def _validate_requirement(
    expr: Mapping[str, Any], path: Path, allow_invalid_values: bool
) -> list[FieldError]:
    errs: list[FieldError] = []
    operator = expr.get("operator", "")
    values = expr.get("values") or []
    if operator in ("In", "NotIn"):
        if not values:
            errs.append(
                required(path.child("values"), "must be specified when `operator` is 'In' or 'NotIn'")
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errs.append(
                forbidden(
                    path.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                )
            )
    else:
        errs.append(invalid(path.child("operator"), operator, "not a valid selector operator"))
    key = expr.get("key", "")
    errs.extend(invalid(path.child("key"), key, msg) for msg in is_qualified_name(key))
    if not allow_invalid_values:
        for i, value in enumerate(values):
            errs.extend(
                invalid(path.child("values").index(i), value, msg) for msg in is_valid_label_value(value)
            )
    return errs
