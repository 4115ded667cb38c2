"""The serde rules the fake OpenObserve re-implements, checked with plain values."""

from __future__ import annotations

import pytest

from o2kit.fake.serde import (
    F64,
    Bool,
    DateTime,
    Field,
    Int,
    MapNumber,
    SerdeError,
    Str,
    Struct,
    Untagged,
    Vec,
    nullable,
    opt,
    parse_json,
    rust_prints_as,
)

POINT = Struct("Point", [Field("x", Int("i64")), nullable("label", Str()), opt("note", Str()),
                         Field("tags", Vec(Str()), default=[], omit="empty"),
                         Field("scale", F64(), default=1.0)])


def test_struct_fills_defaults_writes_nulls_and_omits():
    assert POINT.de({"x": 1, "unknown": True}) == {"x": 1, "label": None, "scale": 1.0}
    assert POINT.de({"x": 1, "note": "n", "tags": ["a"], "scale": 2}) == {
        "x": 1, "label": None, "note": "n", "tags": ["a"], "scale": 2.0}


def test_missing_required_field_and_null_for_a_non_option():
    with pytest.raises(SerdeError, match="missing field `x`"):
        POINT.de({})
    with pytest.raises(SerdeError) as err:
        POINT.de({"x": None})
    assert str(err.value) == "x: invalid type: null, expected i64"


def test_first_bad_value_in_input_order_is_reported():
    with pytest.raises(SerdeError) as err:
        POINT.de({"scale": "big", "x": "one"})
    assert err.value.path == ("scale",)


def test_integers_refuse_floats_and_check_their_range():
    with pytest.raises(SerdeError, match=r"invalid type: floating point `1\.5`, expected i64"):
        Int("i64").de(1.5)
    with pytest.raises(SerdeError, match="invalid value: integer `256`, expected u8"):
        Int("u8").de(256)
    with pytest.raises(SerdeError, match="expected a boolean"):
        Bool().de(1)


def test_untagged_takes_the_first_variant_that_fits():
    kind = Untagged("Either", [Struct("A", [Field("a", Str())]), Str()])
    assert kind.de({"a": "x", "b": 1}) == {"a": "x"}
    assert kind.de("plain") == "plain"
    with pytest.raises(SerdeError, match="did not match any variant of untagged enum Either"):
        kind.de(3)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-05T10:00:00Z", "2026-01-05T10:00:00Z"),
    ("2026-01-05T10:00:00.120+00:00", "2026-01-05T10:00:00.120Z"),
    ("2026-01-05T10:00:00.1234-05:30", "2026-01-05T10:00:00.123400-05:30"),
    ("2026-01-05 10:00:00.000000001Z", "2026-01-05T10:00:00.000000001Z"),
])
def test_datetimes_are_written_like_chrono(text, expected):
    assert DateTime().de(text) == expected


def test_bad_datetimes():
    with pytest.raises(SerdeError):
        DateTime().de("yesterday")
    with pytest.raises(SerdeError, match="out of range"):
        DateTime().de("2026-02-30T00:00:00Z")


@pytest.mark.parametrize(("text", "same"), [
    ("2.5", True), ("2.0", True), ("0.1", True), ("1e16", True), ("0.00001", True),
    ("2.50", False), ("1e3", False), ("1e+16", False), ("1E2", False), ("-0.0", True),
])
def test_which_float_texts_rust_prints_back(text, same):
    assert rust_prints_as(text) is same


def test_number_modes_of_the_parser():
    assert parse_json(b'{"a": 2.50}')["a"] == 2.5
    assert isinstance(parse_json(b'{"a": 2.50}', "value")["a"], MapNumber)
    assert parse_json(b'{"a": 2.5}', "value")["a"] == 2.5
    assert isinstance(parse_json(b'{"a": 2.5}', "flatten")["a"], MapNumber)
    assert parse_json(b'{"a": 2}', "flatten")["a"] == 2
    with pytest.raises(SerdeError, match="invalid type: map, expected f64"):
        F64().de(MapNumber("2.50"))
