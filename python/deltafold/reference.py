"""Pure-Python twin of the native deltafold core: same names, same options, same results.

It is the oracle the native core is tested against and the pure-Python baseline it is measured
against, so it aims to be both plain to read and fast for Python: reads are split into lines with
``bytes.split`` (no per-character loops), each payload is decoded by ``orjson.loads``, text
fragments are kept as lists of parts joined once when a completion is rendered, and events are
only built when asked for.

Layers, top to bottom:

- :class:`_Framer`: WHATWG event-stream framing over raw reads (shared by :class:`SseDecoder`
  and :class:`StreamParser`);
- :class:`StreamParser`: the chat layer (``[DONE]``, in-band errors, chunk validation, limits,
  ``on_error`` handling) on top of the framer;
- :class:`_Assembly`: the accumulators that fold validated chunks into a ``chat.completion``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, SupportsIndex, final

import orjson

from deltafold._options import EventOptions, OnError, Options
from deltafold._reference_json import (
    ORJSON_MAX_DEPTH,
    DeepSyntaxError,
    first_too_deep,
    parse_deep,
    parse_partial,
    repair_chunk_json,
    value_position,
)
from deltafold._render import to_sse
from deltafold._source import (
    AsyncSource,
    Source,
    aiter_reads,
    aiter_slices,
    iter_reads,
    iter_slices,
)
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
    from typing_extensions import Unpack

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
    "iter_completions",
    "iter_events",
    "to_sse",
]

DEFAULT_MAX_LINE_BYTES: Final = 64 << 20
_RETRY_MAX: Final = 2**64 - 1
DEFAULT_MAX_BUFFER_BYTES: Final = 256 << 20
DEFAULT_MAX_CHOICE_INDEX: Final = 1024
DEFAULT_MAX_TOOL_CALLS: Final = 1024
DEFAULT_MAX_DEPTH: Final = 128
DEFAULT_MAX_PROBLEMS: Final = 1000
#: The default of every keyword option (read-only); ``tests/test_options.py`` checks that they are
#: the native core's ``deltafold.DEFAULTS``.
DEFAULTS: Final = MappingProxyType(
    {
        "on_error": "raise",
        "events": False,
        "partial_arguments": False,
        "allow_truncated": False,
        "max_line_bytes": DEFAULT_MAX_LINE_BYTES,
        "max_buffer_bytes": DEFAULT_MAX_BUFFER_BYTES,
        "max_choice_index": DEFAULT_MAX_CHOICE_INDEX,
        "max_tool_calls": DEFAULT_MAX_TOOL_CALLS,
        "max_depth": DEFAULT_MAX_DEPTH,
        "max_problems": DEFAULT_MAX_PROBLEMS,
    }
)
# The deepest nesting max_depth may allow: the native core's DEPTH_CEILING (rust/limits.rs).
MAX_DEPTH_CEILING: Final = 254

_BOM: Final = b"\xef\xbb\xbf"
_EOL: Final = re.compile(rb"[\r\n]")
_EOL_SPLIT: Final = re.compile(rb"(\r\n|\r|\n)")
# ASCII whitespace as WHATWG defines it: what may surround `[DONE]`, and all an ignored empty
# data event may hold.
_ASCII_WS: Final = b" \t\n\r\x0c"

# Keys with their own merge rule; every other key falls to the generic rule of its level.
_TOP_LEVEL_KEYS: Final = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
        "error",
    }
)
_CHOICE_KEYS: Final = frozenset({"index", "delta", "finish_reason", "logprobs"})
_TOOL_CALL_KEYS: Final = frozenset({"index", "id", "type", "function"})
_FUNCTION_KEYS: Final = frozenset({"name", "arguments"})
_REASONING_FIELDS: Final = frozenset({"reasoning_content", "reasoning"})
# Delta keys _apply_delta handles itself, outside the arrival-order pass over the others.
_DELTA_FIXED_ORDER: Final = frozenset(
    {"index", "role", "content", "refusal", "tool_calls", "function_call", "audio"}
)

_ABSENT: Final[Any] = object()
_UNPARSED: Final[Any] = object()

Path = tuple[str | int, ...]


class _Parts(list[str]):
    """Text fragments of a generic delta key, joined when rendered.

    A distinct type so that a JSON list value (which appends) is never mistaken for text.
    """

    __slots__ = ()


def _copy(value: Any) -> Any:
    """An independent copy of a JSON value (orjson round trip: exact for what orjson produced)."""
    if type(value) is dict or type(value) is list:
        try:
            return orjson.loads(orjson.dumps(value))
        except orjson.JSONEncodeError:
            return _copy_deep(value)  # nested deeper than orjson goes (max_depth > 1024)
    return value


def _copy_deep(value: Any) -> Any:
    """:func:`_copy` without recursion, for values nested deeper than orjson allows."""
    root: list[Any] = [None]
    work: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (source, target, key in target)
    while work:
        source, target, key = work.pop()
        if type(source) is dict:
            copied_dict: dict[str, Any] = {}
            target[key] = copied_dict
            for item_key, item in source.items():
                copied_dict[item_key] = None
                work.append((item, copied_dict, item_key))
        elif type(source) is list:
            copied_list: list[Any] = [None] * len(source)
            target[key] = copied_list
            work.extend((item, copied_list, position) for position, item in enumerate(source))
        else:
            target[key] = source
    return root[0]


def _check_limit(option: str, value: Any, lowest: int, highest: int | None = None) -> None:
    """A limit is an ``int`` (not a bool: ``True`` as a byte count is a mistake); any size is
    accepted, one beyond 64 bits meaning no limit in practice."""
    if type(value) is not int:
        raise TypeError(f"{option} must be an int, not {type(value).__name__}")
    if value < lowest:
        kind = "non-negative" if lowest == 0 else "positive"
        raise ValueError(f"{option} must be a {kind} integer, not {value}")
    if highest is not None and value > highest:
        raise ValueError(f"{option} must be at most {highest}, not {value}")


def _check_flag(option: str, value: Any) -> None:
    if type(value) is not bool:
        raise TypeError(f"{option} must be a bool, not {type(value).__name__}")


def _check_on_error(value: Any) -> None:
    if type(value) is not str:
        raise TypeError(f"on_error must be a str, not {type(value).__name__}")
    if value not in ("raise", "skip", "repair"):
        raise ValueError(f"on_error must be 'raise', 'skip' or 'repair', not {value!r}")


def _as_bytes(data: Any) -> bytes:
    """One read: ``bytes`` or ``bytearray``. A str would need an encoding the stream does not
    state, and a memoryview may change under the parser; both are refused."""
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise TypeError(f"feed() takes bytes or bytearray, not {type(data).__name__}")


# -- events ---------------------------------------------------------------------------------------

_EVENT_ATTRIBUTES: Final = (
    "type",
    "choice_index",
    "index",
    "id",
    "name",
    "field",
    "delta",
    "snapshot",
    "content",
    "refusal",
    "arguments",
    "arguments_delta",
    "parsed_arguments",
    "usage",
    "error",
    "completion",
)
_SLOT: Final = {name: position for position, name in enumerate(_EVENT_ATTRIBUTES)}
_SNAPSHOT: Final = _SLOT["snapshot"]
_ARGUMENTS: Final = _SLOT["arguments"]
_PARSED_ARGUMENTS: Final = _SLOT["parsed_arguments"]


class _Lazy:
    """A value computed on first access: a long stream's events must not each copy the text."""

    __slots__ = ("_count", "_items")

    def __init__(self, items: list[Any], count: int) -> None:
        self._items = items
        self._count = count

    def resolve(self) -> Any:
        raise NotImplementedError


class _TextSoFar(_Lazy):
    """The text of an accumulator as it was when the event was made (parts only ever grow)."""

    __slots__ = ()

    def resolve(self) -> str:
        return "".join(self._items[: self._count])


class _ListSoFar(_Lazy):
    __slots__ = ()

    def resolve(self) -> list[Any]:
        return _copy(self._items[: self._count])  # type: ignore[no-any-return]


class _PartialSoFar(_Lazy):
    __slots__ = ()

    def resolve(self) -> Any:
        return parse_partial("".join(self._items[: self._count]))


@final
class Event:
    """A per-delta event. Immutable; attributes that do not apply to a type are ``None``."""

    __slots__ = ("_values",)
    _values: list[Any]

    def __init__(self, type: str, **attributes: Any) -> None:
        values: list[Any] = [None] * len(_EVENT_ATTRIBUTES)
        values[0] = type
        for name, value in attributes.items():
            values[_SLOT[name]] = value
        object.__setattr__(self, "_values", values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Event is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Event is immutable")

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # Like the native class: not picklable, and copy/deepcopy refuse it the same way (an
        # event is immutable: share it instead of copying it).
        raise TypeError("cannot pickle 'deltafold.Event' object")

    def _resolved(self, slot: int) -> Any:
        value = self._values[slot]
        if isinstance(value, _Lazy):
            value = value.resolve()
            self._values[slot] = value
        return value

    @property
    def type(self) -> str:
        return self._values[0]  # type: ignore[no-any-return]

    @property
    def choice_index(self) -> int | None:
        return self._values[1]  # type: ignore[no-any-return]

    @property
    def index(self) -> int | None:
        """Tool-call position in the choice's ``tool_calls`` list (tool events only)."""
        return self._values[2]  # type: ignore[no-any-return]

    @property
    def id(self) -> str | None:
        """Tool-call id (tool events only)."""
        return self._values[3]  # type: ignore[no-any-return]

    @property
    def name(self) -> str | None:
        """Function name (tool and function_call events)."""
        return self._values[4]  # type: ignore[no-any-return]

    @property
    def field(self) -> str | None:
        """The delta key a reasoning event comes from (``reasoning_content`` or ``reasoning``)."""
        return self._values[5]  # type: ignore[no-any-return]

    @property
    def delta(self) -> str | None:
        """The new text of a ``*.delta`` event."""
        return self._values[6]  # type: ignore[no-any-return]

    @property
    def snapshot(self) -> Any:
        """Text so far (text events) or the whole list so far (logprobs events)."""
        return self._resolved(_SNAPSHOT)

    @property
    def content(self) -> Any:
        """``content.done``: the final text; ``logprobs.content.delta``: the new entries."""
        return self._values[8]

    @property
    def refusal(self) -> Any:
        """``refusal.done``: the final text; ``logprobs.refusal.delta``: the new entries."""
        return self._values[9]

    @property
    def arguments(self) -> str | None:
        """Tool/function arguments so far (delta events) or final (done events)."""
        return self._resolved(_ARGUMENTS)  # type: ignore[no-any-return]

    @property
    def arguments_delta(self) -> str | None:
        """The new argument text of an arguments delta event."""
        return self._values[11]  # type: ignore[no-any-return]

    @property
    def parsed_arguments(self) -> Any:
        """Arguments parsed as partial JSON (only with ``partial_arguments=True``)."""
        return self._resolved(_PARSED_ARGUMENTS)

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._values[13]  # type: ignore[no-any-return]

    @property
    def error(self) -> Any:
        """``error`` events: the error body."""
        return self._values[14]

    @property
    def completion(self) -> dict[str, Any] | None:
        """``done`` events: the assembled completion."""
        return self._values[15]  # type: ignore[no-any-return]

    def as_dict(self) -> dict[str, Any]:
        """The event as a plain dict (``type`` plus every attribute that is not ``None``)."""
        out: dict[str, Any] = {}
        for slot, name in enumerate(_EVENT_ATTRIBUTES):
            value = self._resolved(slot)
            if value is not None:
                out[name] = value
        return out

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"Event({fields})"


# -- SSE framing ----------------------------------------------------------------------------------


class _Framer:
    """WHATWG event-stream framing over raw reads.

    Lines end at CRLF, LF or a lone CR; a CR ends its line at once and an LF starting the next
    read is then skipped, so nothing waits on a CR. Only a line that spans reads is copied (into
    ``_partial``). An over-long line (or event data) is reported, dropped up to its end without
    being buffered, and the event it belongs to is dropped when it ends (not counted).
    Subclasses receive each dispatched event in :meth:`_dispatch` and each limit error in
    :meth:`_report`. If a subclass raises from either, the rest of the read is kept in ``_stash``
    and framed first on the next call, so an error loses nothing that follows it.
    """

    __slots__ = (
        "_bom_head",
        "_cr_pending",
        "_data",
        "_data_length",
        "_deferred",
        "_discarding",
        "_dispatched",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_lock",
        "_max_line",
        "_partial",
        "_payload_start",
        "_poisoned",
        "_pos",
        "_retry",
        "_stash",
    )

    def __init__(self, max_line_bytes: int) -> None:
        # One call at a time: threads sharing a parser are serialised, never interleaved.
        self._lock = threading.Lock()
        self._max_line = max_line_bytes
        self._partial = bytearray()  # the unterminated line so far
        self._pos = 0  # stream offset of the next byte to frame
        self._bom_head: bytes | None = b""  # first bytes while a BOM is possible; None after
        self._cr_pending = False  # the last byte framed was a CR: skip one LF next
        self._discarding = False  # inside an over-long line, dropping bytes to its end
        self._stash = b""
        self._data: list[bytes] = []  # data values of the event being built
        self._data_length = 0
        # The event being built had an over-long line or data: it is dropped at its end.
        self._poisoned = False
        self._payload_start = 0
        self._event_type: bytes | None = None
        self._id_buffer = ""
        self._last_event_id = ""
        self._retry: int | None = None
        self._dispatched = 0
        # An error met after the call that met it had produced items (see _frame_delivering).
        self._deferred: DeltafoldError | None = None

    def _dispatch(self, payload: bytes, offset: int, index: int, event_type: bytes | None) -> None:
        raise NotImplementedError

    def _report(self, error: DeltafoldError) -> None:
        raise NotImplementedError

    # The delivery rule (docs/design.md "Errors and limits"): a call that produced items
    # (events, completions) before an error returns them, and the next call raises the error;
    # a call that produced nothing raises at once. Subclasses keep `_deferred` and say in
    # `_produced` whether items wait to be returned.

    def _produced(self) -> bool:
        raise NotImplementedError

    def _frame_delivering(self, data: bytes) -> None:
        try:
            self._frame(data)
        except DeltafoldError as error:
            if not self._produced():
                raise
            self._deferred = error

    def _raise_deferred(self, data: bytes) -> None:
        """Raise an error kept from the previous call; ``data`` is kept, unframed, behind it."""
        error = self._deferred
        if error is not None:
            self._deferred = None
            self._stash += data
            raise error

    def _frame(self, data: bytes) -> None:
        if self._stash:
            data = self._stash + data
            self._stash = b""
        if self._bom_head is not None:
            if not data:
                return
            head = self._bom_head + data
            if len(head) < 3 and _BOM.startswith(head):
                self._bom_head = head
                return
            self._bom_head = None
            if head.startswith(_BOM):
                data = head[3:]
                self._pos += 3
            else:
                data = head
        if not data:
            return
        if self._cr_pending:
            self._cr_pending = False
            if data[0] == 0x0A:
                data = data[1:]
                self._pos += 1
                if not data:
                    return
        if self._discarding:
            data = self._drop_rest_of_line(data)
            if not data:
                return
        if b"\r" in data:
            self._frame_any_eol(data)
        else:
            self._frame_lf(data)

    def _frame_lf(self, data: bytes) -> None:
        """The common case: no CR in this read, so lines are what ``split(b"\\n")`` gives."""
        lines = data.split(b"\n")
        tail = lines.pop()
        partial = self._partial
        start = self._pos - len(partial)
        if lines:
            if partial:
                lines[0] = bytes(partial) + lines[0]
                partial.clear()
            max_line = self._max_line
            # No line can be longer than the read plus what was held, so most reads skip the
            # per-line length check.
            check_length = len(data) + len(lines[0]) > max_line
            data_start = self._pos
            values = self._data
            line = b""
            try:
                for line in lines:
                    if not line:
                        self._end_event()
                        start += 1
                        continue
                    if check_length and len(line) > max_line:
                        self._line_too_long(start)
                    elif line.startswith(b"data:"):
                        # _data_value, inlined: this is the line of almost every event.
                        value = line[6:] if line[5:6] == b" " else line[5:]
                        if values or self._poisoned:
                            self._more_data(value, start)
                        else:
                            self._payload_start = start + len(line) - len(value)
                            self._data_length = len(value)
                            values.append(value)
                    else:
                        self._field(line, start)
                    start += len(line) + 1
            except BaseException:
                start += len(line) + 1
                self._stash = data[start - data_start :]
                self._pos = start
                raise
        self._hold(tail, start)

    def _frame_any_eol(self, data: bytes) -> None:
        pieces = _EOL_SPLIT.split(data)  # line, terminator, line, terminator, ..., tail
        tail = pieces.pop()
        partial = self._partial
        start = self._pos - len(partial)
        if pieces:
            if partial:
                pieces[0] = bytes(partial) + pieces[0]
                partial.clear()
            data_start = self._pos
            for position in range(0, len(pieces), 2):
                line = pieces[position]
                end = start + len(line) + len(pieces[position + 1])
                try:
                    self._line(line, start)
                except BaseException:
                    self._stash = data[end - data_start :]
                    self._pos = end
                    self._cr_pending = not self._stash and pieces[position + 1] == b"\r"
                    raise
                start = end
            self._cr_pending = not tail and pieces[-1] == b"\r"
        self._hold(tail, start)

    def _hold(self, tail: bytes, start: int) -> None:
        """Keep the unterminated end of a read (``start``: stream offset of the held line)."""
        partial = self._partial
        self._pos = start + len(partial) + len(tail)
        if len(partial) + len(tail) > self._max_line:
            partial.clear()
            self._discarding = True
            self._line_too_long(start)
        elif tail:
            partial += tail

    def _drop_rest_of_line(self, data: bytes) -> bytes:
        match = _EOL.search(data)
        if match is None:
            self._pos += len(data)
            return b""
        end = match.start()
        self._discarding = False
        if data[end] == 0x0D:
            if end + 1 == len(data):
                self._cr_pending = True
            elif data[end + 1] == 0x0A:
                end += 1
        self._pos += end + 1
        return data[end + 1 :]

    def _line(self, line: bytes, start: int) -> None:
        if len(line) > self._max_line:
            self._line_too_long(start)
        elif not line:
            self._end_event()
        elif line.startswith(b"data:"):
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data_value(value, start, len(line) - len(value))
        else:
            self._field(line, start)

    def _field(self, line: bytes, start: int) -> None:
        if line[0] == 0x3A:  # ':' starts a comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data_value(value, start, len(line) - len(value))
        elif name == b"event":
            self._event_type = value
        elif name == b"id":
            if b"\x00" not in value:
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():  # bytes.isdigit: ASCII digits only
            retry = int(value)
            if retry <= _RETRY_MAX:  # one that does not fit 64 bits is ignored, as Chromium does
                self._retry = retry

    def _data_value(self, value: bytes, line_start: int, value_offset: int) -> None:
        if self._data or self._poisoned:
            self._more_data(value, line_start)
        else:
            self._payload_start = line_start + value_offset
            self._data_length = len(value)
            self._data.append(value)

    def _more_data(self, value: bytes, line_start: int) -> None:
        """A further data line: joined with ``\n``, the event's data must fit the line limit."""
        if self._poisoned:
            return
        self._data_length += len(value) + 1
        if self._data_length > self._max_line:
            self._poison()
            self._report(
                LimitExceededError(
                    f"event data longer than max_line_bytes ({self._max_line})",
                    limit="max_line_bytes",
                    maximum=self._max_line,
                    byte_offset=line_start,
                    event_index=self._dispatched,
                )
            )
        else:
            self._data.append(value)

    def _poison(self) -> None:
        """Drop the event being built when it ends: it had an over-long line or data."""
        self._poisoned = True
        self._data.clear()

    def _end_event(self) -> None:
        self._last_event_id = self._id_buffer
        event_type = self._event_type
        self._event_type = None
        if self._poisoned:
            self._poisoned = False
            return
        values = self._data
        if not values:
            return
        index = self._dispatched
        self._dispatched = index + 1
        payload = values[0] if len(values) == 1 else b"\n".join(values)
        values.clear()
        self._dispatch(payload, self._payload_start, index, event_type)

    def _line_too_long(self, start: int) -> None:
        self._poison()
        self._report(
            LimitExceededError(
                f"line longer than max_line_bytes ({self._max_line})",
                limit="max_line_bytes",
                maximum=self._max_line,
                byte_offset=start,
                event_index=self._dispatched,
            )
        )

    def _inside_event(self) -> bool:
        """Whether input so far ends inside an event: a held line or undispatched data."""
        return bool(self._partial or self._bom_head or self._discarding or self._data)

    def _drop_unterminated(self) -> None:
        """End of input: an unterminated line or event is never processed (SSE rule)."""
        self._partial.clear()
        self._bom_head = None
        self._discarding = False
        self._data.clear()
        self._poisoned = False
        self._event_type = None


@final
class SseEvent:
    """One dispatched Server-Sent Event (WHATWG "event stream interpretation")."""

    __slots__ = ("_data", "_event", "_id", "_retry")
    _event: str
    _data: str
    _id: str
    _retry: int | None

    def __init__(self, event: str, data: str, id: str, retry: int | None) -> None:
        object.__setattr__(self, "_event", event)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_id", id)
        object.__setattr__(self, "_retry", retry)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SseEvent is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SseEvent is immutable")

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # Like the native class: not picklable, and copy/deepcopy refuse it the same way.
        raise TypeError("cannot pickle 'deltafold.SseEvent' object")

    @property
    def event(self) -> str:
        """The event type; ``"message"`` when no ``event:`` field was given."""
        return self._event

    @property
    def data(self) -> str:
        """The data buffer: ``data`` lines joined with ``\\n``."""
        return self._data

    @property
    def id(self) -> str:
        """The last event ID at dispatch time (persists across events; ``""`` if never set)."""
        return self._id

    @property
    def retry(self) -> int | None:
        """The reconnection time at dispatch time (persists; ``None`` if never set)."""
        return self._retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SseEvent):
            return NotImplemented
        return (self._event, self._data, self._id, self._retry) == (
            other._event,
            other._data,
            other._id,
            other._retry,
        )

    def __hash__(self) -> int:
        return hash((self._event, self._data, self._id, self._retry))

    def __repr__(self) -> str:
        return (
            f"SseEvent(event={self._event!r}, data={self._data!r}, id={self._id!r}, "
            f"retry={self._retry!r})"
        )


@final
class SseDecoder(_Framer):
    """Incremental SSE decoder: feed bytes as they arrive, get the events they complete.

    Line ends are CRLF, LF or lone CR, also when a CR ends one read and the LF starts the next.
    One leading BOM is stripped. Invalid UTF-8 becomes U+FFFD.
    """

    __slots__ = ("_events",)

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        _check_limit("max_line_bytes", max_line_bytes, 1)
        super().__init__(max_line_bytes)
        # Events completed but not yet returned.
        self._events: list[SseEvent] = []

    def feed(self, data: bytes) -> list[SseEvent]:
        """Decode one read and return the events it completed.

        An error met after some events is raised by the next call (whose input is kept).
        """
        data = _as_bytes(data)
        with self._lock:
            self._raise_deferred(data)
            self._frame_delivering(data)
            events, self._events = self._events, []
            return events

    def finish(self) -> list[SseEvent]:
        """End of input: an unterminated event is discarded (per spec); returns ``[]``."""
        with self._lock:
            self._raise_deferred(b"")
            if self._stash:
                self._frame_delivering(b"")
                if self._deferred is not None:
                    events, self._events = self._events, []
                    return events
            self._drop_unterminated()
            events, self._events = self._events, []
            return events

    @property
    def last_event_id(self) -> str:
        """The last event ID buffer."""
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time, if a valid ``retry`` field was seen."""
        return self._retry

    def _produced(self) -> bool:
        return bool(self._events)

    def _dispatch(self, payload: bytes, offset: int, index: int, event_type: bytes | None) -> None:
        name = event_type.decode("utf-8", "replace") if event_type else "message"
        self._events.append(
            SseEvent(name, payload.decode("utf-8", "replace"), self._last_event_id, self._retry)
        )

    def _report(self, error: DeltafoldError) -> None:
        raise error


# -- chunk validation -----------------------------------------------------------------------------

_STRING_OR_NULL: Final = "a string or null"
_OBJECT_OR_NULL: Final = "an object or null"
_ARRAY_OR_NULL: Final = "an array or null"
_INDEX: Final = "a non-negative integer"

Violation = tuple[Path, str]


def _schema_violation(chunk: Any) -> Violation | None:
    """The first place where a decoded payload breaks the chunk schema, or ``None``."""
    if type(chunk) is not dict:
        return (), "a JSON object"
    get = chunk.get
    value = get("id")
    if value is not None and type(value) is not str:
        return ("id",), _STRING_OR_NULL
    value = get("model")
    if value is not None and type(value) is not str:
        return ("model",), _STRING_OR_NULL
    value = get("system_fingerprint")
    if value is not None and type(value) is not str:
        return ("system_fingerprint",), _STRING_OR_NULL
    value = get("service_tier")
    if value is not None and type(value) is not str:
        return ("service_tier",), _STRING_OR_NULL
    value = get("created")
    if value is not None and type(value) is not int:
        return ("created",), "an integer or null"
    value = get("usage")
    if value is not None and type(value) is not dict:
        return ("usage",), _OBJECT_OR_NULL
    choices = get("choices")
    if choices is None:
        return None
    if type(choices) is not list:
        return ("choices",), _ARRAY_OR_NULL
    for position, choice in enumerate(choices):
        found = _choice_violation(choice)
        if found is not None:
            return ("choices", position, *found[0]), found[1]
    return None


def _choice_violation(choice: Any) -> Violation | None:
    if type(choice) is not dict:
        return (), "an object"
    get = choice.get
    index = get("index", 0)
    if type(index) is not int or index < 0:
        return ("index",), _INDEX
    value = get("finish_reason")
    if value is not None and type(value) is not str:
        return ("finish_reason",), _STRING_OR_NULL
    logprobs = get("logprobs")
    if logprobs is not None:
        found = _logprobs_violation(logprobs)
        if found is not None:
            return ("logprobs", *found[0]), found[1]
    delta = get("delta")
    if delta is None:
        return None
    if type(delta) is not dict:
        return ("delta",), _OBJECT_OR_NULL
    found = _delta_violation(delta)
    if found is not None:
        return ("delta", *found[0]), found[1]
    return None


def _logprobs_violation(logprobs: Any) -> Violation | None:
    if type(logprobs) is not dict:
        return (), _OBJECT_OR_NULL
    for key in ("content", "refusal"):
        value = logprobs.get(key)
        if value is not None and type(value) is not list:
            return (key,), _ARRAY_OR_NULL
    return None


def _delta_violation(delta: dict[str, Any]) -> Violation | None:
    get = delta.get
    content = get("content")
    if content is not None and type(content) is not str and type(content) is not list:
        return ("content",), "a string, an array or null"
    if len(delta) == 1 and content is not None:
        return None  # the common delta: just content
    value = get("role")
    if value is not None and type(value) is not str:
        return ("role",), _STRING_OR_NULL
    value = get("refusal")
    if value is not None and type(value) is not str:
        return ("refusal",), _STRING_OR_NULL
    value = get("audio")
    if value is not None and type(value) is not dict:
        return ("audio",), _OBJECT_OR_NULL
    call = get("function_call")
    if call is not None:
        if type(call) is not dict:
            return ("function_call",), _OBJECT_OR_NULL
        for key in _FUNCTION_KEYS:
            value = call.get(key)
            if value is not None and type(value) is not str:
                return ("function_call", key), _STRING_OR_NULL
    fragments = get("tool_calls")
    if fragments is None:
        return None
    if type(fragments) is not list:
        return ("tool_calls",), _ARRAY_OR_NULL
    for position, fragment in enumerate(fragments):
        found = _tool_call_violation(fragment)
        if found is not None:
            return ("tool_calls", position, *found[0]), found[1]
    return None


def _tool_call_violation(fragment: Any) -> Violation | None:
    if type(fragment) is not dict:
        return (), "an object"
    get = fragment.get
    index = get("index")
    if index is not None and (type(index) is not int or index < 0):
        return ("index",), _INDEX
    value = get("id")
    if value is not None and type(value) is not str:
        return ("id",), _STRING_OR_NULL
    value = get("type")
    if value is not None and type(value) is not str:
        return ("type",), _STRING_OR_NULL
    function = get("function")
    if function is None:
        return None
    if type(function) is not dict:
        return ("function",), _OBJECT_OR_NULL
    for key in _FUNCTION_KEYS:
        value = function.get(key)
        if value is not None and type(value) is not str:
            return ("function", key), _STRING_OR_NULL
    return None


def _describe(path: Path) -> str:
    return "".join(f"[{step}]" if type(step) is int else f".{step}" for step in path) or "payload"


def _api_message(body: Any) -> str:
    if type(body) is dict and "message" in body:
        return str(body["message"])
    return str(body)


def _byte_position(payload: bytes, error: orjson.JSONDecodeError) -> int:
    """orjson reports a character index into the decoded text; the contract wants bytes."""
    if not error.doc and payload:  # invalid UTF-8: orjson gives no text, so no position
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return bad.start
        return 0
    return len(error.doc[: error.pos].encode("utf-8", "surrogatepass"))


# -- assembly -------------------------------------------------------------------------------------


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Merge ``new`` into ``old``: null keeps the old value (a key only ever null stays, as
    null), dicts merge per key, anything else replaces. (A work list, not recursion: values
    may nest as deep as ``max_depth`` allows.)"""
    work = [(old, new)]
    while work:
        target, source = work.pop()
        for key, value in source.items():
            if value is None:
                if key not in target:
                    target[key] = None
                continue
            current = target.get(key)
            if type(value) is dict and type(current) is dict:
                work.append((current, value))
            else:
                target[key] = value


def _is_zero(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == 0


def _merge_usage(old: Any, new: Any) -> Any:
    """Usage merge: a later null or 0 never erases a count; never summed. Returns the result,
    which owns its objects (``new`` may be shared, e.g. an ``x_groq.usage`` also kept as is)."""
    if new is None:
        return old
    if old is None:
        return _copy(new)
    if type(old) is dict and type(new) is dict:
        _merge_usage_into(old, new)
        return old
    if _is_zero(new):
        return old
    return _copy(new)


def _merge_usage_into(old: dict[str, Any], new: dict[str, Any]) -> None:
    work = [(old, new)]
    while work:
        target, source = work.pop()
        for key, value in source.items():
            if value is None:
                if key not in target:
                    target[key] = None
                continue
            current = target.get(key)
            if current is None:
                target[key] = _copy(value)
            elif type(current) is dict and type(value) is dict:
                work.append((current, value))
            elif not _is_zero(value):
                target[key] = _copy(value)


def _typed_parts(parts: list[Any]) -> tuple[str | None, str | None]:
    """A content list of typed parts: (text of its text parts, text of its thinking parts),
    each ``None`` when no such part carried a string."""
    text: list[str] | None = None
    thinking: list[str] | None = None
    for part in parts:
        if type(part) is not dict:
            continue
        kind = part.get("type")
        if kind == "text":
            value = part.get("text")
            if type(value) is str:
                if text is None:
                    text = []
                text.append(value)
        elif kind == "thinking":
            value = part.get("thinking")
            pieces: list[str] = []
            if type(value) is str:
                pieces.append(value)
            elif type(value) is list:
                for item in value:
                    if type(item) is dict and item.get("type") == "text":
                        item_text = item.get("text")
                        if type(item_text) is str:
                            pieces.append(item_text)
            if pieces:
                if thinking is None:
                    thinking = []
                thinking.extend(pieces)
    return (
        None if text is None else "".join(text),
        None if thinking is None else "".join(thinking),
    )


def _add_to_message(message: dict[str, Any], key: str, value: Any) -> _Parts | None:
    """Generic delta key: strings concatenate, lists append, anything else replaces. Returns
    the text parts when ``value`` was a string."""
    current = message.get(key)
    if type(value) is str:
        if type(current) is _Parts:
            current.append(value)
            return current
        parts = _Parts((value,))
        message[key] = parts
        return parts
    if type(value) is list and type(current) is list:
        current.extend(value)
    else:
        message[key] = value
    return None


class _ToolCall:
    __slots__ = ("arguments", "done", "extra", "function_extra", "id", "name", "position", "type")

    def __init__(self, position: int) -> None:
        self.position = position  # place in the choice's tool_calls list
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.function_extra: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.done = False  # its arguments.done event has been emitted

    def render(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name, "arguments": "".join(self.arguments)}
        for key, value in self.function_extra.items():
            function[key] = _copy(value)
        call: dict[str, Any] = {
            "id": self.id,
            "type": self.type or "function",
            "function": function,
        }
        for key, value in self.extra.items():
            call[key] = _copy(value)
        return call


class _FunctionCall:
    __slots__ = ("arguments", "name")

    def __init__(self) -> None:
        self.name: str | None = None
        self.arguments: list[str] = []


class _Choice:
    __slots__ = (
        "addressed",
        "calls",
        "calls_by_id",
        "calls_by_index",
        "content",
        "current_call",
        "extra",
        "finish_reason",
        "finished_items",
        "function_call",
        "index",
        "logprobs",
        "message",
        "reasoning",
        "refusal",
        "role",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        # Other message keys in order of first non-null appearance. Values: the calls list for
        # "tool_calls", a _FunctionCall for "function_call", a dict for "audio", else _Parts
        # (text), a list, or the last non-null value.
        self.message: dict[str, Any] = {}
        self.calls: list[_ToolCall] = []
        self.calls_by_index: dict[int, _ToolCall] = {}
        self.calls_by_id: dict[str, _ToolCall] = {}
        # The call the latest tool-call fragment went to: where one with no index, no known id
        # and no name continues (not necessarily the newest call).
        self.addressed: _ToolCall | None = None
        self.function_call: _FunctionCall | None = None
        self.logprobs: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.extra: dict[str, Any] = {}
        # Event bookkeeping (only used when events are on).
        self.current_call: _ToolCall | None = None
        self.finished_items: set[str] = set()
        # Reasoning text per field, every string piece in arrival order (what its events show,
        # even where a later non-string value replaced the field in the message).
        self.reasoning: dict[str, list[str]] = {}

    def call_for(self, fragment: dict[str, Any]) -> _ToolCall:
        """The call a fragment belongs to: by ``index`` when present; else a known non-empty
        ``id``; else a new call if it names a function (or none exists); else the call the
        previous fragment went to."""
        index = fragment.get("index")
        if index is not None:
            call = self.calls_by_index.get(index)
            if call is None:
                call = self.calls_by_index[index] = self.new_call()
            return call
        call_id = fragment.get("id")
        if call_id:
            call = self.calls_by_id.get(call_id)
            if call is not None:
                return call
        function = fragment.get("function")
        if (function and function.get("name")) or self.addressed is None:
            return self.new_call()
        return self.addressed

    def new_call(self) -> _ToolCall:
        call = _ToolCall(len(self.calls))
        self.calls.append(call)
        return call

    def apply_fragment(self, fragment: dict[str, Any]) -> tuple[_ToolCall, str | None]:
        call = self.addressed = self.call_for(fragment)
        get = fragment.get
        # "" is no value: first non-empty wins, and a call that only ever got "" keeps null.
        call_id = get("id")
        if call_id and not call.id:
            call.id = call_id
            # Two calls may end up with one id: it addresses the first of them in output order.
            known = self.calls_by_id.get(call_id)
            if known is None or known.position > call.position:
                self.calls_by_id[call_id] = call
        kind = get("type")
        if kind and not call.type:
            call.type = kind
        function = get("function")
        arguments = None
        if function:
            name = function.get("name")
            if name and not call.name:
                call.name = name
            arguments = function.get("arguments")
            if arguments:
                call.arguments.append(arguments)
            if not function.keys() <= _FUNCTION_KEYS:
                for key, value in function.items():
                    if key not in _FUNCTION_KEYS and value is not None:
                        call.function_extra[key] = value
        if not fragment.keys() <= _TOOL_CALL_KEYS:
            for key, value in fragment.items():
                if key not in _TOOL_CALL_KEYS and value is not None:
                    call.extra[key] = value
        return call, arguments

    def merge_extras(self, choice: dict[str, Any]) -> None:
        """Other choice keys: lists append, objects deep-merge, else last non-null."""
        extra = self.extra
        for key, value in choice.items():
            if key in _CHOICE_KEYS:
                continue
            current = extra.get(key)
            if current is None:
                extra[key] = value
            elif value is None:
                continue
            elif type(value) is list and type(current) is list:
                current.extend(value)
            elif type(value) is dict and type(current) is dict:
                _deep_merge(current, value)
            else:
                extra[key] = value

    def pending_done_events(self, partial_arguments: bool) -> list[Event]:
        """``*.done`` events not emitted yet, in contract order; each fires at most once."""
        events: list[Event] = []
        finished = self.finished_items
        index = self.index
        if self.content is not None and "content" not in finished:
            finished.add("content")
            text = "".join(self.content)
            events.append(Event("content.done", choice_index=index, content=text, snapshot=text))
        if self.refusal is not None and "refusal" not in finished:
            finished.add("refusal")
            text = "".join(self.refusal)
            events.append(Event("refusal.done", choice_index=index, refusal=text, snapshot=text))
        # Only a field that produced text (a reasoning.delta) gets its done event.
        for key, trail in self.reasoning.items():
            if key not in finished:
                finished.add(key)
                events.append(
                    Event("reasoning.done", choice_index=index, field=key, snapshot="".join(trail))
                )
        for call in self.calls:
            if not call.done:
                events.append(self.call_done_event(call, partial_arguments))
        function_call = self.function_call
        if function_call is not None and "function_call" not in finished:
            finished.add("function_call")
            events.append(
                _arguments_done_event(
                    "function_call.arguments.done",
                    function_call.arguments,
                    partial_arguments,
                    choice_index=index,
                    name=function_call.name,
                )
            )
        return events

    def call_done_event(self, call: _ToolCall, partial_arguments: bool) -> Event:
        call.done = True
        return _arguments_done_event(
            "tool_calls.function.arguments.done",
            call.arguments,
            partial_arguments,
            choice_index=self.index,
            index=call.position,
            id=call.id,
            name=call.name,
        )

    def render(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": None if self.content is None else "".join(self.content),
            "refusal": None if self.refusal is None else "".join(self.refusal),
        }
        for key, value in self.message.items():
            if key == "tool_calls":
                message[key] = [call.render() for call in self.calls]
            elif key == "function_call":
                message[key] = {"name": value.name, "arguments": "".join(value.arguments)}
            elif key == "audio":
                message[key] = {
                    k: "".join(v) if type(v) is _Parts else _copy(v) for k, v in value.items()
                }
            elif type(value) is _Parts:
                message[key] = "".join(value)
            else:
                message[key] = _copy(value)
        logprobs = self.logprobs
        choice: dict[str, Any] = {
            "index": self.index,
            "message": message,
            "logprobs": None if logprobs is None else _copy(logprobs),
            "finish_reason": self.finish_reason,
        }
        for key, value in self.extra.items():
            choice[key] = _copy(value)
        return choice


class _ToolCallCounter:
    """Replays how fragments map to calls, without changing anything, to see whether a chunk
    would make a choice hold more tool calls than allowed."""

    __slots__ = ("count", "current", "has_id", "ids", "indices")

    def __init__(self, choice: _Choice | None) -> None:
        # Calls are numbered by position; has_id[n]: call n already has a non-empty id.
        self.count = 0 if choice is None else len(choice.calls)
        addressed = None if choice is None else choice.addressed
        self.current: int | None = None if addressed is None else addressed.position
        self.has_id = [] if choice is None else [bool(call.id) for call in choice.calls]
        self.indices: dict[int, int] = (
            {} if choice is None else {i: c.position for i, c in choice.calls_by_index.items()}
        )
        self.ids: dict[str, int] = (
            {} if choice is None else {i: c.position for i, c in choice.calls_by_id.items()}
        )

    def add(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        call_id = fragment.get("id")
        position: int | None = None
        if index is not None:
            position = self.indices.get(index)
            if position is None:
                position = self.indices[index] = self._new()
        else:
            if call_id:
                position = self.ids.get(call_id)
            if position is None:
                function = fragment.get("function")
                if (function and function.get("name")) or self.current is None:
                    position = self._new()
                else:
                    position = self.current
        self.current = position
        if call_id and not self.has_id[position]:
            self.has_id[position] = True
            known = self.ids.get(call_id)
            if known is None or known > position:
                self.ids[call_id] = position

    def _new(self) -> int:
        self.has_id.append(False)
        self.count += 1
        return self.count - 1


class _Assembly:
    """The accumulators of one stream, and its rendering as a ``chat.completion``."""

    __slots__ = (
        "choices",
        "chunks",
        "created",
        "extra",
        "groq_usage",
        "id",
        "model",
        "service_tier",
        "system_fingerprint",
        "usage",
    )

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.service_tier: Any = _ABSENT
        self.system_fingerprint: Any = _ABSENT
        self.usage: Any = None
        self.groq_usage: Any = None
        self.extra: dict[str, Any] = {}
        self.choices: dict[int, _Choice] = {}
        self.chunks = 0

    def limit_violation(
        self, chunk: dict[str, Any], max_choice_index: int, max_tool_calls: int
    ) -> tuple[str, int, str] | None:
        """(limit, maximum, message) for the first limit the chunk would break, or ``None``."""
        choices = chunk.get("choices")
        if not choices:
            return None
        counters: dict[int, _ToolCallCounter] = {}
        for choice in choices:
            index = choice.get("index", 0)
            if index > max_choice_index:
                return "max_choice_index", max_choice_index, f"choice index {index}"
            delta = choice.get("delta")
            fragments = delta.get("tool_calls") if delta else None
            if not fragments:
                continue
            state = self.choices.get(index)
            if (
                index not in counters
                and state is not None
                and self._only_known_calls(state, fragments, max_tool_calls)
            ):
                continue
            counter = counters.get(index)
            if counter is None:
                counter = counters[index] = _ToolCallCounter(state)
            for fragment in fragments:
                call_index = fragment.get("index")
                if call_index is not None and call_index >= max_tool_calls:
                    return "max_tool_calls", max_tool_calls, f"tool call index {call_index}"
                counter.add(fragment)
                if counter.count > max_tool_calls:
                    return "max_tool_calls", max_tool_calls, f"{counter.count} tool calls"
        return None

    @staticmethod
    def _only_known_calls(state: _Choice, fragments: list[Any], max_tool_calls: int) -> bool:
        """The usual case: every fragment continues a call already seen by its index."""
        known = state.calls_by_index
        for fragment in fragments:
            index = fragment.get("index")
            if index is None or index not in known or index >= max_tool_calls:
                return False
        return True

    def apply(
        self, chunk: dict[str, Any], events: list[Event] | None, partial_arguments: bool
    ) -> None:
        """Fold in one chunk already checked by :meth:`StreamParser._check`."""
        get = chunk.get
        self._commit(
            chunk,
            get("id"),
            get("model"),
            get("created"),
            get("usage"),
            get("service_tier", _ABSENT),
            get("system_fingerprint", _ABSENT),
            events,
            partial_arguments,
        )

    def apply_if_plain(
        self,
        chunk: Any,
        events: list[Event] | None,
        partial_arguments: bool,
        max_choice_index: int,
        max_tool_calls: int,
    ) -> bool:
        """Check and fold in one chunk in a single pass, if nothing about it is unusual.

        Returns ``False``, having changed nothing, for anything this quick check is not sure
        of (a wrong type, an in-band error, a limit, a tool call that may start a new call);
        the caller then takes the careful path, which finds and reports the precise problem.
        """
        if type(chunk) is not dict:
            return False
        get = chunk.get
        chunk_id = get("id")
        model = get("model")
        created = get("created")
        usage = get("usage")
        if (
            (chunk_id is not None and type(chunk_id) is not str)
            or (model is not None and type(model) is not str)
            or (created is not None and type(created) is not int)
            or (usage is not None and type(usage) is not dict)
            or get("error") is not None
            or get("object") == "error"
        ):
            return False
        fingerprint = get("system_fingerprint", _ABSENT)
        if fingerprint is not None and type(fingerprint) is not str and fingerprint is not _ABSENT:
            return False
        tier = get("service_tier", _ABSENT)
        if tier is not None and type(tier) is not str and tier is not _ABSENT:
            return False
        choices = get("choices")
        if choices:
            if type(choices) is not list:
                return False
            for item in choices:
                if type(item) is not dict:
                    return False
                item_get = item.get
                index = item_get("index", 0)
                if type(index) is not int or index < 0 or index > max_choice_index:
                    return False
                delta = item_get("delta")
                if delta:
                    if type(delta) is not dict:
                        return False
                    if len(delta) != 1 or type(delta.get("content")) is not str:
                        if _delta_violation(delta) is not None:
                            return False
                        fragments = delta.get("tool_calls")
                        if fragments:
                            state = self.choices.get(index)
                            if state is None or not self._only_known_calls(
                                state, fragments, max_tool_calls
                            ):
                                return False
                elif delta is not None and type(delta) is not dict:
                    return False
                finish_reason = item_get("finish_reason")
                if finish_reason is not None and type(finish_reason) is not str:
                    return False
                logprobs = item_get("logprobs")
                if logprobs is not None and _logprobs_violation(logprobs) is not None:
                    return False
        elif choices is not None and type(choices) is not list:
            return False
        self._commit(
            chunk, chunk_id, model, created, usage, tier, fingerprint, events, partial_arguments
        )
        return True

    def _commit(
        self,
        chunk: dict[str, Any],
        chunk_id: str | None,
        model: str | None,
        created: int | None,
        usage: dict[str, Any] | None,
        service_tier: Any,
        system_fingerprint: Any,
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        """Apply a checked chunk (the top-level values as read by the caller; ``_ABSENT`` for a
        key the chunk does not carry)."""
        self.chunks += 1
        if chunk_id is not None and not self.id:
            self.id = chunk_id
        if model is not None and not self.model:
            self.model = model
        if created is not None and not self.created:
            self.created = created
        if service_tier is not _ABSENT and (
            service_tier is not None or self.service_tier is _ABSENT
        ):
            self.service_tier = service_tier
        if system_fingerprint is not _ABSENT and (
            system_fingerprint is not None or self.system_fingerprint is _ABSENT
        ):
            self.system_fingerprint = system_fingerprint
        states = self.choices
        for item in chunk.get("choices") or ():
            get = item.get
            index = get("index", 0)
            choice = states.get(index)
            if choice is None:
                choice = states[index] = _Choice(index)
            delta = get("delta")
            if delta:
                content = delta.get("content")
                if events is None and len(delta) == 1 and type(content) is str:
                    # The usual delta: one more piece of content.
                    if choice.content is None:
                        choice.content = [content]
                    else:
                        choice.content.append(content)
                else:
                    self._apply_delta(choice, delta, events, partial_arguments)
            logprobs = get("logprobs")
            if logprobs is not None:
                self._apply_logprobs(choice, logprobs, events)
            finish_reason = get("finish_reason")
            if finish_reason:
                choice.finish_reason = finish_reason
            if not item.keys() <= _CHOICE_KEYS:
                choice.merge_extras(item)
            if finish_reason and events is not None:
                events.extend(choice.pending_done_events(partial_arguments))
        if usage is not None:
            self.usage = _merge_usage(self.usage, usage)
            if events is not None:
                events.append(Event("usage", usage=_copy(self.usage)))
        if not chunk.keys() <= _TOP_LEVEL_KEYS:
            self._apply_top_level_extras(chunk)

    def _apply_top_level_extras(self, chunk: dict[str, Any]) -> None:
        extra = self.extra
        for key, value in chunk.items():
            if key in _TOP_LEVEL_KEYS:
                continue
            current = extra.get(key)
            if current is None:
                extra[key] = value
            elif value is None:
                continue
            elif type(value) is dict and type(current) is dict:
                _deep_merge(current, value)
            else:
                extra[key] = value
            if key == "x_groq" and type(value) is dict:
                groq_usage = value.get("usage")
                if type(groq_usage) is dict:  # a usage is an object, as top-level usage must be
                    self.groq_usage = _merge_usage(self.groq_usage, groq_usage)

    def _apply_delta(
        self,
        choice: _Choice,
        delta: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        """Fold in one delta. Keys are applied in a fixed order, not the order they arrived in
        (JSON objects are unordered, so two servers writing the same delta with their keys in
        another order give the same result): role, content (text parts; then its thinking
        parts, appended to ``reasoning_content``), refusal, the other keys in arrival order,
        tool_calls, function_call, audio."""
        message = choice.message
        get = delta.get
        new_content: str | None = None
        # (field, text) of every piece of reasoning text, in the order it was appended.
        reasoning: list[tuple[str, str]] | None = None
        role = get("role")
        if role and not choice.role:
            choice.role = role
        thinking: str | None = None
        value = get("content")
        if value is not None:
            if type(value) is str:
                text: str | None = value
            else:
                text, thinking = _typed_parts(value)
            if text is not None:
                if choice.content is None:
                    choice.content = [text]
                else:
                    choice.content.append(text)
                new_content = text
        new_refusal = get("refusal")
        if new_refusal is not None:
            if choice.refusal is None:
                choice.refusal = [new_refusal]
            else:
                choice.refusal.append(new_refusal)
        if thinking:  # empty thinking parts add nothing: no reasoning_content key of their own
            _add_to_message(message, "reasoning_content", thinking)
            reasoning = [("reasoning_content", thinking)]
        for key, value in delta.items():
            if value is None or key in _DELTA_FIXED_ORDER:
                continue  # an index in a delta only repeats the choice index
            parts = _add_to_message(message, key, value)
            if events is not None and parts is not None and key in _REASONING_FIELDS and value:
                if reasoning is None:
                    reasoning = []
                reasoning.append((key, value))
        call_events: list[Event] | None = None
        value = get("tool_calls")
        if value:  # `tool_calls: []` carries no call: the key stays absent
            if "tool_calls" not in message:
                message["tool_calls"] = choice.calls
            for fragment in value:
                call, arguments = choice.apply_fragment(fragment)
                if events is not None:
                    if call_events is None:
                        call_events = []
                    current = choice.current_call
                    if current is not None and current is not call and not current.done:
                        call_events.append(choice.call_done_event(current, partial_arguments))
                    choice.current_call = call
                    call_events.append(
                        _arguments_delta_event(
                            "tool_calls.function.arguments.delta",
                            call.arguments,
                            arguments,
                            partial_arguments,
                            choice_index=choice.index,
                            index=call.position,
                            id=call.id,
                            name=call.name,
                        )
                    )
        function_event: Event | None = None
        value = get("function_call")
        if value is not None:
            function_call = choice.function_call
            if function_call is None:
                function_call = choice.function_call = _FunctionCall()
                message["function_call"] = function_call
            name = value.get("name")
            if name and not function_call.name:
                function_call.name = name
            arguments = value.get("arguments")
            if arguments:
                function_call.arguments.append(arguments)
            if events is not None:
                function_event = _arguments_delta_event(
                    "function_call.arguments.delta",
                    function_call.arguments,
                    arguments,
                    partial_arguments,
                    choice_index=choice.index,
                    name=function_call.name,
                )
        value = get("audio")
        if value is not None:
            _merge_audio(message, value)
        if events is None:
            return
        index = choice.index
        if new_content:
            content = choice.content or []
            events.append(
                Event(
                    "content.delta",
                    choice_index=index,
                    delta=new_content,
                    snapshot=_TextSoFar(content, len(content)),
                )
            )
        if new_refusal:
            refusal = choice.refusal or []
            events.append(
                Event(
                    "refusal.delta",
                    choice_index=index,
                    delta=new_refusal,
                    snapshot=_TextSoFar(refusal, len(refusal)),
                )
            )
        if reasoning:
            for field, added in reasoning:
                trail = choice.reasoning.get(field)
                if trail is None:
                    trail = choice.reasoning[field] = []
                trail.append(added)
                events.append(
                    Event(
                        "reasoning.delta",
                        choice_index=index,
                        field=field,
                        delta=added,
                        snapshot=_TextSoFar(trail, len(trail)),
                    )
                )
        if call_events:
            events.extend(call_events)
        if function_event is not None:
            events.append(function_event)

    @staticmethod
    def _apply_logprobs(
        choice: _Choice, logprobs: dict[str, Any], events: list[Event] | None
    ) -> None:
        state = choice.logprobs
        if state is None:
            state = choice.logprobs = {"content": None, "refusal": None}
        for key, value in logprobs.items():
            if key != "content" and key != "refusal":
                if value is not None or key not in state:
                    state[key] = value
                continue
            if value is None:
                continue
            current = state[key]
            if current is None:
                # A copy: the chunk's own list may be handed out as an event's new entries.
                current = state[key] = list(value)
            else:
                current.extend(value)
            if events is not None and value:
                events.append(
                    Event(
                        f"logprobs.{key}.delta",
                        choice_index=choice.index,
                        snapshot=_ListSoFar(current, len(current)),
                        **{key: value},
                    )
                )

    def unfinished(self) -> bool:
        """No choice at all, or some choice without a finish_reason."""
        return not self.choices or any(c.finish_reason is None for c in self.choices.values())

    def render(self) -> dict[str, Any]:
        usage = self.usage if self.usage is not None else self.groq_usage
        completion: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [self.choices[index].render() for index in sorted(self.choices)],
            "usage": _copy(usage),
        }
        if self.service_tier is not _ABSENT:
            completion["service_tier"] = self.service_tier
        if self.system_fingerprint is not _ABSENT:
            completion["system_fingerprint"] = self.system_fingerprint
        for key, value in self.extra.items():
            completion[key] = _copy(value)
        return completion


def _arguments_delta_event(
    kind: str, parts: list[str], fragment: str | None, partial_arguments: bool, **about: Any
) -> Event:
    """A tool-call or function_call arguments delta: the fragment (``""`` if none) and the
    arguments so far (computed when read, as is their partial-JSON parse)."""
    so_far = _TextSoFar(parts, len(parts))
    return Event(
        kind,
        delta=fragment or "",
        arguments_delta=fragment or "",
        snapshot=so_far,
        arguments=so_far,
        parsed_arguments=_PartialSoFar(parts, len(parts)) if partial_arguments else None,
        **about,
    )


def _arguments_done_event(
    kind: str, parts: list[str], partial_arguments: bool, **about: Any
) -> Event:
    arguments = "".join(parts)
    return Event(
        kind,
        snapshot=arguments,
        arguments=arguments,
        parsed_arguments=_PartialSoFar(parts, len(parts)) if partial_arguments else None,
        **about,
    )


def _merge_audio(message: dict[str, Any], audio: dict[str, Any]) -> None:
    """``id``: first non-empty; ``data`` and ``transcript``: concatenated; others last non-null."""
    state = message.get("audio")
    if state is None:
        state = message["audio"] = {}
    for key, value in audio.items():
        if value is None:
            state.setdefault(key, None)  # a key once carried stays, as null until it has a value
            continue
        if key == "id":
            if not state.get("id"):
                state["id"] = value
        elif (key == "data" or key == "transcript") and type(value) is str:
            current = state.get(key)
            if type(current) is _Parts:
                current.append(value)
            else:
                state[key] = _Parts((value,))
        else:
            state[key] = value


# -- input that is not a chat-completions event stream ------------------------------------------

_HEAD_KEEP: Final = 64 * 1024  # the most of a non-SSE body kept for the error
_SHOWN_BYTES: Final = 64  # how much of it a message shows
_PROBE: Final = 16  # bytes looked at to decide whether the input starts like an event stream
_FIELD_NAMES: Final = (b"data", b"event", b"id", b"retry")
_FIELD_END: Final = re.compile(rb"[:\r\n]")


def _starts_like(head: bytes, full: bool) -> bool | None:
    """Whether the first non-blank line of ``head`` is an SSE line; ``None``: undecided."""
    undecided = True if full else None  # out of probe: take it for an event stream
    if head.startswith(_BOM):
        head = head[3:]
    elif _BOM.startswith(head):
        return undecided
    head = head.lstrip(b"\r\n")
    if not head:
        return undecided
    if head[:1] == b":":
        return True
    end = _FIELD_END.search(head)
    if end is not None:
        return head[: end.start()] in _FIELD_NAMES
    if any(name.startswith(head) for name in _FIELD_NAMES):
        return undecided
    return False


class _Head:
    """The start of the input: decided from its first line, kept only when it is not SSE."""

    __slots__ = ("bytes", "sse")

    def __init__(self) -> None:
        self.bytes = b""
        self.sse: bool | None = None

    def see(self, data: bytes) -> None:
        if self.sse:
            return
        if self.sse is False:
            self.bytes += data[: _HEAD_KEEP - len(self.bytes)]
            return
        if not self.bytes:
            data = data.lstrip(b"\r\n")
        room = max(_PROBE - len(self.bytes), 0)
        self.bytes += data[:room]
        self.sse = _starts_like(self.bytes, len(self.bytes) >= _PROBE)
        if self.sse:
            self.bytes = b""
        elif self.sse is False:
            self.bytes += data[room:][: _HEAD_KEEP - len(self.bytes)]

    def forget(self) -> None:
        """Events were dispatched: whatever the first line was, this is an event stream."""
        self.sse = True
        self.bytes = b""

    def not_an_event_stream(self, max_depth: int) -> DeltafoldError | None:
        if self.sse is not False:
            return None
        body = self.bytes[3:] if self.bytes.startswith(_BOM) else self.bytes
        body = body.lstrip(b"\r\n")
        shown = _show(body[:_SHOWN_BYTES], len(body))
        response = _json_object(body, max_depth)
        if response is not None:
            error = response.get("error")
            if error is None and response.get("object") == "error":
                error = response
            if error is not None:
                return StreamAPIError(
                    "input is not an event stream but an error response "
                    f"({_body_message(error)}): it starts with {shown}",
                    body=error,
                    byte_offset=0,
                )
        return StreamDecodeError(
            f"input is not an event stream: it starts with {shown}", byte_offset=0
        )


def _json_object(body: bytes, max_depth: int) -> dict[str, Any] | None:
    if body.count(b"{") + body.count(b"[") > max_depth and first_too_deep(body, max_depth):
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def _body_message(body: Any) -> str:
    if type(body) is dict:
        message = body.get("message")
        return message if type(message) is str else "no message"
    return body if type(body) is str else "no message"


_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _show(head: bytes, total: int) -> str:
    """The start of a body in a message: quoted, control characters escaped, ``...`` if more."""
    out = []
    for char in head.decode("utf-8", "replace"):
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " " or char == "\x7f":
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"' + ("..." if total > len(head) else "")


_FORMAT_DESCRIPTIONS: Final = {
    "anthropic": "an Anthropic Messages stream",
    "responses": "an OpenAI Responses stream",
    "gemini": "a Gemini stream",
    "completions": "a legacy Completions stream (text_completion)",
    "unknown": 'a stream of typed events (a "type" field and no "choices")',
}
_ANTHROPIC_EVENTS: Final = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
    }
)


def _format_of_type(name: str) -> str | None:
    if name == "error":
        return None  # an error frame is reported as one, whatever the format
    if name in _ANTHROPIC_EVENTS:
        return "anthropic"
    if name.startswith("response."):
        return "responses"
    return "unknown"


def _format_of_event(event_type: bytes) -> str | None:
    """The format an ``event:`` name belongs to, when it is one deltafold does not fold."""
    try:
        name = event_type.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if name in _ANTHROPIC_EVENTS:
        return "anthropic"
    if name.startswith("response."):
        return "responses"
    return None


def _format_of_chunk(chunk: dict[str, Any]) -> str | None:
    """The format a decoded payload belongs to, when it is not a chat-completions chunk."""
    if "choices" in chunk:
        choices = chunk["choices"]
        legacy = chunk.get("object") == "text_completion" or (
            type(choices) is list
            and any(type(c) is dict and "text" in c and "delta" not in c for c in choices)
        )
        return "completions" if legacy else None
    kind = chunk.get("type")
    if type(kind) is str:
        return _format_of_type(kind)
    if "candidates" in chunk:
        return "gemini"
    return None


# -- the chat layer -------------------------------------------------------------------------------


@final
class StreamParser(_Framer):
    """Incremental parser for one chat-completions stream.

    Feed each network read to :meth:`feed`; call :meth:`finish` at end of input. Holds only the
    partial line and the accumulators, never the raw chunks.
    """

    __slots__ = (
        "_allow_truncated",
        "_assembly",
        "_buffered",
        "_bytes_fed",
        "_capture",
        "_completed",
        "_done",
        "_events",
        "_events_on",
        "_head",
        "_max_buffer",
        "_max_choice_index",
        "_max_depth",
        "_max_problems",
        "_max_tool_calls",
        "_on_error",
        "_partial_arguments",
        "_problems",
        "_problems_dropped",
    )

    def __init__(
        self,
        *,
        on_error: OnError = "raise",
        events: bool = False,
        partial_arguments: bool = False,
        allow_truncated: bool = False,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_choice_index: int = DEFAULT_MAX_CHOICE_INDEX,
        max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_problems: int = DEFAULT_MAX_PROBLEMS,
    ) -> None:
        _check_on_error(on_error)
        _check_flag("events", events)
        _check_flag("partial_arguments", partial_arguments)
        _check_flag("allow_truncated", allow_truncated)
        _check_limit("max_line_bytes", max_line_bytes, 1)
        _check_limit("max_buffer_bytes", max_buffer_bytes, 1)
        _check_limit("max_choice_index", max_choice_index, 0)
        _check_limit("max_tool_calls", max_tool_calls, 1)
        _check_limit("max_depth", max_depth, 1, MAX_DEPTH_CEILING)
        _check_limit("max_problems", max_problems, 0)
        super().__init__(max_line_bytes)
        self._on_error = on_error
        self._events_on = bool(events)
        self._partial_arguments = bool(partial_arguments)
        self._allow_truncated = bool(allow_truncated)
        self._max_buffer = max_buffer_bytes
        self._max_choice_index = max_choice_index
        self._max_tool_calls = max_tool_calls
        self._max_depth = max_depth
        self._assembly = _Assembly()
        self._problems: list[Problem] = []
        self._max_problems = max_problems
        self._problems_dropped = 0
        self._head = _Head()
        self._done = False
        self._bytes_fed = 0
        self._buffered = 0  # payload bytes dispatched in this stream (max_buffer_bytes)
        # Events made but not yet returned (kept across a raised error, returned next time).
        self._events: list[Event] = []
        # iter_completions: [DONE] ends one stream of a capture and the next one starts.
        self._capture = False
        self._completed: list[dict[str, Any]] = []

    # -- public API --

    def feed(self, data: bytes) -> list[Event]:
        """Consume one read. Returns the events it produced (``[]`` unless ``events=True``)."""
        data = _as_bytes(data)
        with self._lock:
            self._bytes_fed += len(data)
            self._raise_deferred(data)
            if not self._dispatched:
                self._head.see(data)
            self._frame_delivering(data)
            if self._dispatched:
                self._head.forget()
            events = self._events
            if not events:
                return []
            self._events = []
            return events

    def finish(self) -> dict[str, Any]:
        """End of input: return the assembled ``chat.completion`` dict.

        Raises :class:`~deltafold.IncompleteStreamError` if input ended inside an event or with
        neither ``[DONE]`` nor a finish_reason on every choice (unless ``allow_truncated``).
        """
        with self._lock:
            self._raise_deferred(b"")
            # Events made before an error in the held input are not returned here: raise it.
            self._finalize()
            return self._assembly.render()

    def finish_events(self) -> list[Event]:
        """End of input with events: the pending ``*.done`` events and the ``done`` event.

        If the input held after a raised error yields events and then another error, those
        events are returned (without ``done``) and the next call raises the error.
        """
        with self._lock:
            self._raise_deferred(b"")
            if self._stash:
                self._frame_delivering(b"")
                if self._deferred is not None:
                    events, self._events = self._events, []
                    return events
            self._finalize()
            if not self._events_on:
                return []  # events are made only when asked for, as feed() does
            events, self._events = self._events, []
            assembly = self._assembly
            for index in sorted(assembly.choices):
                events.extend(assembly.choices[index].pending_done_events(self._partial_arguments))
            events.append(Event("done", completion=assembly.render()))
            return events

    def snapshot(self) -> dict[str, Any]:
        """The completion assembled so far."""
        with self._lock:
            return self._assembly.render()

    @property
    def problems(self) -> list[Problem]:
        """What was skipped or repaired (``on_error`` ``"skip"``/``"repair"``), in order."""
        return list(self._problems)

    @property
    def problems_dropped(self) -> int:
        """Problems past ``max_problems``, counted but not kept."""
        return self._problems_dropped

    @property
    def done(self) -> bool:
        """Whether ``data: [DONE]`` was seen."""
        return self._done

    @property
    def bytes_fed(self) -> int:
        return self._bytes_fed

    # -- end of input --

    def _finalize(self) -> None:
        """End of input: frame what an earlier error left unframed, drop an unterminated
        event, and apply the truncation rule (checked again on every call)."""
        if self._stash:
            self._frame(b"")
        inside_event = self._inside_event()
        self._drop_unterminated()
        self._refuse_non_stream()
        if not inside_event and (self._done or not self._assembly.unfinished()):
            return
        error = IncompleteStreamError(
            "stream ended inside an event"
            if inside_event
            else "stream ended without [DONE] or a finish_reason on every choice",
            byte_offset=self._bytes_fed,
            event_index=self._dispatched,
        )
        if self._on_error == "raise" and not self._allow_truncated:
            error.partial = self._assembly.render()
            raise error
        self._record(
            Problem(
                "IncompleteStreamError",
                "ignored",
                error.message,
                error.byte_offset,
                error.event_index,
            )
        )

    def _refuse_non_stream(self) -> None:
        """End of an input that dispatched no event: refuse it, in every mode, if it does not
        start like an event stream (an HTML page, a JSON error response)."""
        if not self._dispatched:
            error = self._head.not_an_event_stream(self._max_depth)
            if error is not None:
                error.partial = self._assembly.render()
                raise error

    def _end_capture(self) -> dict[str, Any] | None:
        """End of a capture: the last stream's completion, if it has any chunk."""
        self._raise_deferred(b"")
        if self._stash:
            self._frame_delivering(b"")
            if self._deferred is not None:
                return None  # the completions made first are in _completed; raised next call
        self._refuse_non_stream()
        if self._assembly.chunks == 0 and not self._inside_event():
            return None
        self._finalize()
        return self._assembly.render() if self._assembly.chunks else None

    # -- per event --

    def _produced(self) -> bool:
        return bool(self._events or self._completed)

    def _record(self, problem: Problem) -> None:
        """Keep the first ``max_problems`` problems and count the rest."""
        if len(self._problems) < self._max_problems:
            self._problems.append(problem)
        else:
            self._problems_dropped += 1

    def _report(self, error: DeltafoldError) -> None:
        """A problem with the event at hand: raise it, or record it and go on."""
        if self._on_error == "raise":
            error.partial = self._assembly.render()
            raise error
        self._record(
            Problem(
                type(error).__name__, "skipped", error.message, error.byte_offset, error.event_index
            )
        )
        if self._events_on and isinstance(error, StreamAPIError):
            self._events.append(Event("error", error=error.body))

    def _dispatch(self, payload: bytes, offset: int, index: int, event_type: bytes | None) -> None:
        if self._done:
            self._record(
                Problem("DataAfterDone", "ignored", "event after [DONE] ignored", offset, index)
            )
            return
        if payload[:1] != b"{" and payload.strip(_ASCII_WS) == b"[DONE]":
            self._end_of_stream()
            return
        self._buffered += len(payload)
        if self._buffered > self._max_buffer:
            self._report(
                LimitExceededError(
                    f"stream data longer than max_buffer_bytes ({self._max_buffer})",
                    limit="max_buffer_bytes",
                    maximum=self._max_buffer,
                    byte_offset=offset,
                    event_index=index,
                )
            )
            return
        if event_type == b"error":
            self._report(_api_error(_error_event_body(payload, self._max_depth), offset, index))
            return
        if payload[:1] != b"{" and not payload.strip(_ASCII_WS):
            return  # an empty data event (WHATWG dispatches it) carries no chunk
        if not self._assembly.chunks and event_type:
            self._refuse_format(_format_of_event(event_type), offset, index)
        chunk: Any = _UNPARSED
        if payload.count(b"{") + payload.count(b"[") <= self._max_depth:
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass  # the careful path below finds out why
        if chunk is _UNPARSED:
            try:
                chunk = self._parse(payload, offset, index)
            except ChunkDecodeError as error:
                if self._on_error != "repair" or not self._apply_repaired(payload, offset, index):
                    self._report(error)
                return
            except DeltafoldError as error:
                self._report(error)
                return
        if not self._assembly.chunks and type(chunk) is dict:
            self._refuse_format(_format_of_chunk(chunk), offset, index)
        events = self._events if self._events_on else None
        if self._assembly.apply_if_plain(
            chunk, events, self._partial_arguments, self._max_choice_index, self._max_tool_calls
        ):
            return
        try:
            self._check(chunk, payload, offset, index)
        except DeltafoldError as error:
            self._report(error)
            return
        self._assembly.apply(chunk, events, self._partial_arguments)

    def _refuse_format(self, format: str | None, offset: int, index: int) -> None:
        """A chunk of another format is raised in every mode: skipping it would leave a
        silently empty completion."""
        if format is not None:
            raise UnsupportedFormatError(
                f"unsupported stream format: this is {_FORMAT_DESCRIPTIONS[format]}, "
                "not an OpenAI Chat Completions stream (chat.completion.chunk)",
                format=format,
                byte_offset=offset,
                event_index=index,
                partial=self._assembly.render(),
            )

    def _apply_repaired(self, payload: bytes, offset: int, index: int) -> bool:
        """Repair mode: apply the repaired chunk if it is valid; whether that happened."""
        repaired = repair_chunk_json(payload)
        if repaired is None:
            return False
        try:
            chunk = self._parse(repaired, offset, index)
            self._check(chunk, repaired, offset, index)
        except DeltafoldError:
            return False
        self._assembly.apply(
            chunk, self._events if self._events_on else None, self._partial_arguments
        )
        self._record(
            Problem("ChunkDecodeError", "repaired", "malformed chunk JSON repaired", offset, index)
        )
        return True

    def _parse(self, payload: bytes, offset: int, index: int) -> Any:
        """orjson-decode a payload, enforcing ``max_depth`` as if nesting were checked while
        reading: whichever comes first, the too-deep bracket or the syntax error, is reported."""
        too_deep: int | None = None
        if payload.count(b"{") + payload.count(b"[") > self._max_depth:
            too_deep = first_too_deep(payload, self._max_depth)
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            message, position = error.msg, _byte_position(payload, error)
            if too_deep is not None and too_deep < position:
                raise self._depth_error(offset, index) from None
            if (
                self._max_depth > ORJSON_MAX_DEPTH
                and first_too_deep(payload, ORJSON_MAX_DEPTH) is not None
            ):
                # orjson stopped at its own nesting limit, below the one asked for.
                try:
                    chunk = parse_deep(payload)
                except DeepSyntaxError as deep:
                    message, position = str(deep), deep.pos
                else:
                    if too_deep is not None:
                        raise self._depth_error(offset, index) from None
                    return chunk
                if too_deep is not None and too_deep < position:
                    raise self._depth_error(offset, index) from None
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk JSON: {message}",
                payload,
                position,
                byte_offset=offset,
                event_index=index,
            ) from None
        if too_deep is not None:
            raise self._depth_error(offset, index)
        return chunk

    def _depth_error(self, offset: int, index: int) -> LimitExceededError:
        return LimitExceededError(
            f"JSON nested deeper than max_depth ({self._max_depth})",
            limit="max_depth",
            maximum=self._max_depth,
            byte_offset=offset,
            event_index=index,
        )

    def _check(self, chunk: Any, payload: bytes, offset: int, index: int) -> None:
        """Everything that must hold before a chunk is applied: schema, no in-band error,
        limits. Raises the error to report."""
        violation = _schema_violation(chunk)
        if violation is not None:
            path, expected = violation
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk: expected {_describe(path)} to be {expected}",
                payload,
                value_position(payload, path),
                byte_offset=offset,
                event_index=index,
            )
        body = chunk.get("error")
        if body is None and chunk.get("object") == "error":
            body = chunk
        if body is not None:
            raise _api_error(body, offset, index)
        broken = self._assembly.limit_violation(chunk, self._max_choice_index, self._max_tool_calls)
        if broken is not None:
            limit, maximum, what = broken
            raise LimitExceededError(
                f"{what} exceeds {limit} ({maximum})",
                limit=limit,
                maximum=maximum,
                byte_offset=offset,
                event_index=index,
            )

    def _end_of_stream(self) -> None:
        if not self._capture:
            self._done = True
            return
        self._completed.append(self._assembly.render())
        self._assembly = _Assembly()
        self._buffered = 0


def _api_error(body: Any, offset: int, index: int) -> StreamAPIError:
    return StreamAPIError(
        f"stream reported an error: {_api_message(body)}",
        body=body,
        byte_offset=offset,
        event_index=index,
    )


def _error_event_body(payload: bytes, max_depth: int) -> Any:
    """``event: error``: the data as JSON if it is JSON nested no deeper than ``max_depth``,
    else as text (empty data gives ``""``)."""
    if payload.count(b"{") + payload.count(b"[") <= max_depth or (
        first_too_deep(payload, max_depth) is None
    ):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            if max_depth > ORJSON_MAX_DEPTH and first_too_deep(payload, ORJSON_MAX_DEPTH):
                try:
                    return parse_deep(payload)
                except DeepSyntaxError:
                    pass
    return payload.decode("utf-8", "replace")


# -- whole-source helpers -------------------------------------------------------------------------


# Turning a source into reads is plumbing shared with the native facade, not merge logic.
_reads = iter_reads
_areads = aiter_reads
# The generators feed input held in memory in slices, so they yield as they go.
_slices = iter_slices
_aslices = aiter_slices


def assemble(
    source: Source,
    *,
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
    """One completion per stream of a capture holding many streams, each ended by ``[DONE]``.

    A last stream without ``[DONE]`` is yielded if it has any chunk (subject to the truncation
    rule). ``options`` are those of :func:`assemble`.
    """
    parser = StreamParser(**options)
    parser._capture = True
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
    parser._capture = True
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
