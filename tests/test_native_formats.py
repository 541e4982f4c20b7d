"""The format machinery (issue 10) seen from the native side, on both twins where it applies:
``format=`` validation, auto-detection from any first read, the summary against values computed
here from the raw events (never by the code under test), truncation at every event boundary,
the summary after a raise, ``summarize`` and the CLI's ``--format`` / ``--summary``.

Whole-result equality with the anthropic SDK, read sizes, line ends and the Anthropic rules
are in ``tests/test_anthropic.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import pytest
from deltafold import _core
from support import fixture_file, recorded_fixtures

ANTHROPIC = sorted(fixture_file("anthropic-recorded").glob("*.sse"))
SPLICED = "anthropic__spliced-message-start.sse"
ANTHROPIC_FOLDED = [p for p in ANTHROPIC if p.name != SPLICED]
CHAT = recorded_fixtures()

# docs/formats.md's finish_reason table, written out again (the test must not read the core's).
NORMALISED = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "max_tokens": "length",
    "length": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "refusal": "content_filter",
    "content_filter": "content_filter",
}


def wire(path: Path) -> bytes:
    """The recording as sent: every event ends with a blank line (some files lack the last)."""
    data = path.read_bytes()
    if not data.endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
        data += b"\n\n"
    return data


def payloads(data: bytes) -> list[tuple[str | None, Any]]:
    """(event name, decoded payload) of every event, by a plain split (the recordings use LF
    and one data line per event)."""
    out: list[tuple[str | None, Any]] = []
    for block in data.decode().replace("\r\n", "\n").split("\n\n"):
        name = None
        lines = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                lines.append(line[5:].removeprefix(" "))
        text = "\n".join(lines).strip()
        if text:
            out.append((name, "[DONE]" if text == "[DONE]" else json.loads(text)))
    return out


def first_message(events: list[tuple[str | None, Any]]) -> list[dict[str, Any]]:
    """The payloads of the first message (up to and with its message_stop)."""
    out = []
    for _, payload in events:
        out.append(payload)
        if payload.get("type") == "message_stop":
            break
    return out


def expected_anthropic_summary(data: bytes) -> dict[str, Any]:
    """The summary of the first message, computed from the raw events."""
    text, reasoning = [], []
    calls: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    stop_reason = None
    model = message_id = None
    complete = False
    for event in first_message(payloads(data)):
        kind = event["type"]
        if kind == "message_start":
            message = event["message"]
            message_id, model = message["id"], message["model"]
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "text":
                text.append(block.get("text", ""))
            elif block["type"] == "thinking":
                reasoning.append(block.get("thinking", ""))
            elif block["type"] == "tool_use":
                given = json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False)
                calls[event["index"]] = {
                    "id": block["id"],
                    "name": block["name"],
                    "json": "",
                    "given": given,
                }
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                text.append(delta["text"])
            elif delta["type"] == "thinking_delta":
                reasoning.append(delta["thinking"])
            elif delta["type"] == "input_json_delta" and event["index"] in calls:
                calls[event["index"]]["json"] += delta["partial_json"]
        elif kind == "message_delta":
            stop_reason = event["delta"].get("stop_reason") or stop_reason
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            complete = True
    cached = usage.get("cache_read_input_tokens")
    written = usage.get("cache_creation_input_tokens")
    prompt = usage["input_tokens"] + (cached or 0) + (written or 0)
    tool_calls = [
        {"id": c["id"], "name": c["name"], "arguments": c["json"] or c["given"]}
        for _, c in sorted(calls.items())
    ]
    finish = NORMALISED.get(stop_reason)
    if finish == "stop" and tool_calls:
        finish = "tool_calls"
    return {
        "format": "anthropic",
        "id": message_id,
        "model": model,
        "status": "complete" if complete else "incomplete",
        "finish_reason": finish,
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": usage["output_tokens"],
            "total_tokens": prompt + usage["output_tokens"],
            "cached_input_tokens": cached,
            "cache_write_tokens": written,
            "reasoning_tokens": None,
        },
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "tool_calls": tool_calls,
        "error": None,
    }


def expected_chat_summary(data: bytes) -> dict[str, Any]:
    """The summary of a chat stream, from its chunks: choice 0's text and calls, the last usage."""
    text = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish = None
    identity: dict[str, Any] = {}
    done = False
    for _, chunk in payloads(data):
        if chunk == "[DONE]":
            done = True
            continue
        for key in ("id", "model"):
            if chunk.get(key) and key not in identity:
                identity[key] = chunk[key]
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice["index"] != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
                function = call.get("function") or {}
                entry["id"] = entry["id"] or call.get("id")
                entry["name"] = entry["name"] or function.get("name")
                entry["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    normalised = NORMALISED.get(finish)
    if normalised == "stop" and calls:
        normalised = "tool_calls"
    usage = usage or {}
    return {
        "format": "chat",
        "id": identity.get("id"),
        "model": identity.get("model"),
        "status": "complete" if done else "incomplete",
        "finish_reason": normalised,
        "stop_reason": finish,
        "usage": {
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            "cache_write_tokens": None,
            "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get(
                "reasoning_tokens"
            ),
        },
        "text": "".join(text),
        "reasoning": "",
        "tool_calls": [calls[i] for i in sorted(calls)],
        "error": None,
    }


# -- format= --


def test_format_names_are_those_implemented(impl: ModuleType) -> None:
    assert _core.FORMATS == ("chat", "anthropic", "responses", "gemini", "bedrock")
    for name in ("auto", *_core.FORMATS):
        assert impl.StreamParser(format=name).format == (None if name == "auto" else name)
    messages = set()
    for bad in ("openai", "Chat", ""):
        with pytest.raises(ValueError) as info:
            impl.StreamParser(format=bad)
        messages.add(str(info.value).replace(repr(bad), "X"))
    assert messages == {
        "format must be 'auto', 'chat', 'anthropic', 'responses', 'gemini' or 'bedrock', not X"
    }
    with pytest.raises(TypeError, match="format must be a str, not int"):
        impl.assemble(b"", format=1)
    with pytest.raises(ValueError, match="format must be 'auto'"):
        impl.summarize(b"", format="nope")


def test_native_and_reference_messages_agree_on_bad_formats() -> None:
    from deltafold import reference

    for bad in ("openai", "it's", 3, None):
        errors = []
        for impl in (deltafold, reference):
            with pytest.raises((ValueError, TypeError)) as info:
                impl.StreamParser(format=bad)
            errors.append((type(info.value), str(info.value)))
        assert errors[0] == errors[1], bad


def test_format_chat_still_refuses_anthropic_streams(impl: ModuleType) -> None:
    data = wire(ANTHROPIC_FOLDED[0])
    with pytest.raises(impl.UnsupportedFormatError) as info:
        impl.assemble(data, format="chat")
    assert info.value.format == "anthropic"
    assert "Anthropic Messages" in str(info.value)


def test_format_anthropic_refuses_chat_chunks(impl: ModuleType) -> None:
    with pytest.raises(impl.ChunkDecodeError):
        impl.assemble(CHAT[0].read_bytes(), format="anthropic")


# -- auto-detection --


@pytest.mark.parametrize("path", ANTHROPIC_FOLDED + CHAT, ids=lambda p: p.stem)
def test_auto_detects_every_recording_from_a_one_byte_first_read(
    impl: ModuleType, path: Path
) -> None:
    data = wire(path)
    expected = "anthropic" if path in ANTHROPIC else "chat"
    parser = impl.StreamParser(on_error="skip")
    parser.feed(data[:1])
    assert parser.format is None  # nothing dispatched yet: undecided
    parser.feed(data[1:])
    assert parser.format == expected
    assert parser.finish() == impl.assemble(data, format=expected, on_error="skip")
    assert parser.summary()["format"] == expected


def test_an_input_that_ends_undecided_is_chat(impl: ModuleType) -> None:
    parser = impl.StreamParser(allow_truncated=True)
    parser.feed(b": keep-alive\n\n")
    assert parser.format is None
    assert parser.finish()["object"] == "chat.completion"
    assert parser.summary()["format"] == "chat"


def test_an_error_frame_first_does_not_decide(impl: ModuleType) -> None:
    data = wire(ANTHROPIC_FOLDED[0])
    parser = impl.StreamParser(on_error="skip")
    parser.feed(b'event: error\ndata: {"type":"error","error":{"message":"m"}}\n\n')
    assert parser.format is None
    parser.feed(data)
    assert parser.format == "anthropic"
    summary = parser.summary()
    assert summary["status"] == "failed"
    assert summary["error"] == {"type": "error", "error": {"message": "m"}}


# -- the summary --


@pytest.mark.parametrize("path", ANTHROPIC_FOLDED, ids=lambda p: p.stem)
def test_anthropic_summary_from_the_raw_events(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    expected = expected_anthropic_summary(data)
    parser = impl.StreamParser(on_error="skip")
    parser.feed(data)
    parser.finish()
    summary = parser.summary()
    assert list(summary) == list(expected)
    assert list(summary["usage"]) == list(expected["usage"])
    assert summary == expected
    assert impl.summarize(data) == expected


@pytest.mark.parametrize("path", CHAT, ids=lambda p: p.stem)
def test_chat_summary_from_the_raw_chunks(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    expected = expected_chat_summary(data)
    summary = impl.summarize(data, on_error="skip")
    assert summary == expected


@pytest.mark.parametrize("path", ANTHROPIC_FOLDED[:12], ids=lambda p: p.stem)
def test_truncated_at_every_event_boundary(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    cuts = [i + 2 for i in range(len(data)) if data.startswith(b"\n\n", i)]
    final = expected_anthropic_summary(data)
    for cut in cuts[:-1]:
        prefix = data[:cut]
        parser = impl.StreamParser(on_error="skip")
        parser.feed(prefix)
        parser.finish()  # nothing raises in skip mode
        summary = parser.summary()
        if not any(p.get("type") == "message_start" for _, p in payloads(prefix)):
            assert summary["text"] == "" and summary["id"] is None
            continue
        expected = expected_anthropic_summary(prefix)
        if expected["status"] == "complete":
            assert summary == final
            continue
        assert summary["status"] == "incomplete"
        assert summary["text"] == expected["text"]
        assert summary["reasoning"] == expected["reasoning"]
        assert summary["usage"] == expected["usage"]
        assert parser.problems[-1].kind == "IncompleteStreamError"


def test_summary_after_a_raise_and_from_summarize(impl: ModuleType) -> None:
    data = wire(fixture_file("anthropic-recorded", SPLICED))
    parser = impl.StreamParser()
    with pytest.raises(impl.StreamDecodeError) as info:
        parser.feed(data)
    assert info.value.partial["id"] == "msg_first"
    summary = parser.summary()
    assert (summary["id"], summary["status"], summary["error"]) == ("msg_first", "incomplete", None)
    assert summary["reasoning"] == "I will call the tool."
    assert impl.summarize(data) == summary
    # An in-band error: failed, with its body, whether raised or skipped.
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
    cut = wire(ANTHROPIC_FOLDED[0])[:400]
    cut = cut[: cut.rindex(b"\n\n") + 2]
    for on_error in ("raise", "skip"):
        result = impl.summarize(cut + error, on_error=on_error)
        assert result["status"] == "failed"
        assert result["finish_reason"] == "error"
        assert result["error"] == {"type": "error", "error": {"type": "overloaded_error"}}


def test_summary_of_a_chat_error_chunk(impl: ModuleType) -> None:
    data = b'data: {"error": {"message": "rate limited"}}\n\n'
    summary = impl.summarize(data)
    assert summary["status"] == "failed"
    assert summary["error"] == {"message": "rate limited"}
    assert summary["finish_reason"] == "error"


def test_events_carry_parsed_arguments_for_anthropic_tool_input(impl: ModuleType) -> None:
    path = fixture_file("anthropic-recorded", "anthropic__anthropic-json-tool.1.sse")
    events = list(impl.iter_events(wire(path), partial_arguments=True))
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert deltas and {e.index for e in deltas} == {0}
    text = ""
    for e in deltas:
        text += e.arguments_delta
        assert e.arguments == text
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert len(done) == 1 and done[0].parsed_arguments == json.loads(text)
    assert events[-1].type == "done"
    assert events[-1].completion["content"][0]["input"] == json.loads(text)


# -- CLI --


def run_cli(*args: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "deltafold", *args],
        input=data,
        capture_output=True,
        check=False,
    )


def test_cli_summary_and_format() -> None:
    data = wire(ANTHROPIC_FOLDED[0])
    out = run_cli("-", "--summary", data=data)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected_anthropic_summary(data)
    out = run_cli("-", "--format", "chat", data=data)
    assert out.returncode == 1
    assert b"UnsupportedFormatError" in out.stderr
    out = run_cli("-", "--format", "anthropic", data=data)
    assert json.loads(out.stdout)["type"] == "message"
    # The summary is printed however the stream ended.
    out = run_cli("-", "--summary", data=data[:300])
    assert out.returncode == 1
    assert json.loads(out.stdout)["status"] == "incomplete"
    assert run_cli("-", "--format", "openai", data=data).returncode == 2


def test_a_repaired_payload_of_an_unknown_type_is_recorded_at_its_own_event() -> None:
    # Found by tests/test_anthropic_properties.py: the native core recorded the ignored type
    # at the next event instead of the repaired one.
    from deltafold import reference

    data = b'event: message_start\ndata: {"type":"not_available"}}}\n\n' + wire(ANTHROPIC_FOLDED[0])
    problems = []
    for impl in (deltafold, reference):
        parser = impl.StreamParser(on_error="repair")
        parser.feed(data)
        parser.finish()
        problems.append([(p.kind, p.action, p.byte_offset, p.event_index) for p in parser.problems])
    assert problems[0] == problems[1]
    assert problems[0][:2] == [
        ("ChunkDecodeError", "repaired", 27, 0),
        ("UnknownEvent", "ignored", 27, 0),
    ]
