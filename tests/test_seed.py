"""The user's seed file: two streams and the non-streaming responses they should fold into.

The seed is parsed here (streams and JSON responses extracted from the text), so the expected
values come from the user's own examples, not from the code under test. The two responses in
the seed come from other calls than the streams (different ids, token counts, wording), so the
text stream is compared on its shape and on the fields that must match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from support import FIXTURES, assert_same_completion, fixture_file, problem_tuples

SEED = fixture_file("seed", "chat-completions-stream-formats.txt")
FIXED_TOOL_STREAM = FIXTURES / "seed_tool_call_fixed.sse"


@dataclass
class SeedStream:
    payloads: list[str]  # the data values, "[DONE]" included

    @property
    def data(self) -> bytes:
        # The seed prints one `data:` line per chunk with no blank line between them; a real
        # stream separates events with a blank line, so that is how the stream is rebuilt.
        return b"".join(b"data: " + p.encode() + b"\n\n" for p in self.payloads)

    def payload_offset(self, event: int) -> int:
        """Byte offset of event ``event``'s payload within :attr:`data`."""
        before = sum(len(b"data: " + p.encode() + b"\n\n") for p in self.payloads[:event])
        return before + len(b"data: ")

    def chunks(self) -> list[dict[str, Any]]:
        """The payloads that are valid JSON, decoded by the standard library."""
        decoded = []
        for payload in self.payloads:
            if payload == "[DONE]":
                continue
            try:
                decoded.append(json.loads(payload))
            except json.JSONDecodeError:
                continue
        return decoded


def _parse_seed() -> tuple[list[SeedStream], list[dict[str, Any]]]:
    text = SEED.read_text(encoding="utf-8")
    streams: list[SeedStream] = []
    current: list[str] = []
    for line in text.splitlines():
        # The first data line of the file is glued to the sentence before it ("...usage
        # data.data: {"), so a data line is found by its field, not by the line start.
        at = line.find("data: ")
        if at < 0:
            continue
        current.append(line[at + len("data: ") :])
        if current[-1] == "[DONE]":
            streams.append(SeedStream(current))
            current = []
    responses = []
    decoder = json.JSONDecoder()
    position = text.find("\n{\n")
    while position >= 0:
        response, end = decoder.raw_decode(text, position + 1)
        responses.append(response)
        position = text.find("\n{\n", end)
    return streams, responses


(TOOL_STREAM, TEXT_STREAM), (TOOL_RESPONSE, TEXT_RESPONSE) = _parse_seed()


def test_seed_parsed_as_described() -> None:
    # DESIGN.md: 7 chunks of the tool stream are malformed; both responses are chat.completion.
    assert len(TOOL_STREAM.payloads) == 11
    assert len(TOOL_STREAM.chunks()) == 11 - 1 - 7
    assert len(TEXT_STREAM.payloads) == 7
    assert len(TEXT_STREAM.chunks()) == 6
    assert TOOL_RESPONSE["choices"][0]["finish_reason"] == "function_call"
    assert TEXT_RESPONSE["choices"][0]["finish_reason"] == "stop"


# -- the streamed text answer ------------------------------------------------------------------


def test_text_stream_has_the_shape_of_the_text_response(impl: ModuleType) -> None:
    result = impl.assemble(TEXT_STREAM.data)
    chunks = TEXT_STREAM.chunks()
    expected = TEXT_RESPONSE

    # Same top-level keys in the same order; obfuscation (on the chunks) is dropped.
    assert list(result) == list(expected)
    assert "obfuscation" not in result
    assert result["object"] == expected["object"] == "chat.completion"
    assert result["service_tier"] == expected["service_tier"]
    assert result["system_fingerprint"] == expected["system_fingerprint"]
    # Identity fields come from the stream (the response is another call).
    assert result["id"] == chunks[0]["id"]
    assert result["model"] == chunks[0]["model"]
    assert result["created"] == chunks[0]["created"]

    (choice,) = result["choices"]
    (expected_choice,) = expected["choices"]
    assert list(choice) == list(expected_choice)
    assert choice["index"] == expected_choice["index"]
    assert choice["logprobs"] == expected_choice["logprobs"]
    assert choice["finish_reason"] == expected_choice["finish_reason"]

    message = choice["message"]
    expected_message = expected_choice["message"]
    # The non-streaming response adds "annotations": [], which no chunk carries.
    assert list(message) == [k for k in expected_message if k != "annotations"]
    assert message["role"] == expected_message["role"]
    assert message["refusal"] == expected_message["refusal"]
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert message["content"] == "".join(d for d in deltas if d)
    assert message["content"].startswith('"Crypto is digital')

    # Usage: the stream's own counts in the response's nested shape (*_details kept).
    assert result["usage"] == chunks[-1]["usage"]
    assert _shape(result["usage"]) == _shape(expected["usage"])
    ChatCompletion.model_validate(result)


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


# -- the streamed tool call, as published (malformed) -------------------------------------------

MALFORMED_EVENTS = [1, 2, 3, 4, 5, 6, 7]


def _stdlib_error(payload: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(payload)
    return caught.value


def test_published_tool_stream_is_malformed_where_design_says() -> None:
    malformed = []
    for event, payload in enumerate(TOOL_STREAM.payloads[:-1]):
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            malformed.append(event)
    assert malformed == MALFORMED_EVENTS


def test_published_tool_stream_raises_chunk_decode_error(impl: ModuleType) -> None:
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(TOOL_STREAM.data)
    error = caught.value
    payload = TOOL_STREAM.payloads[1]
    stdlib = _stdlib_error(payload)
    # The stray "{" after `"delta":{...},` is where an object key was expected.
    assert payload[stdlib.pos] == "{"

    assert isinstance(error, json.JSONDecodeError)
    assert isinstance(error, ValueError)
    assert error.event_index == 1
    assert error.byte_offset == TOOL_STREAM.payload_offset(1)
    assert error.doc == payload
    assert error.pos == stdlib.pos
    assert (error.lineno, error.colno) == (stdlib.lineno, stdlib.colno) == (1, stdlib.pos + 1)
    message = str(error)
    assert "(event 1)" in message
    assert f"at byte {TOOL_STREAM.payload_offset(1)}" in message
    assert f"line 1 column {stdlib.colno}" in message

    # Nothing assembled before the bad chunk is lost.
    first = TOOL_STREAM.chunks()[0]
    assert error.partial is not None
    assert error.partial["id"] == first["id"]
    message0 = error.partial["choices"][0]["message"]
    assert message0["function_call"] == first["choices"][0]["delta"]["function_call"]


def test_published_tool_stream_parser_stays_usable(impl: ModuleType) -> None:
    # One read per event: each malformed event raises, the parser keeps going, and the good
    # events (first chunk, finish chunk, usage chunk) still make up the result.
    parser = impl.StreamParser()
    raised = []
    for event, payload in enumerate(TOOL_STREAM.payloads):
        try:
            parser.feed(b"data: " + payload.encode() + b"\n\n")
        except impl.ChunkDecodeError as error:
            raised.append((event, error.event_index, error.byte_offset))
    assert raised == [(e, e, TOOL_STREAM.payload_offset(e)) for e in MALFORMED_EVENTS]
    result = parser.finish()
    good = TOOL_STREAM.chunks()
    message = result["choices"][0]["message"]
    assert message["function_call"] == good[0]["choices"][0]["delta"]["function_call"]
    assert result["choices"][0]["finish_reason"] == "function_call"
    assert result["usage"] == good[-1]["usage"]


def test_published_tool_stream_skip_mode(impl: ModuleType) -> None:
    parser = impl.StreamParser(on_error="skip")
    parser.feed(TOOL_STREAM.data)
    result = parser.finish()
    assert problem_tuples(parser.problems) == [
        ("ChunkDecodeError", "skipped", TOOL_STREAM.payload_offset(e), e) for e in MALFORMED_EVENTS
    ]
    assert result["choices"][0]["message"]["function_call"]["arguments"] == ""


def test_published_tool_stream_repair_mode_gives_the_response(impl: ModuleType) -> None:
    parser = impl.StreamParser(on_error="repair")
    parser.feed(TOOL_STREAM.data)
    result = parser.finish()
    assert problem_tuples(parser.problems) == [
        ("ChunkDecodeError", "repaired", TOOL_STREAM.payload_offset(e), e) for e in MALFORMED_EVENTS
    ]
    _assert_matches_tool_response(result)
    assert_same_completion(result, impl.assemble(FIXED_TOOL_STREAM.read_bytes()))
    assert impl.assemble(TOOL_STREAM.data, on_error="repair") == result


# -- the hand-corrected tool stream --------------------------------------------------------------


def _is_deletion_of(original: str, corrected: str, allowed: str) -> bool:
    """Whether ``corrected`` is ``original`` with only characters from ``allowed`` removed."""
    position = 0
    for char in original:
        if position < len(corrected) and corrected[position] == char:
            position += 1
        elif char not in allowed:
            return False
    return position == len(corrected)


def test_fixed_fixture_only_removes_stray_tokens() -> None:
    fixed = [
        line[len("data: ") :]
        for line in FIXED_TOOL_STREAM.read_text(encoding="utf-8").split("\n")
        if line
    ]
    assert len(fixed) == len(TOOL_STREAM.payloads)
    for original, corrected in zip(TOOL_STREAM.payloads, fixed, strict=True):
        assert _is_deletion_of(original, corrected, "{]")
        assert len(original) - len(corrected) in (0, 1)
        if corrected != "[DONE]":
            json.loads(corrected)
    assert FIXED_TOOL_STREAM.read_bytes() == SeedStream(fixed).data


def test_fixed_tool_stream_assembles_to_the_response(impl: ModuleType) -> None:
    result = impl.assemble(FIXED_TOOL_STREAM.read_bytes())
    _assert_matches_tool_response(result)
    message = result["choices"][0]["message"]
    assert list(message) == ["role", "content", "refusal", "function_call"]
    assert message["content"] is None
    ChatCompletion.model_validate(result)


def _assert_matches_tool_response(result: dict[str, Any]) -> None:
    (expected_choice,) = TOOL_RESPONSE["choices"]
    (choice,) = result["choices"]
    expected_call = expected_choice["message"]["function_call"]
    # Byte for byte: the arguments are a JSON text whose exact spelling matters.
    assert choice["message"]["function_call"] == expected_call
    assert list(choice["message"]["function_call"]) == ["name", "arguments"]
    assert choice["message"]["role"] == expected_choice["message"]["role"]
    assert choice["message"]["refusal"] == expected_choice["message"]["refusal"]
    assert choice["finish_reason"] == expected_choice["finish_reason"] == "function_call"
    assert result["usage"] == TOOL_RESPONSE["usage"]
    assert result["model"] == TOOL_RESPONSE["model"]
    assert result["object"] == "chat.completion"
