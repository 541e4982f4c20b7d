"""OpenAI Responses API streams (``format="responses"``, issue 11), on both twins.

Oracles: the closing snapshot each recorded stream carries (``response.completed`` /
``.incomplete`` / ``.failed``), the openai SDK's own ``ResponseStreamState`` and ``Response``
model, the deltas of a recording read independently here, and the responses the generators
draw (rendered by ``to_sse(..., format="responses")``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import deltafold.errors as errors
import deltafold.reference as reference
import openai
import pytest
from deltafold._render_responses import render_responses
from deltafold._testing_responses import responses, responses_streams
from deltafold.testing import splits
from hypothesis import given
from hypothesis import strategies as st
from openai._models import construct_type
from openai._types import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from support import fixture_file, loopback_server, problem_tuples
from test_mutations import _first_difference, _mutation, _run

RECORDINGS = sorted(fixture_file("responses-recorded").glob("*.sse"))
NAMES = [p.stem for p in RECORDINGS]
CLOSING = ("response.completed", "response.incomplete", "response.failed")
# Recordings whose items change between their output_item.done and the closing snapshot: the
# server re-encrypts reasoning (encrypted_content) or rotates item ids on every event.
REENCRYPTED = {"azure__azure-reasoning-encrypted-content.1", "openai__openai-compaction.1"}
ROTATED_IDS = {"openai__github-copilot-id-rotation.1"}


def _path(name: str) -> Path:
    return fixture_file("responses-recorded", name + ".sse")


def decoded(data: bytes) -> list[dict[str, Any]]:
    """The events of a recording, read here without deltafold (``event:`` + ``data:`` pairs
    separated by blank lines, LF only, as the recordings are)."""
    out = []
    for block in data.decode("utf-8").split("\n\n"):
        lines = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if lines:
            out.append(json.loads("\n".join(lines)))
    return out


def event_blocks(data: bytes) -> list[bytes]:
    """The recording cut after each event's blank line."""
    blocks = data.split(b"\n\n")
    out = [block + b"\n\n" for block in blocks[:-1]]
    if blocks[-1]:
        out.append(blocks[-1])
    return out


def closing_snapshots(data: bytes) -> list[dict[str, Any]]:
    return [e["response"] for e in decoded(data) if e["type"] in CLOSING]


def first_stream(data: bytes) -> bytes:
    """The bytes up to and including the first closing event (some recordings hold several
    responses in a row)."""
    blocks = event_blocks(data)
    for n, block in enumerate(blocks):
        if any(block.startswith(b"event: " + kind.encode() + b"\n") for kind in CLOSING):
            return b"".join(blocks[: n + 1])
    return data


def before_close(data: bytes) -> bytes:
    """The first stream cut just before its closing event."""
    blocks = event_blocks(first_stream(data))
    return b"".join(blocks[:-1])


def _has_error_event(data: bytes) -> bool:
    return any(e["type"] == "error" for e in decoded(data))


# -- recorded streams ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_recorded_result_is_the_closing_snapshot(impl: ModuleType, name: str) -> None:
    data = _path(name).read_bytes()
    expected = closing_snapshots(data)[0]
    if _has_error_event(data):
        with pytest.raises(errors.StreamAPIError) as caught:
            impl.assemble(data, format="responses")
        error_event = next(e for e in decoded(data) if e["type"] == "error")
        assert caught.value.body == error_event
        assert caught.value.partial["status"] == "incomplete"
        assert caught.value.partial["id"] == expected["id"]
        result = impl.assemble(data, format="responses", on_error="skip")
    else:
        result = impl.assemble(data, format="responses")
    assert result == expected
    assert list(result) == list(expected)  # key order as sent, too
    # Auto-detection picks the format from the first event.
    assert impl.assemble(data, on_error="skip") == expected


@pytest.mark.parametrize("name", NAMES)
def test_capture_of_several_responses_gives_each_closing_snapshot(
    impl: ModuleType, name: str
) -> None:
    data = _path(name).read_bytes()
    got = list(impl.iter_completions(data, format="responses", on_error="skip"))
    assert got == closing_snapshots(data)


@pytest.mark.parametrize("name", NAMES)
def test_every_read_size_gives_the_reference_result(name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    whole = reference.assemble(data, format="responses", on_error="skip")
    assert deltafold.assemble(data, format="responses", on_error="skip") == whole
    for size in range(1, 65):
        parser = deltafold.StreamParser(format="responses", on_error="skip")
        for at in range(0, len(data), size):
            parser.feed(data[at : at + size])
        assert parser.finish() == whole, size
    for size in (1, 7, 64):
        if size == 1 and len(data) > 40_000:
            continue  # the pure-Python twin byte by byte on the biggest recordings: minutes
        parser = reference.StreamParser(format="responses", on_error="skip")
        for at in range(0, len(data), size):
            parser.feed(data[at : at + size])
        assert parser.finish() == whole, size


def _without_volatile(item: dict[str, Any], name: str) -> dict[str, Any]:
    item = dict(item)
    if name in REENCRYPTED:
        item.pop("encrypted_content", None)
    if name in ROTATED_IDS:
        item.pop("id", None)
    return item


@pytest.mark.parametrize("name", NAMES)
def test_folded_state_before_the_close_is_the_closing_output(impl: ModuleType, name: str) -> None:
    data = _path(name).read_bytes()
    expected = closing_snapshots(data)[0]
    folded = impl.assemble(before_close(data), format="responses", on_error="skip")
    assert folded["status"] == "incomplete"
    if name not in ROTATED_IDS:  # that server rotates the response id too
        assert folded["id"] == expected["id"]
    got = [_without_volatile(item, name) for item in folded["output"]]
    want = [_without_volatile(item, name) for item in expected["output"]]
    assert got == want


# What each delta family carries, read from a closing item: (item type, family) -> getter.
def _delta_fields(item: dict[str, Any]) -> dict[str, Any]:
    kind = item.get("type")
    if kind == "message":
        return {
            f"content[{n}]": part.get("text", part.get("refusal"))
            for n, part in enumerate(item.get("content", []))
        }
    if kind == "reasoning":
        fields = {f"summary[{n}]": p["text"] for n, p in enumerate(item.get("summary", []))}
        fields.update(
            {f"content[{n}]": p["text"] for n, p in enumerate(item.get("content") or [])}
        )
        return fields
    if kind in ("function_call", "mcp_call"):
        return {"arguments": item.get("arguments")}
    if kind == "custom_tool_call":
        return {"input": item.get("input")}
    if kind == "code_interpreter_call":
        return {"code": item.get("code")}
    if kind == "apply_patch_call":
        return {"diff": item.get("operation", {}).get("diff")}
    if kind == "shell_call":
        return {"commands": item.get("action", {}).get("commands")}
    return {}


_REPLACING = (
    ".done",
    "response.output_item.done",
    "response.content_part.done",
    "response.reasoning_summary_part.done",
)


@pytest.mark.parametrize("name", NAMES)
def test_deltas_alone_rebuild_the_closing_texts(impl: ModuleType, name: str) -> None:
    """With every event that carries a whole value removed (``*.done``), what the deltas
    built must equal the closing snapshot's texts, arguments, code, diffs and commands."""
    data = first_stream(_path(name).read_bytes())
    events = decoded(data)
    if any(b["sequence_number"] != a["sequence_number"] + 1 for a, b in pairwise(events)):
        pytest.skip("the recording left deltas out (sequence_number gaps)")
    expected = events[-1]["response"]
    kept = [b for b in event_blocks(data)[:-1] if not b.split(b"\n", 1)[0].endswith(b".done")]
    folded = impl.assemble(b"".join(kept), format="responses", on_error="skip")
    with_deltas = {e["output_index"] for e in events if e["type"].endswith(".delta")}
    checked = 0
    for index in with_deltas:
        want = _delta_fields(expected["output"][index])
        got = _delta_fields(folded["output"][index])
        assert {k: got.get(k) for k in want} == want, index
        checked += len(want)
    assert checked or not with_deltas


def _sdk_final(data: bytes) -> dict[str, Any] | None:
    """What the SDK's ResponseStreamState gives for the bytes (None when it cannot close: it
    closes only on response.completed, and refuses a stream whose ids change)."""
    state: Any = ResponseStreamState(input_tools=omit, text_format=omit)
    for event in decoded(data):
        if event["type"] == "error":
            continue
        try:
            state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))
        except RuntimeError:
            return None
    final = state._completed_response
    if final is None:
        return None
    out = final.to_dict()
    for item in out.get("output", []):
        item.pop("parsed_arguments", None)
        for part in item.get("content") or []:
            if isinstance(part, dict):
                part.pop("parsed", None)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_sdk_response_stream_state_agrees(impl: ModuleType, name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    sdk = _sdk_final(data)
    result = impl.assemble(data, format="responses", on_error="skip")
    if sdk is None:
        # Where the SDK does not apply: a failed response, rotated ids.
        assert result["status"] == "failed" or name in ROTATED_IDS
        assert result == closing_snapshots(data)[0]
        return
    assert result == sdk


@pytest.mark.parametrize("name", NAMES)
def test_sdk_response_objects_match(impl: ModuleType, name: str) -> None:
    data = _path(name).read_bytes()
    expected = construct_type(type_=Response, value=closing_snapshots(data)[0])
    result = impl.assemble(data, format="responses", on_error="skip")
    built = construct_type(type_=Response, value=result)
    assert isinstance(built, Response)
    assert built.to_dict() == expected.to_dict()  # type: ignore[union-attr]
    summary = impl.summarize(data, format="responses", on_error="skip")
    assert summary["text"] == built.output_text  # type: ignore[union-attr]


# -- truncation ------------------------------------------------------------------------------


def _text_so_far(events: list[dict[str, Any]]) -> str:
    """All output text the first events carried, computed here: the last whole value of each
    output_text part (from its added / done events), plus the deltas after it."""
    parts: dict[tuple[int, int], str] = {}
    for e in events:
        kind = e["type"]
        if kind == "response.output_item.added" or kind == "response.output_item.done":
            item = e["item"]
            for key in [k for k in parts if k[0] == e["output_index"]]:
                del parts[key]
            if item.get("type") == "message":
                for n, part in enumerate(item.get("content", [])):
                    if part.get("type") == "output_text":
                        parts[(e["output_index"], n)] = part["text"]
        elif kind in ("response.content_part.added", "response.content_part.done"):
            if e["part"].get("type") == "output_text":
                parts[(e["output_index"], e["content_index"])] = e["part"]["text"]
        elif kind == "response.output_text.delta":
            key = (e["output_index"], e["content_index"])
            parts[key] = parts.get(key, "") + e["delta"]
        elif kind == "response.output_text.done":
            parts[(e["output_index"], e["content_index"])] = e["text"]
    return "".join(parts[k] for k in sorted(parts))


TRUNCATED = [n for n in NAMES if len(decoded(first_stream(_path(n).read_bytes()))) <= 200]


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncation_at_every_event_boundary(impl: ModuleType, name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    blocks = event_blocks(data)
    events = decoded(data)
    for cut in range(len(blocks)):
        prefix = b"".join(blocks[:cut])
        summary = impl.summarize(prefix, format="responses", on_error="skip")
        assert summary["status"] == ("failed" if _has_error_event(prefix) else "incomplete")
        assert summary["text"] == _text_so_far(events[:cut]), cut
        if cut and not _has_error_event(prefix):
            with pytest.raises(errors.IncompleteStreamError) as caught:
                impl.assemble(prefix, format="responses")
            assert caught.value.partial["status"] == "incomplete"
            result = impl.assemble(prefix, format="responses", allow_truncated=True)
            assert result == caught.value.partial


# -- the summary -----------------------------------------------------------------------------


def _usage_oracle(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    inputs = usage.get("input_tokens_details") or {}
    outputs = usage.get("output_tokens_details") or {}
    return {
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "cached_input_tokens": inputs.get("cached_tokens"),
        "cache_write_tokens": inputs.get("cache_write_tokens"),
        "reasoning_tokens": outputs.get("reasoning_tokens"),
    }


@pytest.mark.parametrize("name", NAMES)
def test_summary_of_recordings(impl: ModuleType, name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    closing = closing_snapshots(data)[0]
    summary = impl.summarize(data, format="responses", on_error="skip")
    assert list(summary) == [
        "format",
        "id",
        "model",
        "status",
        "finish_reason",
        "stop_reason",
        "usage",
        "text",
        "reasoning",
        "tool_calls",
        "error",
    ]
    assert summary["format"] == "responses"
    assert summary["id"] == closing["id"]
    assert summary["model"] == closing["model"]
    assert summary["usage"] == _usage_oracle(closing.get("usage"))
    calls = [
        {
            "id": item["call_id"],
            "name": item["name"],
            "arguments": item["arguments" if item["type"] == "function_call" else "input"],
        }
        for item in closing["output"]
        if item["type"] in ("function_call", "custom_tool_call")
    ]
    assert summary["tool_calls"] == calls
    if closing["status"] == "failed":
        assert (summary["status"], summary["finish_reason"]) == ("failed", "error")
        assert summary["error"] is not None
    else:
        assert summary["status"] == "complete"
        assert summary["finish_reason"] == ("tool_calls" if calls else "stop")
        assert summary["error"] is None


@pytest.mark.parametrize(
    ("reason", "finish_reason"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter"), ("other", None)],
)
def test_summary_finish_reason_of_incomplete_responses(
    impl: ModuleType, reason: str, finish_reason: str | None
) -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": reason},
        "model": "m",
        "output": [],
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
    }
    data = render_responses(response)
    summary = impl.summarize(data, format="responses")
    assert summary["status"] == "complete"
    assert summary["finish_reason"] == finish_reason
    assert summary["stop_reason"] == reason
    assert summary["usage"]["total_tokens"] == 7


# -- events ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_events_of_recordings(impl: ModuleType, name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    raw = decoded(data)
    events = list(
        impl.iter_events(data, format="responses", on_error="skip", partial_arguments=True)
    )
    assert events[-1].type == "done"
    assert events[-1].completion == closing_snapshots(data)[0]
    text = "".join(e["delta"] for e in raw if e["type"] == "response.output_text.delta")
    assert "".join(e.delta for e in events if e.type == "content.delta") == text
    done = [e for e in events if e.type == "content.done"]
    assert [e.content for e in done] == ([text] if text else [])
    for family in ("reasoning_summary_text", "reasoning_text"):
        sent = "".join(e["delta"] for e in raw if e["type"] == f"response.{family}.delta")
        got = "".join(e.delta for e in events if e.type == "reasoning.delta" and e.field == family)
        assert got == sent, family
    calls = [
        item
        for item in closing_snapshots(data)[0]["output"]
        if item["type"] in ("function_call", "custom_tool_call")
    ]
    call_done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.id, e.name) for e in call_done] == [
        (n, c["call_id"], c["name"]) for n, c in enumerate(calls)
    ]
    for event, call in zip(call_done, calls, strict=True):
        if call["type"] == "function_call":
            assert event.arguments == call["arguments"]
            assert event.parsed_arguments == json.loads(call["arguments"])
    usage = [e for e in events if e.type == "usage"]
    closing_usage = closing_snapshots(data)[0].get("usage")
    assert [e.usage for e in usage] == ([closing_usage] if closing_usage else [])


@pytest.mark.parametrize("name", NAMES)
def test_events_agree_between_twins(name: str) -> None:
    data = first_stream(_path(name).read_bytes())
    options = {"format": "responses", "on_error": "skip", "partial_arguments": True}
    native = [e.as_dict() for e in deltafold.iter_events(data, **options)]
    twin = [e.as_dict() for e in reference.iter_events(data, **options)]
    assert native == twin


def test_tool_argument_events_carry_partial_json(impl: ModuleType) -> None:
    response = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "m",
        "output": [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "f",
                "arguments": '{"city": "Paris", "days": [1, 2]}',
            },
            {"type": "custom_tool_call", "call_id": "call_2", "name": "g", "input": "{free"},
        ],
        "usage": None,
    }
    data = render_responses(response, chunk_size=3)
    events = list(impl.iter_events(data, format="responses", partial_arguments=True))
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    first = [e for e in deltas if e.index == 0]
    assert "".join(e.delta for e in first) == response["output"][0]["arguments"]
    assert first[-1].parsed_arguments == {"city": "Paris", "days": [1, 2]}
    assert first[3].parsed_arguments == {"city": "Pa"}  # {"city": "Pa so far
    second = [e for e in deltas if e.index == 1]
    assert [e.id for e in second] == ["call_2"] * len(second)
    assert all(e.parsed_arguments is None for e in second)  # free text, not JSON


# -- problems --------------------------------------------------------------------------------


def test_sequence_gaps_and_unknown_events_are_problems(impl: ModuleType) -> None:
    data = _path("openai__openai-phase.1").read_bytes()
    parser = impl.StreamParser(format="responses")
    parser.feed(data)
    result = parser.finish()
    assert result == closing_snapshots(data)[0]
    kinds = [p[0] for p in problem_tuples(parser.problems)]
    assert len(kinds) == 3  # 41 after 5, 49 after 43, 126 after 52
    unknown = data.replace(b"response.in_progress", b"response.brand_new_thing")
    parser = impl.StreamParser(format="responses")
    parser.feed(unknown)
    assert parser.finish() == closing_snapshots(data)[0]
    assert len(parser.problems) == 3 + 1  # the renamed event, skipped


def test_an_error_event_carries_the_partial_response(impl: ModuleType) -> None:
    data = _path("openai__openai-error.1").read_bytes()
    parser = impl.StreamParser(format="responses")
    with pytest.raises(errors.StreamAPIError) as caught:
        parser.feed(data)
        parser.finish()
    assert caught.value.body["error"]["code"] == "insufficient_quota"
    summary = parser.summary()
    assert summary["status"] == "failed"
    assert summary["error"] is not None


def test_a_delta_for_a_missing_item_is_a_decode_error(impl: ModuleType) -> None:
    bad = (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"output_index":3,"content_index":0,"delta":"x"}\n\n'
    )
    data = before_close(_path("azure__azure-tool-call.1").read_bytes()) + bad
    with pytest.raises(errors.ChunkDecodeError):
        impl.assemble(data, format="responses", allow_truncated=True)
    skipped = impl.StreamParser(format="responses", on_error="skip")
    skipped.feed(data)
    assert skipped.finish()["status"] == "incomplete"
    assert problem_tuples(skipped.problems)[0][0] == "ChunkDecodeError"


def test_a_skipped_payload_notes_no_sequence_gap(impl: ModuleType) -> None:
    """A payload that fails is skipped with its sequence number: the gap it made is not noted
    and the next number follows the last folded one. Deltas that repeat one shape (folded
    by the native twin without a full decode) note their own gap, at their own event."""

    def event(payload: str) -> bytes:
        kind = json.loads(payload)["type"]
        return f"event: {kind}\ndata: {payload}\n\n".encode()

    def delta(number: int, content_index: int, text: str) -> bytes:
        return event(
            f'{{"type":"response.output_text.delta","sequence_number":{number},'
            f'"output_index":0,"content_index":{content_index},"delta":"{text}",'
            '"obfuscation":"xy"}'
        )

    data = b"".join(
        [
            event(
                '{"type":"response.created","sequence_number":0,"response":{"id":"r",'
                '"status":"in_progress","output":[]}}'
            ),
            event(
                '{"type":"response.output_item.added","sequence_number":1,"output_index":0,'
                '"item":{"type":"message","content":[]}}'
            ),
            event(
                '{"type":"response.content_part.added","sequence_number":2,"output_index":0,'
                '"content_index":0,"part":{"type":"output_text","text":""}}'
            ),
            delta(3, 0, "a"),
            delta(4, 0, "b"),
            delta(9, 5, "x"),  # no part 5: skipped, gap and all
            delta(5, 0, "c"),
            delta(7, 0, "d"),  # a gap: 7 after 5
            delta(8, 0, "e"),
        ]
    )
    parser = impl.StreamParser(format="responses", on_error="skip")
    for i in range(0, len(data), 7):
        parser.feed(data[i : i + 7])
    result = parser.finish()
    assert result["output"][0]["content"][0]["text"] == "abcde"
    kinds = [(kind, index) for kind, _, _, index in problem_tuples(parser.problems)]
    assert kinds[:2] == [("ChunkDecodeError", 5), ("SequenceGap", 7)]
    gap = [p for p in parser.problems if p.kind == "SequenceGap"]
    assert [p.message for p in gap] == ["sequence_number 7 after 5"]


def test_a_delta_differing_from_its_shape_in_one_byte_folds_as_the_reference_does() -> None:
    """Deltas that repeat one shape are folded natively by the shape: its fixed bytes are
    compared and the sequence number, text and obfuscation read in place, sixteen bytes at a
    time, the obfuscation up to the payload's closing bytes. A delta that differs from the
    shape in one byte, at every place, by a byte that ends, escapes or breaks a value or is
    not ASCII, folds as the reference twin folds it: result, errors, positions, problems."""

    def event(payload: bytes) -> bytes:
        return b"event: response.output_text.delta\ndata: " + payload + b"\n\n"

    def delta(number: int, text: str, obfuscation: str) -> bytes:
        return (
            f'{{"type":"response.output_text.delta","sequence_number":{number},'
            '"item_id":"msg_1","output_index":0,"content_index":0,'
            f'"delta":"{text}","logprobs":[],"obfuscation":"{obfuscation}"}}'
        ).encode()

    head = (
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"r","status":"in_progress","output":[]}}\n\n'
        b'event: response.output_item.added\ndata: {"type":"response.output_item.added",'
        b'"sequence_number":1,"output_index":0,"item":{"type":"message","content":[]}}\n\n'
        b'event: response.content_part.added\ndata: {"type":"response.content_part.added",'
        b'"sequence_number":2,"output_index":0,"content_index":0,'
        b'"part":{"type":"output_text","text":""}}\n\n'
    )
    before = head + b"".join(event(delta(n, "ab", "x" * n)) for n in range(3, 6))
    options = {"format": "responses", "on_error": "skip"}
    compared = 0
    # Obfuscations shorter and longer than the sixteen bytes read at once.
    shorter = delta(6, "text of a delta", "obfuscation")
    for last in (shorter, delta(6, "t", "a_longer_obfuscation")):
        for at in range(len(last)):
            for byte in (b'"', b"\\", b"\x01", b"\x7f", b"\xc3", "\u00e9".encode(), b"x", b"}"):
                data = before + event(last[:at] + byte + last[at + 1 :])
                native = _run(deltafold, [data], options)
                twin = _run(reference, [data], options)
                assert native == twin, (data, _first_difference(native, twin))
                compared += 1
    assert compared > 2000


# -- generated streams -----------------------------------------------------------------------


@given(pair=responses_streams(), data=st.data())
def test_generated_responses_round_trip_at_any_split(
    impl: ModuleType, pair: tuple[dict[str, Any], bytes], data: st.DataObject
) -> None:
    response, stream = pair
    assert impl.assemble(stream, format="responses") == response
    pieces = data.draw(splits(stream))
    parser = impl.StreamParser(format="responses")
    for piece in pieces:
        parser.feed(piece)
    assert parser.finish() == response


@given(response=responses(), chunk_size=st.integers(1, 9))
def test_generated_responses_fold_without_their_close(
    impl: ModuleType, response: dict[str, Any], chunk_size: int
) -> None:
    stream = render_responses(response, chunk_size=chunk_size, close=False)
    result = impl.assemble(stream, format="responses", allow_truncated=True)
    expected = {k: v for k, v in response.items() if k != "output"}
    expected["usage"] = None
    expected["status"] = "incomplete"
    expected["output"] = response["output"]
    assert result == expected


@given(response=responses())
def test_public_to_sse_renders_responses(impl: ModuleType, response: dict[str, Any]) -> None:
    stream = impl.to_sse(response, format="responses")
    assert stream == render_responses(response)
    assert impl.assemble(stream) == response


# -- mutations -------------------------------------------------------------------------------

SMALL_RECORDINGS = [p.read_bytes() for p in RECORDINGS if p.stat().st_size <= 13_000]


@given(data=st.data())
def test_mutated_streams_agree_between_twins(data: st.DataObject) -> None:
    base = data.draw(
        st.one_of(
            st.sampled_from(SMALL_RECORDINGS),
            responses_streams().map(lambda pair: pair[1]),
        )
    )
    damaged = base
    for _ in range(data.draw(st.integers(1, 3))):
        damaged = data.draw(_mutation(damaged))
    pieces = data.draw(splits(damaged))
    options = data.draw(
        st.fixed_dictionaries(
            {
                "format": st.just("responses"),
                "on_error": st.sampled_from(["raise", "skip", "repair"]),
            },
            optional={
                "events": st.booleans(),
                "allow_truncated": st.booleans(),
                "max_depth": st.integers(1, 8),
            },
        )
    )
    native = _run(deltafold, pieces, options)
    twin = _run(reference, pieces, options)
    assert native == twin, _first_difference(native, twin)


# -- loopback: the official openai client against a local server -----------------------------

LOOPBACK = {
    n: _path(n)
    for n in (
        "azure__azure-tool-call.1",
        "openai__openai-web-search-tool.1",
        "xai__xai-text-with-reasoning-streaming-store-false.1",
        "openai__openai-mcp-tool-approval.2",
    )
}


def _stream_for(model: str) -> tuple[bytes, str] | None:
    path = LOOPBACK.get(model)
    return None if path is None else (first_stream(path.read_bytes()), path.name)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with loopback_server("/responses", _stream_for) as base:
        yield base + "/v1"


def _client(server_url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server_url, max_retries=0, timeout=30)


@pytest.mark.parametrize("name", sorted(LOOPBACK))
def test_openai_responses_stream_agrees_with_deltafold(
    impl: ModuleType, server_url: str, name: str
) -> None:
    client = _client(server_url)
    with client.responses.stream(model=name, input="hi") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response().to_dict()
    for item in final.get("output", []):
        item.pop("parsed_arguments", None)
        for part in item.get("content") or []:
            if isinstance(part, dict):
                part.pop("parsed", None)
    with client.responses.with_streaming_response.create(
        model=name, input="hi", stream=True
    ) as response:
        result = impl.assemble(response.iter_bytes(), format="responses")
    assert result == final
    assert result == closing_snapshots(LOOPBACK[name].read_bytes())[0]


def test_copies_are_independent(impl: ModuleType) -> None:
    data = _path("azure__azure-tool-call.1").read_bytes()
    parser = impl.StreamParser(format="responses")
    parser.feed(before_close(data))
    first = parser.snapshot()
    kept = copy.deepcopy(first)
    first["output"].clear()
    assert parser.snapshot() == kept
