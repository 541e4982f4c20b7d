"""The public API around the parser: snapshots, parser state, captures, async sources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest
from deltafold.testing import streams
from hypothesis import given, settings
from hypothesis import strategies as st
from support import assert_same_completion, chunk, completion, delta, sse

HELLO = chunk(delta(role="assistant", content="Hello"))
FINISH = chunk(delta(finish="stop"))


def test_snapshot_any_time(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    assert parser.snapshot()["choices"] == []
    parser.feed(sse(HELLO, done=False))
    snapshot = parser.snapshot()
    assert snapshot["choices"][0]["message"]["content"] == "Hello"
    assert snapshot["choices"][0]["finish_reason"] is None
    # Taking a snapshot changes nothing; later chunks still apply.
    parser.feed(sse(chunk(delta(content="!")), FINISH))
    assert parser.finish()["choices"][0]["message"]["content"] == "Hello!"


def test_snapshot_is_a_copy(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(sse(HELLO, done=False))
    snapshot = parser.snapshot()
    snapshot["choices"][0]["message"]["content"] = "mutated"
    snapshot["choices"].append({})
    parser.feed(sse(FINISH))
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hello"
    assert len(result["choices"]) == 1


def test_parser_state_properties(impl: ModuleType) -> None:
    data = sse(HELLO, FINISH)
    parser = impl.StreamParser()
    assert (parser.done, parser.bytes_fed, parser.problems) == (False, 0, [])
    parser.feed(data[:10])
    parser.feed(data[10:])
    assert parser.bytes_fed == len(data)
    assert parser.done


def test_results_are_plain_json_data(impl: ModuleType) -> None:
    import json

    result = impl.assemble(sse(HELLO, FINISH))
    assert json.loads(json.dumps(result)) == result
    assert_same_completion(result, completion(_choice_hello()))


def _choice_hello() -> dict[str, object]:
    return {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_iter_completions_splits_a_capture(impl: ModuleType) -> None:
    first = sse(HELLO, FINISH)
    second = sse(chunk(delta(content="Bye", finish="length"), id="chatcmpl-2"))
    # A last stream without [DONE] still counts when it is complete.
    third = sse(chunk(delta(content="3", finish="stop"), id="chatcmpl-3"), done=False)
    capture = first + second + third
    results = list(impl.iter_completions([capture[i : i + 5] for i in range(0, len(capture), 5)]))
    assert [r["id"] for r in results] == ["chatcmpl-1", "chatcmpl-2", "chatcmpl-3"]
    assert [r["choices"][0]["message"]["content"] for r in results] == ["Hello", "Bye", "3"]
    assert results[1]["choices"][0]["finish_reason"] == "length"


def test_iter_completions_truncated_last_stream(impl: ModuleType) -> None:
    capture = sse(HELLO, FINISH) + sse(chunk(delta(content="cut")), done=False)
    with pytest.raises(impl.IncompleteStreamError) as caught:
        list(impl.iter_completions(capture))
    assert caught.value.partial["choices"][0]["message"]["content"] == "cut"


@settings(max_examples=20)
@given(st.lists(streams(), min_size=1, max_size=3))
def test_iter_completions_of_generated_streams(
    impl: ModuleType, pairs: list[tuple[dict[str, Any], bytes]]
) -> None:
    capture = b"".join(data for _, data in pairs)
    for result, (expected, _) in zip(impl.iter_completions(capture), pairs, strict=True):
        assert_same_completion(result, expected)


async def _reads(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_aiter_events(impl: ModuleType) -> None:
    data = sse(HELLO, chunk(delta(content="!")), FINISH)
    events = [event async for event in impl.aiter_events(_reads(data, 7))]
    assert [e.type for e in events] == [
        "content.delta",
        "content.delta",
        "content.done",
        "done",
    ]
    assert events[-1].completion == impl.assemble(data)


async def test_aiter_completions(impl: ModuleType) -> None:
    capture = sse(HELLO, FINISH) + sse(chunk(delta(content="2", finish="stop"), id="x"))
    results = [r async for r in impl.aiter_completions(_reads(capture, 3))]
    assert [r["id"] for r in results] == ["chatcmpl-1", "x"]
