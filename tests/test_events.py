"""Per-delta events: which fire, in what order, with what attributes (contract "Events")."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jiter
import pytest
from support import chunk, delta, sse

TEXT_DELTAS = {"content.delta", "refusal.delta"}
TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"
FUNCTION_DELTA = "function_call.arguments.delta"
FUNCTION_DONE = "function_call.arguments.done"


def summary(event: Any) -> tuple[Any, ...]:
    """The attributes the contract defines for each event type."""
    kind = event.type
    if kind in TEXT_DELTAS:
        return (kind, event.choice_index, event.delta, event.snapshot)
    if kind == "reasoning.delta":
        return (kind, event.choice_index, event.field, event.delta, event.snapshot)
    if kind == "content.done":
        return (kind, event.choice_index, event.content)
    if kind == "refusal.done":
        return (kind, event.choice_index, event.refusal)
    if kind == "reasoning.done":
        return (kind, event.choice_index, event.field)
    if kind == TOOL_DELTA:
        tool = (event.index, event.id, event.name, event.arguments, event.arguments_delta)
        return (kind, event.choice_index, *tool)
    if kind == TOOL_DONE:
        return (kind, event.choice_index, event.index, event.id, event.name, event.arguments)
    if kind == FUNCTION_DELTA:
        return (kind, event.choice_index, event.name, event.arguments, event.arguments_delta)
    if kind == FUNCTION_DONE:
        return (kind, event.choice_index, event.name, event.arguments)
    if kind == "logprobs.content.delta":
        return (kind, event.choice_index, event.content, event.snapshot)
    if kind == "logprobs.refusal.delta":
        return (kind, event.choice_index, event.refusal, event.snapshot)
    if kind == "usage":
        return (kind, event.usage)
    if kind == "error":
        return (kind, event.error)
    if kind == "done":
        return (kind, event.completion)
    raise AssertionError(f"unknown event type {kind!r}")


def _call(index: int, **fields: Any) -> dict[str, Any]:
    return {"index": index, **fields}


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
TOOL_STREAM = sse(
    chunk(delta(role="assistant", content="He")),
    chunk(delta(content="llo")),
    chunk(
        delta(
            tool_calls=[
                _call(0, id="call_1", type="function", function={"name": "f", "arguments": "{"})
            ]
        )
    ),
    chunk(delta(tool_calls=[_call(0, function={"arguments": "}"})])),
    chunk(
        delta(
            tool_calls=[
                _call(1, id="call_2", type="function", function={"name": "g", "arguments": ""})
            ]
        )
    ),
    chunk(delta(finish="tool_calls")),
    chunk(usage=USAGE),
)


def test_text_and_tool_call_events(impl: ModuleType) -> None:
    events = list(impl.iter_events(TOOL_STREAM))
    completion = impl.assemble(TOOL_STREAM)
    assert [summary(e) for e in events] == [
        ("content.delta", 0, "He", "He"),
        ("content.delta", 0, "llo", "Hello"),
        (TOOL_DELTA, 0, 0, "call_1", "f", "{", "{"),
        (TOOL_DELTA, 0, 0, "call_1", "f", "{}", "}"),
        # The next call starting closes the current one.
        (TOOL_DONE, 0, 0, "call_1", "f", "{}"),
        (TOOL_DELTA, 0, 1, "call_2", "g", "", ""),
        # The finish_reason closes everything still open, content first.
        ("content.done", 0, "Hello"),
        (TOOL_DONE, 0, 1, "call_2", "g", ""),
        ("usage", USAGE),
        ("done", completion),
    ]


def test_refusal_reasoning_and_function_call_events(impl: ModuleType) -> None:
    data = sse(
        chunk(delta(role="assistant", refusal="No")),
        chunk(delta(reasoning_content="think")),
        chunk(delta(function_call={"name": "f", "arguments": "{"})),
        chunk(delta(function_call={"arguments": "}"}, reasoning_content="!", refusal=".")),
        chunk(delta(finish="function_call")),
    )
    events = list(impl.iter_events(data))
    assert [summary(e) for e in events] == [
        ("refusal.delta", 0, "No", "No"),
        ("reasoning.delta", 0, "reasoning_content", "think", "think"),
        (FUNCTION_DELTA, 0, "f", "{", "{"),
        ("refusal.delta", 0, ".", "No."),
        ("reasoning.delta", 0, "reasoning_content", "!", "think!"),
        (FUNCTION_DELTA, 0, "f", "{}", "}"),
        # No content arrived: no content.done.
        ("refusal.done", 0, "No."),
        ("reasoning.done", 0, "reasoning_content"),
        (FUNCTION_DONE, 0, "f", "{}"),
        ("done", impl.assemble(data)),
    ]


def _entry(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -1.0, "bytes": None, "top_logprobs": []}


def test_choices_in_array_order_logprobs_and_pending_done_at_end(impl: ModuleType) -> None:
    data = sse(
        chunk(
            {**delta(index=1, content="B"), "logprobs": {"content": [_entry("B")]}},
            {**delta(index=0, content="A"), "logprobs": {"content": []}},
        ),
        # Empty text and empty lists make no events.
        chunk({**delta(index=0, content=""), "logprobs": {"content": [], "refusal": []}}),
        chunk({**delta(index=1, content="b"), "logprobs": {"content": [_entry("b")]}}),
        chunk({**delta(index=1), "logprobs": {"refusal": [_entry("r")]}}),
    )
    events = list(impl.iter_events(data))
    assert [summary(e) for e in events] == [
        ("content.delta", 1, "B", "B"),
        ("logprobs.content.delta", 1, [_entry("B")], [_entry("B")]),
        ("content.delta", 0, "A", "A"),
        ("content.delta", 1, "b", "Bb"),
        ("logprobs.content.delta", 1, [_entry("b")], [_entry("B"), _entry("b")]),
        ("logprobs.refusal.delta", 1, [_entry("r")], [_entry("r")]),
        # [DONE] without finish_reasons: the done events of every choice, in index order.
        ("content.done", 0, "A"),
        ("content.done", 1, "Bb"),
        ("done", impl.assemble(data)),
    ]


def test_tool_fragments_in_one_chunk(impl: ModuleType) -> None:
    data = sse(
        chunk(
            delta(
                tool_calls=[
                    _call(0, id="a", function={"name": "f", "arguments": "1"}),
                    _call(1, id="b", function={"name": "g", "arguments": "2"}),
                    _call(0, function={"arguments": "3"}),
                ],
                finish="tool_calls",
            )
        )
    )
    events = list(impl.iter_events(data))
    assert [summary(e) for e in events][:-1] == [
        (TOOL_DELTA, 0, 0, "a", "f", "1", "1"),
        (TOOL_DONE, 0, 0, "a", "f", "1"),
        (TOOL_DELTA, 0, 1, "b", "g", "2", "2"),
        # Going back to call 0 switches calls again, so call 1 is done.
        (TOOL_DONE, 0, 1, "b", "g", "2"),
        (TOOL_DELTA, 0, 0, "a", "f", "13", "3"),
        # Both calls already had their done event: none fires again at the finish_reason.
    ]
    assert events[-1].type == "done"


def test_events_only_when_asked(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    assert parser.feed(TOOL_STREAM) == []
    assert parser.finish() == impl.assemble(TOOL_STREAM)


def test_feed_and_finish_events(impl: ModuleType) -> None:
    parser = impl.StreamParser(events=True)
    middle = TOOL_STREAM.index(b"data: ", 10)
    first = parser.feed(TOOL_STREAM[:middle])
    assert [summary(e) for e in first] == [("content.delta", 0, "He", "He")]
    rest = parser.feed(TOOL_STREAM[middle:])
    final = parser.finish_events()
    assert [e.type for e in rest][-1] == "usage"
    assert [e.type for e in final] == ["done"]
    assert final[0].completion == impl.assemble(TOOL_STREAM)


def test_events_are_immutable_and_convert_to_dict(impl: ModuleType) -> None:
    event = next(iter(impl.iter_events(TOOL_STREAM)))
    with pytest.raises((AttributeError, TypeError)):
        event.delta = "changed"
    assert event.delta == "He"
    as_dict = event.as_dict()
    assert as_dict["type"] == "content.delta"
    assert as_dict["delta"] == "He"
    assert as_dict["snapshot"] == "He"
    assert as_dict["choice_index"] == 0
    assert all(value is not None for value in as_dict.values())


ARGUMENT_FRAGMENTS = [
    '{"loc',
    'ation": "Par',
    'is", "days": 1',
    '2, "units": tr',
    'ue, "tags": ["a',
    '", "b"], "note": "x\\u00',
    'e9", "ratio": 1.',
    "5}",
]


def _expected_partials() -> list[Any]:
    # jiter's partial mode is the contract's definition of parsed_arguments.
    so_far, expected = "", []
    for fragment in ARGUMENT_FRAGMENTS:
        so_far += fragment
        expected.append(jiter.from_json(so_far.encode(), partial_mode="trailing-strings"))
    return expected


def test_partial_arguments_on_tool_calls(impl: ModuleType) -> None:
    fragments = [chunk(delta(tool_calls=[_call(0, id="c", function={"name": "f"})]))]
    fragments += [
        chunk(delta(tool_calls=[_call(0, function={"arguments": piece})]))
        for piece in ARGUMENT_FRAGMENTS
    ]
    data = sse(*fragments, chunk(delta(finish="tool_calls")))
    events = [e for e in impl.iter_events(data, partial_arguments=True) if e.type == TOOL_DELTA]
    with_arguments = [e for e in events if e.arguments_delta]
    assert [e.parsed_arguments for e in with_arguments] == _expected_partials()
    assert with_arguments[-1].parsed_arguments == {
        "location": "Paris",
        "days": 12,
        "units": True,
        "tags": ["a", "b"],
        "note": "xé",
        "ratio": 1.5,
    }
    # Off by default.
    plain = [e for e in impl.iter_events(data) if e.type == TOOL_DELTA]
    assert all(e.parsed_arguments is None for e in plain)


def test_partial_arguments_alone_turns_no_events_on(impl: ModuleType) -> None:
    # `partial_arguments` shapes tool-call events; only `events` asks for them. The native
    # parser used to turn events on for `partial_arguments=True` alone (the reference did not).
    fragments = [chunk(delta(tool_calls=[_call(0, id="c", function={"name": "f"})]))]
    fragments += [
        chunk(delta(tool_calls=[_call(0, function={"arguments": piece})]))
        for piece in ARGUMENT_FRAGMENTS
    ]
    data = sse(*fragments, chunk(delta(finish="tool_calls")))
    quiet = impl.StreamParser(partial_arguments=True)
    assert quiet.feed(data) == []
    assert quiet.finish() == impl.assemble(data)
    assert quiet.finish_events() == []
    loud = impl.StreamParser(partial_arguments=True, events=True)
    deltas = [e for e in loud.feed(data) if e.type == TOOL_DELTA and e.arguments_delta]
    assert [e.parsed_arguments for e in deltas] == _expected_partials()
    assert [e.type for e in loud.finish_events()][-1] == "done"


def test_partial_arguments_on_function_call(impl: ModuleType) -> None:
    data = sse(
        *[chunk(delta(function_call={"name": "f", "arguments": p})) for p in ARGUMENT_FRAGMENTS],
        chunk(delta(finish="function_call")),
    )
    events = [e for e in impl.iter_events(data, partial_arguments=True) if e.type == FUNCTION_DELTA]
    assert [e.parsed_arguments for e in events] == _expected_partials()
