"""Whole-source functions: a stream from bytes, text, a file or an iterable of reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from deltafold._options import EventOptions, OnError, Options
from deltafold._source import (
    AsyncSource,
    Source,
    aiter_reads,
    aiter_slices,
    iter_reads,
    iter_slices,
)
from deltafold.errors import DeltafoldError
from deltafold.reference.driver import StreamParser, json_bytes
from deltafold.reference.events import Event
from deltafold.reference.options import (
    DEFAULT_MAX_BUFFER_BYTES,
    DEFAULT_MAX_CHOICE_INDEX,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PROBLEMS,
    DEFAULT_MAX_TOOL_CALLS,
    Format,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

# Turning a source into reads is plumbing shared with the native facade, not merge logic.
_reads = iter_reads
_areads = aiter_reads
# The generators feed input held in memory in slices, so they yield as they go.
_slices = iter_slices
_aslices = aiter_slices


def assemble(
    source: Source,
    *,
    format: Format = "auto",
    on_error: OnError = "raise",
    allow_truncated: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
    max_choice_index: int = DEFAULT_MAX_CHOICE_INDEX,
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_problems: int = DEFAULT_MAX_PROBLEMS,
) -> dict[str, Any]:
    """Assemble a whole stream (bytes, str, a binary file or an iterable of reads)."""
    parser = StreamParser(
        format=format,
        on_error=on_error,
        allow_truncated=allow_truncated,
        max_line_bytes=max_line_bytes,
        max_buffer_bytes=max_buffer_bytes,
        max_choice_index=max_choice_index,
        max_tool_calls=max_tool_calls,
        max_depth=max_depth,
        max_problems=max_problems,
    )
    for block in _reads(source):
        parser.feed(block)
    return parser.finish()


def assemble_json(source: Source, **options: Unpack[Options]) -> bytes:
    """:func:`assemble`, as compact JSON bytes."""
    return json_bytes(assemble(source, **options))


def summarize(source: Source, **options: Any) -> dict[str, Any]:
    """The summary (docs/formats.md "The summary") of a whole stream, folded with ``options``.

    An error the stream raises is caught and the summary as it stood is returned (its
    ``status`` shows it): a gateway must always get a row to bill. Wrong options still raise.
    """
    parser = StreamParser(**options)
    try:
        for block in _reads(source):
            parser.feed(block)
        parser.finish()
    except DeltafoldError:
        pass
    return parser.summary()


def iter_events(source: Source, **options: Unpack[EventOptions]) -> Iterator[Event]:
    """The events of a stream as it is read, then the pending ``*.done`` events and ``done``.

    ``options`` are those of :class:`StreamParser` (``events`` is implied).
    """
    parser = StreamParser(events=True, **options)
    for block in _slices(source):
        yield from parser.feed(block)
    yield from parser.finish_events()


async def aiter_events(
    source: AsyncSource, **options: Unpack[EventOptions]
) -> AsyncIterator[Event]:
    """:func:`iter_events` over an async iterable of reads."""
    parser = StreamParser(events=True, **options)
    async for block in _aslices(source):
        for event in parser.feed(block):
            yield event
    for event in parser.finish_events():
        yield event


def iter_completions(source: Source, **options: Unpack[Options]) -> Iterator[dict[str, Any]]:
    """One result per stream of a capture holding many streams, each ended by its end marker
    (``[DONE]``, ``message_stop``).

    A last stream without ``[DONE]`` is yielded if it has any chunk (subject to the truncation
    rule). ``options`` are those of :func:`assemble`.
    """
    parser = StreamParser(**options)
    parser._capture = parser._settings.capture = True
    completed = parser._completed
    for block in _slices(source):
        parser.feed(block)
        if completed:
            yield from completed
            completed.clear()
    last = parser._end_capture()
    yield from completed
    completed.clear()
    if last is not None:
        yield last


async def aiter_completions(
    source: AsyncSource, **options: Unpack[Options]
) -> AsyncIterator[dict[str, Any]]:
    """:func:`iter_completions` over an async iterable of reads."""
    parser = StreamParser(**options)
    parser._capture = parser._settings.capture = True
    completed = parser._completed
    async for block in _aslices(source):
        parser.feed(block)
        for completion in completed:
            yield completion
        completed.clear()
    last = parser._end_capture()
    for completion in completed:
        yield completion
    if last is not None:
        yield last
