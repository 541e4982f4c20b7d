"""Events on the recorded OpenAI streams against the official SDK's stream helper.

The oracle is ``openai.lib.streaming.chat.ChatCompletionStreamState``: the SDK's own SSE decoder
and ``Stream`` turn the recorded bytes into ``ChatCompletionChunk`` objects, ``handle_chunk``
returns the events the SDK would yield for each. Both sequences are cut down to the event kinds
both libraries emit and compared in order, on the payload fields both carry.

Where the two libraries differ by design, the difference is normalised here with a comment
saying why, and asserted explicitly on a small synthetic stream (``test_known_difference_*``),
so a change on either side shows up instead of being silently absorbed.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from support import _sdk_http_module, chunk, delta, recorded_fixtures, sse

RECORDED = recorded_fixtures()
IDS = [path.stem for path in RECORDED]

TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"

# Kinds both libraries emit, with the payload fields both carry. The SDK also emits "chunk" and
# "logprobs.*.done"; deltafold also emits "usage", "done", "reasoning.*", "function_call.*" and
# "error". Neither side's extra kinds take part in the comparison.
SHARED_FIELDS: dict[str, tuple[str, ...]] = {
    "content.delta": ("delta", "snapshot"),
    "content.done": ("content",),
    "refusal.delta": ("delta", "snapshot"),
    "refusal.done": ("refusal",),
    TOOL_DELTA: ("index", "name", "arguments", "arguments_delta"),
    TOOL_DONE: ("index", "name", "arguments"),
    "logprobs.content.delta": ("content", "snapshot"),
    "logprobs.refusal.delta": ("refusal", "snapshot"),
}


class Seen(NamedTuple):
    """One event reduced to what can be compared across the two libraries."""

    type: str
    # SDK events do not say which choice they belong to; it is known when the chunk that
    # produced them carried exactly one choice (every recording does), else None.
    choice_index: int | None
    payload: dict[str, Any]


def sdk_events_per_chunk(data: bytes) -> list[list[Seen]]:
    """The SDK helper's events for ``data``, one list per chunk, shared kinds only.

    Payloads are dumped the moment ``handle_chunk`` returns: the SDK extends its logprobs
    snapshot lists in place, so an event read after the next chunk would show later entries.
    """
    http = _sdk_http_module()
    url = "http://127.0.0.1:9/v1/chat/completions"
    response = http.Response(200, content=data, request=http.Request("POST", url))
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    per_chunk: list[list[Seen]] = []
    for item in openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client):
        choice_index = item.choices[0].index if len(item.choices) == 1 else None
        seen = []
        for event in state.handle_chunk(item):
            fields = SHARED_FIELDS.get(event.type)
            if fields is None:
                continue
            dumped = event.to_dict()
            seen.append(Seen(event.type, choice_index, {f: dumped.get(f) for f in fields}))
        per_chunk.append(seen)
    return per_chunk


def deltafold_events(events: list[Any]) -> list[Seen]:
    return [
        Seen(e.type, e.choice_index, {f: getattr(e, f) for f in SHARED_FIELDS[e.type]})
        for e in events
        if e.type in SHARED_FIELDS
    ]


def _is_empty_text_delta(event: Seen) -> bool:
    return event.type in ("content.delta", "refusal.delta") and event.payload["delta"] == ""


def _done_before_next_call(events: list[Seen]) -> list[Seen]:
    """Move a tool call's done event to just before the fragment that started the next call.

    Both libraries close a call when a fragment for another call arrives; the SDK appends that
    done event after all of the chunk's delta events, deltafold's contract puts it right before
    the delta of the fragment that starts the new call.
    """
    ordered = list(events)
    for done in [e for e in ordered if e.type == TOOL_DONE]:
        at = ordered.index(done)
        starter = next(
            (
                i
                for i, e in enumerate(ordered[:at])
                if e.type == TOOL_DELTA
                and e.choice_index == done.choice_index
                and e.payload["index"] != done.payload["index"]
            ),
            None,
        )
        if starter is not None:
            ordered.insert(starter, ordered.pop(at))
    return ordered


@functools.cache
def _sdk_expected(data: bytes) -> tuple[Seen, ...]:
    # Cached: the SDK is slow, and each recording is compared twice (native and reference).
    return tuple(sdk_expected(data))


def sdk_expected(data: bytes) -> list[Seen]:
    """The SDK's sequence, with its by-design differences from deltafold's contract removed."""
    expected: list[Seen] = []
    for events in sdk_events_per_chunk(data):
        # The SDK emits a content/refusal delta for an empty string (the opening chunk's
        # `"content": ""`); deltafold's contract emits text deltas for non-empty text only.
        kept = [e for e in events if not _is_empty_text_delta(e)]
        expected.extend(_done_before_next_call(kept))
    return expected


def _reads(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("path", RECORDED, ids=IDS)
def test_events_match_openai_sdk(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    expected = list(_sdk_expected(data))
    assert expected, "the SDK produced no comparable event: the comparison would be vacuous"
    actual = deltafold_events(list(impl.iter_events(data)))
    assert actual == expected
    # The same holds when the bytes arrive in small reads (boundaries inside lines and UTF-8).
    assert deltafold_events(list(impl.iter_events(_reads(data, 7)))) == expected


def test_recordings_cover_every_shared_kind() -> None:
    # The comparison above is only as strong as the kinds the recordings exercise.
    kinds = {e.type for path in RECORDED for e in _sdk_expected(path.read_bytes())}
    assert kinds == set(SHARED_FIELDS)


def test_tool_done_reordering_is_exercised() -> None:
    # Parallel tool calls are where the SDK's done-after-deltas order differs; the
    # normalisation must be doing real work there, or the test above proves less than it says.
    path = next(p for p in RECORDED if p.stem == "parse_multiple_pydantic_tools")
    data = path.read_bytes()
    raw = [e for events in sdk_events_per_chunk(data) for e in events]
    expected = list(_sdk_expected(data))
    assert raw != expected
    # Same events, only moved: the first call's done now precedes the second call's deltas.
    assert sorted(map(repr, raw)) == sorted(map(repr, expected))
    first_done = next(i for i, e in enumerate(expected) if e.type == TOOL_DONE)
    assert expected[first_done].payload["index"] == 0
    assert expected[first_done + 1].type == TOOL_DELTA
    assert expected[first_done + 1].payload["index"] == 1


# --- Known differences, asserted explicitly -------------------------------------------------


def _both(impl: ModuleType, data: bytes) -> tuple[list[Seen], list[Seen]]:
    sdk = [e for events in sdk_events_per_chunk(data) for e in events]
    return sdk, deltafold_events(list(impl.iter_events(data)))


def test_known_difference_empty_content_done(impl: ModuleType) -> None:
    # A choice whose content is "" at finish: deltafold's contract fires content.done whenever
    # the content is non-null; the SDK only when it is non-empty. No recording has this case.
    data = sse(
        chunk(delta(role="assistant", content="")),
        chunk(delta(finish="length")),
        chunk(usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
    )
    sdk, ours = _both(impl, data)
    assert [e.type for e in sdk] == ["content.delta"]  # the empty delta, see sdk_expected
    assert ours == [Seen("content.done", 0, {"content": ""})]


def test_known_difference_content_done_timing_with_tool_call(impl: ModuleType) -> None:
    # Text followed by a tool call: the SDK closes the content when the first tool fragment
    # arrives; deltafold's contract closes it when the choice's finish_reason arrives. Both
    # report the same final text once.
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    data = sse(
        chunk(delta(role="assistant", content="Let me check")),
        chunk(delta(tool_calls=[call])),
        chunk(delta(finish="tool_calls")),
    )
    sdk, ours = _both(impl, data)
    tool_delta = Seen(
        TOOL_DELTA, 0, {"index": 0, "name": "f", "arguments": "{}", "arguments_delta": "{}"}
    )
    content_delta = Seen("content.delta", 0, {"delta": "Let me check", "snapshot": "Let me check"})
    content_done = Seen("content.done", 0, {"content": "Let me check"})
    tool_done = Seen(TOOL_DONE, 0, {"index": 0, "name": "f", "arguments": "{}"})
    assert sdk == [content_delta, tool_delta, content_done, tool_done]
    assert ours == [content_delta, tool_delta, content_done, tool_done]
    # The difference is when: the SDK's content.done comes with the tool fragment's chunk,
    # deltafold's with the finish chunk.
    assert content_done in sdk_events_per_chunk(data)[1]
    finish_chunk_at = data.index(b"data: ", data.index(b"tool_calls"))
    parser = impl.StreamParser(events=True)
    before_finish = deltafold_events(parser.feed(data[:finish_chunk_at]))
    assert before_finish == [content_delta, tool_delta]
    assert deltafold_events(parser.feed(data[finish_chunk_at:])) == [content_done, tool_done]
