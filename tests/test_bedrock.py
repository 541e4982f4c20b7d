"""Bedrock ConverseStream (``format="bedrock"``), both twins: every recorded stream, encoded into
real event-stream frames by the test encoder, folds the same natively and in the reference at
every read size 1..64, to values computed here from the recorded events; auto-detection from
the prelude; corrupted frames, exceptions, truncation; round trips through
``to_event_stream``."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest
from deltafold.testing import bedrock_responses
from hypothesis import given
from hypothesis import strategies as st

from tests.eventstream_encoder import (
    BEDROCK_FIXTURES,
    bedrock_events,
    bedrock_stream,
    encode_message,
    event_message,
    exception_message,
)


def fold(impl: ModuleType, data: bytes, size: int, **options: Any) -> tuple[Any, Any]:
    parser = impl.StreamParser(**options)
    for at in range(0, len(data), size):
        parser.feed(data[at : at + size])
    return parser.finish(), parser.summary()


def expected_of(path: Path) -> dict[str, Any]:
    """Per block index: text, tool (id, name, parsed input), reasoning; and the top level."""
    blocks: dict[int, dict[str, Any]] = {}
    top: dict[str, Any] = {"stopReason": None, "usage": None, "metrics": None}
    for event_type, payload in bedrock_events(path):
        index = payload.get("contentBlockIndex")
        block = blocks.setdefault(index, {}) if index is not None else None
        if event_type == "contentBlockStart":
            assert block is not None
            block["toolUse"] = {**payload["start"]["toolUse"], "input": ""}
        elif event_type == "contentBlockDelta":
            assert block is not None
            delta = payload["delta"]
            if "text" in delta:
                block["text"] = block.get("text", "") + delta["text"]
            if "toolUse" in delta:
                block["toolUse"]["input"] += delta["toolUse"]["input"]
            if "reasoningContent" in delta:
                reasoning = block.setdefault("reasoningContent", {"reasoningText": {"text": ""}})
                r = delta["reasoningContent"]
                reasoning["reasoningText"]["text"] += r.get("text", "")
                if "signature" in r:
                    reasoning["reasoningText"]["signature"] = r["signature"]
        elif event_type == "messageStop":
            top["stopReason"] = payload["stopReason"]
            top.update({k: v for k, v in payload.items() if k != "stopReason"})
        elif event_type == "metadata":
            top.update(payload)
    for block in blocks.values():
        if "toolUse" in block:
            block["toolUse"]["input"] = json.loads(block["toolUse"]["input"] or "{}")
    content = [blocks[i] for i in sorted(blocks)]
    return {"output": {"message": {"role": "assistant", "content": content}}, **top}


@pytest.mark.parametrize("path", BEDROCK_FIXTURES, ids=lambda p: p.stem)
def test_recorded_streams_native_equals_reference_at_every_read_size(path: Path) -> None:
    data = bedrock_stream(path)
    whole = fold(deltafold.reference, data, len(data), format="bedrock")
    assert whole[0] == expected_of(path)
    for size in range(1, 65):
        assert fold(deltafold, data, size, format="bedrock") == whole, size
        assert fold(deltafold.reference, data, size) == whole, size


@pytest.mark.parametrize("path", BEDROCK_FIXTURES, ids=lambda p: p.stem)
def test_recorded_streams_fold_to_independent_values(impl: ModuleType, path: Path) -> None:
    data = bedrock_stream(path)
    parser = impl.StreamParser()
    parser.feed(data)
    result = parser.finish()
    assert parser.format == "bedrock"
    expected = expected_of(path)
    assert result == expected
    summary = parser.summary()
    blocks = expected["output"]["message"]["content"]
    assert summary["status"] == "complete"
    assert summary["text"] == "".join(b.get("text", "") for b in blocks)
    assert summary["reasoning"] == "".join(
        b["reasoningContent"]["reasoningText"]["text"] for b in blocks if "reasoningContent" in b
    )
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in summary["tool_calls"]] == [
        (b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"])
        for b in blocks
        if "toolUse" in b
    ]
    usage = expected["usage"] or {}
    assert summary["usage"]["input_tokens"] == usage.get("inputTokens")
    assert summary["usage"]["output_tokens"] == usage.get("outputTokens")
    assert summary["usage"]["total_tokens"] == usage.get("totalTokens")
    assert summary["stop_reason"] == expected["stopReason"]


def test_padding_dropped_and_metadata_after_stop_folded(impl: ModuleType) -> None:
    data = (
        event_message("messageStart", {"role": "assistant", "p": "abcdef"})
        + event_message(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}, "p": "xy"}
        )
        + event_message("contentBlockStop", {"contentBlockIndex": 0, "p": "x"})
        + event_message("messageStop", {"stopReason": "end_turn", "p": "xyz"})
        + event_message(
            "metadata",
            {
                "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
                "metrics": {"latencyMs": 9},
                "p": "q",
            },
        )
    )
    parser = impl.StreamParser(format="bedrock")
    parser.feed(data)
    assert parser.finish() == {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
        "metrics": {"latencyMs": 9},
    }
    assert parser.problems == []
    assert parser.summary()["usage"]["total_tokens"] == 3


def test_exception_message_is_an_api_error(impl: ModuleType) -> None:
    data = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}}) + (
        exception_message("throttlingException", {"message": "Too many requests"})
    )
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(data, format="bedrock")
    assert caught.value.body == {"type": "throttlingException", "message": "Too many requests"}
    assert caught.value.partial["output"]["message"]["content"] == [{"text": "a"}]
    summary = impl.summarize(data)
    assert summary["status"] == "failed"
    assert summary["error"] == {"type": "throttlingException", "message": "Too many requests"}


def test_a_corrupted_byte_is_a_decode_error_never_a_wrong_result(impl: ModuleType) -> None:
    first = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "ok"}})
    second = event_message(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "SECRET"}}
    )
    stop = event_message("messageStop", {"stopReason": "end_turn"})
    for at in range(len(second)):
        bad = bytearray(first + second + stop)
        bad[len(first) + at] ^= 0x20
        with pytest.raises(impl.StreamDecodeError) as caught:
            impl.assemble(bytes(bad), format="bedrock")
        assert caught.value.byte_offset == len(first), at
        assert caught.value.partial["output"]["message"]["content"] == [{"text": "ok"}]
        # Skip mode: the corrupted message never contributes text.
        result = impl.assemble(bytes(bad), format="bedrock", on_error="skip")
        texts = [b.get("text") for b in result["output"]["message"]["content"]]
        assert texts == [] or texts == ["ok"], (at, texts)


def test_truncated_frame_is_incomplete(impl: ModuleType) -> None:
    message = event_message("messageStop", {"stopReason": "end_turn"})
    data = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "a"}})
    with pytest.raises(impl.IncompleteStreamError):
        impl.assemble(data + message[:-3], format="bedrock")
    assert impl.assemble(data + message[:-3], format="bedrock", allow_truncated=True)["output"][
        "message"
    ]["content"] == [{"text": "a"}]
    with pytest.raises(impl.IncompleteStreamError):
        impl.assemble(data, format="bedrock")


def test_message_limit_is_max_line_bytes(impl: ModuleType) -> None:
    big = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x" * 500}})
    stop = event_message("messageStop", {"stopReason": "end_turn"})
    with pytest.raises(impl.LimitExceededError) as caught:
        impl.assemble(big + stop, format="bedrock", max_line_bytes=len(big) - 1)
    assert caught.value.limit == "max_line_bytes"
    result = impl.assemble(big + stop, format="bedrock", max_line_bytes=len(big))
    assert result["output"]["message"]["content"] == [{"text": "x" * 500}]


def test_auto_detection_needs_a_valid_prelude(impl: ModuleType) -> None:
    data = event_message("messageStop", {"stopReason": "end_turn"})
    for size in (1, 5, 12, 13, len(data)):
        parser = impl.StreamParser()
        for at in range(0, len(data), size):
            parser.feed(data[at : at + size])
            if at + size < 12:
                assert parser.format is None
        parser.finish()
        assert parser.format == "bedrock"
    # A NUL start whose CRC does not check is not Bedrock: it is refused as not an event stream.
    bad = bytearray(data)
    bad[9] ^= 1
    with pytest.raises(impl.StreamDecodeError):
        impl.assemble(bytes(bad))


def test_custom_header_types_do_not_disturb_the_fold(impl: ModuleType) -> None:
    data = encode_message(
        [
            (":event-type", 7, "messageStop"),
            (":content-type", 7, "application/json"),
            (":message-type", 7, "event"),
            ("x-extra", 8, 1_700_000_000_000),
            ("x-flag", 0, True),
        ],
        b'{"stopReason":"max_tokens"}',
    )
    assert impl.summarize(data)["finish_reason"] == "length"


@given(
    response=bedrock_responses(),
    chunk_size=st.integers(1, 20),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
)
def test_round_trip_through_to_event_stream_with_any_split(
    impl: ModuleType, response: dict[str, Any], chunk_size: int, cuts: list[int]
) -> None:
    data = impl.to_event_stream(response, chunk_size=chunk_size)
    parser = impl.StreamParser()
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        parser.feed(data[start:end])
    assert parser.finish() == response
    assert parser.format == "bedrock"
    assert parser.summary()["status"] == "complete"


def outcome(module: ModuleType, data: bytes, **options: Any) -> Any:
    """The result and summary, or the error class and its partial."""
    try:
        parser = module.StreamParser(**options)
        parser.feed(data)
        return ("ok", parser.finish(), parser.summary(), len(parser.problems))
    except module.DeltafoldError as error:
        return (type(error).__name__, error.byte_offset, error.partial)


@given(
    path=st.sampled_from(BEDROCK_FIXTURES),
    payload_edits=st.lists(
        st.tuples(st.integers(0, 100), st.integers(0, 10**4), st.binary(max_size=3)), max_size=3
    ),
    frame_edit=st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
    on_error=st.sampled_from(["raise", "skip", "repair"]),
)
def test_mutated_streams_twins_agree(
    path: Path,
    payload_edits: list[tuple[int, int, bytes]],
    frame_edit: tuple[int, int] | None,
    on_error: str,
) -> None:
    events = [(t, json.dumps(p, separators=(",", ":")).encode()) for t, p in bedrock_events(path)]
    for which, at, replacement in payload_edits:
        event_type, payload = events[which % len(events)]
        edited = bytearray(payload)
        at %= len(edited)
        edited[at : at + len(replacement)] = replacement
        events[which % len(events)] = (event_type, bytes(edited))
    data = bytearray(
        b"".join(
            encode_message(
                [
                    (":event-type", 7, t),
                    (":content-type", 7, "application/json"),
                    (":message-type", 7, "event"),
                ],
                p,
            )
            for t, p in events
        )
    )
    if frame_edit is not None:
        data[frame_edit[0] % len(data)] ^= frame_edit[1] or 1
    for format in ("bedrock", "auto"):
        native = outcome(deltafold, bytes(data), on_error=on_error, format=format)
        reference = outcome(deltafold.reference, bytes(data), on_error=on_error, format=format)
        assert native == reference


ANTHROPIC_FIXTURES = sorted(
    (Path(__file__).parent / "fixtures" / "anthropic-recorded").glob("*.sse")
)


def invoke_stream(path: Path) -> bytes:
    """An Anthropic recording as Bedrock's InvokeModelWithResponseStream sends it: every event's
    JSON, base64-encoded, in a `chunk` event's `bytes`."""
    decoder = deltafold.reference.SseDecoder()
    events = decoder.feed(path.read_bytes()) + decoder.finish()
    return b"".join(
        event_message("chunk", {"bytes": base64.b64encode(e.data.encode()).decode()})
        for e in events
        if e.data.strip() and e.event != "ping"
    )


def plain_outcome(module: ModuleType, data: bytes, **options: Any) -> Any:
    try:
        parser = module.StreamParser(**options)
        parser.feed(data)
        result = parser.finish()
        summary = {k: v for k, v in parser.summary().items() if k != "format"}
        return ("ok", result, summary)
    except module.DeltafoldError as error:
        return (type(error).__name__, error.partial)


@pytest.mark.parametrize("path", ANTHROPIC_FIXTURES, ids=lambda p: p.stem)
def test_invoke_model_stream_folds_like_the_plain_anthropic_stream(
    impl: ModuleType, path: Path
) -> None:
    wrapped = invoke_stream(path)
    expected = plain_outcome(impl, path.read_bytes(), format="anthropic", on_error="skip")
    for size in (len(wrapped), 7):
        parser_outcome = plain_outcome(
            impl,
            b"".join(wrapped[i : i + size] for i in range(0, len(wrapped), size)),
            on_error="skip",
        )
        assert parser_outcome == expected
    parser = impl.StreamParser(on_error="skip")
    parser.feed(wrapped)
    assert parser.format == "bedrock"
    assert parser.summary()["format"] == "bedrock"


@pytest.mark.parametrize("path", ANTHROPIC_FIXTURES, ids=lambda p: p.stem)
def test_invoke_model_native_equals_reference(path: Path) -> None:
    wrapped = invoke_stream(path)
    for size in (1, 13, len(wrapped)):
        assert fold(deltafold, wrapped, size, on_error="skip") == fold(
            deltafold.reference, wrapped, size, on_error="skip"
        )
