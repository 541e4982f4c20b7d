"""Pure-Python twin of the native deltafold core: same names, same options, same results.

It is the oracle the native core is tested against, so it aims to be plain to read: each read is
split into lines, each payload decoded by ``orjson.loads``, text fragments are kept as lists of
parts joined once when a completion is rendered, and events are only built when asked for.

One module per layer, bottom to top:

- :mod:`.framing`: WHATWG event-stream framing over raw reads (:class:`SseDecoder`, and the
  framer :class:`StreamParser` is built on);
- :mod:`.chat`: the OpenAI Chat Completions format: chunk validation and the accumulators that
  fold chunks into a ``chat.completion`` (another format gets a module beside it);
- :mod:`.sniff`: input that is not a chat-completions stream (a JSON or HTML body, another
  provider's stream);
- :mod:`.driver`: :class:`StreamParser`, the chat layer on the framer (``[DONE]``, in-band
  errors, limits, ``on_error``, captures, problems);
- :mod:`.api`: the whole-source functions (:func:`assemble`, :func:`iter_events`, ...).

Helpers: :mod:`.options` (defaults and option checks), :mod:`.events` (:class:`Event`),
:mod:`.values` (copies), :mod:`.json`, :mod:`.partial` and :mod:`.repair` (JSON that orjson does
not read: positions, deep documents, prefixes, repairs).
"""

from __future__ import annotations

from deltafold._options import OnError as OnError
from deltafold._render import to_sse
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
)
from deltafold.reference.driver import StreamParser
from deltafold.reference.events import Event
from deltafold.reference.framing import SseDecoder, SseEvent
from deltafold.reference.options import DEFAULT_MAX_BUFFER_BYTES as DEFAULT_MAX_BUFFER_BYTES
from deltafold.reference.options import DEFAULT_MAX_CHOICE_INDEX as DEFAULT_MAX_CHOICE_INDEX
from deltafold.reference.options import DEFAULT_MAX_DEPTH as DEFAULT_MAX_DEPTH
from deltafold.reference.options import DEFAULT_MAX_LINE_BYTES as DEFAULT_MAX_LINE_BYTES
from deltafold.reference.options import DEFAULT_MAX_PROBLEMS as DEFAULT_MAX_PROBLEMS
from deltafold.reference.options import DEFAULT_MAX_TOOL_CALLS as DEFAULT_MAX_TOOL_CALLS
from deltafold.reference.options import DEFAULTS
from deltafold.reference.options import MAX_DEPTH_CEILING as MAX_DEPTH_CEILING

__all__ = [
    "DEFAULTS",
    "ChunkDecodeError",
    "DeltafoldError",
    "Event",
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
    "iter_completions",
    "iter_events",
    "to_sse",
]
