"""The summary (docs/formats.md "The summary"): ``StreamParser.summary()`` and ``summarize()``.

Expected values are computed here from the raw events (or by the providers' SDKs), never by the
code under test: usage normalised by the rules written out below, text, reasoning, client tool
calls and the normalised finish_reason.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from support import recorded_fixtures, sdk_completion, sse
from test_anthropic import FOLDED, sdk_events, wire

KEYS = [
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
USAGE_KEYS = [
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
]
# docs/formats.md's table, written out again.
FINISH = {
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


def finish_reason(stop_reason: str | None, has_calls: bool) -> str | None:
    normalised = FINISH.get(stop_reason) if stop_reason else None
    return "tool_calls" if normalised == "stop" and has_calls else normalised


# -- Anthropic: an independent fold of the raw events, just what the summary needs ------------


class AnthropicTally:
    def __init__(self) -> None:
        self.message: dict[str, Any] = {}
        self.usage: dict[str, Any] = {}
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.blocks: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self.stopped = False

    def add(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "message_start" and not self.message:
            self.message = event["message"]
            self.usage = dict(event["message"].get("usage") or {})
        elif kind == "content_block_start":
            block = dict(event["content_block"], json="")
            self.blocks.append(block)
            if block["type"] == "text":
                self.text.append(block.get("text", ""))
            if block["type"] == "thinking":
                self.thinking.append(block.get("thinking", ""))
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                self.text.append(delta["text"])
            elif delta["type"] == "thinking_delta":
                self.thinking.append(delta["thinking"])
            elif delta["type"] == "input_json_delta":
                self.blocks[event["index"]]["json"] += delta["partial_json"]
        elif kind == "message_delta":
            if event["delta"].get("stop_reason") is not None:
                self.stop_reason = event["delta"]["stop_reason"]
            for key, value in (event.get("usage") or {}).items():
                if value is not None or key == "output_tokens":
                    self.usage[key] = value
        elif kind == "message_stop":
            self.stopped = True

    def expected(self) -> dict[str, Any]:
        usage = self.usage
        cached = usage.get("cache_read_input_tokens")
        written = usage.get("cache_creation_input_tokens")
        given = usage.get("input_tokens")
        input_tokens = None if given is None else given + (cached or 0) + (written or 0)
        output = usage.get("output_tokens")
        calls = [
            {
                "id": block["id"],
                "name": block["name"],
                "arguments": block["json"] or orjson.dumps(block["input"]).decode(),
            }
            for block in self.blocks
            if block["type"] == "tool_use"
        ]
        return {
            "format": "anthropic",
            "id": self.message.get("id"),
            "model": self.message.get("model"),
            "status": "complete" if self.stopped else "incomplete",
            "finish_reason": finish_reason(self.stop_reason, bool(calls)),
            "stop_reason": self.stop_reason,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output,
                "total_tokens": None
                if input_tokens is None or output is None
                else input_tokens + output,
                "cached_input_tokens": cached,
                "cache_write_tokens": written,
                "reasoning_tokens": None,
            },
            "text": "".join(self.text),
            "reasoning": "".join(self.thinking),
            "tool_calls": calls,
            "error": None,
        }


def first_message_events(data: bytes) -> list[dict[str, Any]]:
    events = sdk_events(data)
    end = next(i for i, e in enumerate(events) if e["type"] == "message_stop")
    return events[: end + 1]


@pytest.mark.parametrize("path", FOLDED, ids=[p.stem for p in FOLDED])
def test_anthropic_summary(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    tally = AnthropicTally()
    for event in first_message_events(data):
        tally.add(event)
    expected = tally.expected()
    assert expected["usage"]["input_tokens"] is not None
    parser = impl.StreamParser()
    parser.feed(data)
    result = parser.finish()
    summary = parser.summary()
    assert list(summary) == KEYS
    assert list(summary["usage"]) == USAGE_KEYS
    assert summary == expected
    assert impl.summarize(data) == expected
    # The text is the message's, as the SDK folds it.
    assert summary["text"] == "".join(b["text"] for b in result["content"] if b["type"] == "text")


def events_with_ends(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The first message's events (pings included) and the byte offset where each one ends.
    The recordings use LF line ends and one data line per event."""
    found = []
    position = 0
    while position < len(data):
        end = data.index(b"\n\n", position) + 2
        line = next(x for x in data[position:end].split(b"\n") if x.startswith(b"data:"))
        payload = orjson.loads(line[5:])
        found.append((end, payload))
        position = end
        if payload["type"] == "message_stop":
            break
    return found


@pytest.mark.parametrize("path", FOLDED, ids=[p.stem for p in FOLDED])
def test_anthropic_truncated_at_every_event_boundary(impl: ModuleType, path: Path) -> None:
    data = wire(path)
    events = events_with_ends(data)
    assert [e for _, e in events if e["type"] != "ping"] == first_message_events(data)
    parser = impl.StreamParser(on_error="skip")
    tally = AnthropicTally()
    dispatched = 0
    for end, event in events:
        parser.feed(data[dispatched:end])
        dispatched = end
        tally.add(event)
        assert parser.summary() == tally.expected()
    # A fresh parser on each prefix, finished, in skip mode: nothing raises, the summary
    # stands as it was (a prefix without message_stop is incomplete). Every boundary of small
    # recordings, a spread of them in large ones.
    chosen = range(len(events)) if len(events) <= 60 else range(0, len(events), len(events) // 40)
    for count in chosen:
        prefix = data[: events[count][0]]
        tally = AnthropicTally()
        for _, event in events[: count + 1]:
            tally.add(event)
        expected = tally.expected()
        skip = impl.StreamParser(on_error="skip")
        skip.feed(prefix)
        skip.finish()
        assert skip.summary() == expected
        assert impl.summarize(prefix) == expected
        if count < len(events) - 1:
            assert expected["status"] == "incomplete"
            with pytest.raises(impl.IncompleteStreamError):
                impl.assemble(prefix)


# -- chat -----------------------------------------------------------------------------------------

CHAT = recorded_fixtures()


def chat_expected(completion: dict[str, Any], complete: bool) -> dict[str, Any]:
    """From a completion the openai SDK assembled."""
    choice = next((c for c in completion["choices"] if c["index"] == 0), None)
    message = choice["message"] if choice else {}
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message.get("tool_calls") or ()
    ]
    usage = completion.get("usage") or {}
    stop_reason = choice["finish_reason"] if choice else None
    prompt = usage.get("prompt_tokens")
    output = usage.get("completion_tokens")
    return {
        "format": "chat",
        "id": completion["id"],
        "model": completion["model"],
        "status": "complete" if complete else "incomplete",
        "finish_reason": finish_reason(stop_reason, bool(calls)),
        "stop_reason": stop_reason,
        "usage": {
            "input_tokens": prompt,
            "output_tokens": output,
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            "cache_write_tokens": None,
            "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get(
                "reasoning_tokens"
            ),
        },
        "text": message.get("content") or "",
        "reasoning": "",
        "tool_calls": calls,
        "error": None,
    }


@pytest.mark.parametrize("path", CHAT, ids=[p.stem for p in CHAT])
def test_chat_summary(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    expected = chat_expected(sdk_completion(data), complete=True)
    assert expected["usage"]["input_tokens"] is not None
    summary = impl.summarize(data)
    assert list(summary) == KEYS
    assert summary == expected


def sdk_snapshots(data: bytes) -> list[dict[str, Any]]:
    """The openai SDK's snapshot after each chunk (its own decoder and stream state)."""
    import openai
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk
    from support import _sdk_http_module

    http = _sdk_http_module()
    url = "http://127.0.0.1:9/v1/chat/completions"
    response = http.Response(200, content=data, request=http.Request("POST", url))
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    snapshots = []
    for chunk in openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client):
        state.handle_chunk(chunk)
        snapshots.append(state.current_completion_snapshot.to_dict())
    return snapshots


@pytest.mark.parametrize("path", CHAT, ids=[p.stem for p in CHAT])
def test_chat_truncated_at_every_event_boundary(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    events = [block + b"\n\n" for block in data.split(b"\n\n") if block.strip()]
    assert events[-1] == b"data: [DONE]\n\n"
    snapshots = sdk_snapshots(data)
    assert len(snapshots) == len(events) - 1
    parser = impl.StreamParser(on_error="skip")
    for count, (event, snapshot) in enumerate(zip(events, snapshots, strict=False), start=1):
        parser.feed(event)
        expected = chat_expected(snapshot, complete=False)
        assert parser.summary() == expected
        if count in (1, len(events) // 2, len(events) - 1):
            prefix = b"".join(events[:count])
            assert impl.summarize(prefix, on_error="skip") == expected
            assert impl.summarize(prefix) == expected
    parser.feed(events[-1])
    assert parser.summary()["status"] == "complete"


def test_chat_reasoning_and_function_call(impl: ModuleType) -> None:
    # Synthetic: no recording has reasoning text or a legacy function_call.
    chunks = [
        {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"reasoning_content": "th"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning": "ink"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"function_call": {"name": "f"}}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"function_call": {"arguments": "{}"}}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]},
    ]
    summary = impl.summarize(sse(*chunks))
    assert summary["reasoning"] == "think"
    assert summary["tool_calls"] == [{"id": None, "name": "f", "arguments": "{}"}]
    assert summary["finish_reason"] == "tool_calls"
    assert summary["usage"] == dict.fromkeys(USAGE_KEYS)


def test_summary_after_a_raise_and_of_an_in_band_error(impl: ModuleType) -> None:
    good = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "so far"}}]}
    data = sse(good, {"error": {"message": "overloaded", "type": "server_error"}})
    parser = impl.StreamParser()
    with pytest.raises(impl.StreamAPIError):
        parser.feed(data)
    summary = parser.summary()
    assert summary["status"] == "failed"
    assert summary["finish_reason"] == "error"
    assert summary["error"] == {"message": "overloaded", "type": "server_error"}
    assert summary["text"] == "so far"
    assert impl.summarize(data) == summary
    # A bad chunk that raises leaves the summary as it stood (incomplete, not failed).
    parser = impl.StreamParser()
    with pytest.raises(impl.ChunkDecodeError):
        parser.feed(sse(good, "{bad"))
    assert parser.summary()["status"] == "incomplete"
    assert parser.summary()["text"] == "so far"


def test_summarize_still_refuses_bad_options(impl: ModuleType) -> None:
    with pytest.raises(ValueError):
        impl.summarize(b"", on_error="ignore")
    with pytest.raises(TypeError):
        impl.summarize(b"", max_depth="5")


def test_anthropic_total_and_reasoning_rules(impl: ModuleType) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "model": "c",
            "content": [],
            "usage": {
                "input_tokens": 5,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20,
                "output_tokens": 1,
            },
        },
    }
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "pause_turn"},
        "usage": {"output_tokens": 9, "output_tokens_details": {"thinking_tokens": 4}},
    }
    data = b"".join(
        b"data: " + orjson.dumps(p) + b"\n\n" for p in (start, delta, {"type": "message_stop"})
    )
    summary = impl.summarize(data)
    assert summary["usage"] == {
        "input_tokens": 125,
        "output_tokens": 9,
        "total_tokens": 134,
        "cached_input_tokens": 100,
        "cache_write_tokens": 20,
        "reasoning_tokens": None,  # docs/formats.md: never guessed from thinking_tokens
    }
    assert summary["stop_reason"] == "pause_turn"
    assert summary["finish_reason"] is None  # not in the table: raw value kept in stop_reason
    assert summary["status"] == "complete"
