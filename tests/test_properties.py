"""Property tests: generated completions survive rendering, cutting and re-assembly.

The expected value is the generated completion itself (deltafold.testing builds it
independently of any parser); to_sse renders it as a stream with LF, CRLF or CR line ends.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from deltafold.testing import completions, splits, streams
from hypothesis import given
from hypothesis import strategies as st
from support import assert_same_completion, feed_pieces, problem_tuples


@given(streams())
def test_assemble_round_trips_generated_completions(
    impl: ModuleType, pair: tuple[dict[str, Any], bytes]
) -> None:
    completion, data = pair
    assert_same_completion(impl.assemble(data), completion)


@given(completion=completions(), chunk_size=st.integers(1, 40))
def test_to_sse_is_exported_and_inverts_assemble(
    impl: ModuleType, completion: dict[str, Any], chunk_size: int
) -> None:
    data = impl.to_sse(completion, chunk_size=chunk_size)
    assert_same_completion(impl.assemble(data), completion)


@given(st.data())
def test_any_split_gives_the_generated_completion(impl: ModuleType, data: st.DataObject) -> None:
    completion, stream = data.draw(streams(), label="stream")
    pieces = data.draw(splits(stream), label="reads")
    assert b"".join(pieces) == stream
    assert_same_completion(feed_pieces(impl, pieces), completion)


@given(st.data())
def test_native_equals_reference_on_any_split(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    completion, stream = data.draw(streams(), label="stream")
    pieces = data.draw(splits(stream), label="reads")
    from_native = feed_pieces(native, pieces)
    from_reference = feed_pieces(reference, pieces)
    assert_same_completion(from_native, from_reference)
    assert_same_completion(from_native, completion)


@given(completion=completions())
def test_without_done_the_finish_reasons_end_the_stream(
    impl: ModuleType, completion: dict[str, Any]
) -> None:
    # Every generated choice has a finish_reason, so the stream is complete without [DONE].
    data = impl.to_sse(completion, with_done=False)
    assert_same_completion(impl.assemble(data), completion)


@given(completion=completions())
def test_without_usage_chunks_usage_is_null(impl: ModuleType, completion: dict[str, Any]) -> None:
    result = impl.assemble(impl.to_sse(completion, include_usage=False))
    assert result["usage"] is None
    assert_same_completion(result, {**completion, "usage": None})


# -- mutated streams: both implementations fail (or recover) identically -----------------------


def _mutate(data: bytes, draw: Any) -> bytes:
    """Damage the stream at one place: delete, insert or replace a few bytes."""
    position = draw(st.integers(0, len(data)), label="position")
    length = draw(st.integers(1, 4), label="length")
    junk = draw(
        st.one_of(
            st.sampled_from([b"{", b"}", b"]", b",", b'"', b"\\", b"\n", b"\r", b"\x00", b"\xff"]),
            st.binary(min_size=1, max_size=4),
        ),
        label="junk",
    )
    how = draw(st.sampled_from(["delete", "insert", "replace"]), label="how")
    if how == "delete":
        return data[:position] + data[position + length :]
    if how == "insert":
        return data[:position] + junk + data[position:]
    return data[:position] + junk + data[position + length :]


def _outcome(impl: ModuleType, pieces: list[bytes], on_error: str) -> Any:
    """What a parser makes of the reads: the result and problems, or the first error raised."""
    parser = impl.StreamParser(on_error=on_error)
    try:
        for piece in pieces:
            parser.feed(piece)
        result = parser.finish()
    except impl.DeltafoldError as error:
        return ("raised", type(error).__name__, error.byte_offset, error.event_index, error.partial)
    return ("finished", result, problem_tuples(parser.problems))


@given(st.data())
def test_native_equals_reference_on_mutated_streams(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    _, stream = data.draw(streams(), label="stream")
    damaged = _mutate(stream, data.draw)
    pieces = data.draw(splits(damaged), label="reads")
    for on_error in ("raise", "skip", "repair"):
        assert _outcome(native, pieces, on_error) == _outcome(reference, pieces, on_error), on_error
