"""JSON Patch (RFC 6902) over plain JSON values, with JSON Pointers (RFC 6901).

The whole patch applies or nothing does: operations run in order on a copy and the first
failure raises :class:`JSONPatchError` (the API server answers such a patch with 422).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeprov.api.status import bad_request, generic_server_response

_ARRAY_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")
_ESCAPE = re.compile(r"~(?![01])")


class JSONPatchError(ValueError):
    """A patch that is malformed or does not apply to the document.

    ``code`` is what the API server answers: 400 when the body is not a list of operation
    objects, 422 when an operation cannot be applied.
    """

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` the API server sends (it does not echo the reason for a 422)."""
        if self.code == 400:
            return bad_request(str(self))
        return generic_server_response(422, str(self))


def parse_pointer(pointer: str) -> list[str]:
    """Split a JSON Pointer into unescaped reference tokens (``~1`` is ``/``, ``~0`` is ``~``)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise JSONPatchError(f'JSON pointer must be empty or start with "/": "{pointer}"')
    tokens = pointer[1:].split("/")
    out: list[str] = []
    for token in tokens:
        if _ESCAPE.search(token):
            raise JSONPatchError(f'invalid escape in JSON pointer: "{pointer}"')
        out.append(token.replace("~1", "/").replace("~0", "~"))
    return out


def _index(token: str, length: int, pointer: str, *, allow_end: bool) -> int:
    if allow_end and token == "-":
        return length
    if not _ARRAY_INDEX.match(token):
        raise JSONPatchError(f'invalid array index "{token}" in path "{pointer}"')
    i = int(token)
    limit = length if allow_end else length - 1
    if i > limit:
        raise JSONPatchError(f'array index {i} out of bounds in path "{pointer}"')
    return i


def _resolve(doc: Any, tokens: list[str], pointer: str) -> Any:
    current = doc
    for token in tokens:
        if isinstance(current, dict):
            if token not in current:
                raise JSONPatchError(f'doc is missing path: "{pointer}"')
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(token, len(current), pointer, allow_end=False)]
        else:
            raise JSONPatchError(f'doc is missing path: "{pointer}"')
    return current


def json_equal(a: Any, b: Any) -> bool:
    """RFC 6902 equality: numbers by value, booleans never equal numbers, order matters in lists."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _add(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve_parent(doc, tokens, pointer, "add")
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), pointer, allow_end=True), value)
    else:
        raise JSONPatchError(f'add operation does not apply: doc is missing path: "{pointer}"')
    return doc


def _resolve_parent(doc: Any, tokens: list[str], pointer: str, op: str) -> Any:
    try:
        return _resolve(doc, tokens[:-1], pointer)
    except JSONPatchError as exc:
        raise JSONPatchError(f"{op} operation does not apply: {exc}") from None


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    tokens = parse_pointer(pointer)
    if not tokens:
        raise JSONPatchError("remove operation does not apply: cannot remove the whole document")
    parent = _resolve_parent(doc, tokens, pointer, "remove")
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JSONPatchError(f'remove operation does not apply: doc is missing key: "{pointer}"')
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(last, len(parent), pointer, allow_end=False))
    raise JSONPatchError(f'remove operation does not apply: doc is missing path: "{pointer}"')


def _replace(doc: Any, pointer: str, value: Any) -> Any:
    tokens = parse_pointer(pointer)
    if not tokens:
        return value
    parent = _resolve_parent(doc, tokens, pointer, "replace")
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JSONPatchError(f'replace operation does not apply: doc is missing key: "{pointer}"')
        parent[last] = value
    elif isinstance(parent, list):
        parent[_index(last, len(parent), pointer, allow_end=False)] = value
    else:
        raise JSONPatchError(f'replace operation does not apply: doc is missing path: "{pointer}"')
    return doc


def _member(op: dict[str, Any], name: str, op_name: str) -> Any:
    if name not in op:
        raise JSONPatchError(f'{op_name} operation is missing "{name}"')
    return op[name]


def _pointer_member(op: dict[str, Any], name: str, op_name: str) -> str:
    value = _member(op, name, op_name)
    if not isinstance(value, str):
        raise JSONPatchError(f'{op_name} operation has a non-string "{name}"')
    return value


def apply_json_patch(document: Any, patch: Any) -> Any:
    """Apply an RFC 6902 patch (a list of operations) and return the new document.

    The input document is not modified.
    """
    if not isinstance(patch, list):
        raise JSONPatchError("a JSON patch must be an array of operations", 400)
    doc = copy.deepcopy(document)
    for op in patch:
        if not isinstance(op, dict):
            raise JSONPatchError("each JSON patch operation must be an object", 400)
        name = op.get("op")
        if not isinstance(name, str):
            raise JSONPatchError('JSON patch operation is missing "op"')
        path = _pointer_member(op, "path", name)
        if name == "add":
            doc = _add(doc, path, copy.deepcopy(_member(op, "value", name)))
        elif name == "remove":
            doc, _ = _remove(doc, path)
        elif name == "replace":
            doc = _replace(doc, path, copy.deepcopy(_member(op, "value", name)))
        elif name == "move":
            source = _pointer_member(op, "from", name)
            if source == path:
                continue
            if path.startswith(source + "/"):
                raise JSONPatchError(f'move operation cannot move "{source}" into its own child "{path}"')
            try:
                doc, value = _remove(doc, source)
            except JSONPatchError:
                raise JSONPatchError(
                    f'move operation does not apply: doc is missing from path: "{source}"'
                ) from None
            doc = _add(doc, path, value)
        elif name == "copy":
            source = _pointer_member(op, "from", name)
            try:
                value = _resolve(doc, parse_pointer(source), source)
            except JSONPatchError:
                raise JSONPatchError(
                    f'copy operation does not apply: doc is missing from path: "{source}"'
                ) from None
            doc = _add(doc, path, copy.deepcopy(value))
        elif name == "test":
            expected = _member(op, "value", name)
            try:
                actual = _resolve(doc, parse_pointer(path), path)
            except JSONPatchError:
                raise JSONPatchError(f'testing value "{path}" failed: doc is missing path') from None
            if not json_equal(actual, expected):
                raise JSONPatchError(f'testing value "{path}" failed: test failed')
        else:
            raise JSONPatchError(f"Unexpected kind: {name}")
    return doc
