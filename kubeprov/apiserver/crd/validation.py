"""Validation of custom resources against their CRD version's ``openAPIV3Schema``.

Kubernetes validates custom resources with kube-openapi's JSON-schema validator and turns its
errors into field errors (``kubeOpenAPIResultToFieldErrors``); clients see those strings, so the
checks run in the same order (type, allOf/anyOf/oneOf/not, string, format, number, array, enum,
object) with the same wording, e.g. ``spec.replicas: Invalid value: "string": spec.replicas in
body must be of type integer: "string"``. Go visits object properties in random order; here they
are visited sorted, so messages are deterministic.

Also here: the ``x-kubernetes-list-type`` uniqueness rules, the checks of embedded resources
(``x-kubernetes-embedded-resource``) and a structural-schema check used for logging.
``x-kubernetes-validations`` (CEL) rules are not evaluated.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    duplicate,
    go_json,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)
from kubeprov.api.names import is_dns1035_label, validate_object_meta, validate_path_segment_name
from kubeprov.apiserver.crd import formats

Schema = dict[str, Any]
IN = "body"
_EPSILON = 1e-9


# ---------------------------------------------------------------------------- Go renderings


def go_number(value: int | float) -> str:
    """A number as Go's ``%v`` prints it: ``10``, ``1.5``, ``1e+06``, ``1.5e-05``."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(str(d) for d in digits)
    point = len(text) + int(exponent)  # position of the decimal point in the digit string
    minus = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:  # shortest %g switches to an exponent from 1e+06
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def json_kind(value: Any) -> str:
    """The JSON type name of a decoded value, as kube-openapi infers it from Go types."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else ""


def _go_format(value: Any) -> str:
    """The format kube-openapi infers for a Go value (int64, float64, or none)."""
    kind = json_kind(value)
    return {"integer": "int64", "number": "float64"}.get(kind, "")


def json_equal(a: Any, b: Any) -> bool:
    """Equality of decoded JSON values: numbers by value, booleans never equal to numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _is_json_integer(value: float) -> bool:
    """``swag.IsFloat64AJSONInteger``: integral within a relative epsilon."""
    if math.isnan(value) or math.isinf(value):
        return False
    rounded = float(round(value))
    if value == rounded:
        return True
    diff = abs(value - rounded)
    return diff / min(abs(value) + abs(rounded), 1.7976931348623157e308) < _EPSILON


# ---------------------------------------------------------------------------- results


@dataclass
class Result:
    """Errors found and how many checks passed (anyOf/oneOf report the closest alternative)."""

    errors: list[FieldError] = field(default_factory=list)
    matches: int = 0

    def merge(self, other: Result) -> None:
        self.errors.extend(other.errors)
        self.matches += other.matches

    @property
    def valid(self) -> bool:
        return not self.errors


def _field(path: str) -> str | None:
    """The field of an error: kube-openapi's name without its leading dot (None at the root)."""
    if not path or path == ".":
        return None
    return path[1:] if path.startswith(".") else path


def _shown(value: Any) -> Any:
    # Go prints a nil bad value as the string "null"
    return "null" if value is None else value


def _type_error(path: str, type_name: str, found: str) -> FieldError:
    message = f"{path} in {IN} must be of type {type_name}: {go_quote(found)}"
    return type_invalid(_field(path), found, message)


def _invalid(path: str, value: Any, message: str) -> FieldError:
    return invalid(_field(path), _shown(value), message)


def _composite(message: str) -> FieldError:
    """Errors that are not field validations are reported on no field with an empty value."""
    return invalid(None, "", message)


# ---------------------------------------------------------------------------- schema facts


def schema_types(schema: Schema) -> list[str]:
    """The types a value may have: int-or-string allows two, an absent type any."""
    if schema.get("x-kubernetes-int-or-string") is True:
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) and kind else []


def schema_format(schema: Schema) -> str:
    types = schema_types(schema)
    fmt = schema.get("format")
    if not isinstance(fmt, str):
        return ""
    return formats.effective_format(types[0] if len(types) == 1 else "", fmt)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ---------------------------------------------------------------------------- the validator


class SchemaValidator:
    """Validates decoded JSON against one schema; ``validate(obj)`` returns field errors."""

    def __init__(self, schema: Schema | None) -> None:
        self.schema = schema if isinstance(schema, dict) else {}

    def validate(self, obj: Any) -> list[FieldError]:
        return self.check(obj, self.schema, "").errors

    def check(self, data: Any, schema: Schema, path: str) -> Result:
        result = Result()
        if not isinstance(schema, dict):
            return result
        if data is None:
            result.merge(self._type(data, schema, path))
            result.merge(self._enum(data, schema, path))
            return result
        kind = json_kind(data)
        steps = [self._type, self._props]
        if kind == "string":
            steps += [self._string, self._format]
        if kind in ("integer", "number"):
            steps.append(self._number)
        if kind == "array":
            steps.append(self._array)
        steps.append(self._enum)
        if kind == "object":
            steps.append(self._object)
        for step in steps:
            result.merge(step(data, schema, path))
            result.matches += 1
        result.matches += 1
        return result

    # -- type --------------------------------------------------------------------------------

    def _type(self, data: Any, schema: Schema, path: str) -> Result:
        types, fmt = schema_types(schema), schema_format(schema)
        if not types and not fmt:
            return Result()
        if data is None:
            if types and "null" not in types and schema.get("nullable") is not True:
                return Result([_type_error(path, ",".join(types), "null")])
            return Result(matches=1)
        found, found_format = json_kind(data), _go_format(data)
        float_int = found == "number" and _is_json_integer(data) and "integer" in types
        int_float = found == "integer" and "number" in types
        lower_int = fmt == "int64" and found_format == "int32"
        if found not in ("string", "array") and fmt and not (
            found in types or found_format == fmt or float_int or int_float or lower_int
        ):
            return Result([_type_error(path, fmt, found_format)])
        if "number" not in types and "integer" not in types and fmt and found in ("string", "array"):
            return Result(matches=1)
        if not (found in types or float_int or int_float):
            return Result([_type_error(path, ",".join(types), found)])
        return Result(matches=1)

    # -- allOf / anyOf / oneOf / not ---------------------------------------------------------

    def _alternatives(self, schema: Schema, key: str) -> list[Schema]:
        value = schema.get(key)
        return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []

    def _props(self, data: Any, schema: Schema, path: str) -> Result:
        main = Result()
        any_of = self._alternatives(schema, "anyOf")
        if any_of:
            best: Result | None = None
            first_success: Result | None = None
            for alternative in any_of:
                outcome = self.check(data, alternative, path)
                if outcome.valid:
                    best, first_success = None, outcome
                    break
                if best is None or outcome.matches > best.matches:
                    best = outcome
            if first_success is None:
                main.errors.append(_composite(f"{go_quote(path)} must validate at least one schema (anyOf)"))
            main.merge(best or first_success or Result())
        one_of = self._alternatives(schema, "oneOf")
        if one_of:
            best, first_success, passed = None, None, 0
            for alternative in one_of:
                outcome = self.check(data, alternative, path)
                if outcome.valid:
                    passed += 1
                    best = None
                    first_success = first_success or outcome
                elif passed == 0 and (best is None or outcome.matches > best.matches):
                    best = outcome
            if passed != 1:
                extra = "Found none valid" if passed == 0 else f"Found {passed} valid alternatives"
                message = f"{go_quote(path)} must validate one and only one schema (oneOf). {extra}"
                main.errors.append(_composite(message))
                if best is not None:
                    main.merge(best)
            elif first_success is not None:
                main.merge(first_success)
        all_of = self._alternatives(schema, "allOf")
        if all_of:
            passed = 0
            for alternative in all_of:
                outcome = self.check(data, alternative, path)
                passed += outcome.valid
                main.merge(outcome)
            if passed != len(all_of):
                extra = ". None validated" if passed == 0 else ""
                main.errors.append(_composite(f"{go_quote(path)} must validate all the schemas (allOf){extra}"))
        negated = schema.get("not")
        if isinstance(negated, dict) and self.check(data, negated, path).valid:
            main.errors.append(_composite(f"{go_quote(path)} must not validate the schema (not)"))
        main.matches += 1
        return main

    # -- strings -----------------------------------------------------------------------------

    def _string(self, data: str, schema: Schema, path: str) -> Result:
        length = len(data)
        max_length, min_length = _int(schema.get("maxLength")), _int(schema.get("minLength"))
        if max_length is not None and length > max_length:
            return Result([too_long(_field(path), max_length)])
        if min_length is not None and length < min_length:
            return Result([_invalid(path, data, f"{path} in {IN} should be at least {min_length} chars long")])
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and pattern:
            try:
                matched = re.search(pattern, data) is not None
            except re.error as err:
                return Result([_invalid(path, data, f"{path} in {IN} should match '{pattern}, but pattern is invalid: "
                                                    f"{err}'")])
            if not matched:
                return Result([_invalid(path, data, f"{path} in {IN} should match '{pattern}'")])
        return Result()

    def _format(self, data: str, schema: Schema, path: str) -> Result:
        fmt = schema_format(schema)
        if not fmt or not formats.is_string_format(fmt) or formats.valid(fmt, data):
            return Result()
        return Result([_type_error(path, fmt, data)])

    # -- numbers -----------------------------------------------------------------------------

    def _number(self, data: int | float, schema: Schema, path: str) -> Result:
        result = Result()
        multiple = _num(schema.get("multipleOf"))
        if multiple is not None:
            result.errors.extend(self._multiple_of(data, multiple, path))
        minimum, maximum = _num(schema.get("minimum")), _num(schema.get("maximum"))
        if minimum is not None:
            exclusive = schema.get("exclusiveMinimum") is True
            bound: int | float = int(minimum) if isinstance(data, int) else minimum
            if data < bound or (exclusive and data <= bound):
                word = "greater than" if exclusive else "greater than or equal to"
                result.errors.append(_invalid(path, data, f"{path} in {IN} should be {word} {go_number(bound)}"))
        if maximum is not None:
            exclusive = schema.get("exclusiveMaximum") is True
            bound = int(maximum) if isinstance(data, int) else maximum
            if data > bound or (exclusive and data >= bound):
                word = "less than" if exclusive else "less than or equal to"
                result.errors.append(_invalid(path, data, f"{path} in {IN} should be {word} {go_number(bound)}"))
        result.matches += 1
        return result

    @staticmethod
    def _multiple_of(data: int | float, factor: float, path: str) -> list[FieldError]:
        if isinstance(data, int) and int(factor) != 0:
            whole = int(factor)
            if whole < 0:
                return [_invalid(path, whole, f"factor MultipleOf declared for {path} must be positive: {whole}")]
            if int(data / whole) * whole != data:
                return [_invalid(path, data, f"{path} in {IN} should be a multiple of {whole}")]
            return []
        if factor < 0:
            return [_invalid(path, factor, f"factor MultipleOf declared for {path} must be positive: "
                                           f"{go_number(factor)}")]
        if factor == 0:
            return []
        ratio = (1 / factor * data) if factor < 1 else data / factor
        if not _is_json_integer(ratio):
            return [_invalid(path, data, f"{path} in {IN} should be a multiple of {go_number(factor)}")]
        return []

    # -- arrays ------------------------------------------------------------------------------

    def _array(self, data: list, schema: Schema, path: str) -> Result:
        result = Result()
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(data):
                result.merge(self.check(item, items, f"{path}[{index}]"))
        size = len(data)
        min_items, max_items = _int(schema.get("minItems")), _int(schema.get("maxItems"))
        if min_items is not None and size < min_items:
            result.errors.append(_invalid(path, size, f"{path} in {IN} should have at least {min_items} items"))
        if max_items is not None and size > max_items:
            result.errors.append(too_many(_field(path), size, max_items))
        if schema.get("uniqueItems") is True:
            seen: list[Any] = []
            for item in data:
                if any(json_equal(item, other) for other in seen):
                    result.errors.append(_invalid(path, "", f"{path} in {IN} shouldn't contain duplicates"))
                    break
                seen.append(item)
        result.matches += 1
        return result

    # -- enum --------------------------------------------------------------------------------

    def _enum(self, data: Any, schema: Schema, path: str) -> Result:
        values = schema.get("enum")
        if not isinstance(values, list) or not values:
            return Result()
        if data is not None and any(json_equal(data, value) for value in values):
            return Result()
        shown = [v if isinstance(v, str) else go_json(v) for v in values]
        return Result([not_supported(_field(path), _shown(data), shown)])

    # -- objects -----------------------------------------------------------------------------

    def _object(self, data: dict, schema: Schema, path: str) -> Result:
        count = len(data)
        min_props, max_props = _int(schema.get("minProperties")), _int(schema.get("maxProperties"))
        if min_props is not None and count < min_props:
            return Result([_invalid(path, count, f"{path} in {IN} should have at least {min_props} properties")])
        if max_props is not None and count > max_props:
            return Result([too_many(_field(path), count, max_props)])
        result = Result()
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        extra = schema.get("additionalProperties")
        if extra is False:
            for key in sorted(data):
                if key not in props:
                    result.errors.append(_invalid(path, key, f"{path}.{key} in {IN} is a forbidden property"))
        elif isinstance(extra, dict):
            for key in sorted(data):
                if key not in props:
                    result.merge(self.check(data[key], extra, f"{path}.{key}"))
        for key in sorted(props):
            if key in data and isinstance(props[key], dict):
                result.merge(self.check(data[key], props[key], f"{path}.{key}" if path else key))
        for key in schema.get("required") or ():
            if isinstance(key, str) and key not in data:
                result.errors.append(required(_field(f"{path}.{key}"), ""))
        return result


def validate_schema(obj: Any, schema: Schema | None) -> list[FieldError]:
    """Field errors of ``obj`` against ``schema`` (an ``openAPIV3Schema``)."""
    return SchemaValidator(schema).validate(obj)


# ---------------------------------------------------------------------------- structural walks


def _child(schema: Schema | None, key: str) -> tuple[Schema | None, bool]:
    """The schema of ``key`` in an object and whether it is a map entry (additionalProperties)."""
    if not isinstance(schema, dict):
        return None, False
    props = schema.get("properties")
    if isinstance(props, dict) and isinstance(props.get(key), dict):
        return props[key], False
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra, True
    return None, False


def validate_list_types(obj: Any, schema: Schema | None, path: Path | None = None) -> list[FieldError]:
    """Uniqueness of ``x-kubernetes-list-type: set`` items and of ``map`` keys."""
    path = path if path is not None else Path()
    if not isinstance(schema, dict):
        return []
    errs: list[FieldError] = []
    if isinstance(obj, dict):
        for key in sorted(obj):
            sub, is_entry = _child(schema, key)
            if sub is not None:
                errs.extend(validate_list_types(obj[key], sub, path.key(key) if is_entry else path.child(key)))
    elif isinstance(obj, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            errs.extend(duplicate(path.index(i), _shown(obj[i])) for i in _repeated(obj))
        elif list_type == "map":
            errs.extend(_list_map_errors(obj, schema, path))
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(obj):
                errs.extend(validate_list_types(item, items, path.index(index)))
    return errs


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _repeated(values: list[Any]) -> list[int]:
    """Indices of the second appearance of each repeated value."""
    counts: dict[str, int] = {}
    out: list[int] = []
    for index, value in enumerate(values):
        key = _canonical(value)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:
            out.append(index)
    return out


def _list_map_errors(items: list[Any], schema: Schema, path: Path) -> list[FieldError]:
    for index, item in enumerate(items):
        if item is not None and not isinstance(item, dict):
            return [invalid(path.index(index), item, "must be an object for an array of list-type map")]
    key_fields = [k for k in schema.get("x-kubernetes-list-map-keys") or () if isinstance(k, str)]
    keys = [{k: item[k] for k in key_fields if k in item} if isinstance(item, dict) else {} for item in items]
    return [duplicate(path.index(i), keys[i]) for i in _repeated(keys)]


def validate_embedded(obj: Any, schema: Schema | None, path: Path | None = None) -> list[FieldError]:
    """TypeMeta and ObjectMeta of ``x-kubernetes-embedded-resource`` objects below the root."""
    path = path if path is not None else Path()
    if not isinstance(schema, dict):
        return []
    errs: list[FieldError] = []
    if isinstance(obj, dict):
        if schema.get("x-kubernetes-embedded-resource") is True:
            errs.extend(_embedded_resource_errors(obj, path))
        for key in sorted(obj):
            sub, is_entry = _child(schema, key)
            if sub is not None:
                errs.extend(validate_embedded(obj[key], sub, path.key(key) if is_entry else path.child(key)))
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            errs.extend(validate_embedded(item, schema["items"], path.index(index)))
    return errs


def _embedded_resource_errors(obj: dict, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("apiVersion", "kind"):
        if key not in obj:
            errs.append(required(path.child(key), ""))
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if "apiVersion" in obj:
        if not isinstance(api_version, str):
            errs.append(invalid(path.child("apiVersion"), _shown(api_version), "must be a string"))
        elif not api_version:
            errs.append(required(path.child("apiVersion"), ""))
        elif api_version.count("/") > 1:
            errs.append(invalid(path.child("apiVersion"), api_version,
                                f"unexpected GroupVersion string: {api_version}"))
    if "kind" in obj:
        if not isinstance(kind, str):
            errs.append(invalid(path.child("kind"), _shown(kind), "must be a string"))
        elif not kind:
            errs.append(required(path.child("kind"), ""))
        elif is_dns1035_label(kind.lower()):
            errs.append(invalid(path.child("kind"), kind, "may have mixed case, but should otherwise match: "
                                + ",".join(is_dns1035_label(kind.lower()))))
    meta = obj.get("metadata")
    if "metadata" in obj:
        if not isinstance(meta, dict):
            errs.append(invalid(path.child("metadata"), _shown(meta), "must be an object"))
        else:
            meta = {**meta, "name": meta.get("name") or "fakename"}
            errs.extend(validate_object_meta(meta, bool(meta.get("namespace")), path.child("metadata"),
                                             validate_path_segment_name, kube_finalizer_rules=False))
    return errs


# ---------------------------------------------------------------------------- structural check


_VALUE_VALIDATION_FORBIDDEN = ("type", "default", "nullable", "additionalProperties", "description",
                               "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
                               "x-kubernetes-int-or-string")


def structural_problems(schema: Any, path: str = "openAPIV3Schema") -> list[str]:
    """Why a schema is not structural (empty when it is); such CRDs are still served, with a log line."""
    if not isinstance(schema, dict):
        return [f"{path}: must be an object"]
    problems: list[str] = []
    if "$ref" in schema:
        problems.append(f"{path}.$ref: must not be set")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    typed = bool(schema.get("type")) or schema.get("x-kubernetes-int-or-string") is True
    if not typed and not preserve:
        problems.append(f"{path}.type: Required value: must not be empty for specified object fields")
    if isinstance(schema.get("properties"), dict) and isinstance(schema.get("additionalProperties"), dict):
        problems.append(f"{path}.additionalProperties: Forbidden: additionalProperties and properties are "
                        "mutual exclusive")
    props = schema.get("properties")
    for key, sub in (props.items() if isinstance(props, dict) else ()):
        problems.extend(structural_problems(sub, f"{path}.properties[{key}]"))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems.extend(structural_problems(schema[key], f"{path}.{key}"))
    for key in ("allOf", "anyOf", "oneOf"):
        for index, sub in enumerate(schema.get(key) or ()):
            problems.extend(_value_validation_problems(sub, f"{path}.{key}[{index}]"))
    if isinstance(schema.get("not"), dict):
        problems.extend(_value_validation_problems(schema["not"], f"{path}.not"))
    return problems


def _value_validation_problems(schema: Any, path: str) -> list[str]:
    if not isinstance(schema, dict):
        return []
    return [f"{path}.{key}: Forbidden: must be empty to be structural" for key in _VALUE_VALIDATION_FORBIDDEN
            if key in schema and key != "description"]
