"""Quantities parse, round, compare and print like Kubernetes' ``resource.Quantity``."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeprov.api.quantity import FORMAT_ERROR, SUFFIX_ERROR, Format, Quantity, QuantityError


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0", "0"),
        ("0m", "0"),
        ("0Ki", "0"),
        ("1", "1"),
        ("100m", "100m"),
        ("1500m", "1500m"),
        ("1000m", "1"),
        ("0.5", "500m"),
        ("0.1", "100m"),
        (".1", "100m"),
        ("0.0001", "100u"),
        ("0.0000001", "100n"),
        ("1.5", "1500m"),
        ("1k", "1k"),
        ("1000k", "1M"),
        ("1.1M", "1100k"),
        ("100.035k", "100035"),
        ("2e3", "2e3"),
        ("1E3", "1e3"),
        ("12e6", "12e6"),
        ("1e-3", "1e-3"),
        ("1Ki", "1Ki"),
        ("1024Ki", "1Mi"),
        ("1024Mi", "1Gi"),
        ("500Mi", "500Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Mi", "512Ki"),
        ("0.5Ki", "512"),
        ("1.1Ki", "1126400m"),
        ("-1", "-1"),
        ("-0.5", "-500m"),
        ("-1.5Gi", "-1536Mi"),
        ("1E", "1E"),
        ("12345678901234567890", "12345678901234567890"),
    ],
)
def test_canonical_forms(text, canonical):
    assert Quantity.parse(text).canonical() == canonical


def test_values_are_rounded_up_to_a_nanounit():
    assert Quantity.parse("0.0000000001").canonical() == "1n"
    assert Quantity.parse("1.0000000001").canonical() == "1000000001n"
    assert Quantity.parse("-0.0000000001").canonical() == "-1n"


def test_already_canonical_text_is_kept_as_written():
    assert str(Quantity.parse("100m")) == "100m"
    assert str(Quantity.parse("2e3")) == "2e3"
    assert str(Quantity.parse("1Gi")) == "1Gi"
    assert str(Quantity.parse("+1")) == "+1"


def test_non_canonical_text_is_rewritten():
    assert str(Quantity.parse("0.5")) == "500m"
    assert str(Quantity.parse("1024Mi")) == "1Gi"
    assert str(Quantity.parse("1000k")) == "1M"
    assert str(Quantity.parse("1.0")) == "1"


def test_formats():
    assert Quantity.parse("1Gi").format == Format.BINARY_SI
    assert Quantity.parse("1G").format == Format.DECIMAL_SI
    assert Quantity.parse("1e9").format == Format.DECIMAL_EXPONENT


def test_value_and_milli_value_round_away_from_zero():
    assert Quantity.parse("1.5").value() == 2
    assert Quantity.parse("-1.5").value() == -2
    assert Quantity.parse("100m").value() == 1
    assert Quantity.parse("100m").milli_value() == 100
    assert Quantity.parse("1.5m").milli_value() == 2
    assert Quantity.parse("1Gi").value() == 1073741824
    assert Quantity.parse("2").milli_value() == 2000


def test_exact_arithmetic():
    assert (Quantity.parse("100m") + Quantity.parse("200m")).canonical() == "300m"
    assert (Quantity.parse("0.1") + Quantity.parse("0.2")) == Quantity.parse("300m")
    assert (Quantity.parse("1Gi") - Quantity.parse("512Mi")).canonical() == "512Mi"
    assert (Quantity.parse("1") - Quantity.parse("1500m")).canonical() == "-500m"
    assert (-Quantity.parse("1Ki")).canonical() == "-1Ki"


def test_adding_to_zero_takes_the_other_format():
    assert (Quantity.parse("0") + Quantity.parse("1Ki")).canonical() == "1Ki"
    assert (Quantity.parse("1") + Quantity.parse("1Ki")).canonical() == "1025"


def test_comparison():
    assert Quantity.parse("1Gi") > Quantity.parse("1G")
    assert Quantity.parse("1000m") == Quantity.parse("1")
    assert Quantity.parse("999m") < Quantity.parse("1")
    assert sorted([Quantity.parse("2"), Quantity.parse("1k"), Quantity.parse("500m")]) == [
        Quantity.parse("500m"),
        Quantity.parse("2"),
        Quantity.parse("1k"),
    ]
    assert len({Quantity.parse("1"), Quantity.parse("1000m")}) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FORMAT_ERROR),
        ("abc", FORMAT_ERROR),
        ("1.5.5", FORMAT_ERROR),
        ("1Kb", FORMAT_ERROR),
        ("1K", SUFFIX_ERROR),
        ("1i", SUFFIX_ERROR),
        ("1e", SUFFIX_ERROR),
        ("5 ", FORMAT_ERROR),
    ],
)
def test_bad_quantities(text, message):
    with pytest.raises(QuantityError) as info:
        Quantity.parse(text)
    assert str(info.value) == message


def test_binary_amounts_are_capped_at_the_int64_maximum():
    assert Quantity.parse("16Ei").amount == 2**63 - 1
    assert Quantity.parse("16E").amount == 16 * 10**18


def test_format_error_message_is_kubernetes_wording():
    assert FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


_suffixes = st.sampled_from(
    ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "e3", "e-2"]
)


@st.composite
def quantity_texts(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-", "+"]))
    whole = draw(st.from_regex(r"\A[0-9]{1,6}\Z"))
    frac = draw(st.one_of(st.just(""), st.from_regex(r"\A\.[0-9]{1,12}\Z")))
    return sign + whole + frac + draw(_suffixes)


@given(quantity_texts())
def test_canonical_form_parses_back_to_the_same_value(text):
    q = Quantity.parse(text)
    assert Quantity.parse(q.canonical()) == q
    assert Quantity.parse(str(q)) == q
    assert Quantity.parse(q.canonical()).canonical() == q.canonical()


@given(quantity_texts(), quantity_texts())
def test_addition_is_exact(a, b):
    qa, qb = Quantity.parse(a), Quantity.parse(b)
    total = qa + qb
    assert total.amount == qa.amount + qb.amount
    assert total - qb == qa
    if abs(total.amount) <= 2**63 - 1:  # parsing caps binary amounts at the int64 maximum
        assert Quantity.parse(total.canonical()).amount == total.amount


@given(quantity_texts())
def test_parsed_values_are_multiples_of_a_nanounit(text):
    q = Quantity.parse(text)
    assert (q.amount / Fraction(1, 10**9)).denominator == 1


@pytest.mark.parametrize(
    "text",
    ["100m", "1.5Gi", "2e3", "1k", "500Mi", "0.1", "1024Mi", "1000k", "12e6", "1E", "0.5Ki", "1n", "7Ti"],
)
def test_values_agree_with_the_official_client(text):
    utils = pytest.importorskip("kubernetes.utils.quantity")
    amount = Quantity.parse(text).amount
    assert Decimal(amount.numerator) / Decimal(amount.denominator) == utils.parse_quantity(text)
