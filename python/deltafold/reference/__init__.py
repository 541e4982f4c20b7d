"""Pure-Python twin of the native deltafold core: same names, same options, same results.

It is the oracle the native core is tested against, so it aims to be plain to read: each read is
split into lines, each payload decoded by ``orjson.loads``, text fragments are kept as lists of
parts joined once when a completion is rendered, and events are only built when asked for.

One module per layer, bottom to top:

- :mod:`.framing`: WHATWG event-stream framing over raw reads (:class:`SseDecoder`, and the
  framer :class:`StreamParser` is built on);
- :mod:`.fold`: the seam between the driver and a format (:class:`~.fold.Fold`);
- :mod:`.chat`: the OpenAI Chat Completions format: chunk validation and the accumulators that
  fold chunks into a ``chat.completion``; :mod:`.anthropic` the Anthropic Messages format (each
  other format gets a module beside them, registered in :mod:`.formats`);
- :mod:`.detect`: ``format="auto"``, decided from the first event;
- :mod:`.sniff`: input that is not an event stream (a JSON or HTML body), and chunks of a
  format the chat fold refuses;
- :mod:`.driver`: :class:`StreamParser`, the format-independent layer on the framer (limits,
  JSON decoding, ``on_error``, captures, truncation, problems);
- :mod:`.summary`: the cross-format summary (usage and finish_reason normalised);
- :mod:`.api`: the whole-source functions (:func:`assemble`, :func:`iter_events`, ...).

Helpers: :mod:`.options` (defaults and option checks), :mod:`.events` (:class:`Event`),
:mod:`.values` (copies), :mod:`.json`, :mod:`.partial` and :mod:`.repair` (JSON that orjson does
not read: positions, deep documents, prefixes, repairs).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Iterable, Iterator
from typing import Any

from deltafold._options import OnError as OnError
from deltafold._render import to_sse
from deltafold._render_formats import to_event_stream
from deltafold._replay import FilePath, replay_with
from deltafold._tee import AsyncTee, Chunk, OnDone, Tee
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
from deltafold.reference.api import (
    aiter_completions,
    aiter_events,
    assemble,
    assemble_json,
    iter_completions,
    iter_events,
    summarize,
)
from deltafold.reference.driver import StreamParser
from deltafold.reference.events import Event
from deltafold.reference.eventstream import EventStreamDecoder, EventStreamMessage
from deltafold.reference.framing import SseDecoder, SseEvent
from deltafold.reference.options import DEFAULT_MAX_BUFFER_BYTES as DEFAULT_MAX_BUFFER_BYTES
from deltafold.reference.options import DEFAULT_MAX_CHOICE_INDEX as DEFAULT_MAX_CHOICE_INDEX
from deltafold.reference.options import DEFAULT_MAX_DEPTH as DEFAULT_MAX_DEPTH
from deltafold.reference.options import DEFAULT_MAX_LINE_BYTES as DEFAULT_MAX_LINE_BYTES
from deltafold.reference.options import DEFAULT_MAX_PROBLEMS as DEFAULT_MAX_PROBLEMS
from deltafold.reference.options import DEFAULT_MAX_TOOL_CALLS as DEFAULT_MAX_TOOL_CALLS
from deltafold.reference.options import DEFAULTS
from deltafold.reference.options import MAX_DEPTH_CEILING as MAX_DEPTH_CEILING
from deltafold.reference.options import Format as Format

__all__ = [
    "DEFAULTS",
    "ChunkDecodeError",
    "DeltafoldError",
    "Event",
    "EventStreamDecoder",
    "EventStreamMessage",
    "IncompleteStreamError",
    "LimitExceededError",
    "Problem",
    "SseDecoder",
    "SseEvent",
    "StreamAPIError",
    "StreamDecodeError",
    "StreamParser",
    "UnsupportedFormatError",
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


def replay(paths: FilePath | Iterable[FilePath], **options: Any) -> Iterator[dict[str, Any]]:
    """Twin of :func:`deltafold.replay`: one summary row per stream of every capture file."""
    return replay_with(sys.modules[__name__], paths, **options)


def tee(chunks: Iterable[Chunk], *, on_done: OnDone | None = None, **options: Any) -> Tee[Chunk]:
    """Twin of :func:`deltafold.tee`: the same forwarding loop, folding with this package's
    :class:`StreamParser` (the forwarding code is shared; only the fold differs)."""
    return Tee(chunks, on_done, dict(options), StreamParser)


def atee(
    chunks: AsyncIterable[Chunk], *, on_done: OnDone | None = None, **options: Any
) -> AsyncTee[Chunk]:
    """Twin of :func:`deltafold.atee`, folding with this package's :class:`StreamParser`."""
    return AsyncTee(chunks, on_done, dict(options), StreamParser)
