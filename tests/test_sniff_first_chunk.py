"""The first chunk of a chat stream decides whether the stream is foreign. The native fold reads
its top-level keys without building the chunk; these payloads sit at the edges of that reading
(a tool call's ``"type"``, duplicate keys, ``text`` choices with and without ``delta``), each
with and without an ``event:`` name, in every implementation.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from support import sse

TOOL_START = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ],
            },
            "finish_reason": None,
        }
    ],
}


def _tool_stream(kind: str) -> list[Any]:
    start: Any = {**TOOL_START}
    call = {**start["choices"][0]["delta"]["tool_calls"][0], "type": kind}
    start["choices"] = [{**start["choices"][0], "delta": {**start["choices"][0]["delta"]}}]
    start["choices"][0]["delta"]["tool_calls"] = [call]
    fragment = {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]},
            }
        ]
    }
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    return [start, fragment, finish]


@pytest.mark.parametrize("kind", ["function", "code_interpreter"])
def test_a_first_chunk_with_a_typed_tool_call_is_chat(impl: ModuleType, kind: str) -> None:
    out = impl.assemble(sse(*_tool_stream(kind)))
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["type"] == kind
    assert call["function"] == {"name": "f", "arguments": '{"a": 1}'}


FOREIGN_FIRST = [
    # (payload, the format reported)
    ('{"type":"message_start","message":{"id":"m"}}', "anthropic"),
    (
        '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}',
        "anthropic",
    ),
    ('{"type":"response.created","response":{"id":"r"}}', "responses"),
    ('{"type":"response.output_text.delta","delta":"a","type":"response.done"}', "responses"),
    ('{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}', "gemini"),
    ('{"type":7,"candidates":[]}', "gemini"),
    ('{"type":"some.event"}', "unknown"),
    ('{"object":"text_completion","choices":[{"text":"a","index":0}]}', "completions"),
    # Legacy without "object": a choice with "text" and no "delta".
    ('{"id":"cmpl-1","choices":[{"text":"a","index":0,"finish_reason":null}]}', "completions"),
    # "object" alone decides, whatever the choices look like; the last "object" counts.
    ('{"object":"text_completion","choices":[{"index":0,"delta":{"content":"a"}}]}', "completions"),
    ('{"object":"x","choices":[],"object":"text_completion"}', "completions"),
    # Foreign chunks that break the chat schema are named too, not reported as schema errors.
    ('{"object":"text_completion","choices":[{"text":"a","index":-1}]}', "completions"),
    ('{"type":"message_start","id":5}', "anthropic"),
    ('{"candidates":[],"created":"x"}', "gemini"),
    # The last "choices" counts.
    ('{"choices":[{"delta":{}}],"choices":[{"text":"a"}]}', "completions"),
]


@pytest.mark.parametrize("event", ["", "message", "completion"])
@pytest.mark.parametrize(("payload", "format"), FOREIGN_FIRST)
def test_a_foreign_first_chunk_is_named(
    impl: ModuleType, payload: str, format: str, event: str
) -> None:
    data = (f"event: {event}\n" if event else "").encode() + sse(payload)
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(data, format="chat")
    assert caught.value.format == format
    assert caught.value.event_index == 0


@pytest.mark.parametrize(
    ("event", "format"),
    [("message_start", "anthropic"), ("ping", "anthropic"), ("response.created", "responses")],
)
def test_an_event_name_decides_before_the_payload(
    impl: ModuleType, event: str, format: str
) -> None:
    # A plain chat chunk under a foreign event name: the name decides.
    data = f"event: {event}\n".encode() + sse(*_tool_stream("function"))
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(data, format="chat")
    assert caught.value.format == format


CHAT_FIRST = [
    # Hints present, but a chat chunk all the same.
    '{"choices":[{"index":0,"delta":{"content":"a"},"text":"x"}]}',
    '{"choices":[{"text":"a","delta":null,"index":0},{"index":1,"delta":{"content":"b"}}],"choices":[{"index":0,"delta":{"content":"a"}}]}',
    '{"choices":[{"text":"a","index":0}],"choices":[{"index":0,"delta":{"content":"a"}}]}',
    '{"object":"text_completion","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"}}]}',
    '{"object":"text_complet\\u0069on ","choices":[{"index":0,"delta":{"content":"a"}}]}',
    '{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"a"}]}}]}',
    '{"choices":[{"index":0,"delta":{"content":"a"}}],"x":{"type":"ping","candidates":[]}}',
]


@pytest.mark.parametrize("payload", CHAT_FIRST)
def test_chat_first_chunks_with_foreign_hints_fold(impl: ModuleType, payload: str) -> None:
    finish = '{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    out = impl.assemble(sse(payload, finish), format="chat")
    assert out["object"] == "chat.completion"
    assert out["choices"][0]["message"]["content"] == "a"


def test_an_invalid_first_chunk_is_a_decode_error_not_a_format(impl: ModuleType) -> None:
    data = sse('{"type":"message_start",', '{"choices":[]}')
    with pytest.raises(impl.StreamDecodeError) as caught:
        impl.assemble(data, format="chat")
    assert not isinstance(caught.value, impl.UnsupportedFormatError)
