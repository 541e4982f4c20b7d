"""Bad input: the typed chunk schema, limits, truncation, in-band errors, on_error modes.

Positions are computed here from the bytes the test builds: ``byte_offset`` is where the event's
payload starts in the whole input, ``event_index`` counts the events dispatched before it.
"""

from __future__ import annotations

import io
import json
from types import ModuleType
from typing import Any

import pytest
from support import chunk, delta, problem_tuples, sse

HELLO = chunk(delta(role="assistant", content="Hello"))
FINISH = chunk(delta(finish="stop"))
PREFIX = len(b"data: ")


def _offsets(data: bytes) -> list[int]:
    """Payload start of every `data: ` line (the streams here have one line per event)."""
    offsets, at = [], data.find(b"data: ")
    while at >= 0:
        offsets.append(at + PREFIX)
        at = data.find(b"data: ", at + 1)
    return offsets


# -- the typed schema ----------------------------------------------------------------------------

# "@" marks where the offending value starts; it is removed before sending.
SCHEMA_VIOLATIONS = [
    "@[1]",
    '@"text"',
    '{"id": @5}',
    '{"model": @["m"]}',
    '{"system_fingerprint": @1}',
    '{"service_tier": @{}}',
    '{"created": @"1"}',
    '{"created": @1.5}',
    '{"choices": @{}}',
    '{"choices": @"x"}',
    '{"choices": [@1]}',
    '{"choices": [@null]}',
    '{"choices": [{"index": @-1}]}',
    '{"choices": [{"index": @true}]}',
    '{"choices": [{"index": @"0"}]}',
    '{"choices": [{"index": @0.5}]}',
    '{"choices": [{"index": 0, "delta": @[]}]}',
    '{"choices": [{"index": 0, "finish_reason": @1}]}',
    '{"choices": [{"index": 0, "logprobs": @"x"}]}',
    '{"choices": [{"index": 0, "logprobs": {"content": @{}}}]}',
    '{"choices": [{"index": 0, "logprobs": {"refusal": @"x"}}]}',
    '{"usage": @[]}',
    '{"usage": @0}',
    '{"choices": [{"index": 0, "delta": {"role": @1}}]}',
    '{"choices": [{"index": 0, "delta": {"refusal": @false}}]}',
    '{"choices": [{"index": 0, "delta": {"content": @5}}]}',
    '{"choices": [{"index": 0, "delta": {"content": @{"type": "text"}}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": @{}}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [@"call"]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": @-1}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": @"0"}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": @false}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": @7}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "type": @7}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": @"f"}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"name": @[]}}]}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": @{}}}]}}]}',
    '{"choices": [{"index": 0, "delta": {"function_call": @"f"}}]}',
    '{"choices": [{"index": 0, "delta": {"function_call": {"name": @1}}}]}',
    '{"choices": [{"index": 0, "delta": {"function_call": {"arguments": @{}}}}]}',
    '{"choices": [{"index": 0, "delta": {"audio": @"x"}}]}',
]


@pytest.mark.parametrize("template", SCHEMA_VIOLATIONS)
def test_schema_violation_position(impl: ModuleType, template: str) -> None:
    payload = template.replace("@", "")
    data = sse(HELLO, payload)
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(data)
    error = caught.value
    assert error.doc == payload
    assert error.pos == template.index("@")
    assert error.event_index == 1
    assert error.byte_offset == _offsets(data)[1]
    assert error.partial["choices"][0]["message"]["content"] == "Hello"


VALID_EDGE_CHUNKS = [
    '{"id": null, "model": null, "created": null, "choices": null, "usage": null}',
    '{"system_fingerprint": null, "service_tier": null}',
    '{"choices": [{"index": 0, "delta": null, "finish_reason": null, "logprobs": null}]}',
    '{"choices": [{"delta": {"role": null, "refusal": null, "content": null}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": null, "function_call": null}}]}',
    '{"choices": [{"index": 0, "delta": {"audio": null}}]}',
    '{"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": null, '
    '"type": null, "function": null}]}}]}',
    '{"choices": [{"index": 0, "delta": {"function_call": {"name": null, "arguments": null}}}]}',
    '{"choices": [{"index": 0, "logprobs": {"content": null, "refusal": null}}]}',
    '{"choices": [{"index": 0, "delta": {"content": []}}]}',
    '{"choices": [], "created": 18446744073709551615}',
    '{"object": "chat.completion.chunk", "unknown": [1, {"a": null}]}',
]


@pytest.mark.parametrize("payload", VALID_EDGE_CHUNKS)
def test_schema_allows(impl: ModuleType, payload: str) -> None:
    result = impl.assemble(sse(HELLO, payload, FINISH))
    assert result["choices"][0]["message"]["content"] == "Hello"


@pytest.mark.parametrize(
    "payload",
    [
        '{"choices": [], "x": NaN}',
        '{"choices": [], "x": Infinity}',
        '{"choices": [], "x": -Infinity}',
        '{"choices": [], "x": 1e400}',
        '{"choices": [{"index": 0, "delta": {"content": "\\ud800"}}]}',
        '{"choices": [{"index": 0, "delta": {"content": "\\udc00x"}}]}',
        '{"choices": []',
        '{"choices": []}}',
        '{"choices": []} {}',
        "nul",
        '{"a" 1}',
    ],
)
def test_invalid_json(impl: ModuleType, payload: str) -> None:
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(sse(HELLO, payload))
    assert isinstance(caught.value, json.JSONDecodeError)
    assert caught.value.event_index == 1


def test_chunk_applied_entirely_or_not_at_all(impl: ModuleType) -> None:
    bad = chunk(delta(content="A"), delta(index=1, content="B", tool_calls=[{"index": "0"}]))
    parser = impl.StreamParser()
    parser.feed(sse(HELLO, done=False))
    with pytest.raises(impl.ChunkDecodeError) as caught:
        parser.feed(sse(bad, done=False))
    assert caught.value.partial["choices"][0]["message"]["content"] == "Hello"
    assert len(caught.value.partial["choices"]) == 1
    parser.feed(sse(FINISH))
    result = parser.finish()
    assert [c["message"]["content"] for c in result["choices"]] == ["Hello"]


def test_limit_is_checked_before_applying(impl: ModuleType) -> None:
    bad = chunk(delta(content="A", tool_calls=[{"index": 0}, {"index": 5000}]))
    parser = impl.StreamParser(on_error="skip")
    parser.feed(sse(HELLO, bad, FINISH))
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hello"
    assert "tool_calls" not in result["choices"][0]["message"]
    assert [p.kind for p in parser.problems] == ["LimitExceededError"]


# -- [DONE] and what follows it ------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [b"data: [DONE]", b"data:[DONE]", b"data:  [DONE] \t", b"data: \x0c[DONE]\r"]
)
def test_done_marker_with_whitespace(impl: ModuleType, line: bytes) -> None:
    parser = impl.StreamParser()
    # Not finished: only [DONE] makes this stream complete.
    parser.feed(sse(HELLO, done=False) + line + b"\n\n")
    assert parser.done
    assert parser.finish()["choices"][0]["message"]["content"] == "Hello"


def test_not_done_lookalikes_are_chunks(impl: ModuleType) -> None:
    with pytest.raises(impl.ChunkDecodeError):
        impl.assemble(sse(HELLO, "[DONE]x"))
    with pytest.raises(impl.ChunkDecodeError):
        impl.assemble(sse(HELLO, "[done]"))


@pytest.mark.parametrize("on_error", ["raise", "skip", "repair"])
def test_data_after_done_is_ignored(impl: ModuleType, on_error: str) -> None:
    after = sse(chunk(delta(content=" world")), "{not json")
    data = sse(HELLO, FINISH) + after
    parser = impl.StreamParser(on_error=on_error)
    parser.feed(data)
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hello"
    offsets = _offsets(data)
    # Events 0-2 are the two chunks and [DONE]; 3, 4 and the second [DONE] (5) follow it.
    assert problem_tuples(parser.problems) == [
        ("DataAfterDone", "ignored", offsets[i], i) for i in (3, 4, 5)
    ]


# -- positions -----------------------------------------------------------------------------------


def test_positions_count_bom_and_skip_undispatched_blocks(impl: ModuleType) -> None:
    # A comment, an event without data and id/retry-only blocks dispatch nothing, so the bad
    # event is event 1; byte offsets count the BOM.
    prefix = b"\xef\xbb\xbf: keep-alive\n\nevent: ping\n\nid: 7\n\nretry: 10\n\n"
    data = prefix + sse(HELLO, "{bad", done=False)
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(data)
    assert caught.value.event_index == 1
    assert caught.value.byte_offset == data.index(b"{bad")


def test_positions_across_reads(impl: ModuleType) -> None:
    data = sse(HELLO, chunk(delta(content="!")), "[1, 2]", done=False)
    parser = impl.StreamParser()
    with pytest.raises(impl.ChunkDecodeError) as caught:
        for i in range(0, len(data), 3):
            parser.feed(data[i : i + 3])
    assert caught.value.event_index == 2
    assert caught.value.byte_offset == data.index(b"[1, 2]")


def test_empty_data_event_is_not_an_error(impl: ModuleType) -> None:
    # `data:` alone dispatches an event with empty data (WHATWG); the openai SDK then fails
    # on it as JSON, a fault deltafold does not share.
    data = sse(HELLO, done=False) + b"data:\n\n" + sse(FINISH)
    assert impl.assemble(data)["choices"][0]["message"]["content"] == "Hello"


# -- truncation ----------------------------------------------------------------------------------


def test_unfinished_stream_raises_with_partial(impl: ModuleType) -> None:
    with pytest.raises(impl.IncompleteStreamError) as caught:
        impl.assemble(sse(HELLO, done=False))
    assert caught.value.partial["choices"][0]["message"]["content"] == "Hello"


def test_one_unfinished_choice_is_enough(impl: ModuleType) -> None:
    other = chunk(delta(index=1, content="x"))
    with pytest.raises(impl.IncompleteStreamError):
        impl.assemble(sse(HELLO, other, FINISH, done=False))


def test_finished_choices_without_done_are_complete(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(sse(HELLO, FINISH, done=False))
    assert parser.finish()["choices"][0]["finish_reason"] == "stop"
    assert parser.problems == []
    assert not parser.done


def test_allow_truncated_returns_snapshot(impl: ModuleType) -> None:
    result = impl.assemble(sse(HELLO, done=False), allow_truncated=True)
    assert result["choices"][0]["message"]["content"] == "Hello"
    assert result["choices"][0]["finish_reason"] is None


@pytest.mark.parametrize("on_error", ["skip", "repair"])
def test_truncation_is_a_problem_in_lenient_modes(impl: ModuleType, on_error: str) -> None:
    parser = impl.StreamParser(on_error=on_error)
    parser.feed(sse(HELLO, done=False))
    assert parser.finish()["choices"][0]["message"]["content"] == "Hello"
    assert [(p.kind, p.action) for p in parser.problems] == [("IncompleteStreamError", "ignored")]


def test_ended_inside_an_event(impl: ModuleType) -> None:
    lost = sse(chunk(delta(content=" LOST")), done=False)
    for tail in (lost[:-1], lost[:-2], lost[:20]):
        data = sse(HELLO, FINISH, done=False) + tail
        with pytest.raises(impl.IncompleteStreamError):
            impl.assemble(data)
        # An unterminated event is never processed.
        result = impl.assemble(data, allow_truncated=True)
        assert result["choices"][0]["message"]["content"] == "Hello"


def test_empty_input(impl: ModuleType) -> None:
    with pytest.raises(impl.IncompleteStreamError):
        impl.assemble(b"")
    assert impl.assemble(b"", allow_truncated=True) == {
        "id": None,
        "object": "chat.completion",
        "created": None,
        "model": None,
        "choices": [],
        "usage": None,
    }


def test_done_alone_is_complete(impl: ModuleType) -> None:
    result = impl.assemble(b"data: [DONE]\n\n")
    assert result["choices"] == []


# -- limits --------------------------------------------------------------------------------------


def _limit_error(impl: ModuleType, data: bytes, **options: Any) -> Any:
    with pytest.raises(impl.LimitExceededError) as caught:
        impl.assemble(data, **options)
    return caught.value


def test_max_choice_index(impl: ModuleType) -> None:
    at_limit = chunk(delta(index=3, content="x", finish="stop"))
    assert impl.assemble(sse(at_limit), max_choice_index=3)["choices"][0]["index"] == 3
    over = sse(HELLO, chunk(delta(index=4, content="x")))
    error = _limit_error(impl, over, max_choice_index=3)
    assert error.limit == "max_choice_index"
    assert (error.event_index, error.byte_offset) == (1, _offsets(over)[1])


def test_hostile_choice_index_does_not_allocate(impl: ModuleType) -> None:
    error = _limit_error(impl, sse(chunk(delta(index=4294967295, content="x"))))
    assert error.limit == "max_choice_index"
    error = _limit_error(impl, sse(chunk(delta(index=2**63, content="x"))))
    assert error.limit == "max_choice_index"


def test_max_tool_calls_by_index(impl: ModuleType) -> None:
    def call(index: int) -> dict[str, Any]:
        return {"index": index, "id": f"c{index}", "function": {"name": "f", "arguments": ""}}

    ok = sse(chunk(delta(tool_calls=[call(0), call(1)], finish="tool_calls")))
    assert len(impl.assemble(ok, max_tool_calls=2)["choices"][0]["message"]["tool_calls"]) == 2
    error = _limit_error(impl, sse(chunk(delta(tool_calls=[call(2)]))), max_tool_calls=2)
    assert error.limit == "max_tool_calls"
    error = _limit_error(impl, sse(chunk(delta(tool_calls=[call(4294967295)]))))
    assert error.limit == "max_tool_calls"


def test_max_tool_calls_without_index(impl: ModuleType) -> None:
    def call(name: str) -> dict[str, Any]:
        return {"function": {"name": name, "arguments": ""}}

    two = [chunk(delta(tool_calls=[call("a")])), chunk(delta(tool_calls=[call("b")]))]
    result = impl.assemble(sse(*two, FINISH), max_tool_calls=2)
    assert len(result["choices"][0]["message"]["tool_calls"]) == 2
    data = sse(*two, chunk(delta(tool_calls=[call("c")])))
    error = _limit_error(impl, data, max_tool_calls=2)
    assert error.limit == "max_tool_calls"
    assert error.event_index == 2


def test_max_depth(impl: ModuleType) -> None:
    # The top-level object is depth 1: {"x": [[1]]} is 3 deep.
    assert impl.assemble(sse('{"x": [[1]]}'), max_depth=3)["x"] == [[1]]
    error = _limit_error(impl, sse('{"x": [[[1]]]}'), max_depth=3)
    assert error.limit == "max_depth"
    deep = "[" * 100_000 + "]" * 100_000
    assert _limit_error(impl, sse('{"x": ' + deep + "}")).limit == "max_depth"


def test_max_line_bytes(impl: ModuleType) -> None:
    line = b"data: " + json.dumps(chunk(delta(content="x" * 50, finish="stop"))).encode()
    data = sse(HELLO, done=False) + line + b"\n\ndata: [DONE]\n\n"
    assert impl.assemble(data, max_line_bytes=len(line))["choices"][0]["finish_reason"] == "stop"
    error = _limit_error(impl, data, max_line_bytes=len(line) - 1)
    assert error.limit == "max_line_bytes"
    assert error.byte_offset == data.index(line)
    assert error.event_index == 1


def test_max_line_bytes_applies_to_joined_data(impl: ModuleType) -> None:
    first, second = '{"id": "aaaaaaaa",', '"model": "bbbbbbbbbb"}'
    data = f"data: {first}\ndata: {second}\n\ndata: [DONE]\n\n".encode()
    joined = len(first) + 1 + len(second)
    # Every line is shorter than the joined data, so only the joined length can trip it.
    assert max(len(first), len(second)) + PREFIX < joined - 1
    assert impl.assemble(data, max_line_bytes=joined)["model"] == "bbbbbbbbbb"
    error = _limit_error(impl, data, max_line_bytes=joined - 1)
    assert error.limit == "max_line_bytes"


def test_line_limit_then_parser_continues(impl: ModuleType) -> None:
    long_line = b"data: " + b"x" * 5000
    data = sse(HELLO, done=False) + long_line + b"\n\n" + sse(FINISH)
    parser = impl.StreamParser(on_error="skip", max_line_bytes=1000)
    for i in range(0, len(data), 700):
        parser.feed(data[i : i + 700])
    result = parser.finish()
    assert result["choices"][0]["finish_reason"] == "stop"
    assert [(p.kind, p.action, p.byte_offset) for p in parser.problems] == [
        ("LimitExceededError", "skipped", data.index(long_line))
    ]


def test_max_buffer_bytes(impl: ModuleType) -> None:
    first = json.dumps(HELLO)
    second = json.dumps(FINISH)
    data = sse(first, second, done=False)
    total = len(first) + len(second)
    assert impl.assemble(data, max_buffer_bytes=total)["choices"][0]["finish_reason"] == "stop"
    error = _limit_error(impl, data, max_buffer_bytes=total - 1)
    assert error.limit == "max_buffer_bytes"
    assert error.event_index == 1


# -- on_error ------------------------------------------------------------------------------------


def test_skip_mode_drops_bad_chunks(impl: ModuleType) -> None:
    data = sse(HELLO, "{oops", chunk(delta(content=5)), chunk(delta(content="!")), FINISH)
    parser = impl.StreamParser(on_error="skip")
    parser.feed(data)
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hello!"
    offsets = _offsets(data)
    assert problem_tuples(parser.problems) == [
        ("ChunkDecodeError", "skipped", offsets[1], 1),
        ("ChunkDecodeError", "skipped", offsets[2], 2),
    ]


REPAIRABLE = {
    "missing closers": '{"choices":[{"index":0,"delta":{"content":"x"',
    "stray opener": '{"choices":[{"index":0,"delta":{"content":"x"},{"finish_reason":null}]}',
    "stray closer": '{"choices":[{"index":0,"delta":{"content":"x"}],"finish_reason":null}]}',
    "closer with nothing open": '{"choices":[{"index":0,"delta":{"content":"x"}}]}}',
    "trailing comma": '{"choices":[{"index":0,"delta":{"content":"x",}},]}',
    "double comma": '{"choices":[{"index":0,,"delta":{"content":"x"}}]}',
    "open string": '{"choices":[{"index":0,"delta":{"content":"x',
    "member without value": '{"choices":[{"index":0,"delta":{"content":"x"}}],"usage":',
    "member without colon": '{"choices":[{"index":0,"delta":{"content":"x"}}],"usage"',
    "dangling comma at end": '{"choices":[{"index":0,"delta":{"content":"x"}}],',
}


@pytest.mark.parametrize("payload", REPAIRABLE.values(), ids=REPAIRABLE.keys())
def test_repair_mode_repairs(impl: ModuleType, payload: str) -> None:
    data = sse(HELLO, payload, FINISH)
    parser = impl.StreamParser(on_error="repair")
    parser.feed(data)
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hellox"
    assert result["usage"] is None
    assert problem_tuples(parser.problems) == [
        ("ChunkDecodeError", "repaired", _offsets(data)[1], 1)
    ]


NOT_REPAIRABLE = {
    # Nothing for the repair to change: it fails.
    "bad literal": '{"choices": tru}',
    "missing colon mid-object": '{"choices" []}',
    # Repaired text decodes but is not a valid chunk.
    "repaired but invalid": '{"choices":[{"index":"0"',
    # Valid JSON, invalid chunk: no syntax to repair.
    "schema violation": '{"choices":[{"index":0,"delta":{"content":5}}]}',
}


@pytest.mark.parametrize("payload", NOT_REPAIRABLE.values(), ids=NOT_REPAIRABLE.keys())
def test_repair_mode_skips_what_it_cannot_repair(impl: ModuleType, payload: str) -> None:
    data = sse(HELLO, payload, FINISH)
    parser = impl.StreamParser(on_error="repair")
    parser.feed(data)
    assert parser.finish()["choices"][0]["message"]["content"] == "Hello"
    assert problem_tuples(parser.problems) == [
        ("ChunkDecodeError", "skipped", _offsets(data)[1], 1)
    ]


# -- in-band errors ------------------------------------------------------------------------------

IN_BAND = [
    ('{"error": {"message": "overloaded", "code": 529}}', {"message": "overloaded", "code": 529}),
    ('{"error": "rate limited"}', "rate limited"),
    (
        '{"object": "error", "message": "bad model", "type": "invalid_request_error"}',
        {"object": "error", "message": "bad model", "type": "invalid_request_error"},
    ),
    ('{"id": "x", "choices": [], "error": {"message": "m"}}', {"message": "m"}),
]


@pytest.mark.parametrize(("payload", "body"), IN_BAND)
def test_in_band_error_raises(impl: ModuleType, payload: str, body: Any) -> None:
    data = sse(HELLO, payload, FINISH)
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(data)
    error = caught.value
    assert error.body == body
    expected_message = body["message"] if isinstance(body, dict) else body
    assert expected_message in str(error)
    assert (error.event_index, error.byte_offset) == (1, _offsets(data)[1])
    assert error.partial["choices"][0]["message"]["content"] == "Hello"
    # The error chunk is not merged.
    assert error.partial["id"] == "chatcmpl-1"


def test_error_event_type(impl: ModuleType) -> None:
    for data_line, body in ((b'{"message": "gone"}', {"message": "gone"}), (b"oops", "oops")):
        data = sse(HELLO, done=False) + b"event: error\ndata: " + data_line + b"\n\n"
        with pytest.raises(impl.StreamAPIError) as caught:
            impl.assemble(data)
        assert caught.value.body == body
        assert caught.value.event_index == 1


def test_null_error_is_not_an_error(impl: ModuleType) -> None:
    result = impl.assemble(sse(chunk(delta(content="a", finish="stop"), error=None)))
    assert result["choices"][0]["message"]["content"] == "a"


@pytest.mark.parametrize("on_error", ["skip", "repair"])
def test_in_band_error_in_lenient_modes(impl: ModuleType, on_error: str) -> None:
    data = sse(HELLO, '{"error": {"message": "hiccup"}}', FINISH)
    parser = impl.StreamParser(on_error=on_error, events=True)
    events = parser.feed(data)
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "Hello"
    assert problem_tuples(parser.problems) == [("StreamAPIError", "skipped", _offsets(data)[1], 1)]
    errors = [e for e in events if e.type == "error"]
    assert len(errors) == 1
    assert errors[0].error == {"message": "hiccup"}


# -- sources ---------------------------------------------------------------------------------------


def test_sources(impl: ModuleType) -> None:
    data = sse(HELLO, FINISH)
    expected = impl.assemble(data)
    assert impl.assemble(data.decode()) == expected
    assert impl.assemble(bytearray(data)) == expected
    assert impl.assemble(memoryview(data)) == expected
    assert impl.assemble(io.BytesIO(data)) == expected
    assert impl.assemble(iter([data[:7], data[7:50], data[50:]])) == expected
    assert impl.assemble([data[i : i + 1] for i in range(len(data))]) == expected
