"""Turns the kinds of input users have into a sequence of byte reads."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

Source = bytes | bytearray | memoryview | str | Any

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


def whole(source: Source) -> bytes | None:
    """The source as one bytes object, if it already is one in memory."""
    if isinstance(source, (bytes, bytearray, memoryview, str)):
        return _as_bytes(source)
    return None


def iter_reads(source: Source) -> Iterator[bytes]:
    """Reads from bytes, str, a file object (binary or text) or an iterable of pieces."""
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


async def aiter_reads(source: AsyncIterable[Any] | Source) -> AsyncIterator[bytes]:
    """Like :func:`iter_reads`, also accepting an async iterable of pieces."""
    if isinstance(source, AsyncIterable):
        async for piece in source:
            yield _as_bytes(piece)
        return
    for piece in iter_reads(source):
        yield piece
