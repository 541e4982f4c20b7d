"""Properties of Anthropic streams (hypothesis), issue 10:

* a generated message rendered by ``to_sse(message, format="anthropic")`` and split anywhere
  folds back to exactly that message (key order included), in both twins;
* damaged streams (byte flips, deletions, dropped / duplicated / reordered events, truncation)
  give the same result or the same error, events, problems and summary in both twins;
* ``parsed_arguments`` at every prefix of a tool input equals jiter's
  ``partial_mode="trailing-strings"``.

Expected values come from the generated messages (the input of ``to_sse``) or from jiter.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import orjson
from deltafold.testing import anthropic_messages, anthropic_streams, splits
from hypothesis import given
from hypothesis import strategies as st
from support import key_orders
from test_anthropic import FOLDED, wire
from test_event_properties import _fragments, _jiter_partial, _json_documents
from test_mutations import ON_ERROR_MODES, _first_difference, _mutation, _run

TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"


def _feed(impl: ModuleType, pieces: list[bytes], **options: Any) -> dict[str, Any]:
    parser = impl.StreamParser(**options)
    for piece in pieces:
        parser.feed(piece)
    result: dict[str, Any] = parser.finish()
    assert parser.summary()["status"] == "complete"
    return result


@given(st.data())
def test_round_trip_through_any_split(impl: ModuleType, data: st.DataObject) -> None:
    message, stream = data.draw(anthropic_streams(), label="stream")
    pieces = data.draw(splits(stream), label="reads")
    result = _feed(impl, pieces)
    assert result == message
    assert key_orders(result) == key_orders(message)


@given(anthropic_messages())
def test_round_trip_events_and_summary(impl: ModuleType, message: dict[str, Any]) -> None:
    from deltafold import to_sse

    stream = to_sse(message, format="anthropic", chunk_size=3)
    events = list(impl.iter_events(stream, partial_arguments=True))
    assert events[-1].completion == message
    blocks = message["content"]
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    assert "".join(e.delta for e in events if e.type == "content.delta") == text
    calls = [b for b in blocks if b["type"] == "tool_use"]
    done = [e for e in events if e.type == TOOL_DONE]
    assert [(e.index, e.id, e.name) for e in done] == [
        (i, c["id"], c["name"]) for i, c in enumerate(calls)
    ]
    assert [orjson.loads(e.arguments) for e in done] == [c["input"] for c in calls]
    summary = impl.summarize(stream)
    assert summary["text"] == text
    assert summary["reasoning"] == "".join(b["thinking"] for b in blocks if b["type"] == "thinking")
    assert [(c["id"], c["name"], orjson.loads(c["arguments"])) for c in summary["tool_calls"]] == [
        (c["id"], c["name"], c["input"]) for c in calls
    ]
    assert summary["usage"]["output_tokens"] == message["usage"]["output_tokens"]


# Small recordings as damage bases, beside generated streams.
_SMALL = [wire(path) for path in FOLDED if path.stat().st_size <= 8_000]


@st.composite
def damaged_anthropic_streams(draw: st.DrawFn) -> bytes:
    base = draw(
        st.one_of(
            anthropic_streams(max_chunk_size=6).map(lambda pair: pair[1]),
            st.sampled_from(_SMALL),
        ),
        label="base",
    )
    data = base
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        data = draw(_mutation(data))
    return data


_limits = st.fixed_dictionaries(
    {},
    optional={
        "max_depth": st.integers(1, 8),
        "max_line_bytes": st.integers(1, 600),
        "max_buffer_bytes": st.integers(1, 4000),
        "max_tool_calls": st.integers(1, 3),
        "allow_truncated": st.booleans(),
        "format": st.sampled_from(["auto", "anthropic"]),
    },
)


def _summary_after(impl: ModuleType, pieces: list[bytes], options: dict[str, Any]) -> Any:
    parser = impl.StreamParser(**options)
    for piece in pieces:
        try:
            parser.feed(piece)
        except impl.DeltafoldError:
            pass
    try:
        parser.finish()
    except impl.DeltafoldError:
        pass
    return parser.summary(), parser.format


@given(st.data())
def test_twins_agree_on_damaged_streams(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    damaged = data.draw(damaged_anthropic_streams(), label="damaged")
    pieces = data.draw(splits(damaged), label="reads")
    limits = data.draw(_limits, label="limits")
    events = data.draw(st.booleans(), label="events")
    for on_error in ON_ERROR_MODES:
        options = {"on_error": on_error, "events": events, **limits}
        from_native = _run(native, pieces, options)
        from_reference = _run(reference, pieces, options)
        assert from_native == from_reference, (
            options,
            _first_difference(from_native, from_reference),
        )
        assert _summary_after(native, pieces, options) == _summary_after(
            reference, pieces, options
        )


@given(st.data())
def test_parsed_arguments_match_jiter_at_every_prefix(
    impl: ModuleType, data: st.DataObject
) -> None:
    documents = data.draw(st.lists(_json_documents(), min_size=1, max_size=3))
    fragments = [data.draw(_fragments(document)) for document in documents]
    payloads: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {"id": "m", "type": "message", "role": "assistant", "content": []},
        }
    ]
    for position, pieces in enumerate(fragments):
        payloads.append(
            {
                "type": "content_block_start",
                "index": position,
                "content_block": {
                    "type": "tool_use",
                    "id": f"t{position}",
                    "name": "f",
                    "input": {},
                },
            }
        )
        payloads.extend(
            {
                "type": "content_block_delta",
                "index": position,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            for piece in pieces
        )
        payloads.append({"type": "content_block_stop", "index": position})
    payloads.append({"type": "message_stop"})
    stream = b"".join(b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads)
    parser = impl.StreamParser(events=True, partial_arguments=True)
    events = [e for i in range(0, len(stream), 97) for e in parser.feed(stream[i : i + 97])]
    events += parser.finish_events()
    deltas = [e for e in events if e.type == TOOL_DELTA]
    assert len(deltas) == sum(len(f) for f in fragments)
    compared = 0
    for event in deltas:
        assert event.arguments == "".join(fragments[event.index])[: len(event.arguments)]
        gives_value, expected = _jiter_partial(event.arguments)
        if gives_value:
            assert event.parsed_arguments == expected, event.arguments
            compared += 1
    assert compared >= len(documents)
    for event in events:
        if event.type == TOOL_DONE:
            assert event.arguments == documents[event.index]
