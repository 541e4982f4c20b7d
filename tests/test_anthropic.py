"""Anthropic Messages streams (tests/fixtures/anthropic-recorded/*.sse), issue 10.

Oracle: the ``anthropic`` SDK's own accumulation, ``lib.streaming._messages.accumulate_event``
then ``to_dict(mode="json")``, fed by the SDK's own ``SSEDecoder``; one message per
``message_stop`` (some recordings hold several turns). Where the plain accumulator drops what
the wire carries, its beta twin (``_beta_messages``) is the oracle, and
:func:`test_plain_sdk_differs_only_where_documented` pins that list:

- ``usage`` keys of a ``message_delta`` other than the five it models (``iterations``,
  ``fallback_credit``) and top-level ``message_delta`` keys (``context_management``);
- ``input_json_delta`` on ``mcp_tool_use`` blocks, and ``compaction_delta``.

The ``spliced-message-start`` recording is the documented exception: docs/formats.md makes it a
``StreamDecodeError`` (the SDK ignores the second ``message_start`` and mixes both messages).
"""

from __future__ import annotations

import asyncio
import copy
import typing
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jiter
import orjson
import pytest
from anthropic._streaming import SSEDecoder
from anthropic.lib.streaming._beta_messages import accumulate_event as beta_accumulate
from anthropic.lib.streaming._messages import accumulate_event as plain_accumulate
from anthropic.types import ContentBlock, Message
from anthropic.types.beta import BetaMessage
from support import fixture_file

RECORDED = sorted(fixture_file("anthropic-recorded").glob("*.sse"))
SPLICED = "anthropic__spliced-message-start.sse"
FOLDED = [path for path in RECORDED if path.name != SPLICED]
IDS = [path.stem for path in FOLDED]


def wire(path: Path) -> bytes:
    """The recording as a server sends it. The ``anthropic-sdk__*`` files are stored without
    the blank line after their last event (the SDK's tests split them themselves); on the wire
    every event ends with one, and an unterminated event is never dispatched (WHATWG)."""
    data = path.read_bytes()
    if not data.endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
        data += b"\n\n"
    return data


def sdk_events(data: bytes) -> list[dict[str, Any]]:
    """The payloads, as the SDK's own SSE decoder reads them (pings dropped, as its stream does)."""
    payloads = [orjson.loads(event.data) for event in SSEDecoder().iter_bytes(iter([data]))]
    return [payload for payload in payloads if payload.get("type") != "ping"]


def _accumulate(events: list[dict[str, Any]], beta: bool) -> dict[str, Any]:
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns on block types its union lacks
        for event in events:
            if event["type"] == "message_start" and snapshot is not None:
                continue  # the SDK ignores a repeated message_start
            if beta:
                snapshot = beta_accumulate(
                    event=event, current_snapshot=snapshot, json_bufs=buffers, request_headers={}
                )
            else:
                snapshot = plain_accumulate(
                    event=event, current_snapshot=snapshot, json_bufs=buffers
                )
        result: dict[str, Any] = snapshot.to_dict(mode="json")
    return result


def sdk_messages(data: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(plain, beta) SDK results, one per message (a message ends at message_stop)."""
    messages, current = [], []
    for event in sdk_events(data):
        current.append(event)
        if event["type"] == "message_stop":
            messages.append(current)
            current = []
    if current:
        messages.append(current)
    return [(_accumulate(events, False), _accumulate(events, True)) for events in messages]


# Where the plain SDK drops what the wire carries (module docstring): (path, block type or None).
_PLAIN_GAPS = {
    ("usage", "iterations"),
    ("usage", "fallback_credit"),
    ("context_management",),
}
_PLAIN_BLOCK_GAPS = {"mcp_tool_use": ("input",), "compaction": ("content", "encrypted_content")}


def expected_message(plain: dict[str, Any], beta: dict[str, Any]) -> dict[str, Any]:
    """The plain SDK's message, with what it drops taken from the beta SDK."""
    expected = copy.deepcopy(plain)
    for path in _PLAIN_GAPS:
        source: Any = beta
        target: Any = expected
        for step in path[:-1]:
            source, target = source.get(step, {}), target.get(step, {})
        if path[-1] in source:
            target[path[-1]] = source[path[-1]]
    for position, block in enumerate(expected["content"]):
        for key in _PLAIN_BLOCK_GAPS.get(block["type"], ()):
            block[key] = beta["content"][position][key]
    return expected


def differences(ours: Any, theirs: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths where two JSON values differ (dict key order ignored)."""
    if type(ours) is not type(theirs):
        return [path]
    if isinstance(ours, dict):
        found = []
        for key in ours.keys() | theirs.keys():
            if key not in ours or key not in theirs:
                found.append((*path, key))
            else:
                found.extend(differences(ours[key], theirs[key], (*path, key)))
        return found
    if isinstance(ours, list):
        if len(ours) != len(theirs):
            return [path]
        pairs = enumerate(zip(ours, theirs, strict=True))
        return [found for i, (a, b) in pairs for found in differences(a, b, (*path, i))]
    return [] if ours == theirs else [path]


def feed(impl: ModuleType, reads: list[bytes], **options: Any) -> dict[str, Any]:
    parser = impl.StreamParser(**options)
    for read in reads:
        parser.feed(read)
    result: dict[str, Any] = parser.finish()
    return result


def test_all_recordings_present() -> None:
    assert len(RECORDED) == 26
    assert SPLICED in {path.name for path in RECORDED}


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_equals_the_anthropic_sdk(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    expected = [expected_message(plain, beta) for plain, beta in sdk_messages(data)]
    assert list(impl.iter_completions(data)) == expected
    # assemble folds the first message; a recording of several turns is a capture.
    assert impl.assemble(data) == expected[0]
    parser = impl.StreamParser()
    parser.feed(data)
    assert parser.finish() == expected[0]
    assert parser.format == "anthropic"
    assert parser.done


def test_plain_sdk_differs_only_where_documented(reference: ModuleType) -> None:
    seen: set[tuple[Any, ...]] = set()
    for path in FOLDED:
        data = wire(path)
        for ours, (plain, _) in zip(
            reference.iter_completions(data), sdk_messages(data), strict=True
        ):
            for where in differences(ours, plain):
                block_gap = (
                    len(where) >= 3
                    and where[0] == "content"
                    and where[2] in _PLAIN_BLOCK_GAPS.get(ours["content"][where[1]]["type"], ())
                )
                assert where in _PLAIN_GAPS or block_gap, (path.name, where)
                seen.add(("content", "*", where[2]) if block_gap else where)
    # Every documented gap shows on some recording, so the list stays true.
    assert seen == _PLAIN_GAPS | {
        ("content", "*", "input"),
        ("content", "*", "content"),
        ("content", "*", "encrypted_content"),
    }


def _validatable(message: dict[str, Any]) -> dict[str, Any]:
    """The recordings' ``usage.server_tool_use`` sometimes lacks ``web_fetch_requests``, which
    the SDK model requires: the server did not send it, so the fold does not invent it."""
    copied = copy.deepcopy(message)
    server_tool_use = (copied.get("usage") or {}).get("server_tool_use")
    if isinstance(server_tool_use, dict):
        server_tool_use.setdefault("web_fetch_requests", 0)
    return copied


def _block_types(union: Any) -> set[str]:
    """The block ``type`` values an SDK content-block union has a model for."""
    members = typing.get_args(union)
    if members and not hasattr(members[0], "model_fields"):
        members = typing.get_args(members[0])  # Annotated[Union[...], ...]
    return {kind for m in members for kind in typing.get_args(m.model_fields["type"].annotation)}


MESSAGE_BLOCKS = _block_types(ContentBlock)


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_validates_as_an_anthropic_message(impl: ModuleType, path: Path) -> None:
    for result in impl.iter_completions(wire(path)):
        kinds = {block["type"] for block in result["content"]}
        # Compaction, MCP, fallback and advisor blocks only have models in the beta Message.
        model = Message if kinds <= MESSAGE_BLOCKS else BetaMessage
        validated = model.model_validate(_validatable(result))
        assert validated.id == result["id"]
        assert [block.type for block in validated.content] == [b["type"] for b in result["content"]]
        assert validated.usage.output_tokens == result["usage"]["output_tokens"]


def _start_keys(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The key order of the first message_start's message and of each block start."""
    events = sdk_events(data)
    message = next(e["message"] for e in events if e["type"] == "message_start")
    blocks = []
    for event in events:
        if event["type"] == "content_block_start":
            blocks.append(list(event["content_block"]))
        if event["type"] == "message_stop":
            break
    return list(message), blocks


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_keys_keep_the_wire_order(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    result = impl.assemble(data)
    message_keys, block_keys = _start_keys(data)
    assert list(result)[: len(message_keys)] == message_keys
    # Keys a message_delta adds come after (stop_details, container, context_management).
    assert set(list(result)[len(message_keys) :]) <= {
        "stop_details",
        "container",
        "context_management",
    }
    for block, keys in zip(result["content"], block_keys, strict=True):
        assert list(block)[: len(keys)] == keys
        assert set(list(block)[len(keys) :]) <= {
            "citations",
            "signature",
            "content",
            "encrypted_content",
        }


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_every_read_size_from_1_to_64(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    whole = impl.assemble(data)
    for size in range(1, 65):
        reads = [data[i : i + size] for i in range(0, len(data), size)]
        assert feed(impl, reads) == whole, size


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr"])
@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_other_line_ends(impl: ModuleType, path: Path, ending: bytes) -> None:
    data = wire(path)
    # JSON payloads escape their newlines, so every LF in the file is a line end.
    converted = data.replace(b"\n", ending)
    assert list(impl.iter_completions(converted)) == list(impl.iter_completions(data))
    # A CR at the end of one read and its LF at the start of the next are one line end.
    middle = len(converted) // 2
    while ending == b"\r\n" and converted[middle - 1 : middle] != b"\r":
        middle += 1
    assert feed(impl, [converted[:middle], converted[middle:]]) == impl.assemble(data)


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_without_event_lines(impl: ModuleType, path: Path) -> None:
    # Some proxies drop the `event:` lines: the payload's type is enough.
    data = wire(path)
    bare = b"".join(
        line for line in data.splitlines(keepends=True) if not line.startswith(b"event:")
    )
    assert b"event:" not in bare
    assert list(impl.iter_completions(bare)) == list(impl.iter_completions(data))


# -- the splice case ------------------------------------------------------------------------------


def _spliced() -> tuple[bytes, dict[str, Any]]:
    data = wire(fixture_file("anthropic-recorded", SPLICED))
    events = sdk_events(data)
    second = [i for i, e in enumerate(events) if e["type"] == "message_start"][1]
    first_message = _accumulate(events[:second], beta=False)
    return data, first_message


def test_spliced_message_start_raises_with_the_first_message(impl: ModuleType) -> None:
    data, first_message = _spliced()
    assert first_message["id"] == "msg_first"
    with pytest.raises(impl.StreamDecodeError) as caught:
        impl.assemble(data)
    error = caught.value
    assert type(error) is impl.StreamDecodeError
    assert error.partial == first_message
    assert error.event_index == 7  # the second message_start
    assert data[error.byte_offset :].startswith(
        b'{"type":"message_start","message":{"id":"msg_second"'
    )


def test_spliced_message_start_in_skip_mode_drops_the_intruder(impl: ModuleType) -> None:
    data, first_message = _spliced()
    parser = impl.StreamParser(on_error="skip")
    parser.feed(data)
    assert parser.finish() == first_message
    kinds = [(p.kind, p.event_index) for p in parser.problems]
    # The intruding message_start (event 7) and each later event, then the truncation.
    total = len(sdk_events(data))
    assert kinds == [("StreamDecodeError", index) for index in range(7, total)] + [
        ("IncompleteStreamError", total)
    ]
    assert parser.summary()["status"] == "incomplete"
    assert parser.summary()["id"] == "msg_first"


# -- synthetic streams ----------------------------------------------------------------------------


def anthropic_sse(*payloads: dict[str, Any], event_lines: bool = True) -> bytes:
    out = b""
    for payload in payloads:
        if event_lines:
            out += b"event: " + payload["type"].encode() + b"\n"
        out += b"data: " + orjson.dumps(payload) + b"\n\n"
    return out


START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    },
}


def text_block(index: int, *pieces: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        },
        *(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": p},
            }
            for p in pieces
        ),
        {"type": "content_block_stop", "index": index},
    ]


def tool_block(
    index: int, call_id: str, *fragments: str, kind: str = "tool_use"
) -> list[dict[str, Any]]:
    return [
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": kind, "id": call_id, "name": "get", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": f},
            }
            for f in fragments
        ),
        {"type": "content_block_stop", "index": index},
    ]


def end(stop_reason: str = "end_turn", output_tokens: int = 7) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


def sdk_result(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    return _accumulate([p for p in payloads if p["type"] != "ping"], beta=False)


def test_a_synthetic_stream_equals_the_sdk(impl: ModuleType) -> None:
    payloads = [
        START,
        {"type": "ping"},
        *text_block(0, "Hel", "lo"),
        *tool_block(1, "toolu_1", "", '{"a": [1, ', '"x"]}'),
        *tool_block(2, "srvtoolu_1", '{"q": "w"}', kind="server_tool_use"),
        *end("tool_use"),
    ]
    result = impl.assemble(anthropic_sse(*payloads))
    assert result == sdk_result(payloads)
    assert result["content"][1]["input"] == {"a": [1, "x"]}


def test_empty_input_json_means_the_given_input(impl: ModuleType) -> None:
    payloads = [START, *tool_block(0, "toolu_1", "", ""), *end("tool_use")]
    assert impl.assemble(anthropic_sse(*payloads))["content"][0]["input"] == {}
    assert impl.assemble(anthropic_sse(*payloads)) == sdk_result(payloads)


def test_unfinished_tool_input_keeps_what_the_sdk_keeps(impl: ModuleType) -> None:
    # Cut by max_tokens: no content_block_stop, an unfinished string (dropped, like jiter's
    # partial_mode=True).
    payloads = [
        START,
        *tool_block(0, "toolu_1", '{"a": "done", "b": ["x", "unfini')[:-1],
        *end("max_tokens"),
    ]
    result = impl.assemble(anthropic_sse(*payloads))
    assert result["content"][0]["input"] == {"a": "done", "b": ["x"]}
    assert result == sdk_result(payloads)


def test_error_event_is_an_api_error_with_the_partial_message(impl: ModuleType) -> None:
    error_payload = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    head = [START, *text_block(0, "Hi")]
    for event_lines in (True, False):
        data = anthropic_sse(*head, error_payload, event_lines=event_lines)
        with pytest.raises(impl.StreamAPIError) as caught:
            impl.assemble(data)
        assert caught.value.body == error_payload
        assert caught.value.partial == sdk_result(head)
        assert "Overloaded" in str(caught.value)
        parser = impl.StreamParser(on_error="skip")
        parser.feed(data)
        assert parser.finish() == sdk_result(head)
        summary = parser.summary()
        assert summary["status"] == "failed"
        assert summary["finish_reason"] == "error"
        assert summary["error"] == error_payload
        assert summary["text"] == "Hi"


def test_unknown_event_types_are_recorded_and_skipped(impl: ModuleType) -> None:
    payloads = [START, {"type": "future_event", "x": 1}, *text_block(0, "a"), *end()]
    parser = impl.StreamParser()  # even in raise mode
    parser.feed(anthropic_sse(*payloads))
    assert parser.finish() == sdk_result([p for p in payloads if p["type"] != "future_event"])
    assert [p.event_index for p in parser.problems] == [1]
    assert "future_event" in parser.problems[0].message


def test_a_repeated_message_start_with_the_same_id_is_ignored(impl: ModuleType) -> None:
    payloads = [START, *text_block(0, "a"), START, *end()]
    parser = impl.StreamParser()
    parser.feed(anthropic_sse(*payloads))
    assert parser.finish() == sdk_result(payloads)
    assert parser.problems == []


def test_events_before_message_start_are_refused(impl: ModuleType) -> None:
    data = anthropic_sse(*text_block(0, "a"), START, *end(), event_lines=False)
    with pytest.raises(impl.StreamDecodeError):
        impl.assemble(data, format="anthropic")


def test_tool_input_that_stops_being_json_is_a_chunk_decode_error(impl: ModuleType) -> None:
    payloads = [START, *tool_block(0, "toolu_1", '{"a": 1', "}x", "}"), *end("tool_use")]
    data = anthropic_sse(*payloads)
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(data)
    assert caught.value.event_index == 3  # the "}x" fragment
    assert "tool input" in caught.value.message
    # Skip mode drops the fragment that broke it.
    assert impl.assemble(data, on_error="skip")["content"][0]["input"] == {"a": 1}


def test_block_indices_must_follow_each_other(impl: ModuleType) -> None:
    payloads = [START, *text_block(1, "a"), *end()]
    with pytest.raises(impl.ChunkDecodeError):
        impl.assemble(anthropic_sse(*payloads))


def test_max_tool_calls_bounds_tool_use_blocks(impl: ModuleType) -> None:
    payloads = [START, *tool_block(0, "t0", "{}"), *tool_block(1, "t1", "{}"), *end("tool_use")]
    data = anthropic_sse(*payloads)
    assert len(impl.assemble(data, max_tool_calls=2)["content"]) == 2
    with pytest.raises(impl.LimitExceededError) as caught:
        impl.assemble(data, max_tool_calls=1)
    assert caught.value.limit == "max_tool_calls"


def test_max_depth_bounds_tool_input(impl: ModuleType) -> None:
    deep = "[" * 20 + "]" * 20
    payloads = [START, *tool_block(0, "t0", deep), *end("tool_use")]
    data = anthropic_sse(*payloads)
    assert impl.assemble(data, max_depth=20)["content"][0]["input"] == orjson.loads(deep)
    with pytest.raises(impl.LimitExceededError) as caught:
        impl.assemble(data, max_depth=19)
    assert caught.value.limit == "max_depth"


def test_truncated_stream_raises_with_the_partial_message(impl: ModuleType) -> None:
    payloads = [START, *text_block(0, "Hel", "lo")]
    data = anthropic_sse(*payloads)
    with pytest.raises(impl.IncompleteStreamError) as caught:
        impl.assemble(data)
    assert caught.value.partial == sdk_result(payloads)
    assert impl.assemble(data, allow_truncated=True) == sdk_result(payloads)


def test_a_capture_of_several_messages(impl: ModuleType) -> None:
    first = [START, *text_block(0, "one"), *end()]
    second_start = copy.deepcopy(START)
    second_start["message"]["id"] = "msg_2"
    second = [second_start, *text_block(0, "two"), *end()]
    data = anthropic_sse(*first, *second)
    assert list(impl.iter_completions(data)) == [sdk_result(first), sdk_result(second)]
    # Not a capture: the stream ended at the first message_stop, the rest is ignored.
    parser = impl.StreamParser()
    parser.feed(data)
    assert parser.finish() == sdk_result(first)
    assert {p.kind for p in parser.problems} == {"DataAfterDone"}


# -- events ---------------------------------------------------------------------------------------


def _event_rows(events: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            e.type,
            e.choice_index,
            e.index,
            e.id,
            e.name,
            e.field,
            e.delta,
            e.arguments,
            e.parsed_arguments,
        )
        for e in events
    ]


@pytest.mark.parametrize("path", FOLDED, ids=IDS)
def test_events_of_the_recordings(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    events = list(impl.iter_events(data, partial_arguments=True))
    result = impl.assemble(data)
    assert events[-1].type == "done"
    assert events[-1].completion == result
    blocks = result["content"]
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    thinking = "".join(b["thinking"] for b in blocks if b["type"] == "thinking")
    assert "".join(e.delta for e in events if e.type == "content.delta") == text
    assert "".join(e.delta for e in events if e.type == "reasoning.delta") == thinking
    done = [e for e in events if e.type == "content.done"]
    assert [e.content for e in done] == ([text] if any(b["type"] == "text" for b in blocks) else [])
    calls = [b for b in blocks if b["type"] == "tool_use"]
    finished = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.id, e.name) for e in finished] == [
        (position, call["id"], call["name"]) for position, call in enumerate(calls)
    ]
    for event, call in zip(finished, calls, strict=True):
        # The input is the arguments as jiter's partial_mode=True reads them (whole when
        # complete); parsed_arguments keep an unfinished string, as on every delta event.
        assert jiter.from_json(event.arguments.encode(), partial_mode=True) == call["input"]
        assert event.parsed_arguments == jiter.from_json(
            event.arguments.encode(), partial_mode="trailing-strings"
        )
    usages = [e.usage for e in events if e.type == "usage"]
    assert usages[-1] == result["usage"]
    # The same events whatever the reads, and the same asynchronously.
    small = list(
        impl.iter_events([data[i : i + 7] for i in range(0, len(data), 7)], partial_arguments=True)
    )
    assert _event_rows(small) == _event_rows(events)

    async def reads() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 13):
            yield data[i : i + 13]

    async def collect() -> list[Any]:
        return [e async for e in impl.aiter_events(reads(), partial_arguments=True)]

    assert _event_rows(asyncio.run(collect())) == _event_rows(events)
