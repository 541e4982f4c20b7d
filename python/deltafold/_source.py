"""Turns the kinds of input users have into a sequence of byte reads."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Protocol, TypeAlias

#: One read: bytes, or text (encoded as UTF-8).
Piece: TypeAlias = "bytes | bytearray | memoryview | str"


class Readable(Protocol):
    """A file object opened in binary or text mode."""

    def read(self, size: int, /) -> bytes | str: ...


#: What the whole-stream functions read from: the input in memory, a file object, or an
#: iterable of reads (e.g. ``response.iter_bytes()``).
Source: TypeAlias = "Piece | Readable | Iterable[Piece]"
#: A :data:`Source` or an async iterable of reads (e.g. httpx's ``aiter_bytes()``).
AsyncSource: TypeAlias = "AsyncIterable[Piece] | Source"

#: Size of each read from a file object.
READ_SIZE = 1 << 16


def _as_bytes(piece: Any) -> bytes:
    if isinstance(piece, bytes):
        return piece
    if isinstance(piece, (bytearray, memoryview)):
        return bytes(piece)
    if isinstance(piece, str):
        return piece.encode("utf-8")
    raise TypeError(f"expected bytes or str pieces, got {type(piece).__name__}")


def _reject_response(source: Any) -> None:
    """An HTTP response object (httpx, requests, the openai SDK's raw response) is not its
    body; duck-typed so neither library is imported."""
    if isinstance(source, (bytes, bytearray, memoryview, str)):
        return
    if any(hasattr(source, name) for name in ("iter_bytes", "aiter_bytes", "iter_content")):
        raise TypeError(
            f"source is a response object ({type(source).__module__}.{type(source).__name__}), "
            "not its body: pass response.iter_bytes() (async: response.aiter_bytes()); "
            "for requests, response.iter_content(chunk_size=None)"
        )


def whole(source: Source) -> bytes | None:
    """The source as one bytes object, if it already is one in memory."""
    if isinstance(source, (bytes, bytearray, memoryview, str)):
        return _as_bytes(source)
    return None


def iter_reads(source: Source) -> Iterator[bytes]:
    """Reads from bytes, str, a file object (binary or text) or an iterable of pieces."""
    _reject_response(source)
    data = whole(source)
    if data is not None:
        yield data
        return
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            piece = read(READ_SIZE)
            if not piece:
                return
            yield _as_bytes(piece)
    if isinstance(source, Iterable):
        for piece in source:
            yield _as_bytes(piece)
        return
    raise TypeError(
        "source must be bytes, str, a file object or an iterable of bytes, "
        f"not {type(source).__name__}"
    )


async def aiter_reads(source: AsyncSource) -> AsyncIterator[bytes]:
    """Like :func:`iter_reads`, also accepting an async iterable of pieces."""
    _reject_response(source)
    if isinstance(source, AsyncIterable):
        async for piece in source:
            yield _as_bytes(piece)
        return
    for piece in iter_reads(source):
        yield piece


def iter_slices(source: Source) -> Iterator[bytes]:
    """Like :func:`iter_reads`, but input held in memory comes in :data:`READ_SIZE` slices, so
    a generator fed from it yields as it goes instead of building everything in one feed."""
    data = whole(source)
    if data is None:
        yield from iter_reads(source)
        return
    for start in range(0, len(data), READ_SIZE):
        yield data[start : start + READ_SIZE]


async def aiter_slices(source: AsyncSource) -> AsyncIterator[bytes]:
    """:func:`iter_slices` also accepting an async iterable of pieces."""
    if isinstance(source, AsyncIterable):
        async for piece in aiter_reads(source):
            yield piece
        return
    for piece in iter_slices(source):
        yield piece
