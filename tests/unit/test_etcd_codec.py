"""Key encoding and range-end computation for the etcd client."""

from __future__ import annotations

import pytest

from kubeprov.etcd.codec import ALL_KEYS_END, as_int, b64, prefix_range_end, to_bytes, unb64


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"/registry/pods/", b"/registry/pods0"),  # "/" + 1 == "0"
        (b"a", b"b"),
        (b"a\xfe", b"a\xff"),
        (b"a\xff", b"b"),  # a trailing 0xff cannot be incremented: drop it and carry
        (b"a\xff\xff", b"b"),
        (b"\x00", b"\x01"),
        (b"", ALL_KEYS_END),  # no prefix: everything
        (b"\xff", ALL_KEYS_END),  # nothing sorts above 0xff...: no upper bound
        (b"\xff\xff", ALL_KEYS_END),
    ],
)
def test_prefix_range_end(prefix, end):
    assert prefix_range_end(prefix) == end


def test_prefix_range_end_bounds_exactly_the_keys_with_the_prefix():
    prefix = b"k\xff"
    end = prefix_range_end(prefix)
    assert prefix <= prefix + b"\xff\xff\xff" < end
    assert not (prefix <= b"k\xfe\xff" < end)
    assert not (prefix <= b"l" < end)


def test_text_prefix_is_utf8_encoded():
    assert prefix_range_end("ä") == "ä".encode()[:-1] + bytes([ord(b"\xa4") + 1])


def test_to_bytes_refuses_other_types():
    with pytest.raises(TypeError):
        to_bytes(42)  # type: ignore[arg-type]


def test_base64_round_trips_every_byte():
    data = bytes(range(256))
    assert unb64(b64(data)) == data
    assert b64("foo") == "Zm9v" and b64(b"") == ""


@pytest.mark.parametrize(("wire", "value"), [("9004", 9004), (None, 0), ("", 0), ("-1", -1), (7, 7)])
def test_int64_fields_arrive_as_strings_or_not_at_all(wire, value):
    assert as_int(wire) == value
