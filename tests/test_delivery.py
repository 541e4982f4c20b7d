"""Nothing lost: what was produced before an error is always delivered.

The rule (docs/design.md, "Errors and limits"): a call that produced items (SSE events, events,
completions) before an error returns them, and the next call on the same object raises the
error; the input given to that next call is kept, not lost. A call that produced nothing raises
at once. The native core and the reference must agree call by call, so the error paths are
driven differentially on generated streams with generated read splits.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest
from deltafold import errors
from hypothesis import given
from hypothesis import strategies as st
from support import sse


def chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


Outcome = tuple[Any, ...]


def _call(outcomes: list[Outcome], run: Callable[[], Any], show: Callable[[Any], Any]) -> None:
    try:
        outcomes.append(("ok", show(run())))
    except errors.DeltafoldError as error:
        outcomes.append(("raised", type(error).__name__, error.byte_offset, error.event_index))


# -- SseDecoder ------------------------------------------------------------------------------------


def test_sse_decoder_delivers_events_before_an_over_long_line(impl: ModuleType) -> None:
    decoder = impl.SseDecoder(max_line_bytes=8)
    first = decoder.feed(b"data: a\n\nxxxxxxxxxxxx\n\ndata: b\n\n")
    assert [e.data for e in first] == ["a"]
    with pytest.raises(impl.LimitExceededError) as caught:
        decoder.feed(b"data: c\n\n")
    assert (caught.value.byte_offset, caught.value.event_index) == (9, 1)
    assert caught.value.limit == "max_line_bytes"
    # The rest of the first read and all of the second come next: nothing was lost.
    assert [e.data for e in decoder.feed(b"")] == ["b", "c"]
    assert decoder.finish() == []


def test_sse_decoder_raises_at_once_when_nothing_came_first(impl: ModuleType) -> None:
    decoder = impl.SseDecoder(max_line_bytes=8)
    with pytest.raises(impl.LimitExceededError):
        decoder.feed(b"xxxxxxxxxxxx\n\ndata: b\n\n")
    assert [e.data for e in decoder.finish()] == ["b"]


def _sse_outcomes(impl: ModuleType, reads: list[bytes], limit: int) -> list[Outcome]:
    decoder = impl.SseDecoder(max_line_bytes=limit)

    def show(events: list[Any]) -> list[tuple[str, str, str, int | None]]:
        return [(e.event, e.data, e.id, e.retry) for e in events]

    outcomes: list[Outcome] = []
    for read in reads:
        _call(outcomes, lambda read=read: decoder.feed(read), show)
    for _ in range(4):  # finish delivers, then raises, then finishes
        _call(outcomes, decoder.finish, show)
    return outcomes


SSE_PIECES = [
    b"data: a\n\n",
    b"data: bb\n",
    b"data: cccccccccccc\n\n",
    b"xxxxxxxxxxxxxx\n",
    b"id: 7\n",
    b"event: e\n",
    b"\n",
    b"\r\n",
    b"\r",
    b": comment\n",
    b"data:",
    b"yyyyyy",
]


@st.composite
def split_stream(draw: st.DrawFn, pieces: list[bytes]) -> list[bytes]:
    stream = b"".join(draw(st.lists(st.sampled_from(pieces), max_size=14)))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds)]


@given(reads=split_stream(SSE_PIECES), limit=st.integers(1, 16))
def test_sse_decoder_error_paths_native_equals_reference(reads: list[bytes], limit: int) -> None:
    assert _sse_outcomes(deltafold, reads, limit) == _sse_outcomes(
        deltafold.reference, reads, limit
    )


# -- StreamParser with events ---------------------------------------------------------------------


def test_events_before_a_bad_chunk_are_returned_then_it_is_raised(impl: ModuleType) -> None:
    parser = impl.StreamParser(events=True)
    events = parser.feed(sse(chunk("He"), chunk("llo"), "{oops}", chunk("!", "stop")))
    assert [(e.type, e.delta) for e in events] == [
        ("content.delta", "He"),
        ("content.delta", "llo"),
    ]
    with pytest.raises(impl.ChunkDecodeError) as caught:
        parser.feed(b": keep-alive\n\n")
    assert caught.value.event_index == 2
    assert caught.value.partial["choices"][0]["message"]["content"] == "Hello"
    assert [(e.type, e.delta) for e in parser.feed(b"")] == [
        ("content.delta", "!"),
        ("content.done", None),
    ]
    assert parser.finish()["choices"][0]["message"]["content"] == "Hello!"


def test_iter_events_yields_what_came_before_the_bad_chunk(impl: ModuleType) -> None:
    data = sse(chunk("He"), chunk("llo"), "{oops}", chunk("!", "stop"))
    seen: list[tuple[str, str | None]] = []
    with pytest.raises(impl.ChunkDecodeError) as caught:
        for event in impl.iter_events(data):
            seen.append((event.type, event.delta))
    assert seen == [("content.delta", "He"), ("content.delta", "llo")]
    assert caught.value.event_index == 2


async def _collect_async(impl: ModuleType, data: bytes) -> list[str | None]:
    async def reads() -> Any:
        yield data

    seen: list[str | None] = []
    with pytest.raises(impl.ChunkDecodeError):
        async for event in impl.aiter_events(reads()):
            seen.append(event.delta)
    return seen


def test_aiter_events_yields_what_came_before_the_bad_chunk(impl: ModuleType) -> None:
    import asyncio

    data = sse(chunk("He"), "{oops}", chunk("!", "stop"))
    assert asyncio.run(_collect_async(impl, data)) == ["He"]


def _parser_outcomes(impl: ModuleType, reads: list[bytes], on_error: str) -> list[Outcome]:
    parser = impl.StreamParser(events=True, on_error=on_error, max_line_bytes=64)

    def show(events: list[Any]) -> list[Any]:
        return [(e.type, e.delta, e.choice_index) for e in events if e.type != "done"] + [
            e.completion for e in events if e.type == "done"
        ]

    outcomes: list[Outcome] = []
    for read in reads:
        _call(outcomes, lambda read=read: parser.feed(read), show)
    for _ in range(4):
        _call(outcomes, parser.finish_events, show)
    outcomes.append(
        ("problems", [(p.kind, p.action, p.byte_offset, p.event_index) for p in parser.problems])
    )
    return outcomes


CHAT_PIECES = [
    sse(chunk("a"), done=False),
    sse(chunk("bc"), done=False),
    sse(chunk("d", "stop"), done=False),
    b"data: {oops}\n\n",
    b'data: {"error": {"message": "hiccup"}}\n\n',
    b"data: " + b"x" * 70 + b"\n\n",
    b"data: [DONE]\n\n",
    b": keep-alive\n\n",
]


@given(reads=split_stream(CHAT_PIECES), on_error=st.sampled_from(["raise", "skip", "repair"]))
def test_parser_error_paths_native_equals_reference(reads: list[bytes], on_error: str) -> None:
    assert _parser_outcomes(deltafold, reads, on_error) == _parser_outcomes(
        deltafold.reference, reads, on_error
    )


# -- captures -------------------------------------------------------------------------------------

ONE = sse(chunk("one", "stop"))
TWO = sse(chunk("two", "stop"))


def _contents(completions: list[dict[str, Any]]) -> list[str]:
    return [c["choices"][0]["message"]["content"] for c in completions]


def test_iter_completions_yields_what_came_before_the_bad_chunk(impl: ModuleType) -> None:
    data = ONE + TWO + b"data: {oops}\n\n" + ONE
    seen: list[dict[str, Any]] = []
    with pytest.raises(impl.ChunkDecodeError) as caught:
        for completion in impl.iter_completions(data):
            seen.append(completion)
    assert _contents(seen) == ["one", "two"]
    assert caught.value.event_index == 4


class _Capture:
    """The capture parser of each twin behind one interface (the reference has no class of
    its own: iter_completions drives a StreamParser in capture mode)."""

    def __init__(self, impl: ModuleType, **options: Any) -> None:
        if impl is deltafold:
            self._native = deltafold._core.CaptureParser(**options)
        else:
            self._native = None
            self._parser = deltafold.reference.StreamParser(**options)
            self._parser._capture = True

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        if self._native is not None:
            out: list[dict[str, Any]] = self._native.feed(data)
            return out
        self._parser.feed(data)
        done, self._parser._completed = self._parser._completed, []
        return done

    def finish(self) -> list[dict[str, Any]]:
        if self._native is not None:
            out: list[dict[str, Any]] = self._native.finish()
            return out
        last = self._parser._end_capture()
        done, self._parser._completed = self._parser._completed, []
        return done + ([last] if last is not None else [])


def test_capture_parser_delivers_completions_before_an_error(impl: ModuleType) -> None:
    capture = _Capture(impl)
    assert _contents(capture.feed(ONE + b"data: {oops}\n\n" + TWO)) == ["one"]
    with pytest.raises(impl.ChunkDecodeError):
        capture.feed(ONE)
    assert _contents(capture.feed(b"")) == ["two", "one"]
    assert capture.finish() == []


def _capture_outcomes(impl: ModuleType, reads: list[bytes], on_error: str) -> list[Outcome]:
    capture = _Capture(impl, on_error=on_error, max_line_bytes=64, allow_truncated=True)
    outcomes: list[Outcome] = []
    for read in reads:
        _call(outcomes, lambda read=read: capture.feed(read), list)
    _call(outcomes, capture.finish, list)
    return outcomes


@given(reads=split_stream(CHAT_PIECES), on_error=st.sampled_from(["raise", "skip"]))
def test_capture_error_paths_native_equals_reference(reads: list[bytes], on_error: str) -> None:
    assert _capture_outcomes(deltafold, reads, on_error) == _capture_outcomes(
        deltafold.reference, reads, on_error
    )


# -- laziness --------------------------------------------------------------------------------------


def _peak_bytes_until_first(items: Any) -> tuple[int, Any]:
    """Peak Python memory (tracemalloc) while the first item is produced."""
    import tracemalloc

    tracemalloc.start()
    try:
        first = next(items)
        return tracemalloc.get_traced_memory()[1], first
    finally:
        tracemalloc.stop()


def test_iter_completions_over_bytes_is_lazy(impl: ModuleType) -> None:
    # 20,000 streams held in memory: folding them all in one feed builds ~20 MB of completion
    # dicts before the first is yielded; fed in slices it is the few hundred of one slice.
    data = ONE * 20_000
    peak, first = _peak_bytes_until_first(impl.iter_completions(data))
    assert _contents([first]) == ["one"]
    assert peak < 4_000_000, peak
    assert sum(1 for _ in impl.iter_completions(data)) == 20_000


def test_iter_events_over_bytes_is_lazy(impl: ModuleType) -> None:
    data = sse(*[chunk("x") for _ in range(50_000)])
    peak, first = _peak_bytes_until_first(impl.iter_events(data))
    assert first.delta == "x"
    assert peak < 4_000_000, peak
