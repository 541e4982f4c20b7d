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

Written once over an implementation module, so the native package and the pure-Python
reference replay through their own ``SseDecoder`` and ``StreamParser``.
"""

from __future__ import annotations

import os
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


def replay_file(impl: ModuleType, path: FilePath, **options: Any) -> Iterator[dict[str, Any]]:
    """The rows of one capture file, in stream order."""
    name = os.fspath(path)
    # Argument errors (a bad option value) raise here, before the file is opened.
    impl.StreamParser(**options)
    position = 0
    stream = _Stream(impl, options)
    with open(path, "rb") as f:
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
