"""Encoding between Python values and the etcd JSON gateway's wire form.

The gateway speaks proto3 JSON: ``bytes`` fields are base64 text, 64-bit integers are decimal
strings, and fields holding their default value (0, false, empty) are left out entirely.
"""

from __future__ import annotations

from binascii import a2b_base64, b2a_base64

# Range end that means "every key greater than or equal to the start key".
ALL_KEYS_END = b"\0"


def to_bytes(key: bytes | str) -> bytes:
    """Keys may be given as text for convenience; etcd keys are bytes (UTF-8 for text)."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytearray | memoryview):
        return bytes(key)
    raise TypeError(f"etcd keys and values are bytes or str, not {type(key).__name__}")


def b64(data: bytes | str) -> str:
    """Base64 text for a ``bytes`` field of a request."""
    if isinstance(data, str):
        data = data.encode()
    return b2a_base64(data, newline=False).decode("ascii")


def unb64(text: str) -> bytes:
    """Bytes of a base64 field of a response (the gateway never omits padding)."""
    return a2b_base64(text)


def prefix_range_end(prefix: bytes | str) -> bytes:
    """The range end that selects exactly the keys starting with ``prefix``.

    That is the prefix with its last byte incremented; trailing 0xff bytes cannot be incremented,
    so they are dropped first. A prefix that is empty or all 0xff has no upper bound: the result is
    ``b"\\0"``, which etcd reads as "to the end of the keyspace".
    """
    p = to_bytes(prefix)
    end = p.rstrip(b"\xff")
    if not end:
        return ALL_KEYS_END
    return end[:-1] + bytes((end[-1] + 1,))


def as_int(value: str | int | None) -> int:
    """An int64 field: the gateway sends decimal strings and omits zeros."""
    return int(value) if value else 0
