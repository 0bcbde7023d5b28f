"""``fieldValidation``: unknown or duplicate fields fail the request (Strict), come back as
Warning headers (Warn, the default), or pass silently (Ignore), as in Kubernetes 1.32."""

from __future__ import annotations

from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.apply import SchemaStore, strict_problems
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.typecheck import TypeChecker

MODES = ("Strict", "Warn", "Ignore")


class FieldValidation:
    def __init__(self, schemas: SchemaStore, types: TypeChecker) -> None:
        self.schemas = schemas
        self.types = types

    def check(self, call: Call, obj: Any, raw_json: bytes | None = None) -> None:
        """Wrong JSON types always fail (400); unknown fields as ``fieldValidation`` says."""
        self.types.check(call.rt, obj)
        mode = call.query.get("fieldValidation") or "Warn"
        if mode not in MODES:
            raise StatusError(status.bad_request(
                f'fieldValidation must be one of "Ignore", "Warn", "Strict", got "{mode}"'))
        if mode == "Ignore" or not isinstance(obj, dict):
            return
        rt = call.rt
        node = self.schemas.for_kind(rt.group, rt.version, rt.kind)
        if node is None:
            return
        problems = strict_problems(obj, node, raw_json)
        if not problems:
            return
        if mode == "Strict":
            raise StatusError(status.bad_request("strict decoding error: " + ", ".join(problems)))
        call.warnings.extend(problems)
