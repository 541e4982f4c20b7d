"""Archive replay: the summary of every stream of every capture file.

A gateway that keeps raw streams writes them back to back into capture files. Replaying an
archive gives one row per stream: ``{"file": ..., "stream": N, **summary}``, where ``stream``
is the stream's position in its file (from 0) and the summary is exactly what
:func:`deltafold.summarize` returns for that stream alone (an error stops the fold of its
stream, whose row shows the summary as it stood; the next stream is folded afresh).

Streams are split where the parser saw their end marker (``[DONE]``, ``message_stop``, ...),
so the split follows the format rules of the core, with ``format="auto"`` deciding each stream
on its own. One parser per stream, fed one SSE event at a time: the event is handed over
re-encoded, which keeps every field the folds read (type and data).

A file whose first 12 bytes are an AWS event-stream prelude with a valid CRC is a Bedrock
binary capture: it is decoded with the implementation's ``EventStreamDecoder``, and each message
is handed to the stream's parser as its own raw bytes (every header kept). A ConverseStream
stream ends where its parser is done (``messageStop``; an invoke stream's ``message_stop``), and
a ``metadata`` event right after that belongs to it (AWS sends the usage after the stop), as in
the parser's own capture rule. After a framing error nothing tells where messages start: the
rest of the file goes to the stream at hand, whose parser reports the error as ``summarize``
would.

Written once over an implementation module, so the native package and the pure-Python
reference replay through their own ``SseDecoder``, ``EventStreamDecoder`` and ``StreamParser``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

from deltafold._source import iter_reads
from deltafold.errors import DeltafoldError

FilePath = str | os.PathLike[str]


def _encode(event: Any) -> bytes:
    """One dispatched SSE event as event-stream bytes (data lines split on ``\\n``)."""
    lines = [] if event.event == "message" else [f"event: {event.event}"]
    lines.extend(f"data: {line}" for line in event.data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class _Stream:
    """One stream of a capture: its parser, and its summary frozen at its first error."""

    def __init__(self, impl: ModuleType, options: dict[str, Any]) -> None:
        self.parser = impl.StreamParser(**options)
        self.events = 0
        self.summary: dict[str, Any] | None = None

    def feed(self, data: bytes) -> None:
        self.events += 1
        try:
            self.parser.feed(data)
        except DeltafoldError:
            if self.summary is None:
                self.summary = self.parser.summary()

    def finish(self) -> dict[str, Any]:
        if self.summary is None:
            try:
                self.parser.finish()
            except DeltafoldError:
                pass
            self.summary = self.parser.summary()
        return self.summary


PRELUDE_BYTES = 12


def is_event_stream(head: bytes) -> bool:
    """Whether ``head`` starts with an event-stream prelude whose CRC32 checks."""
    if len(head) < PRELUDE_BYTES:
        return False
    return zlib.crc32(head[:8]) == int.from_bytes(head[8:12], "big")


def _binary_rows(
    impl: ModuleType, name: str, f: Any, options: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The rows of a Bedrock binary capture (see the module docstring)."""
    limit = {"max_message_bytes": options["max_line_bytes"]} if "max_line_bytes" in options else {}
    decoder = impl.EventStreamDecoder(**limit)
    # Bytes read but not yet handed to a stream: the messages the decoder has not completed.
    pending = bytearray()
    position = 0
    stream = _Stream(impl, options)
    broken = False

    def messages(piece: bytes, *, last: bool) -> Iterator[tuple[bytes, Any]]:
        """Each completed message as (its raw bytes, the decoded message)."""
        nonlocal broken
        pending.extend(piece)
        try:
            decoded = decoder.finish() if last else decoder.feed(piece)
        except DeltafoldError:
            broken = True
            return
        for message in decoded:
            size = int.from_bytes(pending[:4], "big")
            raw = bytes(pending[:size])
            del pending[:size]
            yield raw, message

    def rows(piece: bytes, *, last: bool) -> Iterator[dict[str, Any]]:
        nonlocal position, stream
        for raw, message in messages(piece, last=last):
            if stream.parser.done:
                if message.headers.get(":event-type") != "metadata":
                    yield {"file": name, "stream": position, **stream.finish()}
                    position += 1
                    stream = _Stream(impl, options)
                    stream.feed(raw)
                    continue
                stream.feed(raw)
                yield {"file": name, "stream": position, **stream.finish()}
                position += 1
                stream = _Stream(impl, options)
                continue
            stream.feed(raw)

    def rest(data: bytes) -> Iterator[dict[str, Any]]:
        """After a framing error: the bytes go to the stream at hand (a new one if it ended)."""
        nonlocal position, stream
        if stream.parser.done:
            yield {"file": name, "stream": position, **stream.finish()}
            position += 1
            stream = _Stream(impl, options)
        if data:
            stream.feed(data)

    for piece in iter_reads(f):
        if broken:
            yield from rest(piece)
            continue
        yield from rows(piece, last=False)
        if broken:
            yield from rest(bytes(pending))
            pending.clear()
    if not broken:
        yield from rows(b"", last=True)
        if broken:
            yield from rest(bytes(pending))
    if stream.events:
        yield {"file": name, "stream": position, **stream.finish()}


def replay_file(impl: ModuleType, path: FilePath, **options: Any) -> Iterator[dict[str, Any]]:
    """The rows of one capture file, in stream order."""
    name = os.fspath(path)
    # Argument errors (a bad option value) raise here, before the file is opened.
    impl.StreamParser(**options)
    position = 0
    stream = _Stream(impl, options)
    with open(path, "rb") as f:
        if is_event_stream(f.read(PRELUDE_BYTES)):
            f.seek(0)
            yield from _binary_rows(impl, name, f, options)
            return
        f.seek(0)
        limit = {"max_line_bytes": options["max_line_bytes"]} if "max_line_bytes" in options else {}
        decoder = impl.SseDecoder(**limit)
        for piece in iter_reads(f):
            for event in decoder.feed(piece):
                stream.feed(_encode(event))
                if stream.parser.done:
                    yield {"file": name, "stream": position, **stream.finish()}
                    position += 1
                    stream = _Stream(impl, options)
        for event in decoder.finish():
            stream.feed(_encode(event))
    if stream.events:
        yield {"file": name, "stream": position, **stream.finish()}


def replay_with(
    impl: ModuleType, paths: FilePath | Iterable[FilePath], **options: Any
) -> Iterator[dict[str, Any]]:
    """Every row of every file, files in the given order."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        yield from replay_file(impl, path, **options)
