"""Hostile input, table-driven: every row is an input and its exact expected outcome.

Each row runs against both implementations (the ``impl`` fixture), and a byte input runs three
ways: ``assemble`` on the whole bytes, one ``StreamParser.feed`` of the whole bytes, and (when
small) one ``feed`` per byte, so positions must not depend on how the input is cut into reads.
Generator rows (the 100 MB line, the million events) are fed piece by piece and never held
whole.

Expected values are written from the behaviour contract (DESIGN.md plus the lead's rules): the
positions are computed here from the bytes the rows build (``byte_offset`` is where the event's
payload starts, ``event_index`` counts the events dispatched before it). ``ANY`` marks a field
the contract leaves open (for example where inside a payload a JSON *syntax* error is reported);
it is still checked for internal consistency (``lineno``/``colno`` against ``pos``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold.errors as errors
import pytest
from support import assert_same_completion, choice, chunk, completion, delta


class _Unspecified:
    """A field the contract leaves open."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Unspecified()

MIB = 1 << 20
PieceSource = Callable[[], Iterator[bytes]]


# -- building streams ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Bytes placed into a stream as they are (not wrapped in a ``data:`` event)."""

    data: bytes


def _encode(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def build(*parts: Any, done: bool = True, eol: bytes = b"\n") -> tuple[bytes, list[int]]:
    """A stream of ``data: `` events (and raw bytes); returns it with the payload offsets.

    The offsets list has one entry per event built here (the ``[DONE]`` event included, last),
    not for :class:`Raw` parts.
    """
    out = bytearray()
    starts = []
    for part in (*parts, "[DONE]") if done else parts:
        if isinstance(part, Raw):
            out += part.data
            continue
        out += b"data: "
        starts.append(len(out))
        out += _encode(part) + eol * 2
    return bytes(out), starts


HELLO = chunk(delta(role="assistant", content="Hello"))
FINISH = chunk(delta(finish="stop"))
HELLO_PARTIAL = completion(choice(finish=None, content="Hello"))
HELLO_DONE = completion(choice(content="Hello"))
EMPTY: dict[str, Any] = {
    "id": None,
    "object": "chat.completion",
    "created": None,
    "model": None,
    "choices": [],
    "usage": None,
}


def _without(result: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != key}


def hello_with(text: str, finish: str | None = "stop") -> dict[str, Any]:
    return completion(choice(finish=finish, content="Hello" + text))


# -- expected outcomes ---------------------------------------------------------------------------

ProblemSpec = tuple[str, str, Any, Any]  # kind, action, byte_offset, event_index


@dataclass(frozen=True)
class Completes:
    """``finish()`` returns ``result`` (exact, key order included, or a checking function) and
    ``problems`` lists exactly these (kind, action, byte_offset, event_index)."""

    result: dict[str, Any] | Callable[[dict[str, Any]], None]
    problems: tuple[ProblemSpec, ...] = ()


@dataclass(frozen=True)
class Raises:
    """The first error raised (by ``feed`` or ``finish``), with its exact fields.

    ``then``: what ``finish()`` returns when the same parser is fed the rest of the input after
    the error (the parser stays usable and nothing assembled is lost).
    """

    error: type[errors.DeltafoldError]
    byte_offset: Any = ANY
    event_index: Any = ANY
    partial: Any = ANY
    limit: str | None = None
    pos: Any = ANY
    doc: Any = ANY
    body: Any = ANY
    then: dict[str, Any] | None = None


@dataclass(frozen=True)
class Row:
    name: str
    source: bytes | PieceSource
    options: dict[str, Any]
    expected: Completes | Raises
    # Generator rows only: how much the resident set may grow while the input is fed.
    max_rss_growth: int | None = None


ROWS: list[Row] = []


def row(name: str, source: bytes | PieceSource, expected: Completes | Raises, **kw: Any) -> None:
    options = kw.pop("options", {})
    ROWS.append(Row(name, source, options, expected, **kw))


# -- rows: wrong types in every field --------------------------------------------------------------

# "@" marks where the offending value starts (the position the error must report); it is removed
# before sending. Each payload sits between HELLO and FINISH.
WRONG_TYPES = {
    "payload is an array": "@[1]",
    "payload is a string": '@"chunk"',
    "payload is null": "@null",
    "payload is a number": "@42",
    "id is a number": '{"id": @5, "choices": []}',
    "model is a list": '{"model": @["m"]}',
    "system_fingerprint is a number": '{"system_fingerprint": @1}',
    "service_tier is an object": '{"service_tier": @{}}',
    "created is a string": '{"created": @"1"}',
    "created is a float": '{"created": @1.5}',
    "created is a bool": '{"created": @true}',
    "created beyond u64 is a float": '{"created": @18446744073709551616}',
    "choices is an object": '{"choices": @{"index": 0}}',
    "choices is a string": '{"choices": @"x"}',
    "choice is a number": '{"choices": [@1]}',
    "choice is null": '{"choices": [@null]}',
    "second choice is a list": '{"choices": [{"index": 0}, @[]]}',
    "choice index is a string": '{"choices": [{"index": @"0"}]}',
    "choice index is a bool": '{"choices": [{"index": @true}]}',
    "choice index is a float": '{"choices": [{"index": @0.0}]}',
    "choice index in exponent form": '{"choices": [{"index": @1e0}]}',
    "choice index is negative": '{"choices": [{"index": @-1}]}',
    "choice index is i64 min": '{"choices": [{"index": @-9223372036854775808}]}',
    "choice index beyond u64": '{"choices": [{"index": @18446744073709551616}]}',
    "delta is a list": '{"choices": [{"index": 0, "delta": @[]}]}',
    "delta is a string": '{"choices": [{"index": 0, "delta": @"hi"}]}',
    "finish_reason is a number": '{"choices": [{"index": 0, "finish_reason": @1}]}',
    "finish_reason is a bool": '{"choices": [{"index": 0, "finish_reason": @false}]}',
    "logprobs is a string": '{"choices": [{"index": 0, "logprobs": @"x"}]}',
    "logprobs.content is an object": '{"choices": [{"index": 0, "logprobs": {"content": @{}}}]}',
    "logprobs.refusal is a string": '{"choices": [{"index": 0, "logprobs": {"refusal": @"x"}}]}',
    "usage is a string": '{"choices": [], "usage": @"12 tokens"}',
    "usage is a list": '{"usage": @[1, 2]}',
    "usage is a number": '{"usage": @0}',
    "role is a number": '{"choices": [{"index": 0, "delta": {"role": @1}}]}',
    "refusal is a bool": '{"choices": [{"index": 0, "delta": {"refusal": @false}}]}',
    "content is a number": '{"choices": [{"index": 0, "delta": {"content": @5}}]}',
    "content is an object": '{"choices": [{"index": 0, "delta": {"content": @{"text": "a"}}}]}',
    "content is a bool": '{"choices": [{"index": 0, "delta": {"content": @true}}]}',
    "tool_calls is an object": (
        '{"choices": [{"index": 0, "delta": {"tool_calls": @{"index": 0}}}]}'
    ),
    "tool_calls is a string": '{"choices": [{"index": 0, "delta": {"tool_calls": @"f"}}]}',
    "tool call is a string": '{"choices": [{"index": 0, "delta": {"tool_calls": [@"call"]}}]}',
    "tool call is null": '{"choices": [{"index": 0, "delta": {"tool_calls": [@null]}}]}',
    "tool call index is negative": '{"choices": [{"delta": {"tool_calls": [{"index": @-1}]}}]}',
    "tool call index is a string": '{"choices": [{"delta": {"tool_calls": [{"index": @"0"}]}}]}',
    "tool call index is a bool": '{"choices": [{"delta": {"tool_calls": [{"index": @true}]}}]}',
    "tool call index beyond u64": (
        '{"choices": [{"delta": {"tool_calls": [{"index": @18446744073709551616}]}}]}'
    ),
    "tool call id is a number": (
        '{"choices": [{"delta": {"tool_calls": [{"index": 0, "id": @7}]}}]}'
    ),
    "tool call type is a number": (
        '{"choices": [{"delta": {"tool_calls": [{"index": 0, "type": @7}]}}]}'
    ),
    "function is a string": (
        '{"choices": [{"delta": {"tool_calls": [{"index": 0, "function": @"f"}]}}]}'
    ),
    "function is a list": '{"choices": [{"delta": {"tool_calls": [{"function": @[]}]}}]}',
    "function.name is a list": (
        '{"choices": [{"delta": {"tool_calls": [{"function": {"name": @["f"]}}]}}]}'
    ),
    "function.arguments is an object": (
        '{"choices": [{"delta": {"tool_calls": [{"function": {"arguments": @{"a": 1}}}]}}]}'
    ),
    "function.arguments is a number": (
        '{"choices": [{"delta": {"tool_calls": [{"function": {"arguments": @1}}]}}]}'
    ),
    "function_call is a string": '{"choices": [{"delta": {"function_call": @"f"}}]}',
    "function_call.name is a number": '{"choices": [{"delta": {"function_call": {"name": @1}}}]}',
    "function_call.arguments is an object": (
        '{"choices": [{"delta": {"function_call": {"arguments": @{}}}}]}'
    ),
    "audio is a string": '{"choices": [{"index": 0, "delta": {"audio": @"x"}}]}',
    "audio is a list": '{"choices": [{"index": 0, "delta": {"audio": @[]}}]}',
    # The offending value comes after valid members that would change the result if applied.
    "valid fields first, then a bad one": (
        '{"id": "other", "choices": [{"index": 0, "delta": {"content": "!"}}], "created": @"x"}'
    ),
}

for _name, _template in WRONG_TYPES.items():
    _payload = _template.replace("@", "")
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        f"wrong type: {_name}",
        _data,
        Raises(
            errors.ChunkDecodeError,
            byte_offset=_at[1],
            event_index=1,
            partial=HELLO_PARTIAL,
            pos=_template.index("@"),
            doc=_payload,
            then=HELLO_DONE,
        ),
    )

_data, _at = build(HELLO, '{"choices": [], "usage": "12 tokens"}', FINISH)
row(
    "wrong type, skip mode: usage a string is dropped",
    _data,
    Completes(HELLO_DONE, (("ChunkDecodeError", "skipped", _at[1], 1),)),
    options={"on_error": "skip"},
)
_data, _at = build(HELLO, '{"choices": [{"index": 0, "delta": {"content": 5}}]}', FINISH)
row(
    "wrong type, repair mode: valid JSON is not repaired, it is skipped",
    _data,
    Completes(HELLO_DONE, (("ChunkDecodeError", "skipped", _at[1], 1),)),
    options={"on_error": "repair"},
)

# -- rows: garbage, NULs, bad encodings ----------------------------------------------------------

row(
    "garbage bytes without a line end",
    b"\x8f\xff\x00\x13garbage\xfe\x01",
    # No SSE line anywhere: the input is not an event stream (its first bytes are shown).
    Raises(errors.StreamDecodeError, byte_offset=0, partial=EMPTY),
)
row(
    "garbage bytes without a line end, skip mode",
    b"\x8f\xff\x00\x13garbage\xfe\x01",
    # Not a bad chunk to skip: the whole input is wrong, in every mode.
    Raises(errors.StreamDecodeError, byte_offset=0, partial=EMPTY),
    options={"on_error": "skip"},
)
row(
    "garbage lines before a stream are unknown fields",
    b"\xff\xfe\xfd\x00junk\n\x80\x81: x\n\n" + build(HELLO, FINISH)[0],
    Completes(HELLO_DONE),
)
row(
    "binary noise lines between events",
    build(HELLO, Raw(b"\x00\x01\x02\x03\n\x7f\x1b[2J\n\n"), FINISH)[0],
    Completes(HELLO_DONE),
)
_data, _at = build(HELLO, b"\xff\xfe\x00garbage", FINISH)
row(
    "garbage as a payload",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        doc="\ufffd\ufffd\x00garbage",
        then=HELLO_DONE,
    ),
)
row(
    "garbage as a payload, repair mode: nothing to repair, skipped",
    _data,
    Completes(HELLO_DONE, (("ChunkDecodeError", "skipped", _at[1], 1),)),
    options={"on_error": "repair"},
)
_data, _at = build(HELLO, b'{"choices":[{"index":0,"delta":{"content":"a\x00b"}}]}', FINISH)
row(
    "raw NUL inside a JSON string",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, partial=HELLO_PARTIAL),
)
row(
    "escaped NUL inside a JSON string is text",
    build(HELLO, '{"choices":[{"index":0,"delta":{"content":"a\\u0000b"}}]}', FINISH)[0],
    Completes(hello_with("a\x00b")),
)
_data, _at = build(HELLO, b'{"choices":[]}\x00', FINISH)
row(
    "NUL after the JSON value",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, then=HELLO_DONE),
)
row(
    "NUL in the event type and in the id field",
    build(HELLO, Raw(b"event: \x00\nid: a\x00b\n"), chunk(delta(content="!")), FINISH)[0],
    Completes(hello_with("!")),
)
row(
    "NUL-only lines",
    build(HELLO, Raw(b"\x00\n\x00\x00\x00\n\n"), FINISH)[0],
    Completes(HELLO_DONE),
)


def _content_payload(json_text: bytes) -> bytes:
    return b'{"choices":[{"index":0,"delta":{"content":' + json_text + b"}}]}"


for _name, _text in {
    "lone high surrogate escape": b'"\\ud800"',
    "lone low surrogate escape": b'"\\udc00x"',
    "high surrogate then a non-surrogate escape": b'"\\ud800\\u0041"',
    "surrogate pair in the wrong order": b'"\\ude00\\ud83d"',
    "high surrogate at the end of the string": b'"abc\\udbff"',
    "truncated UTF-8 sequence": b'"\xe4\xb8"',
    "overlong UTF-8 encoding": b'"\xc0\xaf"',
    "UTF-8 encoded surrogate": b'"\xed\xa0\x80"',
    "raw control character": b'"a\tb"',
    "invalid escape": b'"\\x41"',
}.items():
    _data, _at = build(HELLO, _content_payload(_text), FINISH)
    row(
        f"bad string: {_name}",
        _data,
        Raises(
            errors.ChunkDecodeError,
            byte_offset=_at[1],
            event_index=1,
            partial=HELLO_PARTIAL,
            then=HELLO_DONE,
        ),
    )

for _name, _payload in {
    "lone surrogate in an unknown key's nested value": '{"x": {"y": ["\\udfff"]}, "choices": []}',
    "lone surrogate in an object key": '{"\\ud800": 1}',
    "lone surrogate in the model": '{"model": "\\ud800"}',
    "lone surrogate in tool-call arguments": (
        '{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\udc00"}}]}}]}'
    ),
}.items():
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        _name,
        _data,
        Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, partial=HELLO_PARTIAL),
    )

row(
    "valid surrogate pair escape",
    build(HELLO, _content_payload(b'"\\ud83d\\ude00"'), FINISH)[0],
    Completes(hello_with("\U0001f600")),
)
row(
    "line separators inside a string are not line ends",
    build(HELLO, _content_payload('"\u2028\u2029\x85"'.encode()), FINISH)[0],
    Completes(hello_with("\u2028\u2029\x85")),
)

# -- rows: indices -------------------------------------------------------------------------------


def _limit_row(name: str, payload: Any, limit: str, **options: Any) -> None:
    data, at = build(HELLO, payload, FINISH)
    row(
        name,
        data,
        Raises(
            errors.LimitExceededError,
            byte_offset=at[1],
            event_index=1,
            partial=HELLO_PARTIAL,
            limit=limit,
            then=HELLO_DONE,
        ),
        options=options,
    )


_limit_row("choice index 2^32-1", chunk(delta(index=2**32 - 1, content="x")), "max_choice_index")
_limit_row("choice index u64 max", chunk(delta(index=2**64 - 1, content="x")), "max_choice_index")
_limit_row(
    "tool-call index 2^32-1",
    chunk(delta(tool_calls=[{"index": 2**32 - 1, "function": {"name": "f"}}])),
    "max_tool_calls",
)
_limit_row(
    "choice index one over a small limit",
    chunk(delta(index=3, content="x")),
    "max_choice_index",
    max_choice_index=2,
)
_limit_row(
    "choice index 1 with max_choice_index 0",
    chunk(delta(index=1, content="x")),
    "max_choice_index",
    max_choice_index=0,
)
_limit_row(
    "tool-call index equal to max_tool_calls",
    chunk(delta(tool_calls=[{"index": 2, "id": "c", "function": {"name": "f"}}])),
    "max_tool_calls",
    max_tool_calls=2,
)
_limit_row(
    "third call started by name with max_tool_calls 2",
    chunk(
        delta(
            tool_calls=[
                {"function": {"name": "a", "arguments": "{}"}},
                {"function": {"name": "b", "arguments": "{}"}},
                {"function": {"name": "c", "arguments": "{}"}},
            ]
        )
    ),
    "max_tool_calls",
    max_tool_calls=2,
)
_data, _at = build(HELLO, chunk(delta(index=2**32 - 1, content="x")), FINISH)
row(
    "choice index 2^32-1, skip mode",
    _data,
    Completes(HELLO_DONE, (("LimitExceededError", "skipped", _at[1], 1),)),
    options={"on_error": "skip"},
)
row(
    "choice index 0 with max_choice_index 0",
    build(chunk(delta(content="a", finish="stop")))[0],
    Completes(completion(choice(content="a"))),
    options={"max_choice_index": 0},
)
row(
    "choice index at max_choice_index",
    build(chunk(delta(index=7, content="a", finish="stop")))[0],
    Completes(completion(choice(index=7, content="a"))),
    options={"max_choice_index": 7},
)
row(
    "negative zero is index 0 (orjson reads -0 as the integer 0)",
    build('{"choices":[{"index":-0,"delta":{"content":"z"},"finish_reason":"stop"}]}')[0],
    Completes({**EMPTY, "choices": [choice(content="z")]}),
)

# -- rows: duplicate keys (last wins, also for validation) -----------------------------------------

row(
    "duplicate content key",
    build(HELLO, '{"choices":[{"index":0,"delta":{"content":"a","content":"b"}}]}', FINISH)[0],
    Completes(hello_with("b")),
)
row(
    "duplicate choice index: the last one counts",
    build(HELLO, '{"choices":[{"index":5,"delta":{"content":"!"},"index":0}]}', FINISH)[0],
    Completes(hello_with("!")),
)
row(
    "duplicate key: invalid value then valid value",
    build(HELLO, '{"choices":[{"index":0,"delta":{"content":5,"content":"ok"}}]}', FINISH)[0],
    Completes(hello_with("ok")),
)
_template = '{"choices":[{"index":0,"delta":{"content":"ok","content":@5}}]}'
_data, _at = build(HELLO, _template.replace("@", ""), FINISH)
row(
    "duplicate key: valid value then invalid value",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        pos=_template.index("@"),
        then=HELLO_DONE,
    ),
)
row(
    "duplicate choices key: the first list is ignored",
    build(
        HELLO,
        '{"choices":[{"index":1,"delta":{"content":"A"}}],"choices":[{"delta":{"content":"B"}}]}',
        FINISH,
    )[0],
    Completes(hello_with("B")),
)
row(
    "duplicate id key",
    build(
        '{"id":"first","id":"second","choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}'
    )[0],
    Completes({**EMPTY, "id": "second", "choices": [choice(content="x")]}),
)
row(
    "duplicate error key ending in null is not an error",
    build(
        HELLO,
        '{"error":{"message":"x"},"error":null,"choices":[{"delta":{"content":"!"}}]}',
        FINISH,
    )[0],
    # Whether a null `error` key is kept as an ordinary top-level key is left open: only the
    # chunk's being merged is checked.
    Completes(lambda result: assert_same_completion(_without(result, "error"), hello_with("!"))),
)
row(
    "duplicate finish_reason key",
    build(HELLO, '{"choices":[{"index":0,"finish_reason":"length","finish_reason":"stop"}]}')[0],
    Completes(HELLO_DONE),
)

# -- rows: nesting -------------------------------------------------------------------------------

DEEP = 100_000
for _name, _payload in {
    "nesting 100,000 deep (arrays)": '{"x": ' + "[" * DEEP + "]" * DEEP + "}",
    "nesting 100,000 deep (objects)": '{"x": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}",
    "nesting 100,000 deep, never closed": '{"x": ' + "[" * DEEP,
    "nesting 100,000 deep inside choices": '{"choices": [{"index": 0, "delta": {"x": '
    + "[" * DEEP
    + "]" * DEEP
    + "}}]}",
}.items():
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        _name,
        _data,
        Raises(
            errors.LimitExceededError,
            byte_offset=_at[1],
            event_index=1,
            partial=HELLO_PARTIAL,
            limit="max_depth",
            then=HELLO_DONE,
        ),
    )

_data, _at = build(HELLO, '{"x": ' + "[" * DEEP, FINISH)
row(
    "nesting 100,000 deep and unclosed, repair mode: a limit error is not repaired",
    _data,
    Completes(HELLO_DONE, (("LimitExceededError", "skipped", _at[1], 1),)),
    options={"on_error": "repair"},
)
_data, _at = build(HELLO, '{"x": ' + "[" * 254 + "]" * 254 + "}", FINISH)
row(
    "nesting 255 deep against the largest max_depth",
    _data,
    Raises(
        errors.LimitExceededError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        limit="max_depth",
    ),
    options={"max_depth": 254},
)


def _nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def _depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        value = value[0] if value else None
    return depth


def _has_extra_of_depth(depth: int) -> Callable[[dict[str, Any]], None]:
    def check(result: dict[str, Any]) -> None:
        assert result["choices"] == HELLO_DONE["choices"]
        assert list(result) == [*HELLO_DONE, "x"]
        assert _depth_of(result["x"]) == depth

    return check


# Depth: the top-level object is 1, so {"x": <199 lists>} is 200 deep.
row(
    "nesting exactly at max_depth 200",
    build(HELLO, '{"x": ' + _nested_lists(199) + "}", FINISH)[0],
    Completes(_has_extra_of_depth(199)),
    options={"max_depth": 200},
)
row(
    "nesting exactly at the largest max_depth (254, the deepest orjson serialises)",
    build(HELLO, '{"x": ' + _nested_lists(253) + "}", FINISH)[0],
    Completes(_has_extra_of_depth(253)),
    options={"max_depth": 254},
)
_data, _at = build(HELLO, '{"x": ' + _nested_lists(200) + "}", FINISH)
row(
    "nesting one over max_depth 200",
    _data,
    Raises(errors.LimitExceededError, byte_offset=_at[1], event_index=1, limit="max_depth"),
    options={"max_depth": 200},
)
_data, _at = build(HELLO, '{"usage": {"d": {"e": {"f": {"g": 1}}}}}', FINISH)
row(
    "nesting over max_depth inside usage",
    _data,
    Raises(errors.LimitExceededError, byte_offset=_at[1], event_index=1, limit="max_depth"),
    options={"max_depth": 4},
)
row(
    "brackets inside a string are not nesting",
    build(HELLO, _content_payload(json.dumps("[" * 5000).encode()), FINISH)[0],
    Completes(hello_with("[" * 5000)),
)

# -- rows: numbers -------------------------------------------------------------------------------

for _name, _payload in {
    "float overflowing to infinity": '{"choices": [], "x": 1e400}',
    "negative float overflowing to infinity": '{"choices": [], "x": -1e400}',
    "NaN literal": '{"choices": [], "x": NaN}',
    "Infinity literal": '{"choices": [], "x": Infinity}',
    "leading zero": '{"choices": [], "x": 01}',
    "lone minus": '{"choices": [], "x": -}',
}.items():
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        _name,
        _data,
        Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, then=HELLO_DONE),
    )
row(
    "integer beyond u64 in an unknown key becomes a float",
    build('{"choices":[{"delta":{},"finish_reason":"stop"}],"x":1180591620717411303424}')[0],
    Completes({**EMPTY, "choices": [choice()], "x": float(2**70)}),
)
row(
    "created u64 max is kept as an integer",
    build('{"created":18446744073709551615,"choices":[{"finish_reason":"stop"}]}')[0],
    Completes({**EMPTY, "created": 2**64 - 1, "choices": [choice()]}),
)
row(
    "created 0 is empty, the next non-zero wins",
    build('{"created":0}', '{"created":-5}', '{"created":7,"choices":[{"finish_reason":"stop"}]}')[
        0
    ],
    Completes({**EMPTY, "created": -5, "choices": [choice()]}),
)

# -- rows: line limits, a 100 MB line, a million events --------------------------------------------


def _hundred_mb_line() -> Iterator[bytes]:
    yield build(HELLO, done=False)[0]
    yield b"data: "
    block = b"x" * MIB  # the same object every time: the test itself holds 1 MiB
    for _ in range(100):
        yield block
    yield b"\n\n"
    yield build(FINISH)[0]


_line_start = len(build(HELLO, done=False)[0])
row(
    "100 MB line against a 1 MiB limit",
    _hundred_mb_line,
    Raises(
        errors.LimitExceededError,
        byte_offset=_line_start,
        event_index=1,
        partial=HELLO_PARTIAL,
        limit="max_line_bytes",
        then=HELLO_DONE,
    ),
    options={"max_line_bytes": MIB},
    max_rss_growth=40 * MIB,
)
row(
    "100 MB line against a 1 MiB limit, skip mode",
    _hundred_mb_line,
    Completes(HELLO_DONE, (("LimitExceededError", "skipped", _line_start, 1),)),
    options={"max_line_bytes": MIB, "on_error": "skip"},
    max_rss_growth=40 * MIB,
)

_line = b"data: " + json.dumps(chunk(delta(content="x" * 40, finish="stop"))).encode()
_data = build(HELLO, Raw(_line + b"\n\n"))[0]
row(
    "line exactly at max_line_bytes",
    _data,
    Completes(hello_with("x" * 40)),
    options={"max_line_bytes": len(_line)},
)
row(
    "line one byte over max_line_bytes",
    _data,
    Raises(
        errors.LimitExceededError,
        byte_offset=_data.index(_line),
        event_index=1,
        partial=HELLO_PARTIAL,
        limit="max_line_bytes",
    ),
    options={"max_line_bytes": len(_line) - 1},
)
_comment = b": " + b"c" * 3000
# The comment is an event of its own: whether the other lines of an event holding an over-long
# line are dispatched is left open by the contract.
_data = build(HELLO, Raw(_comment + b"\n\n"), FINISH)[0]
row(
    "an over-long comment line is over the limit too",
    _data,
    Completes(HELLO_DONE, (("LimitExceededError", "skipped", _data.index(_comment), 1),)),
    options={"max_line_bytes": 1000, "on_error": "skip"},
)
# Lines of 17, 9 and 73 bytes; joined data of 83 bytes.
row(
    "lines each under the limit whose joined data is over it",
    build(Raw(b'data: {"choices":\ndata: [],\ndata: "x":"' + b"y" * 60 + b'"}\n\n'))[0],
    Raises(errors.LimitExceededError, event_index=0, partial=EMPTY, limit="max_line_bytes"),
    options={"max_line_bytes": 75},
)

_first, _second = json.dumps(HELLO).encode(), json.dumps(FINISH).encode()
_data, _at = build(_first, _second, done=False)
row(
    "total payload bytes over max_buffer_bytes",
    _data,
    Raises(
        errors.LimitExceededError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        limit="max_buffer_bytes",
    ),
    options={"max_buffer_bytes": len(_first) + len(_second) - 1},
)

_EMPTY_EVENT = b"data:\n\n"
_X_EVENT = b'data:{"choices":[{"delta":{"content":"x"}}]}\n\n'
_BLOCK = _EMPTY_EVENT * 999 + _X_EVENT  # 1000 events
_MILLION_BAD_AT = 1000 * len(_BLOCK) + len(b"data:")


def _million_events() -> Iterator[bytes]:
    for _ in range(1000):
        yield _BLOCK
    yield b'data:{"x"\n\n'
    yield build(chunk(delta(finish="stop"), id=None, model=None, created=None))[0]


_million_text = {
    **EMPTY,
    "choices": [choice(finish=None, content="x" * 1000)],
}
row(
    "a million tiny events, then a bad one (event 1,000,000)",
    _million_events,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_MILLION_BAD_AT,
        event_index=1_000_000,
        partial=_million_text,
        doc='{"x"',
        then={**EMPTY, "choices": [choice(content="x" * 1000)]},
    ),
)

# -- rows: BOMs ----------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"
row(
    "BOM mid-stream: the line's field becomes BOM+data and is ignored",
    build(HELLO, Raw(BOM + b'data: {"choices":[{"delta":{"content":" lost"}}]}\n\n'), FINISH)[0],
    Completes(HELLO_DONE),
)
_data, _at = build(Raw(BOM), HELLO, "{bad", FINISH)
row(
    "leading BOM is stripped and counted in byte offsets",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, partial=HELLO_PARTIAL),
)
row(
    "only one leading BOM is stripped",
    build(Raw(BOM + BOM), chunk(delta(content="lost")), HELLO, FINISH)[0],
    Completes(HELLO_DONE),
)
_data, _at = build(HELLO, BOM + b'{"choices":[]}', FINISH)
row(
    "BOM at the start of a payload is not JSON",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, partial=HELLO_PARTIAL),
)

# -- rows: [DONE] ----------------------------------------------------------------------------------

_data, _at = build(HELLO, FINISH, "[DONE]")
row(
    "[DONE] twice",
    _data,
    Completes(HELLO_DONE, (("DataAfterDone", "ignored", _at[3], 3),)),
)
_data, _at = build(HELLO, FINISH, "[DONE]", chunk(delta(content=" more")), "{bad json")
row(
    "data after [DONE] is ignored, even invalid JSON, in raise mode",
    _data,
    Completes(
        HELLO_DONE,
        (
            ("DataAfterDone", "ignored", _at[3], 3),
            ("DataAfterDone", "ignored", _at[4], 4),
            ("DataAfterDone", "ignored", _at[5], 5),
        ),
    ),
    options={"on_error": "raise"},
)
_data, _at = build(
    HELLO, FINISH, "[DONE]", Raw(b'event: error\ndata: {"message":"late"}\n\n'), done=False
)
_late = _data.index(b'{"message"')
row(
    "an error event after [DONE] is ignored too",
    _data,
    Completes(HELLO_DONE, (("DataAfterDone", "ignored", _late, 3),)),
    options={"on_error": "skip"},
)
row(
    "[DONE] with surrounding whitespace",
    build(HELLO, "\t [DONE] \x0c\r", done=False)[0],
    Completes(HELLO_PARTIAL),
)
_data, _at = build(HELLO, Raw(b"data: [DONE]\ndata: x\n\n"), FINISH)
row(
    "[DONE] joined with another data line is not [DONE]",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_data.index(b"[DONE]\n"),
        event_index=1,
        doc="[DONE]\nx",
        partial=HELLO_PARTIAL,
        then=HELLO_DONE,
    ),
)
row(
    "[DONE] without a blank line after it is never dispatched",
    build(HELLO, Raw(b"data: [DONE]\n"), done=False)[0],
    Raises(errors.IncompleteStreamError, partial=HELLO_PARTIAL),
)
row("[DONE] alone", build()[0], Completes(EMPTY))

# -- rows: truncation ----------------------------------------------------------------------------

row(
    "no [DONE], no finish_reason",
    build(HELLO, done=False)[0],
    Raises(errors.IncompleteStreamError, partial=HELLO_PARTIAL),
)
row(
    "no [DONE], no finish_reason, allow_truncated",
    build(HELLO, done=False)[0],
    Completes(HELLO_PARTIAL, (("IncompleteStreamError", "ignored", ANY, ANY),)),
    options={"allow_truncated": True},
)
row(
    "no [DONE] but every choice finished",
    build(HELLO, FINISH, done=False)[0],
    Completes(HELLO_DONE),
)
row(
    "no [DONE], one of two choices unfinished",
    build(HELLO, chunk(delta(index=1, content="b")), FINISH, done=False)[0],
    Raises(
        errors.IncompleteStreamError,
        partial=completion(choice(content="Hello"), choice(index=1, finish=None, content="b")),
    ),
)
row("empty input", b"", Raises(errors.IncompleteStreamError, partial=EMPTY))
row(
    "chunks without choices and no [DONE]",
    build({"choices": []}, {}, done=False)[0],
    Raises(errors.IncompleteStreamError, partial=EMPTY),
)
row(
    "unterminated last event is never processed",
    build(
        HELLO,
        Raw(b'data: {"choices":[{"delta":{"content":"!"},"finish_reason":"stop"}]}\n'),
        done=False,
    )[0],
    Raises(errors.IncompleteStreamError, partial=HELLO_PARTIAL),
)

# -- rows: in-band errors --------------------------------------------------------------------------

_data, _at = build(HELLO, '{"error":{"message":"boom","code":500}}', FINISH)
row(
    "in-band error object",
    _data,
    Raises(
        errors.StreamAPIError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        body={"message": "boom", "code": 500},
        then=HELLO_DONE,
    ),
)
_data, _at = build(HELLO, '{"object":"error","message":"bad model"}', FINISH)
row(
    "object: error payload",
    _data,
    Raises(
        errors.StreamAPIError,
        byte_offset=_at[1],
        event_index=1,
        partial=HELLO_PARTIAL,
        body={"object": "error", "message": "bad model"},
    ),
)
_data = build(HELLO, Raw(b"event: error\ndata: upstream \xff died\n\n"), FINISH)[0]
row(
    "event: error with a non-JSON body",
    _data,
    Raises(
        errors.StreamAPIError,
        byte_offset=_data.index(b"upstream"),
        event_index=1,
        partial=HELLO_PARTIAL,
        body="upstream \ufffd died",
        then=HELLO_DONE,
    ),
)
_data, _at = build(HELLO, '{"error":"rate limited"}', FINISH)
row(
    "in-band error string, skip mode",
    _data,
    Completes(HELLO_DONE, (("StreamAPIError", "skipped", _at[1], 1),)),
    options={"on_error": "skip"},
)
_data, _at = build(HELLO, '{"error":{"message":', FINISH)
row(
    "in-band error that is not valid JSON is a decode error",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, partial=HELLO_PARTIAL),
)

# -- rows: SSE framing oddities --------------------------------------------------------------------

row(
    "lone CR line ends",
    build(HELLO, FINISH, eol=b"\r")[0],
    Completes(HELLO_DONE),
)
row(
    "payload split over data lines",
    build(HELLO, Raw(b'data: {"choices":\ndata: [{"delta":\ndata: {"content":"!"}}]}\n\n'), FINISH)[
        0
    ],
    Completes(hello_with("!")),
)
_lines = b'data: {"choices":\ndata: [{"index":\ndata:   -1}]}\n\n'
_data = build(HELLO, Raw(_lines), FINISH)[0]
row(
    "schema error on the third data line: lineno and colno",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_data.index(b'{"choices":\n'),
        event_index=1,
        doc='{"choices":\n[{"index":\n  -1}]}',
        pos=len('{"choices":\n[{"index":\n  '),
        partial=HELLO_PARTIAL,
    ),
)
_template = '{"model":"中文模型","id":@5}'
_data, _at = build(HELLO, _template.replace("@", ""), FINISH)
row(
    "schema error after non-ASCII text: pos counts characters",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_at[1],
        event_index=1,
        pos=_template.index("@"),
        doc=_template.replace("@", ""),
    ),
)
_data = build(HELLO, Raw(b'data:  {"id": 5}\n\n'), FINISH)[0]
row(
    "two spaces after data: only one is removed, the payload starts at the second",
    _data,
    Raises(
        errors.ChunkDecodeError,
        byte_offset=_data.index(b'data:  {"id"') + len(b"data: "),
        event_index=1,
        doc=' {"id": 5}',
        pos=len(' {"id": '),
    ),
)
_data, _at = build(HELLO, Raw(b"data: \t \n\ndata:\n\n"), "{bad", FINISH)
row(
    "whitespace-only and empty data are ignored but counted as events",
    _data,
    Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=3, partial=HELLO_PARTIAL),
)
row(
    "field names are case-sensitive",
    build(HELLO, Raw(b'Data: {"choices":[{"delta":{"content":"lost"}}]}\n\n'), FINISH)[0],
    Completes(HELLO_DONE),
)
row(
    "comments, retry and id noise are ignored",
    build(Raw(b": \xff\xfe\n:\n"), HELLO, Raw(b"retry: x1\nid: 7\nretry\n\n"), FINISH)[0],
    Completes(HELLO_DONE),
)
row(
    "a lone CR inside a data line ends it",
    build(HELLO, Raw(b'data: {"choices":[{"finish_reason":"stop"}]}\rjunk: 1\r\r'))[0],
    Completes(HELLO_DONE),
)
for _name, _payload in {
    "trailing text after the JSON value": '{"choices": []} x',
    "two JSON values in one payload": '{"choices": []}{"choices": []}',
    "[DONE] lookalike": "[DONE]x",
}.items():
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        _name,
        _data,
        Raises(errors.ChunkDecodeError, byte_offset=_at[1], event_index=1, doc=_payload),
    )

# -- rows: repair ----------------------------------------------------------------------------------

for _name, _payload in {
    "stray opener where a key is expected": (
        '{"choices":[{"index":0,"delta":{"content":"x"},{"finish_reason":null}]}'
    ),
    "stray closer": '{"choices":[{"index":0,"delta":{"content":"x"}],"finish_reason":null}]}',
    "missing closers": '{"choices":[{"index":0,"delta":{"content":"x"',
    "open string at the end": '{"choices":[{"index":0,"delta":{"content":"x',
}.items():
    _data, _at = build(HELLO, _payload, FINISH)
    row(
        f"repair: {_name}",
        _data,
        Completes(hello_with("x"), (("ChunkDecodeError", "repaired", _at[1], 1),)),
        options={"on_error": "repair"},
    )
_data, _at = build(HELLO, '{"choices":[{"index":-1,"delta":{"content":"x"', FINISH)
row(
    "repair: repaired text is valid JSON but not a valid chunk",
    _data,
    Completes(HELLO_DONE, (("ChunkDecodeError", "skipped", _at[1], 1),)),
    options={"on_error": "repair"},
)


# -- running a row ---------------------------------------------------------------------------------


def _rss() -> int | None:
    """The resident set size now (not the peak), or None where /proc is not available."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


@dataclass
class Outcome:
    result: dict[str, Any] | None = None  # what finish() returned, if it returned
    raised: list[errors.DeltafoldError] = field(default_factory=list)
    snapshot_after_first_error: dict[str, Any] | None = None
    parser: Any = None
    rss_growth: int = 0


def _feed_all(impl: ModuleType, pieces: Iterable[bytes], options: dict[str, Any]) -> Outcome:
    """Feed every piece and finish; an error is noted and the same parser fed on."""
    outcome = Outcome(parser=impl.StreamParser(**options))
    parser = outcome.parser

    def note(error: errors.DeltafoldError) -> None:
        if not outcome.raised:
            outcome.snapshot_after_first_error = parser.snapshot()
        outcome.raised.append(error)

    start_rss = _rss()
    for piece in pieces:
        try:
            parser.feed(piece)
        except errors.DeltafoldError as error:
            note(error)
            # The rest of the failed read was kept: the next feed continues right after the
            # offending event. (finish() straight after a failed feed has its own test.)
            try:
                parser.feed(b"")
            except errors.DeltafoldError as again:
                note(again)
        if start_rss is not None:
            outcome.rss_growth = max(outcome.rss_growth, (_rss() or 0) - start_rss)
    try:
        outcome.result = parser.finish()
    except errors.DeltafoldError as error:
        note(error)
    return outcome


def _matches(actual: Any, expected: Any) -> bool:
    return expected is ANY or actual == expected


def _check_problems(actual: list[Any], expected: tuple[ProblemSpec, ...]) -> None:
    got = [(p.kind, p.action, p.byte_offset, p.event_index) for p in actual]
    assert len(got) == len(expected), got
    for have, want in zip(got, expected, strict=True):
        assert all(_matches(h, w) for h, w in zip(have, want, strict=True)), (got, expected)


def _check_result(result: dict[str, Any] | None, expected: Completes) -> None:
    assert result is not None
    if callable(expected.result):
        expected.result(result)
    else:
        assert_same_completion(result, expected.result)


def _check_decode_error(error: errors.ChunkDecodeError, expected: Raises) -> None:
    assert isinstance(error, json.JSONDecodeError)
    assert _matches(error.doc, expected.doc), error.doc
    assert _matches(error.pos, expected.pos), (error.pos, expected.pos)
    assert 0 <= error.pos <= len(error.doc)
    # json.JSONDecodeError's conventions: 1-based line, column counted from the last newline.
    assert error.lineno == error.doc.count("\n", 0, error.pos) + 1
    assert error.colno == error.pos - error.doc.rfind("\n", 0, error.pos)


def _check_error(error: errors.DeltafoldError | None, expected: Raises) -> None:
    assert error is not None, "no error was raised"
    assert type(error) is expected.error, repr(error)
    assert _matches(error.byte_offset, expected.byte_offset), error.byte_offset
    assert _matches(error.event_index, expected.event_index), error.event_index
    if expected.partial is not ANY:
        assert error.partial is not None
        assert_same_completion(error.partial, expected.partial)
    if expected.limit is not None:
        assert isinstance(error, errors.LimitExceededError)
        assert error.limit == expected.limit
    if isinstance(error, errors.ChunkDecodeError):
        _check_decode_error(error, expected)
    if isinstance(error, errors.StreamAPIError):
        assert _matches(error.body, expected.body), error.body
    _check_pickles(error)


def _check_pickles(error: errors.DeltafoldError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.args) == (str(error), error.args)
    for name in ("byte_offset", "event_index", "partial", "limit", "maximum", "body"):
        assert getattr(copy, name, None) == getattr(error, name, None), name
    for name in ("doc", "pos", "lineno", "colno", "msg"):
        assert getattr(copy, name, None) == getattr(error, name, None), name


def _check_outcome(outcome: Outcome, expected: Completes | Raises) -> None:
    if isinstance(expected, Completes):
        assert outcome.raised == []
        _check_result(outcome.result, expected)
        _check_problems(outcome.parser.problems, expected.problems)
        return
    assert outcome.raised, f"nothing raised; finish() returned {outcome.result}"
    first = outcome.raised[0]
    _check_error(first, expected)
    # The bad chunk left no trace: the parser's state is the partial the error carried.
    assert outcome.snapshot_after_first_error == first.partial
    if expected.then is not None:
        # Fed on after the error, the same parser assembles the rest of the stream.
        assert outcome.raised == [first]
        assert outcome.result is not None
        assert_same_completion(outcome.result, expected.then)


BYTE_BY_BYTE_MAX = 4096


@pytest.mark.parametrize("case", ROWS, ids=[r.name for r in ROWS])
def test_hostile_input(impl: ModuleType, case: Row) -> None:
    expected = case.expected
    if not isinstance(case.source, bytes):
        outcome = _feed_all(impl, case.source(), case.options)
        _check_outcome(outcome, expected)
        if case.max_rss_growth is not None and _rss() is not None:
            assert outcome.rss_growth < case.max_rss_growth, outcome.rss_growth
        return

    data = case.source
    # assemble(): the whole input at once (no problems list to look at).
    try:
        result = impl.assemble(data, **case.options)
    except errors.DeltafoldError as error:
        if not isinstance(expected, Raises):
            raise
        _check_error(error, expected)
    else:
        assert isinstance(expected, Completes), f"assemble returned instead of raising: {result}"
        _check_result(result, expected)

    _check_outcome(_feed_all(impl, [data], case.options), expected)
    if len(data) <= BYTE_BY_BYTE_MAX:
        one_byte_reads = [data[i : i + 1] for i in range(len(data))]
        _check_outcome(_feed_all(impl, one_byte_reads, case.options), expected)


def test_the_table_is_large_enough() -> None:
    assert len(ROWS) >= 60


# -- a sample stream truncated at every byte -----------------------------------------------------

SAMPLE_CHUNKS = [
    chunk(delta(role="assistant", content="Hel"), delta(index=1, role="assistant", content="Wor")),
    chunk(delta(content="lo", finish="stop")),
    chunk(delta(index=1, content="ld", finish="length")),
    chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
]
USAGE = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
# The completion after the first k chunks (the contract's merge rules applied by hand).
SAMPLE_SNAPSHOTS = [
    EMPTY,
    completion(choice(finish=None, content="Hel"), choice(index=1, finish=None, content="Wor")),
    completion(choice(content="Hello"), choice(index=1, finish=None, content="Wor")),
    completion(choice(content="Hello"), choice(index=1, finish="length", content="World")),
    completion(
        choice(content="Hello"), choice(index=1, finish="length", content="World"), usage=USAGE
    ),
]
SAMPLE_FINISHED = [False, False, False, True, True]  # every choice has a finish_reason


def _sample(eol: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """The sample stream and, per event, (where it is dispatched, where its bytes end)."""
    data = bytearray()
    spans = []
    for payload in [*SAMPLE_CHUNKS, "[DONE]"]:
        data += b"data: " + _encode(payload) + eol + eol
        end = len(data)
        # With CRLF the CR of the blank line already dispatches; its LF only completes the pair.
        spans.append((end - 1 if eol == b"\r\n" else end, end))
    return bytes(data), spans


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize(
    "options",
    [{}, {"on_error": "skip"}, {"on_error": "repair"}, {"allow_truncated": True}],
    ids=["raise", "skip", "repair", "allow_truncated"],
)
def test_sample_stream_truncated_at_every_byte(
    impl: ModuleType, eol: bytes, options: dict[str, Any]
) -> None:
    data, spans = _sample(eol)
    lenient = options != {}
    for cut in range(len(data) + 1):
        dispatched = sum(1 for at, _ in spans if at <= cut)
        between_events = cut == 0 or any(at <= cut <= end for at, end in spans)
        saw_done = dispatched == len(spans)
        snapshot = SAMPLE_SNAPSHOTS[min(dispatched, len(SAMPLE_CHUNKS))]
        incomplete = not between_events or not (saw_done or SAMPLE_FINISHED[dispatched])
        parser = impl.StreamParser(**options)
        # Two reads, so the cut also lands on a read boundary somewhere inside.
        parser.feed(data[: cut // 2])
        parser.feed(data[cut // 2 : cut])
        context = f"cut at {cut}: {data[:cut]!r}"
        if incomplete and not lenient:
            with pytest.raises(errors.IncompleteStreamError) as caught:
                parser.finish()
            assert caught.value.partial == snapshot, context
            continue
        assert_same_completion(parser.finish(), snapshot)
        kinds = [(p.kind, p.action) for p in parser.problems]
        assert kinds == ([("IncompleteStreamError", "ignored")] if incomplete else []), context


# -- the parser keeps working after an error in raise mode ---------------------------------------


def test_raise_mode_continues_after_each_error_in_one_read(impl: ModuleType) -> None:
    middle = chunk(delta(content=" big"))
    data, at = build(
        HELLO,
        '{"choices": [{"index": 0, "delta": {"content": 5}}]}',
        middle,
        chunk(delta(index=5000, content="x")),
        '{"error": {"message": "hiccup"}}',
        "{nope",
        FINISH,
    )
    parser = impl.StreamParser()
    after_middle = hello_with(" big", finish=None)
    expected_errors: list[tuple[type[errors.DeltafoldError], int, dict[str, Any]]] = [
        (errors.ChunkDecodeError, 1, HELLO_PARTIAL),
        (errors.LimitExceededError, 3, after_middle),
        (errors.StreamAPIError, 4, after_middle),
        (errors.ChunkDecodeError, 5, after_middle),
    ]
    # All of it arrives in one read; each error stops that feed, the rest of the read is kept
    # and the next feed (here a keep-alive comment) continues right after the offending event.
    reads = iter([data, b": keep-alive\n\n", b": keep-alive\n\n", b": keep-alive\n\n"])
    for cls, event_index, partial in expected_errors:
        with pytest.raises(cls) as caught:
            parser.feed(next(reads))
        error = caught.value
        assert (error.event_index, error.byte_offset) == (event_index, at[event_index])
        assert_same_completion(error.partial, partial)
        assert_same_completion(parser.snapshot(), partial)
    assert parser.feed(b"") == []
    assert_same_completion(parser.finish(), hello_with(" big"))
    assert parser.done


def test_raise_mode_finish_processes_what_the_failed_read_left(impl: ModuleType) -> None:
    data, _ = build(HELLO, "{nope", chunk(delta(content="!")), FINISH)
    parser = impl.StreamParser()
    with pytest.raises(errors.ChunkDecodeError):
        parser.feed(data)
    assert_same_completion(parser.finish(), hello_with("!"))


def test_raise_mode_error_then_events_still_flow(impl: ModuleType) -> None:
    parser = impl.StreamParser(events=True)
    parser.feed(build(HELLO, done=False)[0])
    with pytest.raises(errors.ChunkDecodeError):
        parser.feed(build("{nope", done=False)[0])
    events = parser.feed(build(chunk(delta(content="!")), done=False)[0])
    assert [(e.type, e.delta, e.snapshot) for e in events] == [("content.delta", "!", "Hello!")]


def test_skip_and_repair_keep_going_and_list_problems(impl: ModuleType) -> None:
    data, at = build(
        HELLO,
        '{"choices":[{"index":0,"delta":{"content":" a"}}',  # missing closer: repairable
        '{"choices": [{"index": -1}]}',
        chunk(delta(index=2000, content="x")),
        '{"error": "e"}',
        chunk(delta(content=" b")),
        FINISH,
        "[DONE]",
    )
    expected_tail = (
        ("ChunkDecodeError", "skipped", at[2], 2),
        ("LimitExceededError", "skipped", at[3], 3),
        ("StreamAPIError", "skipped", at[4], 4),
        ("DataAfterDone", "ignored", at[8], 8),
    )
    skip = impl.StreamParser(on_error="skip")
    skip.feed(data)
    assert_same_completion(skip.finish(), hello_with(" b"))
    _check_problems(skip.problems, (("ChunkDecodeError", "skipped", at[1], 1), *expected_tail))
    repair = impl.StreamParser(on_error="repair")
    repair.feed(data)
    assert_same_completion(repair.finish(), hello_with(" a b"))
    _check_problems(repair.problems, (("ChunkDecodeError", "repaired", at[1], 1), *expected_tail))


# -- options -------------------------------------------------------------------------------------

BAD_OPTIONS = [
    {"max_depth": 0},
    {"max_depth": 255},
    {"max_depth": -1},
    {"max_line_bytes": 0},
    {"max_line_bytes": -5},
    {"max_buffer_bytes": 0},
    {"max_tool_calls": 0},
    {"max_choice_index": -1},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=[str(o) for o in BAD_OPTIONS])
def test_out_of_range_limits_are_rejected(impl: ModuleType, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        impl.StreamParser(**options)
    with pytest.raises(ValueError):
        impl.assemble(build(FINISH)[0], **options)


@pytest.mark.parametrize(
    "options", [{"max_depth": 1}, {"max_depth": 254}, {"max_choice_index": 0}]
)
def test_edge_limits_are_accepted(impl: ModuleType, options: dict[str, Any]) -> None:
    impl.StreamParser(**options)
