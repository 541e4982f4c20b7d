"""Threads: independent parsers in parallel, and one parser shared by many threads.

One parser per thread must give exactly the single-threaded result. A parser shared by threads
that each feed whole events must either serialise the calls (the native StreamParser holds the
GIL for a whole feed) or refuse a call with RuntimeError (PyO3's "Already borrowed"); it must
never interleave two calls inside its state. That is checked by giving every thread its own
choice index: whatever the interleaving, choice ``t`` must hold exactly the pieces thread ``t``
fed successfully, in order, and every call's events must describe that call's own event.

The interpreter switches threads every few microseconds here (``sys.setswitchinterval``) so a
pure-Python parser is preempted in the middle of its work.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import deltafold.errors as errors
import pytest
from support import assert_same_completion, choice, chunk, completion, delta, sse

THREADS = 8


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _run_threads(target: Callable[[int], None], count: int = THREADS) -> None:
    """Start ``count`` threads together; re-raise the first exception any of them hit."""
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def body(number: int) -> None:
        try:
            start.wait()
            target(number)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    if failures:
        raise failures[0]


# -- one parser per thread -------------------------------------------------------------------------


def _thread_stream(number: int) -> tuple[bytes, dict[str, Any]]:
    """A stream unique to thread ``number`` and the completion it must fold into."""
    pieces = [f"t{number}-{k} é😀 " for k in range(40)]
    arguments = json.dumps({"thread": number, "text": "x" * number})
    chunks = [chunk(delta(role="assistant", content=""))]
    chunks += [chunk(delta(content=piece)) for piece in pieces]
    call = {"index": 0, "id": f"call_{number}", "type": "function"}
    chunks.append(chunk(delta(tool_calls=[{**call, "function": {"name": "f", "arguments": ""}}])))
    chunks += [
        chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": arguments[i : i + 3]}}]))
        for i in range(0, len(arguments), 3)
    ]
    usage = {"prompt_tokens": number, "completion_tokens": 40, "total_tokens": number + 40}
    chunks += [chunk(delta(finish="tool_calls")), chunk(usage=usage)]
    tool_call = {
        "id": f"call_{number}",
        "type": "function",
        "function": {"name": "f", "arguments": arguments},
    }
    expected = completion(
        choice(finish="tool_calls", content="".join(pieces), tool_calls=[tool_call]),
        usage=usage,
    )
    return sse(*chunks), expected


def test_one_parser_per_thread(impl: ModuleType) -> None:
    streams = [_thread_stream(n) for n in range(THREADS)]

    def work(number: int) -> None:
        data, expected = streams[number]
        for iteration in range(12):
            size = 1 + (iteration * 37 + number * 11) % 300
            parser = impl.StreamParser(events=iteration % 2 == 1)
            for at in range(0, len(data), size):
                parser.feed(data[at : at + size])
            assert_same_completion(parser.finish(), expected)

    _run_threads(work)


def test_parsers_outlive_the_threads_that_made_them(impl: ModuleType) -> None:
    # The native extension takes its small blocks from per-thread heaps (rust/heap.rs): here
    # each parser is made and half fed by a thread that exits before the main thread finishes
    # and drops it, and parsers the main thread made are finished and dropped by new threads.
    streams = [_thread_stream(n) for n in range(THREADS)]
    made: list[list[tuple[Any, int]]] = [[] for _ in range(THREADS)]

    def start(number: int) -> None:
        data, _ = streams[number]
        for iteration in range(20):
            cut = (iteration * 53 + number) % len(data)
            parser = impl.StreamParser(events=iteration % 2 == 1)
            parser.feed(data[:cut])
            made[number].append((parser, cut))

    def finish(number: int) -> None:
        data, expected = streams[number]
        while made[number]:
            parser, cut = made[number].pop()
            parser.feed(data[cut:])
            assert_same_completion(parser.finish(), expected)

    for _round in range(3):
        _run_threads(start)
        finish_here = list(range(0, THREADS, 2))
        for number in finish_here:
            finish(number)
        _run_threads(lambda number: finish(number) if number % 2 else None)
        assert made == [[] for _ in range(THREADS)]


def test_iter_events_per_thread(impl: ModuleType) -> None:
    streams = [_thread_stream(n) for n in range(THREADS)]

    def work(number: int) -> None:
        data, expected = streams[number]
        events = list(impl.iter_events([data[i : i + 64] for i in range(0, len(data), 64)]))
        assert events[-1].type == "done"
        assert_same_completion(events[-1].completion, expected)
        text = "".join(e.delta for e in events if e.type == "content.delta")
        assert text == expected["choices"][0]["message"]["content"]

    _run_threads(work)


def _large_stream(filler: str = "y") -> tuple[bytes, str]:
    """Over 1 MiB, so the native assemble() runs without the GIL."""
    pieces = [f"<{k:05d}>" + filler * 100 for k in range(9000)]
    chunks = [chunk(delta(role="assistant"))] + [chunk(delta(content=p)) for p in pieces]
    data = sse(*chunks, chunk(delta(finish="stop")))
    assert len(data) > 1 << 20
    return data, "".join(pieces)


def test_assemble_large_inputs_from_many_threads(impl: ModuleType) -> None:
    data, text = _large_stream()

    def work(number: int) -> None:
        result = impl.assemble(data)
        assert result["choices"][0]["message"]["content"] == text
        assert result["choices"][0]["finish_reason"] == "stop"

    _run_threads(work, count=4)


def test_assemble_of_a_bytearray_another_thread_rewrites(impl: ModuleType) -> None:
    # Large inputs are assembled without the GIL: the work must be done on one consistent copy
    # of a mutable buffer, never on memory another thread rewrites meanwhile. The other thread
    # swaps the whole buffer between two streams of the same length (each swap is one atomic
    # slice assignment), so the result must be exactly one of the two texts.
    first, first_text = _large_stream("y")
    second, second_text = _large_stream("z")
    assert len(first) == len(second)
    buffer = bytearray(first)
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            buffer[:] = second
            buffer[:] = first

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(4):
            result = impl.assemble(buffer)
            assert result["choices"][0]["message"]["content"] in (first_text, second_text)
    finally:
        stop.set()
        swapper.join()


# -- one parser shared by many threads -------------------------------------------------------------

EVENTS_PER_THREAD = 150


def _piece(number: int, k: int) -> str:
    return f"<{number}:{k}>"


def _event(number: int, k: int) -> bytes:
    body = {"choices": [{"index": number, "delta": {"content": _piece(number, k)}}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _hammer(parser: Any, on_event: Callable[[int, int, list[Any]], None]) -> list[list[int]]:
    """Every thread feeds its own whole events to ``parser``; returns, per thread, which of its
    events were accepted (a call refused with RuntimeError is retried once, then given up)."""
    accepted: list[list[int]] = [[] for _ in range(THREADS)]

    def work(number: int) -> None:
        for k in range(EVENTS_PER_THREAD):
            for _attempt in range(2):
                try:
                    result = parser.feed(_event(number, k))
                except RuntimeError:
                    continue  # refused: the call must have had no effect at all
                on_event(number, k, result)
                accepted[number].append(k)
                break

    _run_threads(work)
    return accepted


def _finish_all(parser: Any) -> dict[str, Any]:
    finishing = {"choices": [{"index": n, "finish_reason": "stop"} for n in range(THREADS)]}
    parser.feed(b"data: " + json.dumps(finishing).encode() + b"\n\ndata: [DONE]\n\n")
    result: dict[str, Any] = parser.finish()
    return result


def test_shared_parser_never_interleaves_calls(impl: ModuleType) -> None:
    parser = impl.StreamParser(events=True)
    seen_events: list[list[tuple[int, str, str]]] = [[] for _ in range(THREADS)]

    def on_event(number: int, k: int, events: list[Any]) -> None:
        # The events a call returns are those of the event it fed, and no other.
        seen_events[number].extend((e.choice_index, e.type, e.delta) for e in events)
        assert [(e.choice_index, e.type, e.delta) for e in events] == [
            (number, "content.delta", _piece(number, k))
        ]

    accepted = _hammer(parser, on_event)
    assert parser.problems == []
    result = _finish_all(parser)
    assert [c["index"] for c in result["choices"]] == list(range(THREADS))
    for number, item in enumerate(result["choices"]):
        # A choice none of whose content was accepted has content null.
        expected_text = "".join(_piece(number, k) for k in accepted[number]) or None
        assert item["message"]["content"] == expected_text
        assert item["finish_reason"] == "stop"
    # Every event of a call that succeeded was seen; refused calls added nothing.
    assert sum(len(v) for v in seen_events) == sum(len(v) for v in accepted)


def test_shared_parser_snapshots_are_consistent_while_others_feed(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    stop = threading.Event()
    torn: list[str] = []

    def watch() -> None:
        # A snapshot taken at any moment holds, per choice, whole pieces in feeding order.
        while not stop.is_set():
            try:
                snapshot = parser.snapshot()
            except RuntimeError:
                continue
            for item in snapshot["choices"]:
                number = item["index"]
                text = item["message"]["content"] or ""
                count = text.count("<")
                if text != "".join(_piece(number, k) for k in range(count)):
                    torn.append(text)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # Events fed in order and never refused make the pieces consecutive from 0.
        accepted = _hammer(parser, lambda number, k, events: None)
    finally:
        stop.set()
        watcher.join()
    assert torn == []
    if all(v == list(range(EVENTS_PER_THREAD)) for v in accepted):
        result = _finish_all(parser)
        for number, item in enumerate(result["choices"]):
            expected = "".join(_piece(number, k) for k in range(EVENTS_PER_THREAD))
            assert item["message"]["content"] == expected


def test_shared_sse_decoder_never_mixes_events(impl: ModuleType) -> None:
    decoder = impl.SseDecoder()
    accepted: list[int] = [0] * THREADS

    def work(number: int) -> None:
        for k in range(EVENTS_PER_THREAD):
            raw = f"event: t{number}\nid: {number}-{k}\ndata: {number}\ndata: {k}\n\n".encode()
            try:
                events = decoder.feed(raw)
            except RuntimeError:
                continue
            assert [(e.event, e.data, e.id) for e in events] == [
                (f"t{number}", f"{number}\n{k}", f"{number}-{k}")
            ]
            accepted[number] += 1

    _run_threads(work)
    assert decoder.finish() == []
    assert sum(accepted) > 0


def test_shared_parser_errors_stay_with_their_call(impl: ModuleType) -> None:
    # Threads feed a mix of good and bad events to one raise-mode parser: each bad event's
    # error surfaces in the call that fed it, with that event's own payload.
    parser = impl.StreamParser()
    accepted: list[list[int]] = [[] for _ in range(THREADS)]

    def work(number: int) -> None:
        for k in range(60):
            bad = k % 5 == 4
            data = b'data: {"bad": t' + str(number).encode() + b"}\n\n" if bad else None
            try:
                parser.feed(data or _event(number, k))
            except RuntimeError:
                continue
            except errors.ChunkDecodeError as error:
                assert bad, f"thread {number} got an error for a good event: {error!r}"
                assert error.doc == '{"bad": t' + str(number) + "}"
                continue
            assert not bad, f"thread {number}'s bad event {k} raised nothing"
            accepted[number].append(k)

    _run_threads(work)
    result = _finish_all(parser)
    for number, item in enumerate(result["choices"]):
        expected_text = "".join(_piece(number, k) for k in accepted[number]) or None
        assert item["message"]["content"] == expected_text
