"""``parsed_arguments`` read repeatedly and out of order (issue 8, Q6), for both implementations.

The native module builds each completed child of an open container once per call and shares it
between later reads, so these tests read every event of arrays of scalars, of objects and of
nested arrays at every prefix, in stream order, again in reverse and in a shuffled order, with
two calls interleaved, and check each value against jiter's partial parse of the event's
``arguments`` (the contract's definition), never against the implementation itself.
"""

from __future__ import annotations

import json
import random
from types import ModuleType
from typing import Any

import jiter
import pytest
from support import chunk, delta, sse

TOOL_DELTA = "tool_calls.function.arguments.delta"

DOCUMENTS = {
    "ints": list(range(-3, 40)),
    "objects": [{"a": i, "b": [i, {"c": "x" * (i % 4)}]} for i in range(25)],
    "nested arrays": [[i, [i, [i, []]], "s"] for i in range(15)],
    "mixed": [None, True, 1.5, "text", {"k": [1, 2]}, [], {}, [[[]]], -0.0, "é😀"],
    "object of arrays": {f"k{i}": [i, [i, i], {"n": None}] for i in range(12)},
    "repeated keys": {"a": [1, {"x": 1}], "b": 2},
}
# json.dumps cannot repeat keys: a document that does, closing containers between repeats.
REPEATED = '{"a": [1, {"x": 1}], "b": {"c": [2]}, "a": {"y": [3, 4]}, "b": 5, "a": [6]}'


def _texts() -> dict[str, str]:
    texts = {name: json.dumps(doc) for name, doc in DOCUMENTS.items()}
    texts["repeated keys"] = REPEATED
    return texts


def _stream(calls: list[list[str]]) -> bytes:
    """One choice with one tool call per fragment list, their fragments interleaved."""
    chunks = [chunk(delta(role="assistant", content=None))]
    for index in range(len(calls)):
        opening = {
            "index": index,
            "id": f"call_{index}",
            "type": "function",
            "function": {"name": f"tool_{index}", "arguments": ""},
        }
        chunks.append(chunk(delta(tool_calls=[opening])))
    for step in range(max(len(fragments) for fragments in calls)):
        for index, fragments in enumerate(calls):
            if step < len(fragments):
                piece = {"index": index, "function": {"arguments": fragments[step]}}
                chunks.append(chunk(delta(tool_calls=[piece])))
    chunks.append(chunk(delta(finish="tool_calls")))
    return sse(*chunks)


def _deltas(impl: ModuleType, calls: list[list[str]]) -> list[Any]:
    parser = impl.StreamParser(events=True, partial_arguments=True)
    events = list(parser.feed(_stream(calls))) + list(parser.finish_events())
    return [e for e in events if e.type == TOOL_DELTA]


def _expected(arguments: str) -> Any:
    try:
        return jiter.from_json(arguments.encode(), partial_mode="trailing-strings")
    except ValueError:
        return None


def _check(events: list[Any]) -> int:
    compared = 0
    for event in events:
        expected = _expected(event.arguments)
        assert event.parsed_arguments == expected, event.arguments
        compared += expected is not None
    return compared


@pytest.mark.parametrize("name", sorted(_texts()))
def test_every_prefix_in_every_read_order(impl: ModuleType, name: str) -> None:
    text = _texts()[name]
    events = _deltas(impl, [list(text)])
    assert len(events) == len(text) + 1
    assert events[-1].parsed_arguments == json.loads(text)
    # Stream order (each read extends the last), then each event read again out of order:
    # earlier states of containers a later read already extended.
    assert _check(events) >= len(text) - 1
    _check(events[::-1])
    shuffled = events[:]
    random.Random(name).shuffle(shuffled)
    _check(shuffled)
    _check(events)


def test_interleaved_calls_keep_their_own_values(impl: ModuleType) -> None:
    texts = _texts()
    first, second = texts["objects"], texts["nested arrays"]
    events = _deltas(impl, [list(first), [second[i : i + 3] for i in range(0, len(second), 3)]])
    assert {e.index for e in events} == {0, 1}
    _check(events)
    finals = {e.index: e.parsed_arguments for e in events}
    assert finals == {0: json.loads(first), 1: json.loads(second)}
