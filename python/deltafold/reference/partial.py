"""A JSON prefix parsed as far as it goes (``parsed_arguments``)."""

from __future__ import annotations

import re
from typing import Any

import orjson

# -- partial JSON ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# What a number that has not fully arrived may look like so far.
_NUMBER_PREFIX = re.compile(r"-|-?(?:0|[1-9][0-9]*)(?:\.[0-9]*|(?:\.[0-9]+)?[eE][+-]?[0-9]*)?")
_STRING_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
# Whole escapes or plain characters; what is left after them is an escape still arriving.
_COMPLETE_UNITS = re.compile(r"(?:[^\\]|\\u[0-9a-fA-F]{4}|\\[^u])*", re.DOTALL)
_UNFINISHED_ESCAPE = re.compile(r"(?:\\(?:u[0-9a-fA-F]{0,3})?)?")
# A \uD800-\uDBFF escape at the end whose backslash is not itself escaped.
_TRAILING_HIGH_SURROGATE = re.compile(r"((?:^|[^\\])(?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}\Z")
_LITERALS = (("true", True), ("false", False), ("null", None))
# Integers in this range stay ints, larger ones become floats: what orjson (and so every other
# number deltafold reads) does.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_JSON_WS = " \t\n\r"


class _Truncated(Exception):
    """The text ended before this value produced anything to keep."""


class _Invalid(Exception):
    """The text is not a prefix of a JSON document."""


_NOTHING: Any = object()


def parse_prefix(text: str, *, trailing_strings: bool = True) -> tuple[bool, Any]:
    """``(is_prefix, value)``: whether ``text`` is the start of a JSON document (or a whole
    one), and its value as :func:`parse_partial` gives it (``_NOTHING`` when nothing usable has
    arrived). With ``trailing_strings=False`` an unfinished string is dropped as jiter's
    ``partial_mode=True`` drops it (the anthropic SDK's rule for tool input)."""
    try:
        value, end = _partial_value(text, _skip_json_ws(text, 0), trailing_strings)
    except _Truncated:
        return True, _NOTHING
    except (_Invalid, RecursionError):
        return False, _NOTHING
    if _skip_json_ws(text, end) < len(text):
        return False, _NOTHING
    return True, value


def parse_partial(text: str) -> Any:
    """The value of a JSON prefix, as jiter's ``partial_mode="trailing-strings"`` gives it.

    An unfinished string keeps its text so far, an unfinished literal or number at the end is
    dropped, unfinished containers are closed, and a key without a value is dropped. Returns
    ``None`` when nothing usable has arrived yet or the text is not a prefix of a JSON document.
    Where jiter is more lenient than JSON, this is not: no NaN/Infinity, nothing after the value,
    and integers outside 64 bits become floats (as orjson reads them).
    """
    try:
        value, end = _partial_value(text, _skip_json_ws(text, 0), True)
    except (_Truncated, _Invalid, RecursionError):
        # RecursionError: nested deeper than Python's stack allows (a known gap: no value).
        return None
    if _skip_json_ws(text, end) < len(text):
        return None  # something after a complete value: not a JSON prefix
    return value


def _skip_json_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _JSON_WS:
        pos += 1
    return pos


def _partial_value(text: str, pos: int, trailing_strings: bool) -> tuple[Any, int]:
    """Parse the value at ``pos``; returns it and the position after it (``len(text)`` when the
    text ended inside it and what arrived is kept)."""
    if pos >= len(text):
        raise _Truncated
    char = text[pos]
    if char == "{":
        return _partial_object(text, pos + 1, trailing_strings)
    if char == "[":
        return _partial_array(text, pos + 1, trailing_strings)
    if char == '"':
        value, end = _partial_string(text, pos)
        if not trailing_strings and end == len(text) and not _closed(text, pos, end):
            raise _Truncated
        return value, end
    for word, literal in _LITERALS:
        if text.startswith(word, pos):
            return literal, pos + len(word)
        if word.startswith(text[pos:]):
            raise _Truncated
    # Only what can still become a JSON number is a number still arriving ("-", "2.", "1e+");
    # anything else ("e", "+1", "01") can never become JSON.
    if _NUMBER_PREFIX.fullmatch(text, pos):
        match = _NUMBER.fullmatch(text, pos)
        if match is None:
            raise _Truncated
    else:
        match = _NUMBER.match(text, pos)
        if match is None:
            raise _Invalid
    end = match.end()
    number = match.group()
    if any(c in number for c in ".eE"):
        return float(number), end
    integer = int(number)
    if _INT_MIN <= integer <= _INT_MAX:
        return integer, end
    return float(number), end


def _closed(text: str, start: int, end: int) -> bool:
    """Whether the string at ``start`` that ends at ``end`` got its closing quote."""
    return end - start >= 2 and text[end - 1] == '"' and _STRING_BODY.match(
        text, start + 1
    ).end() == end - 1  # type: ignore[union-attr]


def _partial_object(
    text: str, pos: int, trailing_strings: bool
) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    pos = _skip_json_ws(text, pos)
    if pos < len(text) and text[pos] == "}":
        return result, pos + 1
    while True:
        if pos >= len(text):
            return result, pos
        if text[pos] != '"':
            raise _Invalid
        key, pos = _partial_string(text, pos)
        pos = _skip_json_ws(text, pos)
        if pos >= len(text):
            return result, pos  # a key without its value is dropped
        if text[pos] != ":":
            raise _Invalid
        pos = _skip_json_ws(text, pos + 1)
        try:
            value, pos = _partial_value(text, pos, trailing_strings)
        except _Truncated:
            return result, len(text)
        result[key] = value
        pos = _skip_json_ws(text, pos)
        if pos >= len(text):
            return result, pos
        if text[pos] == "}":
            return result, pos + 1
        if text[pos] != ",":
            raise _Invalid
        pos = _skip_json_ws(text, pos + 1)


def _partial_array(text: str, pos: int, trailing_strings: bool) -> tuple[list[Any], int]:
    result: list[Any] = []
    pos = _skip_json_ws(text, pos)
    if pos < len(text) and text[pos] == "]":
        return result, pos + 1
    while True:
        try:
            value, pos = _partial_value(text, pos, trailing_strings)
        except _Truncated:
            return result, len(text)
        result.append(value)
        pos = _skip_json_ws(text, pos)
        if pos >= len(text):
            return result, pos
        if text[pos] == "]":
            return result, pos + 1
        if text[pos] != ",":
            raise _Invalid
        pos = _skip_json_ws(text, pos + 1)


def _partial_string(text: str, pos: int) -> tuple[str, int]:
    match = _STRING_BODY.match(text, pos + 1)
    end = match.end() if match else pos + 1
    body = text[pos + 1 : end]
    if end < len(text) and text[end] == '"':
        return _decode_string(body), end + 1
    # Unfinished (the body stops at the end of the text, or at a lone backslash just before
    # it). Drop an escape that has not fully arrived: a lone backslash, a \u with fewer than 4
    # hex digits, or a high surrogate still waiting for its low half. Keep the rest.
    units = _COMPLETE_UNITS.match(body)
    kept = units.group() if units else ""
    if not _UNFINISHED_ESCAPE.fullmatch(body[len(kept) :]):
        raise _Invalid
    kept = _TRAILING_HIGH_SURROGATE.sub(r"\1", kept)
    return _decode_string(kept), len(text)


def _decode_string(body: str) -> str:
    try:
        value = orjson.loads('"' + body + '"')
    except orjson.JSONDecodeError as error:
        raise _Invalid from error
    if not isinstance(value, str):
        raise _Invalid
    return value


