"""AWS event-stream framing (``EventStreamDecoder``), both twins: botocore's
``EventStreamBuffer`` is the oracle for what a frame decodes to; corrupted bytes, impossible
lengths, limits and truncation are typed errors at the message's offset, never a wrong result."""

from __future__ import annotations

import itertools
import random
import struct
import zlib
from types import ModuleType
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st

from tests.eventstream_encoder import (
    BEDROCK_FIXTURES,
    bedrock_stream,
    encode_message,
    event_message,
)

ALL_TYPES: list[tuple[str, int, Any]] = [
    ("true", 0, True),
    ("false", 1, False),
    ("byte", 2, -128),
    ("short", 3, -32768),
    ("int", 4, 2**31 - 1),
    ("long", 5, -(2**63)),
    ("bytes", 6, b"\x00\xff\x10"),
    ("string", 7, "h\u00e9llo \u2603"),
    ("timestamp", 8, 1_700_000_000_123),
    ("uuid", 9, bytes(range(16))),
]


def decode_all(impl: ModuleType, data: bytes, size: int, **options: Any) -> list[Any]:
    """Messages as (headers, payload), and errors as (class name, offset), in stream order."""
    decoder = impl.EventStreamDecoder(**options)
    out: list[Any] = []

    def call(f: Any, *args: Any) -> None:
        try:
            out.extend((m.headers, m.payload) for m in f(*args))
        except impl.StreamDecodeError as error:
            out.append((type(error).__name__, error.byte_offset))

    for at in range(0, len(data), size):
        call(decoder.feed, data[at : at + size])
    # Errors deferred behind messages come out of the next calls.
    for _ in range(4):
        call(decoder.feed, b"")
    for _ in range(3):
        call(decoder.finish)
    return out


def botocore_decode(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(m.headers, m.payload) for m in buffer]


def sample_stream() -> bytes:
    return (
        encode_message(ALL_TYPES, b'{"x": 1}')
        + encode_message([], b"")
        + event_message("messageStart", {"role": "assistant"})
        + encode_message([("only", 7, "")], b"\x00" * 300)
    )


def test_every_header_type_decodes_as_botocore_does(impl: ModuleType) -> None:
    data = sample_stream()
    expected = botocore_decode(data)
    assert expected[0][0]["timestamp"] == 1_700_000_000_123  # the oracle read what we wrote
    assert expected[0][0]["uuid"] == bytes(range(16))
    got = decode_all(impl, data, len(data))
    assert got == expected
    # Same types too: bool is not int, bytes not str.
    for (headers, _), (oracle, _) in zip(got, expected, strict=True):
        assert [type(v) for v in headers.values()] == [type(v) for v in oracle.values()]


@pytest.mark.parametrize("path", BEDROCK_FIXTURES, ids=lambda p: p.stem)
def test_recorded_bedrock_frames_decode_as_botocore_does(impl: ModuleType, path: Any) -> None:
    data = bedrock_stream(path)
    expected = botocore_decode(data)
    assert len(expected) == len(path.read_text().splitlines())
    for size in range(1, 65):
        assert decode_all(impl, data, size) == expected, size


def test_split_at_every_read_size(impl: ModuleType) -> None:
    data = sample_stream()
    whole = decode_all(impl, data, len(data))
    assert len(whole) == 4
    for size in range(1, 65):
        assert decode_all(impl, data, size) == whole, size


def test_a_corrupted_byte_anywhere_is_an_error_at_its_message(impl: ModuleType) -> None:
    first = event_message("messageStart", {"role": "assistant"})
    second = encode_message(ALL_TYPES, b'{"payload": "text"}')
    third = event_message("messageStop", {"stopReason": "end_turn"})
    data = first + second + third
    good_first = botocore_decode(first)
    rng = random.Random(12)
    for at in range(len(second)):
        bad = bytearray(data)
        bad[len(first) + at] ^= 1 << rng.randrange(8)
        for size in (1, 7, len(bad)):
            got = decode_all(impl, bytes(bad), size)
            assert got[0] == good_first[0], at
            # The corrupted message never decodes: an error at its first byte, and nothing
            # after it but what the framing can still vouch for.
            assert got[1] == ("StreamDecodeError", len(first)), (at, size, got)
            for item in got[2:]:
                assert item == botocore_decode(third)[0] or item[0] == "StreamDecodeError", got


def test_message_crc_error_skips_only_that_message(impl: ModuleType) -> None:
    first = event_message("a", {"n": 1})
    bad = bytearray(event_message("b", {"n": 2}))
    bad[-1] ^= 0xFF
    third = event_message("c", {"n": 3})
    got = decode_all(impl, first + bytes(bad) + third, 5)
    assert got == [
        botocore_decode(first)[0],
        ("StreamDecodeError", len(first)),
        botocore_decode(third)[0],
    ]


def test_bad_prelude_stops_decoding_for_good(impl: ModuleType) -> None:
    first = event_message("a", {"n": 1})
    bad = bytearray(event_message("b", {"n": 2}))
    bad[1] ^= 0x10  # the total length: the prelude CRC no longer matches
    got = decode_all(impl, first + bytes(bad) + first, 1000)
    assert got == [botocore_decode(first)[0], ("StreamDecodeError", len(first))]
    decoder = impl.EventStreamDecoder()
    with pytest.raises(impl.StreamDecodeError, match="prelude CRC"):
        decoder.feed(bytes(bad))
    assert decoder.feed(first) == []
    assert decoder.finish() == []


def prelude(total: int, headers: int) -> bytes:
    head = struct.pack("!II", total, headers)
    return head + struct.pack("!I", zlib.crc32(head))


@pytest.mark.parametrize(("total", "headers"), [(0, 0), (15, 0), (16, 1), (100, 85)])
def test_impossible_lengths(impl: ModuleType, total: int, headers: int) -> None:
    decoder = impl.EventStreamDecoder()
    with pytest.raises(impl.StreamDecodeError, match="impossible lengths") as caught:
        decoder.feed(b"\x00" * 0 + prelude(total, headers) + b"\x00" * 200)
    assert caught.value.byte_offset == 0
    assert type(caught.value) is impl.StreamDecodeError


def test_limit_applies_before_buffering_and_at_the_edge(impl: ModuleType) -> None:
    message = event_message("big", {"x": "y" * 100})
    after = event_message("small", {})
    for limit, fits in ((len(message), True), (len(message) - 1, False)):
        got = decode_all(impl, message + after, 3, max_message_bytes=limit)
        if fits:
            assert got == botocore_decode(message + after)
        else:
            assert got == [("LimitExceededError", 0), botocore_decode(after)[0]]
    decoder = impl.EventStreamDecoder(max_message_bytes=1000)
    # A prelude announcing 4 GiB is refused from its 12 bytes alone.
    with pytest.raises(impl.LimitExceededError) as caught:
        decoder.feed(prelude(2**32 - 1, 0))
    assert caught.value.limit == "max_message_bytes"
    assert caught.value.maximum == 1000
    assert caught.value.byte_offset == 0


def test_truncated_frame_raises_at_finish(impl: ModuleType) -> None:
    message = event_message("a", {"n": 1})
    for cut in range(1, len(message)):
        decoder = impl.EventStreamDecoder()
        assert len(decoder.feed(message + message[:cut])) == 1
        with pytest.raises(impl.StreamDecodeError, match="ended inside") as caught:
            decoder.finish()
        assert caught.value.byte_offset == len(message)
        assert caught.value.event_index == 1


def test_malformed_headers_with_a_good_crc(impl: ModuleType) -> None:
    def raw(block: bytes) -> bytes:
        total = 16 + len(block)
        head = prelude(total, len(block))
        body = head + block
        return body + struct.pack("!I", zlib.crc32(body))

    cases = {
        b"\x01a\x00\x01b\x0a": ("unknown type 10", 12 + 3),
        b"\x01a\x07\x00\x05ab": ("runs past", 12),
        b"\x05ab": ("runs past", 12),
        b"\x01a\x00\x01a\x01": ("repeated", 12 + 3),
        b"\x01\xff\x00": ("not UTF-8", 12),
        b"\x01a\x07\x00\x01\xff": ("not UTF-8", 12),
    }
    for block, (text, offset) in cases.items():
        decoder = impl.EventStreamDecoder()
        with pytest.raises(impl.StreamDecodeError, match=text) as caught:
            decoder.feed(raw(block) + event_message("a", {}))
        assert caught.value.byte_offset == offset, block
        # The message is skipped; the next one decodes.
        assert [m.headers[":event-type"] for m in decoder.feed(b"")] == ["a"]


def test_messages_are_immutable_values(impl: ModuleType) -> None:
    (message,) = impl.EventStreamDecoder().feed(event_message("a", {"n": 1}))
    headers = message.headers
    headers["x"] = 1
    assert "x" not in message.headers
    with pytest.raises(AttributeError):
        message.payload = b""  # type: ignore[misc]
    (again,) = impl.EventStreamDecoder().feed(event_message("a", {"n": 1}))
    assert message == again
    assert "EventStreamMessage(" in repr(message)


def test_wrong_arguments(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="max_message_bytes"):
        impl.EventStreamDecoder(max_message_bytes=0)
    with pytest.raises(TypeError):
        impl.EventStreamDecoder(max_message_bytes="5")
    with pytest.raises(TypeError):
        impl.EventStreamDecoder().feed("text")


header_values = st.one_of(
    st.tuples(st.just(0), st.just(True)),
    st.tuples(st.just(1), st.just(False)),
    st.tuples(st.just(2), st.integers(-128, 127)),
    st.tuples(st.just(3), st.integers(-(2**15), 2**15 - 1)),
    st.tuples(st.just(4), st.integers(-(2**31), 2**31 - 1)),
    st.tuples(st.just(5), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(6), st.binary(max_size=40)),
    st.tuples(st.just(7), st.text(max_size=20)),
    st.tuples(st.just(8), st.integers(-(2**63), 2**63 - 1)),
    st.tuples(st.just(9), st.binary(min_size=16, max_size=16)),
)
messages = st.lists(
    st.tuples(
        st.dictionaries(
            st.text(min_size=0, max_size=8).filter(lambda n: len(n.encode()) < 256),
            header_values,
            max_size=5,
        ),
        st.binary(max_size=200),
    ),
    max_size=6,
)


@given(messages=messages, cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_any_split_of_any_messages_matches_botocore(
    impl: ModuleType, messages: list[tuple[dict[str, tuple[int, Any]], bytes]], cuts: list[int]
) -> None:
    data = b"".join(
        encode_message([(name, kind, value) for name, (kind, value) in headers.items()], payload)
        for headers, payload in messages
    )
    decoder = impl.EventStreamDecoder()
    got = []
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        got.extend((m.headers, m.payload) for m in decoder.feed(data[start:end]))
    got.extend((m.headers, m.payload) for m in decoder.finish())
    assert got == botocore_decode(data)
