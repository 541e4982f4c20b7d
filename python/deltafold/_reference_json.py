"""JSON helpers of :mod:`deltafold.reference` that orjson does not offer.

- :func:`repair_chunk_json`: the structural repair ``on_error="repair"`` applies to a payload;
- :func:`first_too_deep`: where a payload first nests deeper than ``max_depth``;
- :func:`value_position`: where the value at a key path starts, for schema error positions;
- :func:`parse_partial`: a JSON prefix parsed as far as it goes (``parsed_arguments``).

All of them run only on error paths or on demand, never per chunk on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

# A complete JSON string; `\\.` with DOTALL also steps over an escaped raw newline.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Repair tokens: whitespace, complete string, unterminated string (only at the end of input),
# structural character, or a run of scalar characters (copied verbatim, never judged).
_REPAIR_TOKEN = re.compile(
    rb"(?P<ws>[ \t\n\r]+)"
    rb'|(?P<str>"[^"\\]*(?:\\.[^"\\]*)*")'
    rb'|(?P<open_str>"[^"\\]*(?:\\.[^"\\]*)*\\?\Z)'
    rb"|(?P<punct>[{}\[\],:])"
    rb'|(?P<scalar>[^ \t\n\r{}\[\],:"]+)',
    re.DOTALL,
)
# Strings (skipped whole, an unterminated one to the end of input) and brackets: enough to
# follow nesting without parsing values.
_NESTING_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\]]', re.DOTALL)
_WS = b" \t\n\r"

_OBJECT, _ARRAY = 0, 1
# Phases of an open container: what it expects next.
_KEY, _COLON, _VALUE, _AFTER = 0, 1, 2, 3
_CLOSER = {_OBJECT: b"}", _ARRAY: b"]"}


def repair_chunk_json(payload: bytes) -> bytes | None:
    """Repair stray brackets and commas and missing closers; ``None`` if nothing was changed.

    Works on tokens outside strings, keeping a stack of open containers (see the behaviour
    contract, "Repair algorithm"). Strings and scalars are copied verbatim; whether the result
    is valid JSON is for the caller to find out.
    """
    out: list[bytes] = []
    # Each frame: [kind, phase].
    stack: list[list[int]] = []
    changed = False
    tokens = [(m.lastgroup, m.group()) for m in _REPAIR_TOKEN.finditer(payload)]
    for position, (kind, text) in enumerate(tokens):
        top = stack[-1] if stack else None
        if kind == "ws":
            out.append(text)
        elif kind == "str" or kind == "open_str":
            if top is not None and top[0] == _OBJECT and top[1] == _KEY:
                top[1] = _COLON
            elif top is not None:
                top[1] = _AFTER
            out.append(text)
        elif kind == "scalar":
            if top is not None:
                top[1] = _AFTER
            out.append(text)
        elif text in (b"{", b"["):
            if top is not None and top[0] == _OBJECT and top[1] == _KEY:
                changed = True  # rule 1: a container where an object key belongs
                continue
            if top is not None:
                top[1] = _AFTER
            stack.append([_OBJECT if text == b"{" else _ARRAY, _KEY if text == b"{" else _VALUE])
            out.append(text)
        elif text in (b"}", b"]"):
            if top is None or _CLOSER[top[0]] != text:
                changed = True  # rule 2: a closer that matches nothing open
                continue
            stack.pop()
            out.append(text)
        elif text == b",":
            following = _next_significant(tokens, position + 1)
            if following in (b"}", b"]", b","):
                changed = True  # rule 3: a comma before a closer or another comma
                continue
            if top is not None:
                top[1] = _KEY if top[0] == _OBJECT else _VALUE
            out.append(text)
        else:  # ":"
            if top is not None and top[0] == _OBJECT and top[1] == _COLON:
                top[1] = _VALUE
            out.append(text)

    # Rule 4: end of input.
    if tokens and tokens[-1][0] == "open_str":
        out.append(b'"')
        changed = True
    top = stack[-1] if stack else None
    if top is not None and top[0] == _OBJECT:
        if top[1] == _COLON:
            out.append(b":null")
            changed = True
            top[1] = _AFTER
        elif top[1] == _VALUE:
            out.append(b"null")
            changed = True
            top[1] = _AFTER
    last = len(out) - 1
    while last >= 0 and not out[last].strip(_WS):
        last -= 1
    if last >= 0 and out[last] == b",":
        del out[last]
        changed = True
    for frame in reversed(stack):
        out.append(_CLOSER[frame[0]])
        changed = True
    return b"".join(out) if changed else None


def _next_significant(tokens: Sequence[tuple[str | None, bytes]], start: int) -> bytes | None:
    # Whitespace runs are single tokens, so the next token or the one after it is significant.
    for position in range(start, min(start + 2, len(tokens))):
        kind, text = tokens[position]
        if kind != "ws":
            return text
    return None


def first_too_deep(payload: bytes, max_depth: int) -> int | None:
    """Byte position of the first bracket that nests deeper than ``max_depth``, if any.

    The top-level container is depth 1. Strings are skipped, so brackets inside them do not count,
    nor do those after an unterminated string's opening quote (they are string text).
    """
    depth = 0
    for match in _NESTING_TOKEN.finditer(payload):
        char = payload[match.start()]
        if char == 0x22:  # '"'
            continue
        if char in (0x7B, 0x5B):  # '{' '['
            depth += 1
            if depth > max_depth:
                return match.start()
        else:
            depth -= 1
    return None


def value_position(payload: bytes, path: Sequence[str | int]) -> int:
    """Byte position where the value at ``path`` starts in a valid JSON ``payload``.

    Keys are matched after unescaping; with duplicate keys the last one counts (as orjson does).
    Returns the position of the deepest value found if the path leads nowhere.
    """
    pos = _skip_ws(payload, 0)
    for step in path:
        found = _member_position(payload, pos, step)
        if found is None:
            return pos
        pos = found
    return pos


def _member_position(payload: bytes, pos: int, step: str | int) -> int | None:
    opener = payload[pos : pos + 1]
    if opener not in (b"{", b"["):
        return None
    found: int | None = None
    count = 0
    pos = _skip_ws(payload, pos + 1)
    while pos < len(payload) and payload[pos : pos + 1] not in (b"}", b"]"):
        if opener == b"{":
            match = _STRING.match(payload, pos)
            if match is None:
                return found
            key = orjson.loads(match.group())
            pos = _skip_ws(payload, match.end())
            pos = _skip_ws(payload, pos + 1)  # the ':'
            if key == step:
                found = pos
        else:
            if count == step:
                return pos
            count += 1
        pos = _skip_ws(payload, _skip_value(payload, pos))
        if payload[pos : pos + 1] == b",":
            pos = _skip_ws(payload, pos + 1)
    return found


def _skip_ws(payload: bytes, pos: int) -> int:
    while pos < len(payload) and payload[pos] in _WS:
        pos += 1
    return pos


def _skip_value(payload: bytes, pos: int) -> int:
    char = payload[pos : pos + 1]
    if char == b'"':
        match = _STRING.match(payload, pos)
        return match.end() if match else len(payload)
    if char in (b"{", b"["):
        depth = 0
        for match in _NESTING_TOKEN.finditer(payload, pos):
            bracket = payload[match.start()]
            if bracket == 0x22:
                continue
            depth += 1 if bracket in (0x7B, 0x5B) else -1
            if depth == 0:
                return match.end()
        return len(payload)
    end = pos
    while end < len(payload) and payload[end] not in b" \t\n\r,]}":
        end += 1
    return end


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


def parse_partial(text: str) -> Any:
    """The value of a JSON prefix, as jiter's ``partial_mode="trailing-strings"`` gives it.

    An unfinished string keeps its text so far, an unfinished literal or number at the end is
    dropped, unfinished containers are closed, and a key without a value is dropped. Returns
    ``None`` when nothing usable has arrived yet or the text is not a prefix of a JSON document.
    Where jiter is more lenient than JSON, this is not: no NaN/Infinity, nothing after the value,
    and integers outside 64 bits become floats (as orjson reads them).
    """
    try:
        value, end = _partial_value(text, _skip_json_ws(text, 0))
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


def _partial_value(text: str, pos: int) -> tuple[Any, int]:
    """Parse the value at ``pos``; returns it and the position after it (``len(text)`` when the
    text ended inside it and what arrived is kept)."""
    if pos >= len(text):
        raise _Truncated
    char = text[pos]
    if char == "{":
        return _partial_object(text, pos + 1)
    if char == "[":
        return _partial_array(text, pos + 1)
    if char == '"':
        return _partial_string(text, pos)
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


def _partial_object(text: str, pos: int) -> tuple[dict[str, Any], int]:
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
            value, pos = _partial_value(text, pos)
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


def _partial_array(text: str, pos: int) -> tuple[list[Any], int]:
    result: list[Any] = []
    pos = _skip_json_ws(text, pos)
    if pos < len(text) and text[pos] == "]":
        return result, pos + 1
    while True:
        try:
            value, pos = _partial_value(text, pos)
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


# -- deep documents -------------------------------------------------------------------------------

# orjson refuses documents nested deeper than this; deltafold's max_depth may allow more.
ORJSON_MAX_DEPTH = 1024
_DEEP_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DEEP_LITERALS = {0x74: (b"true", True), 0x66: (b"false", False), 0x6E: (b"null", None)}


class DeepSyntaxError(ValueError):
    """A syntax error found by :func:`parse_deep`, at byte ``pos``."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def parse_deep(payload: bytes) -> Any:
    """Parse JSON nested deeper than orjson allows, without recursion.

    Scalars are decoded by orjson itself (one token at a time), so strings and numbers follow
    exactly the rules of every other payload; only the nesting is walked here.
    """
    end = len(payload)
    stack: list[Any] = []  # open containers
    keys: list[Any] = []  # for each open container: the key awaiting its value (objects)
    root: Any = None
    pos = _skip_ws(payload, 0)
    expecting_value = True
    while True:
        if expecting_value:
            if pos >= end:
                raise DeepSyntaxError("unexpected end of data", pos)
            char = payload[pos]
            container: Any
            if char == 0x7B or char == 0x5B:  # '{' '['
                container = {} if char == 0x7B else []
                root = _attach(stack, keys, root, container)
                stack.append(container)
                keys.append(None)
                pos = _skip_ws(payload, pos + 1)
                closer = 0x7D if char == 0x7B else 0x5D
                if pos < end and payload[pos] == closer:
                    stack.pop()
                    keys.pop()
                    pos += 1
                    expecting_value = False
                elif char == 0x7B:
                    pos = _deep_key(payload, pos, keys)
                continue
            value, pos = _deep_scalar(payload, pos)
            root = _attach(stack, keys, root, value)
            expecting_value = False
            continue
        pos = _skip_ws(payload, pos)
        if not stack:
            if pos < end:
                raise DeepSyntaxError("trailing characters", pos)
            return root
        if pos >= end:
            raise DeepSyntaxError("unexpected end of data", pos)
        char = payload[pos]
        is_object = type(stack[-1]) is dict
        if char == 0x2C:  # ','
            pos = _skip_ws(payload, pos + 1)
            if is_object:
                pos = _deep_key(payload, pos, keys)
            expecting_value = True
        elif char == (0x7D if is_object else 0x5D):
            stack.pop()
            keys.pop()
            pos += 1
        else:
            raise DeepSyntaxError("unexpected character", pos)


def _attach(stack: list[Any], keys: list[Any], root: Any, value: Any) -> Any:
    if not stack:
        return value
    top = stack[-1]
    if type(top) is dict:
        top[keys[-1]] = value
    else:
        top.append(value)
    return root


def _deep_key(payload: bytes, pos: int, keys: list[Any]) -> int:
    """Read ``"key" :`` at ``pos``; remember the key; return the position of its value."""
    match = _STRING.match(payload, pos)
    if match is None:
        raise DeepSyntaxError("expected an object key", pos)
    keys[-1] = _deep_token(match.group(), pos)
    pos = _skip_ws(payload, match.end())
    if payload[pos : pos + 1] != b":":
        raise DeepSyntaxError("expected ':'", pos)
    return _skip_ws(payload, pos + 1)


def _deep_scalar(payload: bytes, pos: int) -> tuple[Any, int]:
    char = payload[pos]
    if char == 0x22:  # '"'
        match = _STRING.match(payload, pos)
        if match is None:
            raise DeepSyntaxError("unterminated string", pos)
        return _deep_token(match.group(), pos), match.end()
    literal = _DEEP_LITERALS.get(char)
    if literal is not None:
        word, value = literal
        if payload.startswith(word, pos):
            return value, pos + len(word)
        raise DeepSyntaxError("unexpected character", pos)
    match = _DEEP_NUMBER.match(payload, pos)
    if match is None:
        raise DeepSyntaxError("unexpected character", pos)
    return _deep_token(match.group(), pos), match.end()


def _deep_token(token: bytes, pos: int) -> Any:
    try:
        return orjson.loads(token)
    except orjson.JSONDecodeError as error:
        raise DeepSyntaxError(error.msg, pos) from None
