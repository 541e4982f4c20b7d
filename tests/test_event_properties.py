"""Properties of the event stream (hypothesis), for both implementations.

* any split of the input gives the same events;
* the delta texts of each kind add up to the final field of the generated completion;
* native and reference emit the same events; sync and async iteration agree;
* ``parsed_arguments`` at every prefix of a JSON document equals jiter's partial parse;
* a capture of many streams yields each stream's completion, in order.

Expected values come from the generated completions (the input of ``to_sse``) or from jiter,
never from the implementation under test.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import jiter
import pytest
from deltafold.testing import completions, splits, streams
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from support import assert_same_completion, chunk, delta, sse

TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"
FUNCTION_DELTA = "function_call.arguments.delta"
FUNCTION_DONE = "function_call.arguments.done"


def splits_by(data: bytes, size: int) -> list[bytes]:
    """``data`` in reads of ``size`` bytes (the last one shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def event_dicts(impl: ModuleType, source: Any, **options: Any) -> list[dict[str, Any]]:
    return [event.as_dict() for event in impl.iter_events(source, **options)]


@given(st.data())
def test_any_split_gives_the_same_events(impl: ModuleType, data: st.DataObject) -> None:
    _, stream = data.draw(streams())
    whole = event_dicts(impl, stream)
    pieces = data.draw(splits(stream))
    assert event_dicts(impl, pieces) == whole


@given(st.data())
def test_any_split_gives_the_same_partial_arguments(impl: ModuleType, data: st.DataObject) -> None:
    _, stream = data.draw(streams(completions(max_choices=2)))
    whole = event_dicts(impl, stream, partial_arguments=True)
    pieces = data.draw(splits(stream))
    assert event_dicts(impl, pieces, partial_arguments=True) == whole


def _check_text_field(events: list[Any], completion: dict[str, Any], name: str) -> None:
    """``content``/``refusal``: deltas add up to the final text, each snapshot is the text so
    far, and one done event per non-null text carries the final text."""
    finals = {c["index"]: c["message"][name] for c in completion["choices"]}
    so_far: dict[int, str] = defaultdict(str)
    for event in events:
        if event.type == f"{name}.delta":
            assert event.delta, "text deltas are emitted for non-empty text only"
            so_far[event.choice_index] += event.delta
            assert event.snapshot == so_far[event.choice_index]
    assert dict(so_far) == {i: text for i, text in finals.items() if text}
    dones = [(e.choice_index, getattr(e, name)) for e in events if e.type == f"{name}.done"]
    assert sorted(dones) == sorted((i, text) for i, text in finals.items() if text is not None)


def _check_reasoning(events: list[Any], completion: dict[str, Any]) -> None:
    finals = {
        (c["index"], "reasoning_content"): c["message"]["reasoning_content"]
        for c in completion["choices"]
        if "reasoning_content" in c["message"]
    }
    so_far: dict[tuple[int, str], str] = defaultdict(str)
    for event in events:
        if event.type == "reasoning.delta":
            key = (event.choice_index, event.field)
            so_far[key] += event.delta
            assert event.snapshot == so_far[key]
    assert dict(so_far) == {key: text for key, text in finals.items() if text}
    dones = [(e.choice_index, e.field) for e in events if e.type == "reasoning.done"]
    # Both implementations close a reasoning field only when it received text; whether a
    # field that only ever got "" (present in the message as "") should get a done event
    # too, as content.done does for "", is left open by the contract ("per field").
    assert sorted(dones) == sorted(key for key, text in finals.items() if text)


def _call_key(event: Any) -> tuple[int, int]:
    return (event.choice_index, event.index)


def _check_tool_calls(events: list[Any], completion: dict[str, Any]) -> None:
    calls = {
        (c["index"], position): call
        for c in completion["choices"]
        for position, call in enumerate(c["message"].get("tool_calls") or [])
    }
    so_far: dict[tuple[int, int], str] = defaultdict(str)
    for event in events:
        if event.type in (TOOL_DELTA, TOOL_DONE):
            call = calls[_call_key(event)]
            assert (event.id, event.name) == (call["id"], call["function"]["name"])
        if event.type == TOOL_DELTA:
            so_far[_call_key(event)] += event.arguments_delta
            assert event.arguments == so_far[_call_key(event)]
    # Every fragment gives a delta, also the opening one with "" arguments.
    assert dict(so_far) == {key: call["function"]["arguments"] for key, call in calls.items()}
    dones = [(_call_key(e), e.arguments) for e in events if e.type == TOOL_DONE]
    assert sorted(dones) == sorted(
        (key, call["function"]["arguments"]) for key, call in calls.items()
    )


def _check_function_call(events: list[Any], completion: dict[str, Any]) -> None:
    calls = {
        c["index"]: c["message"]["function_call"]
        for c in completion["choices"]
        if "function_call" in c["message"]
    }
    so_far: dict[int, str] = defaultdict(str)
    for event in events:
        if event.type == FUNCTION_DELTA:
            so_far[event.choice_index] += event.arguments_delta
            assert event.arguments == so_far[event.choice_index]
            assert event.name == calls[event.choice_index]["name"]
    assert dict(so_far) == {index: call["arguments"] for index, call in calls.items()}
    dones = [(e.choice_index, e.name, e.arguments) for e in events if e.type == FUNCTION_DONE]
    assert sorted(dones) == sorted(
        (index, call["name"], call["arguments"]) for index, call in calls.items()
    )


@given(streams())
def test_deltas_add_up_to_the_final_fields(
    impl: ModuleType, pair: tuple[dict[str, Any], bytes]
) -> None:
    completion, stream = pair
    events = list(impl.iter_events(stream))
    assert [e.type for e in events].count("done") == 1
    assert events[-1].type == "done"
    assert_same_completion(events[-1].completion, completion)

    _check_text_field(events, completion, "content")
    _check_text_field(events, completion, "refusal")
    _check_reasoning(events, completion)
    _check_tool_calls(events, completion)
    _check_function_call(events, completion)

    usage_events = [e.usage for e in events if e.type == "usage"]
    assert usage_events == ([] if completion["usage"] is None else [completion["usage"]])

    # Each item is closed once: no done event repeats.
    done_keys = [
        (e.type, e.choice_index, e.index, e.field) for e in events if e.type.endswith(".done")
    ]
    assert len(done_keys) == len(set(done_keys))


@given(st.data())
def test_native_and_reference_emit_the_same_events(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    _, stream = data.draw(streams())
    partial = data.draw(st.booleans())
    pieces = data.draw(splits(stream))
    expected = event_dicts(reference, pieces, partial_arguments=partial)
    assert event_dicts(native, pieces, partial_arguments=partial) == expected


async def _pieces_async(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        # A real network source suspends between reads.
        await asyncio.sleep(0)
        yield piece


async def _collect_async(impl: ModuleType, pieces: list[bytes]) -> list[dict[str, Any]]:
    return [event.as_dict() async for event in impl.aiter_events(_pieces_async(pieces))]


@given(st.data())
def test_sync_and_async_iteration_agree(impl: ModuleType, data: st.DataObject) -> None:
    _, stream = data.draw(streams(completions(max_choices=2)))
    pieces = data.draw(splits(stream))
    assert asyncio.run(_collect_async(impl, pieces)) == event_dicts(impl, pieces)


# --- parsed_arguments against jiter ---------------------------------------------------------

_json_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(['"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\u2028", "😀", "é"]),
    ),
    max_size=12,
)
_json_number = st.one_of(
    # Within i64/u64: beyond it deltafold reads integers as floats (the contract's number rule,
    # like orjson) while jiter keeps a Python int, so the two differ by design there.
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), _json_number, _json_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(_json_text, inner, max_size=5),
    ),
    max_leaves=20,
)


@st.composite
def _json_documents(draw: st.DrawFn) -> str:
    """A JSON document as a model might stream it: an object (mostly) or any value, compact or
    indented, ASCII-escaped or raw UTF-8."""
    value = draw(st.one_of(st.dictionaries(_json_text, _json_values, max_size=5), _json_values))
    return json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, None, 2])),
        separators=draw(st.sampled_from([None, (",", ":")])),
    )


@st.composite
def _fragments(draw: st.DrawFn, text: str) -> list[str]:
    """``text`` cut into pieces of 1 to 8 characters."""
    pieces, position = [], 0
    while position < len(text):
        size = draw(st.integers(1, 8))
        pieces.append(text[position : position + size])
        position += size
    return pieces


def _tool_stream(documents: list[list[str]]) -> bytes:
    """One choice calling one tool per document, each document's fragments as argument deltas."""
    chunks = [chunk(delta(role="assistant", content=None))]
    for position, fragments in enumerate(documents):
        opening = {
            "index": position,
            "id": f"call_{position}",
            "type": "function",
            "function": {"name": f"tool_{position}", "arguments": ""},
        }
        chunks.append(chunk(delta(tool_calls=[opening])))
        chunks.extend(
            chunk(delta(tool_calls=[{"index": position, "function": {"arguments": piece}}]))
            for piece in fragments
        )
    chunks.append(chunk(delta(finish="tool_calls")))
    return sse(*chunks)


def _jiter_partial(text: str) -> tuple[bool, Any]:
    """jiter's partial parse of ``text`` (incomplete strings kept), if it gives a value."""
    try:
        return True, jiter.from_json(text.encode(), partial_mode="trailing-strings")
    except ValueError:
        return False, None


@given(st.data())
def test_parsed_arguments_match_jiter_at_every_prefix(
    impl: ModuleType, data: st.DataObject
) -> None:
    documents = data.draw(st.lists(_json_documents(), min_size=1, max_size=3))
    fragments = [data.draw(_fragments(document)) for document in documents]
    stream = _tool_stream(fragments)
    parser = impl.StreamParser(events=True, partial_arguments=True)
    events = [e for piece in splits_by(stream, 97) for e in parser.feed(piece)]
    events += parser.finish_events()

    deltas = [e for e in events if e.type == TOOL_DELTA]
    # One delta for each opening fragment plus one per argument fragment.
    assert len(deltas) == sum(len(f) + 1 for f in fragments)
    compared = 0
    for event in deltas:
        assert event.arguments == "".join(fragments[event.index])[: len(event.arguments)]
        gives_value, expected = _jiter_partial(event.arguments)
        if gives_value:
            assert event.parsed_arguments == expected, event.arguments
            compared += 1
    # Every complete document parses, so at least the last delta of each call was compared.
    assert compared >= len(documents)
    for event in events:
        if event.type == TOOL_DONE:
            assert event.arguments == documents[event.index]


# --- captures -------------------------------------------------------------------------------

# What may sit between two streams of a capture: nothing, blank lines, comments.
_separators = st.sampled_from(["", "\n", "\r\n\r\n", ": keep-alive\n\n", "\n: comment\n\n\n"])


CAPTURE_SIZE = 100


@functools.cache
def _generated_capture_entries() -> tuple[tuple[dict[str, Any], bytes, str], ...]:
    """100 generated (completion, stream, separator) triples, the same on every run.

    Drawing 100 streams inside one hypothesis example exceeds its per-example data budget (it
    then spends minutes retrying), so the examples of a generate-only run are collected
    instead: varied like any hypothesis run, and derandomized so a failure reproduces.
    """
    entries: list[tuple[dict[str, Any], bytes, str]] = []

    @settings(
        max_examples=CAPTURE_SIZE,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(streams(completions(max_choices=2, max_tool_calls=2)), _separators)
    def collect(pair: tuple[dict[str, Any], bytes], separator: str) -> None:
        entries.append((pair[0], pair[1], separator))

    collect()
    assert len(entries) == CAPTURE_SIZE
    return tuple(entries)


@pytest.mark.parametrize("read_size", [None, 13, 4096])
def test_capture_yields_every_completion_in_order(impl: ModuleType, read_size: int | None) -> None:
    entries = _generated_capture_entries()
    capture = b"".join(stream + separator.encode() for _, stream, separator in entries)
    source: Any = capture if read_size is None else splits_by(capture, read_size)
    found = list(impl.iter_completions(source))
    assert len(found) == CAPTURE_SIZE
    for actual, (expected, _, _) in zip(found, entries, strict=True):
        assert_same_completion(actual, expected)
