"""``deltafold.tee`` / ``deltafold.atee``: the bytes pass untouched whatever the fold meets,
and ``on_done(summary)`` is called exactly once however the stream ends.

Expected results come from ``assemble`` of the whole recording on the same implementation
(itself checked against the openai SDK in test_recorded.py), and expected bytes from the input.
Both twins' parsers are run under the tee (the ``impl`` fixture).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import deltafold
import pytest
from deltafold._tee import AsyncTee, Tee
from support import fixture_file

RECORDING = fixture_file("openai-recorded", "parse_multiple_pydantic_tools.sse").read_bytes()
BAD_CHUNK = b'data: {"id":"x","choices":[{"index":0,"delta":{"content":\n\n'


def pieces(data: bytes, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out, position = [], 0
    while position < len(data):
        size = rng.randint(1, 700)
        out.append(data[position : position + size])
        position += size
    return out


def with_bad_chunk(data: bytes) -> bytes:
    events = data.split(b"\n\n")
    return b"\n\n".join(events[:3]) + b"\n\n" + BAD_CHUNK + b"\n\n".join(events[3:])


def make_tee(impl: ModuleType, chunks: Any, on_done: Any = None, **options: Any) -> Tee[Any]:
    # Each twin's public tee: the same forwarding loop over that twin's parser.
    tee: Tee[Any] = impl.tee(chunks, on_done=on_done, **options)
    return tee


def make_atee(impl: ModuleType, chunks: Any, on_done: Any = None, **options: Any) -> AsyncTee[Any]:
    tee: AsyncTee[Any] = impl.atee(chunks, on_done=on_done, **options)
    return tee


def test_public_names(impl: ModuleType) -> None:
    assert {"tee", "atee"} <= set(impl.__all__)
    # Each twin folds with its own parser under the shared forwarding loop.
    assert type(impl.tee([])._fold.parser) is impl.StreamParser
    assert type(impl.atee(_empty())._fold.parser) is impl.StreamParser
    assert {"Tee", "AsyncTee"} <= set(deltafold.__all__)


async def _empty() -> AsyncIterator[bytes]:
    for chunk in ():
        yield chunk


def test_chunks_pass_unchanged_and_fold(impl: ModuleType) -> None:
    sent = pieces(RECORDING)
    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, iter(sent), calls.append)
    received = list(tee)
    assert received == sent
    assert all(a is b for a, b in zip(received, sent, strict=False))
    assert tee.result == impl.assemble(RECORDING)
    assert tee.error is None and tee.problems == [] and tee.bytes == len(RECORDING)
    assert len(calls) == 1 and calls[0] == tee.summary()
    usage = impl.assemble(RECORDING)["usage"]
    assert calls[0]["status"] == "complete"
    assert calls[0]["usage"]["total_tokens"] == usage["total_tokens"]
    assert calls[0]["usage"]["input_tokens"] == usage["prompt_tokens"]


def test_str_bytearray_memoryview_chunks_forwarded_as_given(impl: ModuleType) -> None:
    text = RECORDING.decode()
    sent: list[Any] = [
        text[:100],
        bytearray(text[100:200].encode()),
        memoryview(text[200:].encode()),
    ]
    tee = make_tee(impl, sent)
    received = list(tee)
    assert all(a is b for a, b in zip(received, sent, strict=False))
    assert tee.result == impl.assemble(RECORDING)


def test_bad_chunk_never_reaches_the_byte_path(impl: ModuleType) -> None:
    data = with_bad_chunk(RECORDING)
    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, pieces(data), calls.append)
    assert b"".join(tee) == data
    assert len(tee.problems) == 1 and tee.problems[0].kind == "ChunkDecodeError"
    assert tee.error is None
    assert tee.result == impl.assemble(RECORDING)
    assert len(calls) == 1 and calls[0]["status"] == "complete"


def test_raise_mode_records_the_error_and_keeps_forwarding(impl: ModuleType) -> None:
    data = with_bad_chunk(RECORDING)
    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, pieces(data, seed=3), calls.append, on_error="raise")
    assert b"".join(tee) == data
    assert isinstance(tee.error, deltafold.ChunkDecodeError)
    assert tee.error.byte_offset == data.index(BAD_CHUNK) + len(b"data: ")
    # The result is what was folded before the bad chunk.
    assert tee.result == impl.assemble(data[: data.index(BAD_CHUNK)], allow_truncated=True)
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"


def test_not_an_event_stream_is_forwarded(impl: ModuleType) -> None:
    html = b"<html><body>502 Bad Gateway</body></html>"
    tee = make_tee(impl, [html[:10], html[10:]])
    assert b"".join(tee) == html
    assert isinstance(tee.error, deltafold.StreamDecodeError)
    assert tee.summary()["status"] == "incomplete"


def test_truncated_stream_is_incomplete(impl: ModuleType) -> None:
    data = RECORDING[: len(RECORDING) // 2]
    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, pieces(data), calls.append)
    assert b"".join(tee) == data
    # Skip mode (the tee's default) returns a cut stream's folded state.
    assert tee.error is None
    assert tee.result == impl.assemble(data, allow_truncated=True)
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"
    strict = make_tee(impl, pieces(data), on_error="raise")
    assert b"".join(strict) == data
    assert isinstance(strict.error, deltafold.IncompleteStreamError)
    assert strict.result == strict.error.partial == impl.assemble(data, allow_truncated=True)


def test_consumer_break_closes_upstream_and_calls_on_done_once(impl: ModuleType) -> None:
    closed: list[bool] = []

    def upstream() -> Iterator[bytes]:
        try:
            yield from pieces(RECORDING)
        finally:
            closed.append(True)

    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, upstream(), calls.append)
    for n, _ in enumerate(tee):
        if n == 2:
            break
    gc.collect()
    assert closed == [True]
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"
    assert tee.done
    tee.close()  # again: nothing more happens
    assert len(calls) == 1


def test_explicit_close_and_context_manager(impl: ModuleType) -> None:
    calls: list[dict[str, Any]] = []
    with make_tee(impl, iter(pieces(RECORDING)), calls.append) as tee:
        iterator = iter(tee)
        next(iterator)
        assert calls == []
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"
    with pytest.raises(RuntimeError, match="only once"):
        iter(tee)


def test_upstream_failure_propagates_and_calls_on_done(impl: ModuleType) -> None:
    def upstream() -> Iterator[bytes]:
        yield RECORDING[:500]
        raise ConnectionResetError("peer went away")

    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, upstream(), calls.append)
    received = []
    with pytest.raises(ConnectionResetError):
        for chunk in tee:
            received.append(chunk)
    assert received == [RECORDING[:500]]
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"


def test_on_done_that_raises_is_logged_not_raised(
    impl: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(summary: dict[str, Any]) -> None:
        raise RuntimeError("database down")

    with caplog.at_level(logging.ERROR, logger="deltafold"):
        assert b"".join(make_tee(impl, pieces(RECORDING), broken)) == RECORDING
    assert "on_done" in caplog.text and "database down" in caplog.text


def test_bad_option_raises_at_once() -> None:
    with pytest.raises((TypeError, ValueError)):
        deltafold.tee([b""], on_error="explode")  # type: ignore[typeddict-item]


# -- async --


async def agen(chunks: list[bytes], delay: float = 0.0) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if delay:
            await asyncio.sleep(delay)
        yield chunk


async def test_atee_chunks_pass_unchanged(impl: ModuleType) -> None:
    sent = pieces(with_bad_chunk(RECORDING))
    calls: list[dict[str, Any]] = []
    tee = make_atee(impl, agen(sent), calls.append)
    received = [chunk async for chunk in tee]
    assert received == sent
    assert tee.result == impl.assemble(RECORDING)
    assert len(tee.problems) == 1
    assert len(calls) == 1 and calls[0]["status"] == "complete"


async def test_atee_cancelled_while_waiting_calls_on_done(impl: ModuleType) -> None:
    calls: list[dict[str, Any]] = []
    closed: list[bool] = []

    async def upstream() -> AsyncIterator[bytes]:
        try:
            yield RECORDING[:300]
            await asyncio.sleep(60)
            yield RECORDING[300:]
        finally:
            closed.append(True)

    tee = make_atee(impl, upstream(), calls.append)
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in tee:
            received.append(chunk)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == [RECORDING[:300]]
    assert closed == [True]
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"
    assert tee.summary()["id"] == impl.assemble(RECORDING)["id"]


async def test_atee_consumer_stops_early(impl: ModuleType) -> None:
    calls: list[dict[str, Any]] = []
    async with make_atee(impl, agen(pieces(RECORDING)), calls.append) as tee:
        async for _ in tee:
            break
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"


async def test_atee_upstream_failure(impl: ModuleType) -> None:
    async def upstream() -> AsyncIterator[bytes]:
        yield RECORDING[:100]
        raise ConnectionResetError("reset")

    calls: list[dict[str, Any]] = []
    with pytest.raises(ConnectionResetError):
        async for _ in make_atee(impl, upstream(), calls.append):
            pass
    assert len(calls) == 1 and calls[0]["status"] == "incomplete"


async def test_atee_in_starlette_streaming_response() -> None:
    # The README's "In your own proxy" shape: a StreamingResponse over atee.
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    rows: list[dict[str, Any]] = []

    async def proxy(request: Request) -> StreamingResponse:
        forwarded = deltafold.atee(agen(pieces(with_bad_chunk(RECORDING))), on_done=rows.append)
        return StreamingResponse(forwarded, media_type="text/event-stream")

    app = Starlette(routes=[Route("/v1/chat/completions", proxy, methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        response = await client.post("/v1/chat/completions", json={})
    assert response.content == with_bad_chunk(RECORDING)
    assert len(rows) == 1 and rows[0]["status"] == "complete"
    assert (
        rows[0]["usage"]["total_tokens"] == deltafold.assemble(RECORDING)["usage"]["total_tokens"]
    )


async def test_atee_in_aiohttp_stream_response() -> None:
    # The README's aiohttp shape: StreamResponse written from an atee in `async with`.
    from aiohttp import ClientSession, web
    from aiohttp.test_utils import TestServer

    rows: list[dict[str, Any]] = []
    sent = with_bad_chunk(RECORDING)

    async def proxy(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        async with deltafold.atee(agen(pieces(sent)), on_done=rows.append) as forwarded:
            async for chunk in forwarded:
                await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", proxy)
    async with TestServer(app) as server, ClientSession() as session:
        async with session.post(str(server.make_url("/v1/chat/completions"))) as reply:
            assert await reply.read() == sent
    assert len(rows) == 1 and rows[0]["status"] == "complete"
    assert rows[0]["id"] == deltafold.assemble(RECORDING)["id"]


@pytest.mark.parametrize(
    ("name", "folder", "stem"),
    [
        ("anthropic", "anthropic-recorded", "anthropic-sdk__tool_use_response"),
        ("anthropic", "anthropic-recorded", "anthropic-sdk__basic_response"),
        ("anthropic", "anthropic-recorded", "anthropic__anthropic-text"),
        ("responses", "responses-recorded", "azure__azure-tool-call.1"),
        ("gemini", "gemini-recorded", "google__google-tool-call-gemini3"),
    ],
)
def test_every_format_auto_detected_beside_the_byte_path(
    impl: ModuleType, name: str, folder: str, stem: str
) -> None:
    try:
        impl.StreamParser(format=name)
    except ValueError:
        pytest.skip(reason=f"format {name} not in this build")
    data = fixture_file(folder, f"{stem}.sse").read_bytes()
    calls: list[dict[str, Any]] = []
    tee = make_tee(impl, pieces(data), calls.append)
    assert b"".join(tee) == data
    # Under auto the tee decides the format itself, and folds as the fixed format does.
    assert tee.format == name
    assert tee.result == impl.assemble(data, format=name, on_error="skip")
    assert len(calls) == 1 and calls[0] == impl.summarize(data, format=name, on_error="skip")
    assert calls[0]["format"] == name
