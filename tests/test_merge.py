"""Merge rules of the behaviour contract: chunks in, the expected completion written by hand."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from support import assert_same_completion, choice, chunk, completion, delta, sse


def _assemble(impl: ModuleType, *payloads: Any, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = impl.assemble(sse(*payloads), **options)
    return result


def test_minimal_text_stream(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(role="assistant", content="Hel")),
        chunk(delta(content="lo")),
        chunk(delta(finish="stop")),
    )
    assert_same_completion(result, completion(choice(content="Hello")))


def test_identity_fields_first_non_empty(impl: ModuleType) -> None:
    first = {"id": "", "object": "chat.completion.chunk", "created": 0, "model": None}
    result = _assemble(
        impl,
        {**first, "choices": [delta(role="assistant")]},
        {"id": "a", "created": 5, "model": "x", "choices": [delta(content="1")]},
        {"id": "b", "created": 6, "model": "y", "choices": [delta(finish="stop")]},
    )
    assert (result["id"], result["created"], result["model"]) == ("a", 5, "x")


def test_identity_fields_only_empty_or_null(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        {"id": None, "created": None, "model": None, "choices": [delta(content="1")]},
        {"id": "", "created": 0, "model": "", "choices": [delta(finish="stop")]},
        {"id": None, "created": None, "model": None, "choices": []},
    )
    # Only empty values carried: the first non-null one.
    assert (result["id"], result["created"], result["model"]) == ("", 0, "")


def test_identity_fields_never_carried(impl: ModuleType) -> None:
    result = _assemble(impl, {"choices": [delta(content="x", finish="stop")]})
    assert_same_completion(
        result,
        {
            "id": None,
            "object": "chat.completion",
            "created": None,
            "model": None,
            "choices": [choice(content="x")],
            "usage": None,
        },
    )


def test_object_of_chunks_is_not_checked(impl: ModuleType) -> None:
    # Azure sends "", Perplexity ends with "chat.completion.done".
    result = _assemble(
        impl,
        chunk(delta(content="a"), object=""),
        chunk(delta(finish="stop"), object="chat.completion.done"),
    )
    assert result["object"] == "chat.completion"


def test_top_level_snapshot_keys(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a"), system_fingerprint="fp1", service_tier=None, obfuscation="q"),
        chunk(delta(finish="stop"), system_fingerprint="fp2", service_tier=None, obfuscation="z"),
        chunk(system_fingerprint=None, service_tier=None),
    )
    assert result["system_fingerprint"] == "fp2"
    # A key only ever null stays present with null; obfuscation is dropped.
    assert "service_tier" in result
    assert result["service_tier"] is None
    assert "obfuscation" not in result
    assert list(result)[:6] == ["id", "object", "created", "model", "choices", "usage"]


def test_other_top_level_keys_deep_merge(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a"), x_meta={"a": 1, "b": {"c": 1}}, provider="p1"),
        chunk(delta(finish="stop"), x_meta={"a": None, "b": {"d": 2}}, provider="p2"),
        chunk(x_meta=None, provider=None),
    )
    assert result["x_meta"] == {"a": 1, "b": {"c": 1, "d": 2}}
    assert result["provider"] == "p2"


def test_null_only_nested_key_stays(impl: ModuleType) -> None:
    result = _assemble(
        impl, chunk(delta(content="a", finish="stop"), x_meta={"k": None}), chunk(x_meta={})
    )
    assert result["x_meta"] == {"k": None}


def test_choices_sparse_out_of_order_and_default_index(impl: ModuleType) -> None:
    no_index = {"delta": {"content": "zero"}, "finish_reason": "stop"}
    result = _assemble(
        impl,
        chunk(delta(index=2, content="two", finish="length")),
        chunk(no_index),
        chunk(delta(index=2, content="!")),
    )
    assert [c["index"] for c in result["choices"]] == [0, 2]
    assert result["choices"][0]["message"]["content"] == "zero"
    assert result["choices"][1]["message"]["content"] == "two!"
    assert result["choices"][1]["finish_reason"] == "length"


def test_delta_index_is_ignored(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk({"index": 1, "delta": {"index": 0, "content": "a"}, "finish_reason": "stop"}),
    )
    assert [c["index"] for c in result["choices"]] == [1]
    assert "index" not in result["choices"][0]["message"]


def test_role_first_non_empty_never_concatenated(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(role="", content="a")),
        chunk(delta(role="assistant")),
        chunk(delta(role="assistant", finish="stop")),
        chunk(delta(index=1, content="b", finish="stop")),
    )
    assert result["choices"][0]["message"]["role"] == "assistant"
    # Never given: the default.
    assert result["choices"][1]["message"]["role"] == "assistant"


def test_content_and_refusal(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(role="assistant", content=None, refusal="")),
        chunk(delta(refusal="I can")),
        chunk(delta(refusal="not", content=None)),
        chunk(delta(finish="stop")),
    )
    assert_same_completion(result, completion(choice(refusal="I cannot")))


def test_empty_delta_and_null_delta_and_no_delta(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="x")),
        chunk({"index": 0, "delta": None}),
        chunk({"index": 0}),
        chunk(),
        {"choices": None},
        chunk(delta(finish="stop")),
    )
    assert_same_completion(result, completion(choice(content="x")))


def test_finish_reason_last_non_empty(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a", finish="length")),
        chunk(delta(finish="stop")),
        chunk(delta(finish="")),
        chunk(delta(finish=None)),
    )
    assert result["choices"][0]["finish_reason"] == "stop"


def test_finish_reason_kept_raw(impl: ModuleType) -> None:
    result = _assemble(impl, chunk(delta(content="a", finish="end_turn")))
    assert result["choices"][0]["finish_reason"] == "end_turn"


def _tool(**fields: Any) -> dict[str, Any]:
    return fields


def test_parallel_tool_calls_by_index(impl: ModuleType) -> None:
    fn = "function"
    result = _assemble(
        impl,
        chunk(delta(role="assistant", content=None)),
        chunk(delta(tool_calls=[_tool(index=0, id="call_a", type=fn, function={"name": "f"})])),
        chunk(delta(tool_calls=[_tool(index=1, id="call_b", function={"name": "g"})])),
        chunk(delta(tool_calls=[_tool(index=0, function={"arguments": '{"x"'})])),
        chunk(delta(tool_calls=[_tool(index=1, function={"arguments": "{}"})])),
        chunk(delta(tool_calls=[_tool(index=0, function={"arguments": ":1}"})])),
        chunk(delta(finish="tool_calls")),
    )
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    assert_same_completion(result, completion(choice(finish="tool_calls", tool_calls=calls)))


def test_tool_calls_without_index(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(tool_calls=[_tool(id="call_1", function={"name": "f", "arguments": "{"})])),
        # No id, no name: continues the most recent call.
        chunk(delta(tool_calls=[_tool(function={"arguments": "}"})])),
        # An unseen id with a name starts a new call.
        chunk(delta(tool_calls=[_tool(id="call_2", function={"name": "g", "arguments": "["})])),
        # A known id continues that call, even when it is not the most recent one.
        chunk(delta(tool_calls=[_tool(id="call_1", function={"arguments": " "})])),
        # No id but a name: a new call.
        chunk(delta(tool_calls=[_tool(function={"name": "h", "arguments": "]"})])),
        chunk(delta(finish="tool_calls")),
    )
    calls = result["choices"][0]["message"]["tool_calls"]
    summary = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls]
    assert summary == [("call_1", "f", "{} "), ("call_2", "g", "["), (None, "h", "]")]


def test_tool_call_id_name_type_first_non_empty(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(
            delta(
                tool_calls=[_tool(index=0, id="", type="", function={"name": "", "arguments": ""})]
            )
        ),
        chunk(delta(tool_calls=[_tool(index=0, id="call_1", function={"name": "f"})])),
        # Repeats are not concatenated (the SDK's "call_1call_1" fault).
        chunk(delta(tool_calls=[_tool(index=0, id="call_1", type="function")])),
        chunk(delta(tool_calls=[_tool(index=0, id="call_9", function={"name": "f"})])),
        chunk(delta(finish="tool_calls")),
    )
    (call,) = result["choices"][0]["message"]["tool_calls"]
    assert call == {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}


def test_tool_call_defaults_and_extra_keys(impl: ModuleType) -> None:
    signature = {"google": {"thought_signature": "c2ln"}}
    result = _assemble(
        impl,
        chunk(delta(tool_calls=[_tool(index=0, function={"arguments": "{}"})])),
        chunk(delta(tool_calls=[_tool(index=0, extra_content=signature)])),
        chunk(delta(tool_calls=[_tool(index=0, extra_content=None)])),
        chunk(delta(finish="tool_calls")),
    )
    (call,) = result["choices"][0]["message"]["tool_calls"]
    # Never-given id and name stay null; type defaults to "function"; other keys are kept
    # (last non-null) after the standard ones, and "index" is not one of them.
    assert call == {
        "id": None,
        "type": "function",
        "function": {"name": None, "arguments": "{}"},
        "extra_content": signature,
    }
    assert list(call) == ["id", "type", "function", "extra_content"]
    assert list(call["function"]) == ["name", "arguments"]


def test_legacy_function_call(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(role="assistant", function_call={"name": "", "arguments": ""})),
        chunk(delta(function_call={"name": "submit", "arguments": '{"a"'})),
        chunk(delta(function_call={"name": "submit", "arguments": ":1}"})),
        chunk(delta(finish="function_call")),
    )
    expected = {"name": "submit", "arguments": '{"a":1}'}
    assert_same_completion(
        result, completion(choice(finish="function_call", function_call=expected))
    )


def test_legacy_function_call_has_only_name_and_arguments(impl: ModuleType) -> None:
    # Unlike a tool call's "function" (which keeps other keys), the legacy function_call
    # is exactly {"name", "arguments"}.
    result = _assemble(
        impl,
        chunk(delta(function_call={"name": "f", "arguments": "{", "x_extra": "kept?"})),
        chunk(delta(function_call={"arguments": "}"}, finish="function_call")),
    )
    call = result["choices"][0]["message"]["function_call"]
    assert call == {"name": "f", "arguments": "{}"}


def test_legacy_function_call_without_name(impl: ModuleType) -> None:
    result = _assemble(impl, chunk(delta(function_call={"arguments": "{}"}, finish="stop")))
    call = result["choices"][0]["message"]["function_call"]
    assert call == {"name": None, "arguments": "{}"}
    assert list(call) == ["name", "arguments"]


USAGE_ZERO = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_usage_zeros_and_nulls_never_erase(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a"), usage=USAGE_ZERO),
        chunk(delta(finish="stop"), usage={"prompt_tokens": 10, "completion_tokens": 5}),
        chunk(usage={"prompt_tokens": 0, "completion_tokens": None, "total_tokens": 15}),
        chunk(usage=USAGE_ZERO),
        chunk(usage=None),
    )
    assert result["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def test_usage_cumulative_counts_are_not_summed(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a"), usage={"prompt_tokens": 7, "completion_tokens": 1}),
        chunk(delta(finish="stop"), usage={"prompt_tokens": 7, "completion_tokens": 2}),
    )
    assert result["usage"] == {"prompt_tokens": 7, "completion_tokens": 2}


def test_usage_details_merge_key_by_key(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(delta(content="a"), usage={"prompt_tokens_details": {"cached_tokens": 5}}),
        chunk(
            delta(finish="stop"),
            usage={"prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 2}},
        ),
        chunk(usage={"prompt_tokens_details": None}),
    )
    assert result["usage"] == {"prompt_tokens_details": {"cached_tokens": 5, "audio_tokens": 2}}


def test_usage_from_x_groq_when_no_usage(impl: ModuleType) -> None:
    groq_usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    result = _assemble(
        impl,
        chunk(delta(content="a"), x_groq={"id": "req_1"}),
        chunk(delta(finish="stop"), x_groq={"id": "req_1", "usage": groq_usage}),
    )
    assert result["usage"] == groq_usage
    assert result["x_groq"] == {"id": "req_1", "usage": groq_usage}


def test_usage_wins_over_x_groq(impl: ModuleType) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    groq_usage = {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}
    result = _assemble(
        impl,
        chunk(delta(content="a", finish="stop"), x_groq={"usage": groq_usage}),
        chunk(usage=usage),
    )
    assert result["usage"] == usage


def _entry(token: str) -> dict[str, Any]:
    return {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}


def test_logprobs_concatenated(impl: ModuleType) -> None:
    def with_logprobs(logprobs: Any, **fields: Any) -> dict[str, Any]:
        return {**delta(**fields), "logprobs": logprobs}

    result = _assemble(
        impl,
        chunk(with_logprobs(None, role="assistant")),
        chunk(with_logprobs({"content": [], "refusal": None}, content="")),
        chunk(with_logprobs({"content": [_entry("Hi")], "refusal": None}, content="Hi")),
        chunk(with_logprobs(None, content="")),
        chunk(with_logprobs({"content": [_entry("!")]}, content="!")),
        chunk({**delta(finish="stop"), "logprobs": None}),
    )
    expected = {"content": [_entry("Hi"), _entry("!")], "refusal": None}
    assert_same_completion(result, completion(choice(content="Hi!", logprobs=expected)))


def test_logprobs_object_without_lists(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk({**delta(content="a"), "logprobs": {"content": None, "refusal": None}}),
        chunk({**delta(finish="stop"), "logprobs": {"refusal": [_entry("no")]}}),
    )
    assert result["choices"][0]["logprobs"] == {"content": None, "refusal": [_entry("no")]}


def test_logprobs_null_when_never_sent(impl: ModuleType) -> None:
    result = _assemble(impl, chunk({"index": 0, "delta": {"content": "a"}, "finish_reason": "s"}))
    assert "logprobs" in result["choices"][0]
    assert result["choices"][0]["logprobs"] is None


def test_content_as_typed_parts(impl: ModuleType) -> None:
    thinking_parts = [{"type": "text", "text": "b"}, {"type": "text", "text": "c"}]
    result = _assemble(
        impl,
        chunk(
            delta(content=[{"type": "text", "text": "Hel"}, {"type": "thinking", "thinking": "a"}])
        ),
        chunk(delta(content=[{"type": "thinking", "thinking": thinking_parts}])),
        chunk(delta(content=[{"type": "image_url", "image_url": {"url": "x"}}])),
        chunk(delta(content="lo", finish="stop")),
    )
    assert_same_completion(result, completion(choice(content="Hello", reasoning_content="abc")))


def test_other_delta_keys_are_increments(impl: ModuleType) -> None:
    detail_1 = {"type": "reasoning.text", "text": "x"}
    detail_2 = {"type": "reasoning.text", "text": "y"}
    result = _assemble(
        impl,
        chunk(delta(role="assistant", flag=None, reasoning=None)),
        chunk(delta(reasoning_content="thin", reasoning_details=[detail_1])),
        chunk(delta(reasoning_content="king", reasoning_details=[detail_2], flag=1)),
        chunk(delta(content="ok", flag=2)),
        chunk(delta(flag=None, finish="stop")),
    )
    message = result["choices"][0]["message"]
    # Keys only ever null are absent; the others appear in order of first non-null value.
    assert message == {
        "role": "assistant",
        "content": "ok",
        "refusal": None,
        "reasoning_content": "thinking",
        "reasoning_details": [detail_1, detail_2],
        "flag": 2,
    }
    assert list(message) == [
        "role",
        "content",
        "refusal",
        "reasoning_content",
        "reasoning_details",
        "flag",
    ]


def test_audio_and_annotations(impl: ModuleType) -> None:
    note_1 = {"type": "url_citation", "url_citation": {"url": "https://a"}}
    note_2 = {"type": "url_citation", "url_citation": {"url": "https://b"}}
    result = _assemble(
        impl,
        chunk(delta(audio={"id": "audio_1", "data": "AAA", "transcript": "he"})),
        chunk(delta(audio={"id": "audio_1", "data": "BBB", "transcript": "llo", "expires_at": 5})),
        chunk(delta(audio={"expires_at": 6}, annotations=[note_1])),
        chunk(delta(annotations=[note_2], finish="stop")),
    )
    message = result["choices"][0]["message"]
    assert message["audio"] == {
        "id": "audio_1",
        "data": "AAABBB",
        "transcript": "hello",
        "expires_at": 6,
    }
    assert message["annotations"] == [note_1, note_2]


def test_other_choice_keys(impl: ModuleType) -> None:
    result = _assemble(
        impl,
        chunk(
            {
                **delta(content="a"),
                "content_filter_results": {"hate": {"filtered": False}},
                "token_ids": [1, 2],
                "stop_reason": "x",
            }
        ),
        chunk(
            {
                **delta(finish="stop"),
                "content_filter_results": {"violence": {"filtered": False}},
                "token_ids": [3],
                "stop_reason": None,
            }
        ),
    )
    extra = {
        "content_filter_results": {"hate": {"filtered": False}, "violence": {"filtered": False}},
        "token_ids": [1, 2, 3],
        "stop_reason": "x",
    }
    assert_same_completion(result, completion(choice(content="a", extra=extra)))


def test_duplicate_keys_last_wins(impl: ModuleType) -> None:
    payload = (
        '{"id":"a","id":"b","choices":[{"index":0,'
        '"delta":{"content":"x","content":"y"},"finish_reason":"stop"}]}'
    )
    result = impl.assemble(sse(payload))
    assert result["id"] == "b"
    assert result["choices"][0]["message"]["content"] == "y"


def test_numbers_as_orjson_reads_them(impl: ModuleType) -> None:
    payload = (
        '{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],'
        '"x_u64":18446744073709551615,"x_i64":-9223372036854775808,'
        '"x_big":123456789012345678901234567890,"x_float":1.5e300}'
    )
    result = impl.assemble(sse(payload))
    assert result["x_u64"] == 18446744073709551615
    assert type(result["x_u64"]) is int
    assert result["x_i64"] == -9223372036854775808
    assert type(result["x_i64"]) is int
    assert type(result["x_big"]) is float
    assert result["x_big"] == float("123456789012345678901234567890")
    assert result["x_float"] == 1.5e300


def test_unicode_escapes(impl: ModuleType) -> None:
    payload = (
        '{"choices":[{"index":0,"delta":{"content":"\\ud83d\\ude00 \\u2028\\"\\\\\\n\\u0000 é"},'
        '"finish_reason":"stop"}]}'
    )
    result = impl.assemble(sse(payload))
    assert result["choices"][0]["message"]["content"] == '😀 \u2028"\\\n\x00 é'


def test_invalid_utf8_inside_a_payload_is_an_error(impl: ModuleType) -> None:
    # Issue 4: U+FFFD replacement is the SSE layer's rule; inside a JSON payload invalid UTF-8
    # is an error in raise mode (the chunk would otherwise be silently altered).
    data = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a\xffb"},"finish_reason":"stop"}]}\n\n'
    )
    with pytest.raises(impl.ChunkDecodeError) as info:
        impl.assemble(data)
    assert info.value.event_index == 0
    assert info.value.doc[info.value.pos - 1 : info.value.pos + 2] == "a\ufffdb"
    skipped = impl.assemble(data, on_error="skip")
    assert skipped["choices"] == []
