"""Events cut by the end of a read: the native framer holds the start of such an event and
completes it with the next read (its data line's end found once, the event dispatched without
a pass of the line loop). Both twins, every cut, against one read of the whole stream."""

from __future__ import annotations

import random
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest

# Responses' and Gemini's shapes, with LF, CRLF and CR-only line ends; `event:` with and
# without a value and without its space; comments, `id` and a second data line inside an event.
STREAMS = {
    "responses_lf": (
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","delta":"a"}\n\n'
        b"event: response.output_text.delta\n"
        b'data: {"type":"response.output_text.delta","delta":"b"}\n\n'
        b"event: response.output_text.done\n"
        b'data: {"type":"response.output_text.done","text":"ab"}\n\n'
    ),
    "responses_crlf": (
        b'event: response.output_text.delta\r\ndata: {"delta":"a"}\r\n\r\n'
        b'event: response.output_text.delta\r\ndata: {"delta":"b"}\r\n\r\n'
    ),
    "gemini_crlf": (
        b'data: {"candidates":[{"content":{"parts":[{"text":"one"}]}}]}\r\n\r\n'
        b'data: {"candidates":[{"content":{"parts":[{"text":"two"}]}}]}\r\n\r\n'
    ),
    "cr_only": b'event: t\rdata: {"a":1}\r\rdata: {"a":2}\r\r',
    "event_lines": (
        b"event:\ndata: no value\n\nevent\ndata: no colon\n\nevent:t\ndata: no space\n\n"
        b"event: t\ndata: repeated\n\nevent:  t\ndata: two spaces\n\n"
    ),
    "comments_and_fields": (
        b": keep-alive\ndata: 1\n\nevent: t\n: inside\ndata: 2\n\nid: 7\ndata: 3\ndata: 4\n\n"
        b"event: t\ndata: 5\n: after data\n\n"
    ),
}


def _events(impl: ModuleType, reads: list[bytes], **options: Any) -> list[Any]:
    decoder = impl.SseDecoder(**options)
    out: list[Any] = []
    try:
        for read in reads:
            out.extend((e.event, e.data, e.id) for e in decoder.feed(read))
        out.extend((e.event, e.data, e.id) for e in decoder.finish())
    except deltafold.errors.DeltafoldError as error:
        # The twins word this error differently; its class and position are the contract.
        out.append((type(error).__name__, error.byte_offset, error.event_index))
    return out


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_cut_gives_the_events_of_one_read(name: str) -> None:
    stream = STREAMS[name]
    expected = _events(deltafold.reference, [stream])
    assert expected == _events(deltafold, [stream])
    for cut in range(len(stream) + 1):
        reads = [stream[:cut], stream[cut:]]
        for impl in (deltafold, deltafold.reference):
            assert _events(impl, reads) == expected, (impl.__name__, cut)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_events_across_many_reads(name: str) -> None:
    # Three and more reads: a held tail grown by a read without a line end, then completed.
    stream = STREAMS[name]
    expected = _events(deltafold.reference, [stream])
    rng = random.Random(name)
    for _ in range(200):
        cuts = sorted(rng.sample(range(len(stream) + 1), rng.randint(2, 6)))
        reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert _events(deltafold, reads) == expected, reads


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_the_line_limit_at_its_edge_at_every_cut(name: str) -> None:
    # The longest line exactly at the limit, and one byte over it: the same events and the same
    # error (its position included) from both twins, wherever the read is cut.
    stream = STREAMS[name]
    lines = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    longest = max(len(line) for line in lines)
    for limit in (longest, longest - 1):
        expected = _events(deltafold.reference, [stream], max_line_bytes=limit)
        for cut in range(len(stream) + 1):
            reads = [stream[:cut], stream[cut:]]
            assert _events(deltafold, reads, max_line_bytes=limit) == expected, (limit, cut)


def test_a_parser_reports_a_bad_event_cut_across_reads_at_its_position() -> None:
    # The cut event is dispatched from the held tail: its payload's position counts from the
    # stream's start, as for an event inside one read.
    good = b'event: response.created\ndata: {"type":"response.created","response":{"id":"r"}}\n\n'
    bad = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",\n\n'
    stream = good + bad
    for cut in range(len(good), len(stream) + 1):
        found = []
        for impl in (deltafold, deltafold.reference):
            parser = impl.StreamParser(format="responses")
            with pytest.raises(deltafold.errors.DeltafoldError) as caught:
                parser.feed(stream[:cut])
                parser.feed(stream[cut:])
                parser.finish()
            found.append(
                (type(caught.value).__name__, caught.value.byte_offset, caught.value.event_index)
            )
        assert found[0] == found[1], cut


def _line_ends(stream: bytes) -> list[int]:
    """Where each line's terminator ends (after a CRLF's LF), and where a CR or LF starts."""
    ends = set()
    for at, byte in enumerate(stream):
        if byte in b"\r\n":
            ends.update((at, at + 1))
    return sorted(ends)


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_a_held_tail_completed_by_a_read_ending_at_a_line_end(name: str) -> None:
    # The first read ends anywhere (a tail is held, often inside a data value); the second
    # ends just before, on, or one byte after a line end (the data line's end, the blank
    # line's, a CR whose LF opens the third read); the third brings the rest.
    stream = STREAMS[name]
    expected = _events(deltafold.reference, [stream])
    seconds = sorted({e + d for e in _line_ends(stream) for d in (-1, 0, 1)} - {-1})
    for first in range(1, len(stream)):
        for second in seconds:
            if not first < second < len(stream):
                continue
            reads = [stream[:first], stream[first:second], stream[second:]]
            for impl in (deltafold, deltafold.reference):
                assert _events(impl, reads) == expected, (impl.__name__, first, second)
