"""Wrong input gets a clear answer: a body that is not an event stream, an HTTP error response,
a response object passed instead of its body, a stream in a format deltafold does not fold,
invalid UTF-8; and the problem list stays bounded (``max_problems``).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from deltafold import errors
from support import fixture_file, sse

MODES = ["raise", "skip", "repair"]


def chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


def _split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


# -- not an event stream ---------------------------------------------------------------------------

NOT_STREAMS = [
    (b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n", '"<!DOCTYPE html>\\n<html>'),
    (b"Internal Server Error", '"Internal Server Error"'),
    (
        b'{"id": "chatcmpl-1", "object": "chat.completion", "choices": []}',
        '"{\\"id\\": \\"chatcmpl',
    ),
    (b"\r\n\r\nHTTP/1.1 500\r\n", '"HTTP/1.1 500\\r\\n"'),
    (b"\xef\xbb\xbf[1, 2]", '"[1, 2]"'),
    (b"x" * 100, '"' + "x" * 64 + '"...'),
]


@pytest.mark.parametrize("on_error", MODES)
@pytest.mark.parametrize(("body", "shown"), NOT_STREAMS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("read", [1, 5, 1 << 16])
def test_a_body_that_is_not_an_event_stream_says_so(
    impl: ModuleType, body: bytes, shown: str, on_error: str, read: int
) -> None:
    with pytest.raises(impl.StreamDecodeError) as caught:
        impl.assemble(iter(_split(body, read)), on_error=on_error)
    error = caught.value
    assert type(error) is errors.StreamDecodeError
    assert error.message.startswith(f"input is not an event stream: it starts with {shown}")
    assert (error.byte_offset, error.event_index) == (0, None)
    assert error.partial == impl.StreamParser().snapshot()


ERROR_BODY = {
    "error": {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }
}


@pytest.mark.parametrize("on_error", MODES)
@pytest.mark.parametrize(
    "body",
    [
        json.dumps(ERROR_BODY).encode(),
        json.dumps(ERROR_BODY, indent=2).encode() + b"\n",
        b"\n" + json.dumps(ERROR_BODY, separators=(",", ":")).encode(),
    ],
    ids=["compact", "pretty", "after-a-blank-line"],
)
@pytest.mark.parametrize("read", [3, 1 << 16])
def test_an_http_error_body_is_a_stream_api_error(
    impl: ModuleType, body: bytes, on_error: str, read: int
) -> None:
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(iter(_split(body, read)), on_error=on_error)
    error = caught.value
    assert error.body == ERROR_BODY["error"]
    assert error.message.startswith(
        "input is not an event stream but an error response (Incorrect API key provided): "
        'it starts with "{'
    )


def test_an_error_object_body_is_a_stream_api_error(impl: ModuleType) -> None:
    body = {"object": "error", "message": "model overloaded", "code": 503}
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(json.dumps(body).encode())
    assert caught.value.body == body


def test_the_check_is_the_same_in_every_entry_point(impl: ModuleType) -> None:
    body = json.dumps(ERROR_BODY).encode()
    with pytest.raises(impl.StreamAPIError):
        list(impl.iter_events(body))
    with pytest.raises(impl.StreamAPIError):
        list(impl.iter_completions(body))
    parser = impl.StreamParser(on_error="skip")
    assert parser.feed(body) == []
    with pytest.raises(impl.StreamAPIError):
        parser.finish()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", errors.IncompleteStreamError),
        (b": keep-alive\n\n", errors.IncompleteStreamError),
        (b'data: {"choices": []}', errors.IncompleteStreamError),
        (b"da", errors.IncompleteStreamError),
        (b"\n\n\n", errors.IncompleteStreamError),
        (b"event: x\nid: 1\n\n", errors.IncompleteStreamError),
    ],
)
def test_event_streams_that_end_early_are_incomplete_not_foreign(
    impl: ModuleType, body: bytes, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        impl.assemble(body)
    assert type(caught.value) is error


def test_junk_before_a_real_stream_is_not_refused(impl: ModuleType) -> None:
    data = b"<html>\n\n" + sse(chunk("a", "stop"))
    assert impl.assemble(data)["choices"][0]["message"]["content"] == "a"


def test_an_empty_capture_yields_nothing(impl: ModuleType) -> None:
    assert list(impl.iter_completions(b"")) == []


# -- response objects passed instead of their body ------------------------------------------------


class FakeRequestsResponse:
    """What requests.Response looks like to duck typing (it is iterable, too)."""

    status_code = 200

    def iter_content(self, chunk_size: int | None = None) -> Any:
        yield b"data: [DONE]\n\n"

    def __iter__(self) -> Any:
        return self.iter_content(128)


def _responses() -> list[Any]:
    import httpx

    return [httpx.Response(200, content=sse(chunk("a", "stop"))), FakeRequestsResponse()]


@pytest.mark.parametrize("response", _responses(), ids=["httpx", "requests"])
def test_a_response_object_is_refused_with_what_to_pass(impl: ModuleType, response: Any) -> None:
    calls = [
        lambda: impl.assemble(response),
        lambda: list(impl.iter_events(response)),
        lambda: list(impl.iter_completions(response)),
    ]
    for call in calls:
        with pytest.raises(TypeError) as caught:
            call()
        assert "iter_bytes()" in str(caught.value)
        assert "aiter_bytes()" in str(caught.value)

    async def consume() -> None:
        async for _ in impl.aiter_events(response):
            pass

    with pytest.raises(TypeError, match=r"iter_bytes\(\)"):
        asyncio.run(consume())


# -- formats deltafold does not fold --------------------------------------------------------------


def _foreign_streams() -> list[tuple[Path, str]]:
    found = []
    for folder, format in [
        ("anthropic-recorded", "anthropic"),
        ("responses-recorded", "responses"),
        ("gemini-recorded", "gemini"),
    ]:
        paths = sorted(fixture_file(folder).glob("*.sse"))
        assert paths, folder
        found.extend((path, format) for path in paths)
    return found


FOREIGN = _foreign_streams()


@pytest.mark.parametrize("on_error", MODES)
@pytest.mark.parametrize(("path", "format"), FOREIGN, ids=[p.name for p, _ in FOREIGN])
def test_recorded_foreign_streams_are_refused_in_every_mode(
    impl: ModuleType, path: Path, format: str, on_error: str
) -> None:
    data = path.read_bytes()
    # Anthropic streams are folded under format="auto" (issue 10); a chat-only parser refuses them.
    fixed = {"format": "chat"} if format == "anthropic" else {}
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(data, on_error=on_error, **fixed)
    error = caught.value
    assert isinstance(error, impl.StreamDecodeError)
    assert error.format == format
    assert error.event_index == 0
    # The first event's payload: never a silently empty chat.completion.
    assert (
        data[error.byte_offset - 6 : error.byte_offset] == b"data: "
        or data[error.byte_offset - 5 : error.byte_offset] == b"data:"
    )
    assert "not an OpenAI Chat Completions stream" in error.message
    with pytest.raises(impl.UnsupportedFormatError):
        list(impl.iter_events(data, on_error=on_error, **fixed))
    with pytest.raises(impl.UnsupportedFormatError):
        list(impl.iter_completions(data, on_error=on_error, **fixed))


LEGACY = [
    {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": "Hello", "index": 0, "logprobs": None, "finish_reason": None}],
    },
    {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": "!", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    },
]


@pytest.mark.parametrize("on_error", MODES)
def test_legacy_completions_chunks_are_refused(impl: ModuleType, on_error: str) -> None:
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(sse(*LEGACY), on_error=on_error)
    assert caught.value.format == "completions"
    # Without "object" the choice shape alone gives it away.
    bare = [{"choices": c["choices"]} for c in LEGACY]
    with pytest.raises(impl.UnsupportedFormatError):
        impl.assemble(sse(*bare), on_error=on_error)


@pytest.mark.parametrize(
    ("event", "payload", "format"),
    [
        ("message_start", "{}", "anthropic"),
        ("response.created", '{"x": 1}', "responses"),
        ("", '{"type": "something.else"}', "unknown"),
        ("", '{"candidates": []}', "gemini"),
    ],
)
def test_foreign_format_by_event_name_or_keys(
    impl: ModuleType, event: str, payload: str, format: str
) -> None:
    data = (f"event: {event}\n" if event else "").encode() + sse(payload)
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(data, on_error="skip", format="chat")
    assert caught.value.format == format


def test_chat_chunks_with_typed_parts_are_not_foreign(impl: ModuleType) -> None:
    parts = {
        "choices": [
            {
                "index": 0,
                "delta": {"content": [{"type": "text", "text": "hi"}]},
                "finish_reason": "stop",
            }
        ]
    }
    assert impl.assemble(sse(parts))["choices"][0]["message"]["content"] == "hi"


def test_an_anthropic_error_event_is_an_api_error(impl: ModuleType) -> None:
    data = b'event: error\ndata: {"type": "error", "error": {"message": "overloaded"}}\n\n'
    with pytest.raises(impl.StreamAPIError):
        impl.assemble(data)


# -- invalid UTF-8 ---------------------------------------------------------------------------------


def test_invalid_utf8_in_a_payload_is_a_chunk_decode_error(impl: ModuleType) -> None:
    data = sse(b'{"choices":[{"index":0,"delta":{"content":"a\xffb"},"finish_reason":"stop"}]}')
    with pytest.raises(impl.ChunkDecodeError) as caught:
        impl.assemble(data)
    assert caught.value.event_index == 0


def test_invalid_utf8_in_sse_text_becomes_replacement_characters(impl: ModuleType) -> None:
    decoder = impl.SseDecoder()
    (event,) = decoder.feed(b"event: e\xff\nid: i\xfe\ndata: d\xc3\n\n")
    assert (event.event, event.id, event.data) == ("e\ufffd", "i\ufffd", "d\ufffd")


# -- max_problems ----------------------------------------------------------------------------------


def _after_done(extra_events: int) -> bytes:
    return sse(chunk("a", "stop")) + b"data: {}\n\n" * extra_events


@pytest.mark.parametrize(
    ("cap", "events", "kept", "dropped"),
    [(3, 3, 3, 0), (3, 4, 3, 1), (0, 2, 0, 2), (1000, 1001, 1000, 1)],
)
def test_max_problems_keeps_the_first_and_counts_the_rest(
    impl: ModuleType, cap: int, events: int, kept: int, dropped: int
) -> None:
    data = _after_done(events)
    parser = impl.StreamParser(max_problems=cap)
    parser.feed(data)
    parser.finish()
    assert (len(parser.problems), parser.problems_dropped) == (kept, dropped)
    first_at = len(sse(chunk("a", "stop"))) + len(b"data: ")
    if kept:
        problem = parser.problems[0]
        assert (problem.kind, problem.byte_offset, problem.event_index) == (
            "DataAfterDone",
            first_at,
            2,
        )
        assert parser.problems[-1].event_index == 2 + kept - 1


def test_max_problems_default_is_1000(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(_after_done(1500))
    assert (len(parser.problems), parser.problems_dropped) == (1000, 500)


def test_max_problems_counts_skipped_chunks_too(impl: ModuleType) -> None:
    data = sse(chunk("a"), "{x}", "{y}", "{z}", chunk("b", "stop"))
    parser = impl.StreamParser(on_error="skip", max_problems=2)
    parser.feed(data)
    assert parser.finish()["choices"][0]["message"]["content"] == "ab"
    assert [p.event_index for p in parser.problems] == [1, 2]
    assert parser.problems_dropped == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_max_problems_must_be_a_non_negative_integer(impl: ModuleType, bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        impl.StreamParser(max_problems=bad)
    with pytest.raises((ValueError, TypeError)):
        impl.assemble(_after_done(1), max_problems=bad)


def test_every_entry_point_takes_max_problems(impl: ModuleType) -> None:
    data = _after_done(3)
    assert impl.assemble(data, max_problems=1)["choices"][0]["message"]["content"] == "a"
    assert [e.type for e in impl.iter_events(data, max_problems=1)][-1] == "done"
    skipped = sse(chunk("a"), "{x}", "{y}", chunk("b", "stop"))
    completions = list(impl.iter_completions(skipped, on_error="skip", max_problems=1))
    assert [c["choices"][0]["message"]["content"] for c in completions] == ["ab"]

    async def consume() -> tuple[str, int]:
        async def reads(data: bytes) -> Any:
            yield data

        last = ""
        async for event in impl.aiter_events(reads(data), max_problems=1):
            last = event.type
        count = 0
        async for _ in impl.aiter_completions(reads(skipped), on_error="skip", max_problems=1):
            count += 1
        return last, count

    assert asyncio.run(consume()) == ("done", 1)
