"""ConfigMaps and Secrets: key rules, size limit, Secret types and ``immutable: true``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kubeprov.api.fielderrors import FieldError, Path, forbidden, invalid, required, too_long, type_invalid
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import Obj, as_map, config_key_errors, immutable, msgs_to_errors

MAX_SIZE = 1024 * 1024
REDACTED = "<secret contents redacted>"
IMMUTABLE_SET = "field is immutable when `immutable` is set"
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_base64(text: str) -> tuple[bytes | None, str]:
    """Decode like Go's ``base64.StdEncoding``; on failure the Go error text."""
    raw = text.encode("utf-8", "surrogatepass")
    stripped = bytes(b for b in raw if b not in b"\r\n")
    for i, byte in enumerate(stripped):
        if byte not in _B64_CHARS and byte != ord("="):
            return None, f"illegal base64 data at input byte {i}"
    try:
        return base64.b64decode(stripped, validate=True), ""
    except (binascii.Error, ValueError):
        bad = len(stripped) - (len(stripped) % 4 or 4)
        return None, f"illegal base64 data at input byte {max(bad, 0)}"


def _json_object_error(raw: bytes) -> str:
    """Go's ``json.Unmarshal`` error when ``raw`` is not a JSON object ('' when it is)."""
    if not raw.strip():
        return "unexpected end of JSON input"
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except json.JSONDecodeError as err:
        if err.pos >= len(err.doc.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character {err.doc[err.pos]!r} looking for beginning of value"
    if isinstance(value, dict):
        return ""
    kind = {list: "array", str: "string", bool: "bool", type(None): ""}.get(type(value), "number")
    if not kind:
        return ""
    return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


class ConfigMapStrategy(Strategy):
    """``ConfigMap``."""

    kind = "ConfigMap"

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        total = 0
        data = obj.get("data")
        binary = obj.get("binaryData")
        for key, value in (("data", data), ("binaryData", binary)):
            if value is not None and not isinstance(value, dict):
                errs.append(type_invalid(Path(key), value, "must be an object"))
        binary = as_map(binary)
        for key, value in as_map(data).items():
            path = Path("data").key(key)
            errs.extend(msgs_to_errors(path, key, config_key_errors(key)))
            if key in binary:
                errs.append(invalid(path, key, "duplicate of key present in binaryData"))
            if not isinstance(value, str):
                errs.append(type_invalid(path, value, "must be a string"))
                continue
            total += len(value.encode("utf-8", "surrogatepass"))
        for key, value in binary.items():
            path = Path("binaryData").key(key)
            errs.extend(msgs_to_errors(path, key, config_key_errors(key)))
            if not isinstance(value, str):
                errs.append(type_invalid(path, value, "must be a base64 string"))
                continue
            decoded, why = decode_base64(value)
            if decoded is None:
                errs.append(invalid(path, value, why))
            else:
                total += len(decoded)
        if total > MAX_SIZE:
            errs.append(too_long("", MAX_SIZE))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        if old.get("immutable") is not True:
            return []
        errs: list[FieldError] = []
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", IMMUTABLE_SET))
        if as_map(new.get("data")) != as_map(old.get("data")):
            errs.append(forbidden("data", IMMUTABLE_SET))
        if as_map(new.get("binaryData")) != as_map(old.get("binaryData")):
            errs.append(forbidden("binaryData", IMMUTABLE_SET))
        return errs


class SecretStrategy(Strategy):
    """``Secret``: ``stringData`` is folded into ``data``; type-specific keys are required."""

    kind = "Secret"

    def set_defaults(self, obj: Obj) -> None:
        if obj.get("type") in (None, ""):
            obj["type"] = "Opaque"
        string_data = obj.get("stringData")
        if isinstance(string_data, dict):
            if string_data:
                data = obj.get("data")
                if not isinstance(data, dict):
                    data = obj["data"] = {}
                for key, value in string_data.items():
                    if isinstance(value, str):
                        data[key] = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")
            if all(isinstance(v, str) for v in string_data.values()):
                del obj["stringData"]

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        data_value = obj.get("data")
        if data_value is not None and not isinstance(data_value, dict):
            errs.append(type_invalid(Path("data"), data_value, "must be an object"))
        for key, value in as_map(obj.get("stringData")).items():
            if not isinstance(value, str):
                errs.append(type_invalid(Path("stringData").key(key), value, "must be a string"))
        decoded: dict[str, bytes] = {}
        total = 0
        for key, value in as_map(data_value).items():
            path = Path("data").key(key)
            errs.extend(msgs_to_errors(path, key, config_key_errors(key)))
            if value is None:
                decoded[key] = b""
                continue
            if not isinstance(value, str):
                errs.append(type_invalid(path, REDACTED, "must be a base64 string"))
                continue
            raw, why = decode_base64(value)
            if raw is None:
                errs.append(invalid(path, REDACTED, why))
                continue
            decoded[key] = raw
            total += len(raw)
        if total > MAX_SIZE:
            errs.append(too_long("data", MAX_SIZE))
        errs.extend(self._type_errors(obj, decoded))
        return errs

    @staticmethod
    def _type_errors(obj: Obj, data: dict[str, bytes]) -> list[FieldError]:
        stype = obj.get("type")
        path = Path("data")
        errs: list[FieldError] = []
        if stype == "kubernetes.io/service-account-token":
            annotations = as_map(as_map(obj.get("metadata")).get("annotations"))
            if not annotations.get("kubernetes.io/service-account.name"):
                errs.append(required(Path("metadata", "annotations").key("kubernetes.io/service-account.name"), ""))
        elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
            key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
            if key not in data:
                errs.append(required(path.key(key), ""))
            else:
                why = _json_object_error(data[key])
                if why:
                    errs.append(invalid(path.key(key), REDACTED, why))
        elif stype == "kubernetes.io/basic-auth":
            if "username" not in data and "password" not in data:
                errs.append(required(path.key("username"), ""))
                errs.append(required(path.key("password"), ""))
        elif stype == "kubernetes.io/ssh-auth":
            if not data.get("ssh-privatekey"):
                errs.append(required(path.key("ssh-privatekey"), ""))
        elif stype == "kubernetes.io/tls":
            for key in ("tls.crt", "tls.key"):
                if key not in data:
                    errs.append(required(path.key(key), ""))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = immutable(new.get("type"), old.get("type"), Path("type"))
        if old.get("immutable") is True:
            if new.get("immutable") is not True:
                errs.append(forbidden("immutable", IMMUTABLE_SET))
            if as_map(new.get("data")) != as_map(old.get("data")):
                errs.append(forbidden("data", IMMUTABLE_SET))
        return errs


def secret_value(obj: Any, key: str) -> bytes | None:
    """The decoded ``data[key]`` of a Secret (None when absent or not base64)."""
    value = as_map(as_map(obj).get("data")).get(key)
    if not isinstance(value, str):
        return None
    raw, _ = decode_base64(value)
    return raw
