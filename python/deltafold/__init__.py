"""deltafold: fold a streamed LLM response back into the whole message.

Feed the raw Server-Sent-Event bytes of a streamed call (OpenAI Chat Completions, Anthropic
Messages; ``format="auto"`` tells them apart) and get what the non-streaming call would have
returned (a ``chat.completion`` or ``message`` dict), plus per-delta events if you want them,
and a summary in one vocabulary for every format (:func:`summarize`). The work is done by a
Rust core; :mod:`deltafold.reference` is a pure-Python twin with the same names and results.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from deltafold import _core
from deltafold._core import (
    Event,
    EventStreamDecoder,
    EventStreamMessage,
    SseDecoder,
    SseEvent,
    StreamParser,
    __version__,
)
from deltafold._options import EventOptions, Format, OnError, Options
from deltafold._render import to_sse
from deltafold._render_formats import to_event_stream
from deltafold._replay import FilePath, replay_with
from deltafold._source import AsyncSource, Source, aiter_slices, iter_reads, iter_slices, whole
from deltafold._tee import AsyncTee, Tee, atee, tee
from deltafold.errors import (
    ChunkDecodeError,
    DeltafoldError,
    IncompleteStreamError,
    LimitExceededError,
    Problem,
    StreamAPIError,
    StreamDecodeError,
    UnsupportedFormatError,
)

if TYPE_CHECKING:
    from types import ModuleType

    from typing_extensions import Unpack

__all__ = [
    "DEFAULTS",
    "AsyncSource",
    "AsyncTee",
    "ChunkDecodeError",
    "DeltafoldError",
    "Event",
    "EventOptions",
    "EventStreamDecoder",
    "EventStreamMessage",
    "Format",
    "IncompleteStreamError",
    "LimitExceededError",
    "OnError",
    "Options",
    "Problem",
    "Source",
    "SseDecoder",
    "SseEvent",
    "StreamAPIError",
    "StreamDecodeError",
    "StreamParser",
    "Tee",
    "UnsupportedFormatError",
    "__version__",
    "aiter_completions",
    "aiter_events",
    "assemble",
    "assemble_json",
    "atee",
    "iter_completions",
    "iter_events",
    "replay",
    "summarize",
    "tee",
    "to_event_stream",
    "to_sse",
]

#: The default of every keyword option (read-only), as the native core defines them.
DEFAULTS = _core.DEFAULTS


def assemble(source: Source, **options: Unpack[Options]) -> dict[str, Any]:
    """Assemble a whole stream into the ``chat.completion`` dict.

    ``source`` may be bytes, str, a file object or an iterable of bytes. Options are those of
    :class:`StreamParser` (``on_error``, ``allow_truncated`` and the ``max_*`` limits).
    """
    data = whole(source)
    if data is not None:
        return _core.assemble(data, **options)
    parser = StreamParser(**options)
    for piece in iter_reads(source):
        parser.feed(piece)
    return parser.finish()


def assemble_json(source: Source, **options: Unpack[Options]) -> bytes:
    """:func:`assemble`, as compact JSON bytes (``orjson.dumps`` of it, key order kept),
    written by the core without building a Python object per field."""
    data = whole(source)
    if data is not None:
        return _core.assemble_json(data, **options)
    parser = StreamParser(**options)
    for piece in iter_reads(source):
        parser.feed(piece)
    return parser.finish_json()


def summarize(source: Source, **options: Unpack[Options]) -> dict[str, Any]:
    """Fold a stream and return its summary (format, id, model, status, finish_reason,
    stop_reason, usage, text, reasoning, tool_calls, error).

    An error raised by the stream does not propagate: the summary as it stood is returned, its
    ``status`` saying how the stream ended, so a gateway always gets a row to bill. Bad
    arguments (an unknown option value) still raise.
    """
    parser = StreamParser(**options)
    try:
        for piece in iter_reads(source):
            parser.feed(piece)
        parser.finish()
    except DeltafoldError:
        pass
    return parser.summary()


def replay(
    paths: FilePath | Iterable[FilePath], **options: Unpack[Options]
) -> Iterator[dict[str, Any]]:
    """Replay an archive: one row per stream of every capture file, in order.

    A row is ``{"file": ..., "stream": N, **summary}``: the file as given, the stream's
    position in it (from 0), and what :func:`summarize` returns for that stream alone.
    A file that starts with an AWS event-stream prelude is read as a Bedrock binary capture.
    """
    return replay_with(sys.modules[__name__], paths, **options)


def iter_events(source: Source, **options: Unpack[EventOptions]) -> Iterator[Event]:
    """Yield the per-delta events of a stream, ending with ``done`` (carrying the completion).

    Events that came before a bad chunk are yielded before its error is raised.
    """
    parser = StreamParser(events=True, **options)
    for piece in iter_slices(source):
        yield from parser.feed(piece)
    yield from parser.finish_events()


async def aiter_events(
    source: AsyncSource, **options: Unpack[EventOptions]
) -> AsyncIterator[Event]:
    """Async twin of :func:`iter_events` (e.g. over httpx's ``aiter_bytes()``)."""
    parser = StreamParser(events=True, **options)
    async for piece in aiter_slices(source):
        for event in parser.feed(piece):
            yield event
    for event in parser.finish_events():
        yield event


def iter_completions(source: Source, **options: Unpack[Options]) -> Iterator[dict[str, Any]]:
    """Yield one completion per stream of a capture holding many streams back to back.

    Lazy for any source: input held in memory is fed in slices, and each completion is
    yielded once its stream ends; completions that came before a bad chunk are yielded
    before its error is raised.
    """
    parser = _core.CaptureParser(**options)
    for piece in iter_slices(source):
        yield from parser.feed(piece)
    yield from parser.finish()


async def aiter_completions(
    source: AsyncSource, **options: Unpack[Options]
) -> AsyncIterator[dict[str, Any]]:
    """Async twin of :func:`iter_completions`."""
    parser = _core.CaptureParser(**options)
    async for piece in aiter_slices(source):
        for completion in parser.feed(piece):
            yield completion
    for completion in parser.finish():
        yield completion


def __getattr__(name: str) -> ModuleType:
    # The reference and the hypothesis strategies are imported on first use: most users
    # need neither, and testing needs hypothesis installed.
    if name in ("reference", "testing"):
        import importlib

        return importlib.import_module(f"deltafold.{name}")
    raise AttributeError(f"module 'deltafold' has no attribute {name!r}")
