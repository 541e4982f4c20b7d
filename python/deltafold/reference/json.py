"""JSON helpers orjson does not offer: error positions, and documents nested deeper than
orjson reads.

They run only on error paths or on demand, never per chunk on the hot path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

# A complete JSON string; `\\.` with DOTALL also steps over an escaped raw newline.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Strings (skipped whole, an unterminated one to the end of input) and brackets: enough to
# follow nesting without parsing values.
_NESTING_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[{}\[\]]', re.DOTALL)
_WS = b" \t\n\r"
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
