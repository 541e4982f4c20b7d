"""Completions with long texts (64 KiB and more).

The native ``finish`` and ``assemble`` move such texts into the result rather than copying them
(rust/py/release.rs: their pages are freed as they are copied), and a ``StreamParser`` puts them
back into its state only when a later call reads it. These tests pin that every call after
``finish`` sees the same stream as before, for texts of every width of Python string (ASCII,
Latin-1, two-byte and four-byte characters). Expected values are built here from the fragments.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import orjson
import pytest
from support import assert_same_completion, choice, chunk, completion, delta, sse

# One piece per width of Python string: the long text's widest character decides its kind.
PIECES = {
    "ascii": 'ab"c\\d{}',
    "latin1": "aé\u00ff",
    "ucs2": "a\u4e2d\u00e9",
    "ucs4": "a\U0001f600\u4e2d",
}

LONG = 70 * 1024  # past the 64 KiB from which the native core takes texts out


def long_text(kind: str, size: int = LONG) -> str:
    piece = PIECES[kind]
    return (piece * (size // len(piece.encode()) + 1))[: size // 2] + f"<{kind} end>"


def fragments(text: str, step: int = 4093) -> list[str]:
    return [text[i : i + step] for i in range(0, len(text), step)]


def tool(**fields: Any) -> dict[str, Any]:
    return {"index": 0, **fields}


def stream_of(content: str, arguments: str, done: bool = True) -> tuple[bytes, dict[str, Any]]:
    """A stream with a long content and a long tool argument, and its completion."""
    chunks = [chunk(delta(role="assistant"))]
    chunks += [chunk(delta(content=part)) for part in fragments(content)]
    chunks.append(
        chunk(delta(tool_calls=[tool(id="call_1", type="function", function={"name": "f"})]))
    )
    chunks += [
        chunk(delta(tool_calls=[tool(function={"arguments": part})]))
        for part in fragments(arguments)
    ]
    chunks.append(chunk(delta(finish="tool_calls")))
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    ]
    expected = completion(choice(finish="tool_calls", content=content, tool_calls=calls))
    return sse(*chunks, done=done), expected


@pytest.fixture(params=sorted(PIECES))
def long_stream(request: pytest.FixtureRequest) -> tuple[bytes, dict[str, Any]]:
    kind = request.param
    text = long_text(kind, 2 * LONG)
    assert len(text.encode()) >= 64 * 1024
    return stream_of(text, json.dumps({"k": long_text(kind)}))


def test_assemble_keeps_long_texts(
    impl: ModuleType, long_stream: tuple[bytes, dict[str, Any]]
) -> None:
    data, expected = long_stream
    assert_same_completion(impl.assemble(data), expected)
    # Written block by block natively: the same bytes as the whole text's.
    assert impl.assemble_json(data) == orjson.dumps(expected)


def test_every_call_after_finish_sees_the_long_texts(
    impl: ModuleType, long_stream: tuple[bytes, dict[str, Any]]
) -> None:
    data, expected = long_stream
    parser = impl.StreamParser()
    parser.feed(data)
    result = parser.finish()
    assert_same_completion(result, expected)
    # The caller owns the result: changing it changes nothing in the parser.
    result["choices"][0]["message"]["content"] = "changed"
    result["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{}"
    assert_same_completion(parser.snapshot(), expected)
    message = expected["choices"][0]["message"]
    summary = parser.summary()
    assert summary["text"] == message["content"]
    assert json.loads(parser.summary_json()) == summary
    assert_same_completion(parser.finish(), expected)
    assert json.loads(parser.finish_json()) == expected
    assert_same_completion(parser.finish(), expected)


@pytest.mark.parametrize("first", ["summary", "feed", "finish", "finish_json", "summary_json"])
def test_the_first_call_after_finish_may_be_any(
    impl: ModuleType, long_stream: tuple[bytes, dict[str, Any]], first: str
) -> None:
    data, expected = long_stream
    parser = impl.StreamParser()
    parser.feed(data)
    parser.finish()
    if first == "feed":
        parser.feed(b"")
    else:
        getattr(parser, first)()
    assert_same_completion(parser.snapshot(), expected)
    assert_same_completion(parser.finish(), expected)


@pytest.mark.parametrize(
    "then", ["snapshot", "summary", "feed", "finish", "finish_json", "summary_json", "error"]
)
def test_every_call_after_finish_json_sees_the_long_texts(
    impl: ModuleType, long_stream: tuple[bytes, dict[str, Any]], then: str
) -> None:
    # The native `finish_json` writes the long texts out of the state into the `bytes`, and
    # decodes them back from it when a later call reads the state.
    data, expected = long_stream
    if then == "error":  # a stream left open, so that a later bad event is still read
        message = expected["choices"][0]["message"]
        arguments = message["tool_calls"][0]["function"]["arguments"]
        data, expected = stream_of(message["content"], arguments, done=False)
    parser = impl.StreamParser(allow_truncated=True)
    parser.feed(data)
    out = parser.finish_json()
    assert out == orjson.dumps(expected)
    if then == "error":
        with pytest.raises(impl.DeltafoldError) as caught:
            parser.feed(b"data: {not json}\n\n")
        assert_same_completion(caught.value.partial, expected)
    elif then == "feed":
        parser.feed(b"")
    elif then == "summary":
        assert parser.summary()["text"] == expected["choices"][0]["message"]["content"]
    elif then == "summary_json":
        text = json.loads(parser.summary_json())["text"]
        assert text == expected["choices"][0]["message"]["content"]
    elif then == "finish_json":
        assert parser.finish_json() == out
    else:
        assert_same_completion(getattr(parser, then)(), expected)
    assert_same_completion(parser.snapshot(), expected)
    assert parser.finish_json() == out
    assert_same_completion(parser.finish(), expected)


def test_an_error_after_finish_shows_the_long_texts(impl: ModuleType) -> None:
    content = long_text("ucs2", 2 * LONG)
    data, expected = stream_of(content, json.dumps({"k": long_text("ascii")}), done=False)
    parser = impl.StreamParser(allow_truncated=True)
    parser.feed(data)
    assert_same_completion(parser.finish(), expected)
    with pytest.raises(impl.DeltafoldError) as caught:
        parser.feed(b"data: {not json}\n\n")
    assert_same_completion(caught.value.partial, expected)
    assert_same_completion(parser.finish(), expected)


def test_texts_just_under_and_over_the_threshold(impl: ModuleType) -> None:
    for size in (64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1):
        content = ("x" * (size - 1)) + "\u00e9"[: 1 if size % 2 else 0]
        content = content[:size] if content.isascii() else content
        arguments = "y" * size
        data, expected = stream_of(content, arguments)
        parser = impl.StreamParser()
        parser.feed(data)
        assert_same_completion(parser.finish(), expected)
        assert_same_completion(parser.snapshot(), expected)
        assert_same_completion(impl.assemble(data), expected)
        assert impl.assemble_json(data) == orjson.dumps(expected)
