"""WHATWG event-stream framing (the SSE layer): :class:`SseDecoder` and the framer the chat
layer is built on."""

from __future__ import annotations

import re
import threading
from typing import Any, Final, SupportsIndex, final

from deltafold.errors import (
    DeltafoldError,
    LimitExceededError,
)
from deltafold.reference.options import DEFAULT_MAX_LINE_BYTES, _as_bytes, _check_limit

_RETRY_MAX: Final = 2**64 - 1
_BOM: Final = b"\xef\xbb\xbf"
_EOL: Final = re.compile(rb"[\r\n]")
_EOL_SPLIT: Final = re.compile(rb"(\r\n|\r|\n)")


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
        self._frame_lines(data)

    def _frame_lines(self, data: bytes) -> None:
        """Frame the complete lines of a read (any line end) and hold its unterminated end."""
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


