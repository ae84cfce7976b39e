"""Task options: parsing, typing and domain checks, the way NodeODM does them.

NodeODM validates options in `odmInfo.filterOptions` with JavaScript semantics
(`JSON.parse`, `parseInt`, `parseFloat`, loose comparisons), and clients compare
the error strings it returns. So this module reproduces those semantics rather
than Python's: numbers print as JavaScript prints them, `"12abc"` is 12, and a
JSON syntax error reads like Node 20's.

Values are JSON values as `json.loads` returns them. A JavaScript number is an
`int` when it is integral and below 2**53, otherwise a `float`; what we return
is always safe to serialise (non-finite numbers become `None`, as
`JSON.stringify` turns them into `null`).
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "OptionsError",
    "POST_PROCESSING_OPTIONS",
    "add_post_processing_options",
    "apply_max_concurrency",
    "parse_json",
    "parse_options",
    "schema_defaults",
    "supplied",
]

POST_PROCESSING_OPTIONS = ("pc-ept", "cog", "gltf")


class OptionsError(ValueError):
    """Options NodeODM would refuse. `str()` is the exact `{"error": ...}` text.

    `errors` holds the per-option failures (`[{"name", "error"}]`); it is empty
    when the whole input was refused, e.g. for a JSON syntax error.
    """

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, str]] = errors or []


class _Undefined:
    """JavaScript's `undefined`: what `opt.value` is when an item has no value."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Any = _Undefined()


# -- Public API -------------------------------------------------------------------------------------


def supplied(raw: object) -> bool:
    """Whether a field counts as sent, by JavaScript truthiness.

    /task/new/init and /task/restart validate `options` only when this holds
    (`if (req.body.options)`), so an empty string passes them: init stores it and
    the commit then fails on it, restart keeps the previous options. /task/new and
    /task/new/commit call `parse_options` whatever the field holds.
    """
    return _truthy(raw)


def parse_options(raw: object, schema: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate and type user options against `schema` (the `/options` list).

    `raw` is the form field (a JSON string), a value already decoded from a JSON
    body, or None for a missing field. Like NodeODM:

    - None, or anything that is not a string nor a list → `[]`;
    - a string is parsed as JSON, so `""` raises "Unexpected end of JSON input"
      (callers that skip empty fields check `supplied()` first);
    - valid JSON that is not an array → `[]`;
    - unknown names are dropped, the first of duplicate names wins, and the
      result follows schema order: `[{"name": ..., "value": typed}]`.

    Raises OptionsError carrying NodeODM's message.
    """
    options = parse_json(raw) if isinstance(raw, str) else raw
    if not isinstance(options, list):
        options = []

    result: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for spec in schema:
        name = spec.get("name")
        opt = _find(options, name)
        if opt is None:
            continue
        try:
            value = _convert(spec.get("type"), opt.get("value", UNDEFINED))
            domain = spec.get("domain")
            if _truthy(domain):
                _check_domain(domain, value)
        except _Invalid as exc:
            errors.append({"name": str(name), "error": str(exc)})
            continue
        item: dict[str, Any] = {"name": name}
        if value is not UNDEFINED:
            # JSON.stringify drops an undefined value, key and all.
            item["value"] = _wire(value)
        result.append(item)

    if errors:
        raise OptionsError(_stringify(errors), errors)
    return result


def apply_max_concurrency(
    options: Sequence[dict[str, Any]],
    cap: int | None,
    schema: Sequence[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Apply the node's `--max_concurrency` to parsed options.

    A user value is lowered to `cap`; without one, `max-concurrency: cap` is
    appended (only if the schema has the option, when a schema is given). A falsy
    cap (None or 0) means no cap, as in NodeODM.
    """
    out = [dict(o) for o in options]
    if not cap:
        return out
    found = False
    for o in out:
        if o.get("name") == "max-concurrency":
            found = True
            value = o.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool):
                o["value"] = min(value, cap)
    if not found and (schema is None or any(s.get("name") == "max-concurrency" for s in schema)):
        out.append({"name": "max-concurrency", "value": cap})
    return out


def add_post_processing_options(
    options: Sequence[dict[str, Any]],
    schema: Sequence[dict[str, Any]],
    skip_post_processing: bool,
) -> list[dict[str, Any]]:
    """Append `pc-ept`, `cog` and `gltf` as `true` unless post-processing is skipped.

    Each one is added only when the schema has it and the user did not set it
    (an explicit `false` stays). NodeODM does this during initialisation and on
    a restart that replaces the options.
    """
    out = [dict(o) for o in options]
    if skip_post_processing:
        return out
    known = {s.get("name") for s in schema}
    for name in POST_PROCESSING_OPTIONS:
        if name in known and not any(o.get("name") == name for o in out):
            out.append({"name": name, "value": True})
    return out


def schema_defaults(schema: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each option's default, typed the way `parse_options` types a user value.

    `/options` gives every default as a string ("false", "10000", "2.5"). A
    default that does not convert (a NaN number, a bool that is not true/false)
    maps to None.
    """
    defaults: dict[str, Any] = {}
    for spec in schema:
        try:
            value = _convert(spec.get("type"), spec.get("value", UNDEFINED))
        except _Invalid:
            value = None
        defaults[str(spec.get("name"))] = None if value is UNDEFINED else _wire(value)
    return defaults


def parse_json(text: str) -> Any:
    """`JSON.parse` with Node 20's error messages (raised as OptionsError)."""
    message = _JSONScanner(text).error()
    if message is not None:
        raise OptionsError(message)
    try:
        return json.loads(text, parse_int=_json_int, parse_float=_json_float)
    except RecursionError:
        # V8 parses any depth; Python's decoder recurses. Nesting this deep is
        # never a real options list, so refuse it with JavaScript's overflow text.
        raise OptionsError("Maximum call stack size exceeded") from None


# -- filterOptions ----------------------------------------------------------------------------------


class _Invalid(Exception):
    """One option's failure; its text goes into the error array."""


def _find(options: list[Any], name: object) -> dict[str, Any] | None:
    # `options.find(o => o.name === name)`: a null item throws once reached.
    for o in options:
        if o is None:
            raise OptionsError("Cannot read properties of null (reading 'name')")
        if isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"] == name:
            return o
    return None


def _convert(kind: object, value: Any) -> Any:
    if kind == "int":
        return _parse_int(_to_string(value))
    if kind == "float":
        return _parse_float(_to_string(value))
    if kind == "bool":
        if isinstance(value, str) and value in ("true", "1"):
            return True
        if isinstance(value, str) and value in ("false", "0"):
            return False
        if isinstance(value, bool):
            return value
        raise _Invalid(f"Cannot convert {_to_string(value)} to boolean")
    if kind in ("string", "path", "enum"):
        return value
    # typeConversion[type] is undefined: calling it throws a TypeError.
    raise _Invalid("typeConversion[odmOption.type] is not a function")


_SIGNED = re.compile(r"(positive |negative )?(integer|float)", re.ASCII)
_PERCENT = re.compile(r"percent", re.ASCII)
_BETWEEN = re.compile(r"(float|integer): ([-+.0-9]+) <= x <= ([-+.0-9]+)", re.ASCII)
_COMPARE = re.compile(r"(float|integer) (>=|>|<|<=) ([-+.0-9]+)", re.ASCII)
_JSON = re.compile(r"(json)", re.ASCII)
_ANY = re.compile(r"(string|path)", re.ASCII)


def _check_domain(domain: Any, value: Any) -> None:
    if isinstance(domain, list):
        if not any(_strict_equal(choice, value) for choice in domain):
            raise _Invalid(f"Invalid value {_to_string(value)} (not in enum)")
        return
    if not isinstance(domain, str):
        raise _Invalid("domain.match is not a function")

    if m := _SIGNED.fullmatch(domain):
        if m[1] == "positive ":
            ok = _compare(value, ">=", 0)
        elif m[1] == "negative ":
            ok = _compare(value, "<=", 0)
        elif m[2] == "integer":
            ok = _is_integer(value)
        else:
            ok = _is_number(value) and math.isfinite(value)
    elif _PERCENT.fullmatch(domain):
        ok = _compare(value, ">=", 0) and _compare(value, "<=", 100)
    elif m := _BETWEEN.fullmatch(domain):
        bound = _parse_float if m[1] == "float" else _parse_int
        ok = _compare(value, ">=", bound(m[2])) and _compare(value, "<=", bound(m[3]))
    elif m := _COMPARE.fullmatch(domain):
        bound = _parse_float if m[1] == "float" else _parse_int
        ok = _compare(value, m[2], bound(m[3]))
    elif _JSON.fullmatch(domain):
        ok = isinstance(value, str) and _JSONScanner(value).error() is None
    elif _ANY.fullmatch(domain):
        ok = True
    else:
        raise _Invalid(f"Domain value cannot be handled: '{domain}' : '{_to_string(value)}'")
    if not ok:
        raise _Invalid(f"Invalid value {_to_string(value)} (out of range)")


# -- JavaScript value semantics ----------------------------------------------------------------------

# StrWhiteSpaceChar: what parseInt, parseFloat and Number() skip.
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_SAFE = 2**53


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    # Number.isInteger: no coercion, NaN and Infinity are not integers.
    if not _is_number(value):
        return False
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


def _number(value: float) -> int | float:
    """A JavaScript number as we hold it: int when integral and safe."""
    if math.isfinite(value) and value.is_integer() and abs(value) < _SAFE:
        return int(value)
    return value


def _json_int(text: str) -> int | float:
    # Long digit strings would trip Python's int limit; JavaScript has doubles anyway.
    return int(text) if len(text) < 16 else _number(float(text))


def _json_float(text: str) -> int | float:
    return _number(float(text))


def _wire(value: Any) -> Any:
    """What JSON.stringify would keep of a value: NaN/Infinity become None."""
    if isinstance(value, float):
        return _number(value) if math.isfinite(value) else None
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    return value


def _truthy(value: object) -> bool:
    if value is None or value is UNDEFINED:
        return False
    if isinstance(value, bool):
        return value
    if _is_number(value):
        return value == value and value != 0  # NaN is falsy
    if isinstance(value, str):
        return value != ""
    return True  # arrays and objects, even empty ones


def _strict_equal(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if a is None or a is UNDEFINED:
        return a is b
    return False  # objects compare by identity; a parsed one never matches


def _num_str(value: int | float) -> str:
    """Number.prototype.toString()."""
    if isinstance(value, int):
        if abs(value) < _SAFE:
            return str(value)
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        head = digits if k == 1 else digits[0] + "." + digits[1:]
        text = f"{head}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + text


def _to_string(value: object) -> str:
    """String(value), as template literals print it."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num_str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else _to_string(v) for v in value)
    return "[object Object]"


def _parse_int(text: str) -> int | float:
    """parseInt(text) with no radix."""
    s = text.lstrip(_JS_SPACE)
    sign = -1 if s[:1] == "-" else 1
    if s[:1] in ("-", "+"):
        s = s[1:]
    radix, alphabet = 10, "0123456789"
    if s[:2] in ("0x", "0X"):
        radix, alphabet, s = 16, "0123456789abcdefABCDEF", s[2:]
    end = 0
    while end < len(s) and s[end] in alphabet:
        end += 1
    if end == 0:
        return math.nan
    n = sign * int(s[:end], radix)
    return n if abs(n) < _SAFE else float(n)


def _parse_float(text: str) -> int | float:
    """parseFloat(text)."""
    m = _DECIMAL.match(text.lstrip(_JS_SPACE))
    if not m:
        return math.nan
    literal = m.group()
    if literal.lstrip("+-") == "Infinity":
        return -math.inf if literal.startswith("-") else math.inf
    return _number(float(literal))


def _to_number(value: object) -> float:
    """ToNumber, for the loose comparisons domain checks make."""
    if value is None:
        return 0.0
    if value is UNDEFINED:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return _to_number(_to_string(value))
    s = value.strip(_JS_SPACE)
    if s == "":
        return 0.0
    if _DECIMAL.fullmatch(s):
        return _parse_float(s)
    for prefix, radix in (("0x", 16), ("0o", 8), ("0b", 2)):
        if s[:2].lower() == prefix:
            try:
                return float(int(s[2:], radix)) if s[2:].isalnum() else math.nan
            except ValueError:
                return math.nan
    return math.nan


def _compare(value: object, op: str, bound: float) -> bool:
    x = _to_number(value)
    if math.isnan(x) or math.isnan(bound):
        return False
    if op == ">=":
        return x >= bound
    if op == ">":
        return x > bound
    if op == "<=":
        return x <= bound
    return x < bound


def _stringify(value: object) -> str:
    """JSON.stringify: compact, non-ASCII kept, lone surrogates escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


# -- JSON.parse errors --------------------------------------------------------------------------------


class _Fail(Exception):
    pass


_CONTEXT = 10  # characters of context V8 quotes on each side of a bad token
_SPECIAL = {"[object Object]", "undefined", "Infinity", "NaN"}
_WS = frozenset(map(ord, " \t\n\r"))
_DIGITS = frozenset(map(ord, "0123456789"))
_HEX = frozenset(map(ord, "0123456789abcdefABCDEF"))
_ESCAPES = frozenset(map(ord, '"\\/bfnrt'))
_EOS = -1


class _JSONScanner:
    """Finds the first syntax error V8 would report, with its message.

    It walks UTF-16 code units because V8's positions count them. Containers are
    kept on an explicit stack so deep nesting cannot exhaust Python's recursion.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.units: list[int] = []
        for ch in text:
            code = ord(ch)
            if code > 0xFFFF:
                code -= 0x10000
                self.units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
            else:
                self.units.append(code)
        self.pos = 0

    def error(self) -> str | None:
        try:
            self._value()
        except _Fail as exc:
            return str(exc)
        return None

    # Reading.

    def _char(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        return self.units[pos] if pos < len(self.units) else _EOS

    def _skip(self) -> int:
        while self._char() in _WS:
            self.pos += 1
        return self._char()

    def _source(self, start: int, end: int) -> str:
        units = self.units[max(start, 0) : end]
        return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "replace")

    # Failing.

    def _fail(self, what: str) -> _Fail:
        return _Fail(f"{what} at position {self.pos}")

    def _unexpected(self) -> _Fail:
        """ReportUnexpectedCharacter: the message depends on the token found."""
        c, pos = self._char(), self.pos
        if c == _EOS:
            return _Fail("Unexpected end of JSON input")
        if c == 0x22:
            return self._fail("Unexpected string in JSON")
        if c in _DIGITS or c == 0x2D:
            return self._fail("Unexpected number in JSON")
        if self.text in _SPECIAL:
            return _Fail(f'"{self.text}" is not valid JSON')
        token = self._source(pos, pos + 1)
        size = len(self.units)
        if size < 2 * _CONTEXT + 1:
            return _Fail(f"Unexpected token '{token}', \"{self.text}\" is not valid JSON")
        if pos < _CONTEXT:
            context = f'"{self._source(0, pos + _CONTEXT)}"...'
        elif pos < size - _CONTEXT:
            context = f'..."{self._source(pos - _CONTEXT, pos + _CONTEXT)}"...'
        else:
            context = f'..."{self._source(pos - _CONTEXT, size)}"'
        return _Fail(f"Unexpected token '{token}', {context} is not valid JSON")

    # Grammar.

    def _value(self) -> None:
        stack: list[str] = []
        while True:
            # Produce a value; an opened container loops back for its first member.
            c = self._skip()
            if c == 0x22:
                self.pos += 1
                self._string()
            elif c in _DIGITS or c == 0x2D:
                self._number()
            elif c == 0x7B:  # {
                self.pos += 1
                if self._skip() == 0x7D:
                    self.pos += 1
                else:
                    stack.append("{")
                    self._key("Expected property name or '}' in JSON")
                    continue
            elif c == 0x5B:  # [
                self.pos += 1
                if self._skip() == 0x5D:
                    self.pos += 1
                else:
                    stack.append("[")
                    continue
            elif c == 0x74:
                self._literal("true")
            elif c == 0x66:
                self._literal("false")
            elif c == 0x6E:
                self._literal("null")
            else:
                raise self._unexpected()

            # Consume values, closing containers, until one needs another member.
            while True:
                c = self._skip()
                if not stack:
                    if c != _EOS:
                        raise self._fail("Unexpected non-whitespace character after JSON")
                    return
                if c == 0x2C:  # ,
                    self.pos += 1
                    if stack[-1] == "{":
                        self._key("Expected double-quoted property name in JSON", colon=None)
                    break
                close, message = (
                    (0x7D, "Expected ',' or '}' after property value in JSON")
                    if stack[-1] == "{"
                    else (0x5D, "Expected ',' or ']' after array element in JSON")
                )
                if c != close:
                    raise self._fail(message)
                self.pos += 1
                stack.pop()

    def _key(self, message: str, colon: str | None = "Expected ':' after property name in JSON") -> None:
        if self._skip() != 0x22:
            raise self._fail(message)
        self.pos += 1
        self._string()
        if self._skip() != 0x3A:
            # Only the first key of an object has its own message.
            raise self._fail(colon) if colon else self._unexpected()
        self.pos += 1

    def _string(self) -> None:
        while True:
            c = self._char()
            if c == _EOS:
                raise self._fail("Unterminated string in JSON")
            if c == 0x22:
                self.pos += 1
                return
            if c == 0x5C:  # backslash
                self.pos += 1
                c = self._char()
                if c == _EOS or c > 0xFF:
                    raise self._unexpected()
                if c == 0x75:  # u
                    for _ in range(4):
                        self.pos += 1
                        if self._char() not in _HEX:
                            raise self._fail("Bad Unicode escape in JSON")
                elif c not in _ESCAPES:
                    raise self._fail("Bad escaped character in JSON")
            elif c < 0x20:
                raise self._fail("Bad control character in string literal in JSON")
            self.pos += 1

    def _digits(self) -> int:
        start = self.pos
        while self._char() in _DIGITS:
            self.pos += 1
        return self.pos - start

    def _number(self) -> None:
        if self._char() == 0x2D:
            self.pos += 1
        if self._char() == 0x30:
            self.pos += 1
            if self._char() in _DIGITS:
                raise self._fail("Unexpected number in JSON")
        elif not self._digits():
            raise self._fail("No number after minus sign in JSON")
        if self._char() == 0x2E:  # .
            self.pos += 1
            if not self._digits():
                raise self._fail("Unterminated fractional number in JSON")
        if self._char() in (0x65, 0x45):  # e E
            self.pos += 1
            if self._char() in (0x2B, 0x2D):
                self.pos += 1
            if not self._digits():
                raise self._fail("Exponent part is missing a number in JSON")

    def _literal(self, word: str) -> None:
        for expected in word:
            if self._char() != ord(expected):
                raise self._unexpected()
            self.pos += 1
