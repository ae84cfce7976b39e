from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from nodeodm_api.options import (
    OptionsError,
    add_post_processing_options,
    apply_max_concurrency,
    parse_json,
    parse_options,
    schema_defaults,
    supplied,
)

REAL_SCHEMA = Path("/work/shared/reference/nodeodm-options.json")


def opt(name: str, type_: str, domain: Any = "", value: str = "") -> dict[str, Any]:
    return {"name": name, "type": type_, "value": value, "domain": domain, "help": ""}


SCHEMA = [
    opt("dsm", "bool", value="false"),
    opt("mesh-size", "int", "positive integer", "200000"),
    opt("mesh-octree-depth", "int", "integer: 1 <= x <= 14", "11"),
    opt("min-num-features", "int", "integer", "10000"),
    opt("max-concurrency", "int", "positive integer", "4"),
    opt("crop", "float", "positive float", "3"),
    opt("dem-resolution", "float", "float", "5"),
    opt("orthophoto-resolution", "float", "float > 0.0", "5"),
    opt("pc-quality", "enum", ["ultra", "high", "medium"], "medium"),
    opt("boundary", "string", "json"),
    opt("sm-cluster", "string", "string", "None"),
    opt("pc-ept", "bool", value="false"),
    opt("cog", "bool", value="false"),
    opt("gltf", "bool", value="false"),
]


def one(name: str, value: Any, schema: list[dict[str, Any]] = SCHEMA) -> Any:
    [result] = parse_options(json.dumps([{"name": name, "value": value}]), schema)
    return result["value"]


def error(raw: Any, schema: list[dict[str, Any]] = SCHEMA) -> str:
    with pytest.raises(OptionsError) as exc:
        parse_options(raw, schema)
    return str(exc.value)


def item_error(name: str, value: Any, schema: list[dict[str, Any]] = SCHEMA) -> str:
    with pytest.raises(OptionsError) as exc:
        parse_options([{"name": name, "value": value}], schema)
    [err] = exc.value.errors
    assert err["name"] == name
    assert json.loads(str(exc.value)) == [err]
    return err["error"]


# -- Input shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, 5, True, {"name": "dsm", "value": True}, "{}", "null", '"x"', "12"])
def test_non_arrays_mean_no_options(raw: Any) -> None:
    assert parse_options(raw, SCHEMA) == []


def test_empty_string_is_a_parse_error() -> None:
    """A missing field is no options, but "" goes through JSON.parse (commit, /task/new)."""
    assert error("") == "Unexpected end of JSON input"


def test_supplied_is_js_truthiness() -> None:
    """/task/new/init and /task/restart only validate a truthy field."""
    for falsy in (None, "", 0, False, math.nan):
        assert not supplied(falsy)
    for truthy in ("[]", "0", [], {}, 1, True):
        assert supplied(truthy)


def test_string_and_decoded_list_agree() -> None:
    items = [{"name": "dsm", "value": "true"}, {"name": "mesh-size", "value": "100000"}]
    assert parse_options(json.dumps(items), SCHEMA) == parse_options(items, SCHEMA)


def test_typed_values_in_schema_order() -> None:
    raw = json.dumps(
        [
            {"name": "orthophoto-resolution", "value": "2.5"},
            {"name": "mesh-size", "value": "100000"},
            {"name": "dsm", "value": "true"},
        ]
    )
    assert parse_options(raw, SCHEMA) == [
        {"name": "dsm", "value": True},
        {"name": "mesh-size", "value": 100000},
        {"name": "orthophoto-resolution", "value": 2.5},
    ]


def test_unknown_names_dropped() -> None:
    raw = '[{"name":"time","value":true},{"name":"cmvs-maxImages","value":"500"},{"name":"dsm","value":true}]'
    assert parse_options(raw, SCHEMA) == [{"name": "dsm", "value": True}]


def test_first_duplicate_wins() -> None:
    raw = '[{"name":"mesh-size","value":5},{"name":"mesh-size","value":"abc"}]'
    assert parse_options(raw, SCHEMA) == [{"name": "mesh-size", "value": 5}]


def test_items_without_a_string_name_are_ignored() -> None:
    raw = '[1, "dsm", [], {}, {"name": 5}, {"value": true}, {"name": "dsm", "value": true}]'
    assert parse_options(raw, SCHEMA) == [{"name": "dsm", "value": True}]


def test_null_item_throws() -> None:
    """`options.find(o => o.name === ...)` dereferences null items: a TypeError, not a drop."""
    assert error('[null, {"name":"dsm","value":true}]') == "Cannot read properties of null (reading 'name')"


def test_null_item_after_every_match_is_never_reached() -> None:
    schema = [opt("dsm", "bool")]
    assert parse_options('[{"name":"dsm","value":true}, null]', schema) == [{"name": "dsm", "value": True}]


def test_missing_value_is_undefined() -> None:
    """`opt.value` is undefined: numbers become NaN, strings keep it and JSON drops the key."""
    assert item_error("mesh-size", None) == "Invalid value NaN (out of range)"
    assert error('[{"name":"dsm"}]') == '[{"name":"dsm","error":"Cannot convert undefined to boolean"}]'
    assert parse_options('[{"name":"sm-cluster"}]', SCHEMA) == [{"name": "sm-cluster"}]
    assert error('[{"name":"pc-quality"}]') == (
        '[{"name":"pc-quality","error":"Invalid value undefined (not in enum)"}]'
    )


# -- Type conversion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12abc", 12), (3.7, 3), ("  42", 42), ("-0", 0), ("0x10", 16), ([7], 7), (1e21, 1), (5e-7, 5), (12, 12)],
)
def test_int_uses_parse_int(value: Any, expected: int) -> None:
    """parseInt works on String(value): 1e21 prints "1e+21" and 5e-7 prints "5e-7"."""
    got = one("min-num-features", value)
    assert got == expected and isinstance(got, int)


@pytest.mark.parametrize("value", ["abc", "", True, None, {}, "e3"])
def test_int_nan_fails_integer_domain(value: Any) -> None:
    assert item_error("min-num-features", value) == "Invalid value NaN (out of range)"


def test_int_parse_stops_at_exponent() -> None:
    assert one("min-num-features", "1e3") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2.5", 2.5), ("3", 3), (".5", 0.5), ("1e2", 100), ("1.5abc", 1.5), (" 7", 7), ("-0", 0), ([2.5], 2.5)],
)
def test_float_uses_parse_float(value: Any, expected: float) -> None:
    assert one("crop", value) == expected


def test_integral_floats_come_back_as_ints() -> None:
    """JSON.stringify prints 3, not 3.0."""
    assert json.dumps(parse_options('[{"name":"crop","value":"3.0"}]', SCHEMA)) == ('[{"name": "crop", "value": 3}]')


def test_infinity_passes_positive_float_and_serialises_as_null() -> None:
    """parseFloat("Infinity") is >= 0; NodeODM stores it and JSON.stringify writes null."""
    assert one("crop", "Infinity") is None
    assert item_error("dem-resolution", "Infinity") == "Invalid value Infinity (out of range)"
    assert item_error("crop", "-Infinity") == "Invalid value -Infinity (out of range)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False)] + [("true", True), ("false", False), ("1", True), ("0", False)],
)
def test_bool_accepted_values(value: Any, expected: bool) -> None:
    assert one("dsm", value) is expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1, "1"),
        (0, "0"),
        ("yes", "yes"),
        ("True", "True"),
        (None, "null"),
        ([1, 2], "1,2"),
        ({}, "[object Object]"),
        ("y", "y"),
        (2.5, "2.5"),
    ],
)
def test_bool_rejects_everything_else(value: Any, shown: str) -> None:
    assert item_error("dsm", value) == f"Cannot convert {shown} to boolean"


def test_string_and_enum_pass_through() -> None:
    assert one("sm-cluster", "http://x") == "http://x"
    assert one("sm-cluster", 5) == 5
    assert one("sm-cluster", [1, {"a": 2.0}]) == [1, {"a": 2}]
    assert one("pc-quality", "high") == "high"


def test_enum_compares_exactly() -> None:
    assert item_error("pc-quality", "HIGH") == "Invalid value HIGH (not in enum)"
    assert item_error("pc-quality", " high") == "Invalid value  high (not in enum)"
    schema = [opt("level", "enum", ["1", "2"])]
    assert item_error("level", 1, schema) == "Invalid value 1 (not in enum)"
    assert one("level", "1", schema) == "1"


def test_empty_enum_domain_still_checked() -> None:
    """[] is truthy in JavaScript, so an empty choice list rejects everything."""
    assert item_error("e", "x", [opt("e", "enum", [])]) == "Invalid value x (not in enum)"


def test_unknown_type() -> None:
    schema = [opt("x", "date")]
    assert item_error("x", "1", schema) == "typeConversion[odmOption.type] is not a function"


# -- Domains -----------------------------------------------------------------------------------------


def test_positive_allows_zero_and_does_not_check_integrality() -> None:
    """By design "positive integer" only checks >= 0; on float options a fraction passes."""
    assert one("mesh-size", "0") == 0
    schema = [opt("split-overlap", "float", "positive integer", "150")]
    assert one("split-overlap", "2.5", schema) == 2.5
    assert item_error("mesh-size", "-1") == "Invalid value -1 (out of range)"
    assert item_error("mesh-size", "abc") == "Invalid value NaN (out of range)"


def test_negative() -> None:
    schema = [opt("n", "float", "negative float")]
    assert one("n", "-2.5", schema) == -2.5
    assert one("n", "0", schema) == 0
    assert item_error("n", "0.1", schema) == "Invalid value 0.1 (out of range)"


def test_plain_integer_and_float() -> None:
    assert one("min-num-features", "-5") == -5
    assert one("dem-resolution", "-2.5") == -2.5
    assert item_error("dem-resolution", "abc") == "Invalid value NaN (out of range)"
    schema = [opt("i", "float", "integer")]
    assert item_error("i", "2.5", schema) == "Invalid value 2.5 (out of range)"
    assert one("i", "2.0", schema) == 2


def test_percent() -> None:
    schema = [opt("p", "float", "percent")]
    assert one("p", "0", schema) == 0
    assert one("p", "100", schema) == 100
    assert item_error("p", "100.5", schema) == "Invalid value 100.5 (out of range)"
    assert item_error("p", "-1", schema) == "Invalid value -1 (out of range)"


def test_between() -> None:
    assert one("mesh-octree-depth", "1") == 1
    assert one("mesh-octree-depth", "14") == 14
    assert item_error("mesh-octree-depth", "15") == "Invalid value 15 (out of range)"
    assert item_error("mesh-octree-depth", "0") == "Invalid value 0 (out of range)"
    schema = [opt("f", "float", "float: 0.5 <= x <= 1.5")]
    assert one("f", "0.5", schema) == 0.5
    assert item_error("f", "1.6", schema) == "Invalid value 1.6 (out of range)"


def test_integer_bounds_use_parse_int() -> None:
    """The bounds of an "integer:" domain go through parseInt, so 1.9 is read as 1."""
    schema = [opt("f", "float", "integer: 0 <= x <= 1.9")]
    assert item_error("f", "1.5", schema) == "Invalid value 1.5 (out of range)"


@pytest.mark.parametrize(
    ("domain", "ok", "bad"),
    [
        ("float > 0.0", "0.1", "0"),
        ("float >= 1", "1", "0.9"),
        ("float < 2", "1.9", "2"),
        ("float <= 2", "2", "2.1"),
        ("integer > 3", "4", "3"),
    ],
)
def test_comparisons(domain: str, ok: str, bad: str) -> None:
    schema = [opt("c", "float", domain)]
    assert one("c", ok, schema) == float(ok)
    assert item_error("c", bad, schema) == f"Invalid value {_js(float(bad))} (out of range)"


def _js(x: float) -> str:
    return str(int(x)) if x.is_integer() else str(x)


def test_orthophoto_resolution_rejects_zero() -> None:
    assert item_error("orthophoto-resolution", "0") == "Invalid value 0 (out of range)"


def test_json_domain_needs_a_parseable_string() -> None:
    assert one("boundary", '{"type":"Polygon"}') == '{"type":"Polygon"}'
    assert one("boundary", "[]") == "[]"


def test_json_domain_rejects_its_own_empty_default() -> None:
    """NodeODM bug, matched: `boundary` and `cameras` default to "", which JSON.parse refuses.

    So sending a json option's default back fails validation; clients get away with it
    only because they send options that differ from the defaults.
    """
    assert item_error("boundary", "") == "Invalid value  (out of range)"


def test_json_domain_rejects() -> None:
    assert item_error("boundary", "{bad") == "Invalid value {bad (out of range)"
    assert item_error("boundary", {"type": "Polygon"}) == "Invalid value [object Object] (out of range)"
    assert item_error("boundary", "NaN") == "Invalid value NaN (out of range)"


def test_string_and_path_accept_anything() -> None:
    schema = [opt("p", "path", "path"), opt("s", "string", "string")]
    assert parse_options('[{"name":"p","value":"../x"},{"name":"s","value":null}]', schema) == [
        {"name": "p", "value": "../x"},
        {"name": "s", "value": None},
    ]


def test_empty_domain_unchecked() -> None:
    schema = [opt("i", "int", "")]
    assert parse_options('[{"name":"i","value":"abc"}]', schema) == [{"name": "i", "value": None}]


@pytest.mark.parametrize("domain", ["positive", "integer < x", "Integer", "float: a <= x <= b", "positive integer\n"])
def test_unhandled_domain(domain: str) -> None:
    schema = [opt("d", "int", domain)]
    assert item_error("d", "7", schema) == f"Domain value cannot be handled: '{domain}' : '7'"


def test_unhandled_domain_prints_raw_strings() -> None:
    schema = [opt("d", "string", "url")]
    assert item_error("d", "a b", schema) == "Domain value cannot be handled: 'url' : 'a b'"


def test_errors_collected_in_schema_order() -> None:
    raw = json.dumps([{"name": "mesh-size", "value": "abc"}, {"name": "dsm", "value": "y"}])
    assert error(raw) == (
        '[{"name":"dsm","error":"Cannot convert y to boolean"},'
        '{"name":"mesh-size","error":"Invalid value NaN (out of range)"}]'
    )


def test_error_message_is_compact_json_with_js_escaping() -> None:
    msg = item_error("dsm", 'a"b\n\u00e9\ud800')
    assert msg == 'Cannot convert a"b\n\u00e9\ud800 to boolean'
    with pytest.raises(OptionsError) as exc:
        parse_options([{"name": "dsm", "value": 'a"b\n\u00e9\ud800'}], SCHEMA)
    assert str(exc.value) == '[{"name":"dsm","error":"Cannot convert a\\"b\\n\u00e9\\ud800 to boolean"}]'
    str(exc.value).encode("utf-8")  # safe to send


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (-2.5, "-2.5"),
        (123456789.125, "123456789.125"),
        (2**60, "1152921504606847000"),
    ],
)
def test_numbers_print_like_javascript(value: float, shown: str) -> None:
    schema = [opt("n", "float", "negative float")]
    if value < 0:
        schema = [opt("n", "float", "positive float")]
    assert item_error("n", value, schema) == f"Invalid value {shown} (out of range)"


# -- JSON syntax errors (Node 20) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "Unexpected token 'o', \"not json\" is not valid JSON"),
        ("", "Unexpected end of JSON input"),
        ("   ", "Unexpected end of JSON input"),
        ("[", "Unexpected end of JSON input"),
        ("[1,", "Unexpected end of JSON input"),
        ("tru", "Unexpected end of JSON input"),
        ("[1, 2, 3, 4", "Expected ',' or ']' after array element in JSON at position 11"),
        ("[1, 2, 3, 4g", "Expected ',' or ']' after array element in JSON at position 11"),
        ("{", "Expected property name or '}' in JSON at position 1"),
        ("{'foo': 1}", "Expected property name or '}' in JSON at position 1"),
        ('{"a"}', "Expected ':' after property name in JSON at position 4"),
        ('{"a":1', "Expected ',' or '}' after property value in JSON at position 6"),
        ('{"foo" : 1, }', "Expected double-quoted property name in JSON at position 12"),
        ('{"a" : "}', "Unterminated string in JSON at position 9"),
        ("[1e]", "Exponent part is missing a number in JSON at position 3"),
        ('{"a": 0.bs}', "Unterminated fractional number in JSON at position 8"),
        ('{"a": 3}a', "Unexpected non-whitespace character after JSON at position 8"),
        ('{"b" : "\\a"}', "Bad escaped character in JSON at position 9"),
        ('"a\bz"', "Bad control character in string literal in JSON at position 2"),
        ('["\\t\\u', "Bad Unicode escape in JSON at position 6"),
        ("-", "No number after minus sign in JSON at position 1"),
        ("01", "Unexpected number in JSON at position 1"),
        ("NaN", '"NaN" is not valid JSON'),
        ("Infinity", '"Infinity" is not valid JSON'),
        ("undefined", '"undefined" is not valid JSON'),
        ("[object Object]", '"[object Object]" is not valid JSON'),
        ("/", "Unexpected token '/', \"/\" is not valid JSON"),
        ("[1, 2,]", "Unexpected token ']', \"[1, 2,]\" is not valid JSON"),
        ("[1, 2, 3, 4, 5, , 7, 8, 9, 10]", "Unexpected token ',', ...\" 3, 4, 5, , 7, 8, 9,\"... is not valid JSON"),
        ("[, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "Unexpected token ',', \"[, 2, 3, 4,\"... is not valid JSON"),
        ("[1, 2, 3, 4, 5, 6, 7, ]", "Unexpected token ']', ...\" 5, 6, 7, ]\" is not valid JSON"),
        ("[NaN]", "Unexpected token 'N', \"[NaN]\" is not valid JSON"),
    ],
)
def test_json_syntax_errors(text: str, message: str) -> None:
    assert error(text) == message


def test_syntax_error_has_no_item_errors() -> None:
    with pytest.raises(OptionsError) as exc:
        parse_options("not json", SCHEMA)
    assert exc.value.errors == []


def test_positions_count_utf16_units() -> None:
    assert error('["\U0001f600" x]') == "Expected ',' or ']' after array element in JSON at position 6"


def test_deep_nesting() -> None:
    """V8 parses any depth; past Python's recursion limit we refuse with JavaScript's overflow text."""
    assert parse_json("[" * 500 + "]" * 500) is not None
    assert error("[" * 5000) == "Unexpected end of JSON input"
    assert error("[" * 5000 + "]" * 5000) == "Maximum call stack size exceeded"


def test_parse_json_numbers() -> None:
    assert parse_json("[1, 2.0, 2.5, 1e400, 123456789012345678901234]") == [1, 2, 2.5, math.inf, 1.2345678901234568e23]


# -- Caps and auto-added options ---------------------------------------------------------------------


def test_max_concurrency_lowered() -> None:
    options = parse_options('[{"name":"max-concurrency","value":9999}]', SCHEMA)
    assert apply_max_concurrency(options, 4) == [{"name": "max-concurrency", "value": 4}]
    assert apply_max_concurrency(options, None) == options
    assert apply_max_concurrency(options, 0) == options
    low = [{"name": "max-concurrency", "value": 2}]
    assert apply_max_concurrency(low, 4) == low


def test_max_concurrency_appended() -> None:
    options = [{"name": "dsm", "value": True}]
    assert apply_max_concurrency(options, 8, SCHEMA) == options + [{"name": "max-concurrency", "value": 8}]
    assert apply_max_concurrency(options, 8, [opt("dsm", "bool")]) == options
    assert apply_max_concurrency(options, 8) == options + [{"name": "max-concurrency", "value": 8}]
    assert options == [{"name": "dsm", "value": True}]  # inputs are not modified


def test_post_processing_options() -> None:
    options = [{"name": "dsm", "value": True}]
    assert add_post_processing_options(options, SCHEMA, False) == options + [
        {"name": "pc-ept", "value": True},
        {"name": "cog", "value": True},
        {"name": "gltf", "value": True},
    ]
    assert add_post_processing_options(options, SCHEMA, True) == options


def test_post_processing_keeps_user_values_and_schema_support() -> None:
    options = [{"name": "cog", "value": False}]
    schema = [opt("cog", "bool"), opt("pc-ept", "bool")]
    assert add_post_processing_options(options, schema, False) == [
        {"name": "cog", "value": False},
        {"name": "pc-ept", "value": True},
    ]


def test_full_pipeline_order() -> None:
    options = parse_options('[{"name":"dsm","value":true}]', SCHEMA)
    options = apply_max_concurrency(options, 2, SCHEMA)
    options = add_post_processing_options(options, SCHEMA, False)
    assert [o["name"] for o in options] == ["dsm", "max-concurrency", "pc-ept", "cog", "gltf"]


# -- Defaults ----------------------------------------------------------------------------------------


def test_schema_defaults() -> None:
    defaults = schema_defaults(SCHEMA)
    assert defaults["dsm"] is False
    assert defaults["mesh-size"] == 200000
    assert defaults["crop"] == 3 and defaults["orthophoto-resolution"] == 5
    assert defaults["pc-quality"] == "medium"
    assert defaults["sm-cluster"] == "None"
    assert schema_defaults([opt("b", "bool", value="maybe"), opt("i", "int", value="")]) == {"b": None, "i": None}


# -- The real /options -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> list[dict[str, Any]]:
    if not REAL_SCHEMA.exists():
        pytest.skip(f"{REAL_SCHEMA} is not available")
    return json.loads(REAL_SCHEMA.read_text())


def test_real_defaults_all_validate(real: list[dict[str, Any]]) -> None:
    """Sending the defaults back is accepted, typed, in /options order, except the two json options.

    `boundary` and `cameras` default to "", which their "json" domain refuses (see
    test_json_domain_rejects_its_own_empty_default).
    """
    broken = {o["name"] for o in real if o["domain"] == "json" and o["value"] == ""}
    assert broken == {"boundary", "cameras"}
    raw = [{"name": o["name"], "value": o["value"]} for o in real if o["name"] not in broken]
    parsed = parse_options(raw, real)
    defaults = schema_defaults(real)
    assert parsed == [{"name": k, "value": v} for k, v in defaults.items() if k not in broken]
    assert json.loads(error([{"name": "cameras", "value": ""}], real)) == [
        {"name": "cameras", "error": "Invalid value  (out of range)"}
    ]


def test_real_schema_examples(real: list[dict[str, Any]]) -> None:
    raw = json.dumps(
        [
            {"name": "mesh-size", "value": "100000"},
            {"name": "orthophoto-resolution", "value": 2.5},
            {"name": "dsm", "value": "true"},
            {"name": "feature-type", "value": "orb"},
            {"name": "rerun-from", "value": ""},
            {"name": "rolling-shutter-readout", "value": "0.5"},
        ]
    )
    assert parse_options(raw, real) == [
        {"name": "rerun-from", "value": ""},
        {"name": "feature-type", "value": "orb"},
        {"name": "mesh-size", "value": 100000},
        {"name": "dsm", "value": True},
        {"name": "orthophoto-resolution", "value": 2.5},
        {"name": "rolling-shutter-readout", "value": 0.5},
    ]


def test_real_schema_errors(real: list[dict[str, Any]]) -> None:
    raw = json.dumps(
        [
            {"name": "mesh-size", "value": "abc"},
            {"name": "dsm", "value": "y"},
            {"name": "mesh-octree-depth", "value": 20},
            {"name": "feature-type", "value": "SIFT"},
            {"name": "cameras", "value": "{nope"},
            {"name": "orthophoto-resolution", "value": 0},
        ]
    )
    assert error(raw, real) == json.dumps(
        [
            {"name": "feature-type", "error": "Invalid value SIFT (not in enum)"},
            {"name": "cameras", "error": "Invalid value {nope (out of range)"},
            {"name": "mesh-size", "error": "Invalid value NaN (out of range)"},
            {"name": "mesh-octree-depth", "error": "Invalid value 20 (out of range)"},
            {"name": "dsm", "error": "Cannot convert y to boolean"},
            {"name": "orthophoto-resolution", "error": "Invalid value 0 (out of range)"},
        ],
        separators=(",", ":"),
    )


def test_real_schema_post_processing(real: list[dict[str, Any]]) -> None:
    added = add_post_processing_options([], real, False)
    assert added == [{"name": n, "value": True} for n in ("pc-ept", "cog", "gltf")]
