"""AWS event-stream framing (Bedrock's binary framing): :class:`EventStreamDecoder`.

A message is ``total length u32 | headers length u32 | prelude CRC32 | headers | payload |
message CRC32``, big-endian. Checks run in the order that keeps a corrupted byte from ever
producing a result: the prelude CRC before the lengths are trusted, the lengths (and the size
limit) before anything is buffered, the message CRC before the headers are read. After a bad
prelude nothing tells where the next message starts, so decoding stops for good; any other
error skips exactly that message.
"""

from __future__ import annotations

import struct
import threading
import zlib
from typing import Any, Final, SupportsIndex, final

import orjson

from deltafold.errors import DeltafoldError, LimitExceededError, StreamDecodeError
from deltafold.reference.options import _as_bytes, _check_limit

PRELUDE_BYTES: Final = 12
MIN_MESSAGE_BYTES: Final = 16
DEFAULT_MAX_MESSAGE_BYTES: Final = MIN_MESSAGE_BYTES + (128 << 10) + (24 << 20)

HeaderValue = bool | int | bytes | str

_PRELUDE: Final = struct.Struct("!III")
_U32: Final = struct.Struct("!I")
# Fixed-size header types: type byte -> (size, struct format).
_FIXED: Final = {2: (1, "!b"), 3: (2, "!h"), 4: (4, "!i"), 5: (8, "!q"), 8: (8, "!q")}


class _HeaderProblem(Exception):
    def __init__(self, at: int, text: str) -> None:
        super().__init__(text)
        self.at = at
        self.text = text


def _utf8(raw: bytes, at: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _HeaderProblem(at, "event-stream header name or string value is not UTF-8") from None


def parse_headers(block: bytes) -> dict[str, HeaderValue]:
    """The headers of a block, in wire order; `_HeaderProblem` at the offending header."""
    headers: dict[str, HeaderValue] = {}
    at = 0
    end = len(block)
    overrun = "event-stream header runs past the end of the headers"
    while at < end:
        start = at
        name_end = at + 1 + block[at]
        if name_end >= end:
            raise _HeaderProblem(start, overrun)
        name = _utf8(block[at + 1 : name_end], start)
        kind = block[name_end]
        at = name_end + 1
        value: HeaderValue
        if kind == 0 or kind == 1:
            value = kind == 0
        elif kind in _FIXED:
            size, form = _FIXED[kind]
            if at + size > end:
                raise _HeaderProblem(start, overrun)
            value = struct.unpack(form, block[at : at + size])[0]
            at += size
        elif kind == 6 or kind == 7:
            if at + 2 > end:
                raise _HeaderProblem(start, overrun)
            length = (block[at] << 8) | block[at + 1]
            if at + 2 + length > end:
                raise _HeaderProblem(start, overrun)
            raw = block[at + 2 : at + 2 + length]
            value = raw if kind == 6 else _utf8(raw, start)
            at += 2 + length
        elif kind == 9:
            if at + 16 > end:
                raise _HeaderProblem(start, overrun)
            value = block[at : at + 16]
            at += 16
        else:
            raise _HeaderProblem(start, f"event-stream header has unknown type {kind}")
        if name in headers:
            raise _HeaderProblem(start, "event-stream header repeated")
        headers[name] = value
    return headers


@final
class EventStreamMessage:
    """One event-stream message whose CRCs and headers checked."""

    __slots__ = ("_headers", "_payload")
    _headers: dict[str, HeaderValue]
    _payload: bytes

    def __init__(self, headers: dict[str, HeaderValue], payload: bytes) -> None:
        object.__setattr__(self, "_headers", headers)
        object.__setattr__(self, "_payload", payload)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("EventStreamMessage is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("EventStreamMessage is immutable")

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        raise TypeError("cannot pickle 'deltafold.EventStreamMessage' object")

    @property
    def headers(self) -> dict[str, HeaderValue]:
        """The headers as botocore gives them; a new dict on each read."""
        return dict(self._headers)

    @property
    def payload(self) -> bytes:
        return self._payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventStreamMessage):
            return NotImplemented
        return (list(self._headers.items()), self._payload) == (
            list(other._headers.items()),
            other._payload,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventStreamMessage(headers={self._headers!r}, payload={self._payload!r})"


class FrameError:
    """A framing error as a value: the twin of the core's `FrameError`."""

    __slots__ = ("fatal", "index", "limit", "message", "offset")

    def __init__(
        self, message: str, offset: int, index: int, *, fatal: bool = False, limit: int = -1
    ) -> None:
        self.message = message
        self.offset = offset
        self.index = index
        self.fatal = fatal
        self.limit = limit  # >= 0: a message over this limit

    def exception(self, limit_name: str = "max_message_bytes") -> DeltafoldError:
        if self.limit >= 0:
            return LimitExceededError(
                self.message,
                limit=limit_name,
                maximum=self.limit,
                byte_offset=self.offset,
                event_index=self.index,
            )
        return StreamDecodeError(self.message, byte_offset=self.offset, event_index=self.index)


Item = tuple[dict[str, HeaderValue], bytes, int, int]


class Framer:
    """Cuts bytes into messages, one at a time: :meth:`push` adds a read, :meth:`next` returns
    the next message as ``(headers, payload, offset, payload_offset)`` or a :class:`FrameError`
    (in stream order), or None when the bytes held do not complete one. A message is returned
    only once its CRCs and headers checked. :meth:`take_rest` hands back the bytes not framed
    yet (a caller that stops early keeps them and pushes them again later)."""

    __slots__ = ("_broken", "_buffer", "_limit", "_pos", "_skipping", "_start", "dispatched")

    def __init__(self, max_message_bytes: int) -> None:
        self._limit = max_message_bytes
        self._buffer = bytearray()  # bytes not framed yet start at `_pos`
        self._pos = 0
        self._start = 0  # stream offset of `_buffer[_pos]`
        self._skipping = 0  # bytes still to drop of a message over the limit
        self._broken = False
        self.dispatched = 0

    def push(self, data: bytes) -> None:
        if self._broken:
            self._start += len(data)
            return
        if self._skipping:
            dropped = min(self._skipping, len(data))
            self._skipping -= dropped
            self._start += dropped
            data = data[dropped:]
        if self._pos and self._pos * 2 >= len(self._buffer):
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def take_rest(self) -> bytes:
        rest = bytes(self._buffer[self._pos :])
        self._buffer.clear()
        self._pos = 0
        return rest

    def next(self) -> Item | FrameError | None:
        if self._broken:
            return None
        buffer = self._buffer
        pos = self._pos
        available = len(buffer) - pos
        if available < PRELUDE_BYTES:
            return None
        start = self._start
        total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, pos)
        computed = zlib.crc32(buffer[pos : pos + 8])
        if computed != prelude_crc:
            return self._break(
                "event-stream prelude CRC mismatch: the message says "
                f"{prelude_crc:#010x}, its bytes give {computed:#010x}"
            )
        if total < MIN_MESSAGE_BYTES or headers_length > total - MIN_MESSAGE_BYTES:
            return self._break(
                f"event-stream message has impossible lengths: total {total}, "
                f"headers {headers_length}"
            )
        if total > self._limit:
            taken = min(total, available)
            self._skipping = total - taken
            self._advance(taken)
            return FrameError(
                f"event-stream message of {total} bytes is longer than "
                f"max_message_bytes ({self._limit})",
                start,
                self.dispatched,
                limit=self._limit,
            )
        if available < total:
            return None
        end = pos + total
        message = bytes(buffer[pos:end])
        self._advance(total)
        expected = _U32.unpack_from(message, total - 4)[0]
        computed = zlib.crc32(message[: total - 4])
        if computed != expected:
            return FrameError(
                "event-stream message CRC mismatch: the message says "
                f"{expected:#010x}, its bytes give {computed:#010x}",
                start,
                self.dispatched,
            )
        headers_end = PRELUDE_BYTES + headers_length
        try:
            headers = parse_headers(message[PRELUDE_BYTES:headers_end])
        except _HeaderProblem as problem:
            return FrameError(problem.text, start + PRELUDE_BYTES + problem.at, self.dispatched)
        self.dispatched += 1
        return (headers, message[headers_end : total - 4], start, start + headers_end)

    def _advance(self, n: int) -> None:
        self._pos += n
        self._start += n
        if self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0

    def _break(self, message: str) -> FrameError:
        error = FrameError(message, self._start, self.dispatched, fatal=True)
        self._broken = True
        self._start += len(self._buffer) - self._pos
        self._buffer.clear()
        self._pos = 0
        return error

    def inside(self) -> bool:
        """Whether the bytes so far end inside a message."""
        return not self._broken and (len(self._buffer) > self._pos or self._skipping > 0)

    def finish(self) -> FrameError | None:
        """End of input: the error when it ended inside a message."""
        error = None
        if self.inside():
            error = FrameError(
                "stream ended inside an event-stream message", self._start, self.dispatched
            )
        self._buffer.clear()
        self._pos = 0
        self._skipping = 0
        return error

    @property
    def broken(self) -> bool:
        return self._broken


@final
class EventStreamDecoder:
    """Incremental AWS event-stream decoder: feed bytes as they arrive, get the messages they
    complete. Errors are :class:`~deltafold.StreamDecodeError` (a message over
    ``max_message_bytes``: :class:`~deltafold.LimitExceededError`) at the offset of the message,
    raised after the messages completed before them (by the next call if this one completed any).
    """

    __slots__ = ("_framer", "_lock", "_queue")

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        _check_limit("max_message_bytes", max_message_bytes, 1)
        self._lock = threading.Lock()
        self._framer = Framer(max_message_bytes)
        # Messages and errors framed but not yet handed out, in stream order.
        self._queue: list[EventStreamMessage | FrameError] = []

    def _take(self) -> list[EventStreamMessage]:
        """Messages up to the first error; that error is raised if no message precedes it."""
        queue = self._queue
        messages: list[EventStreamMessage] = []
        for at, item in enumerate(queue):
            if isinstance(item, FrameError):
                if messages:
                    del queue[:at]
                    return messages
                del queue[: at + 1]
                raise item.exception()
            messages.append(item)
        queue.clear()
        return messages

    def _frame(self, data: bytes) -> None:
        framer = self._framer
        framer.push(data)
        while (item := framer.next()) is not None:
            if isinstance(item, FrameError):
                self._queue.append(item)
            else:
                self._queue.append(EventStreamMessage(item[0], item[1]))

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Decode one read and return the messages it completed.

        An error waiting from the previous call is raised first; ``data`` is framed behind it.
        """
        data = _as_bytes(data)
        with self._lock:
            self._frame(data)
            return self._take()

    def finish(self) -> list[EventStreamMessage]:
        """End of input: raises if the input ended inside a message."""
        with self._lock:
            if not any(isinstance(item, FrameError) for item in self._queue):
                error = self._framer.finish()
                if error is not None:
                    self._queue.append(error)
            return self._take()


def is_prelude(head: bytes) -> bool:
    """Whether ``head`` (at least 12 bytes) starts with an event-stream prelude whose CRC
    checks: how ``format="auto"`` recognises Bedrock's binary framing from the first bytes."""
    if len(head) < PRELUDE_BYTES:
        return False
    return bool(zlib.crc32(head[:8]) == _U32.unpack_from(head, 8)[0])


def _string_header(headers: dict[str, HeaderValue], name: str) -> str | None:
    value = headers.get(name)
    return value if type(value) is str else None


def exception_body(headers: dict[str, HeaderValue], payload: bytes, max_depth: int) -> Any:
    """The body of an ``exception`` message: its JSON payload object with ``type`` set to the
    ``:exception-type`` header first (``{"type": ..., "message": <text>}`` for a payload that is
    not a JSON object nested at most ``max_depth`` deep)."""
    from deltafold.reference.json import first_too_deep

    kind = _string_header(headers, ":exception-type")
    value = None
    if first_too_deep(payload, max_depth) is None:
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError:
            value = None
    if type(value) is dict:
        return {"type": kind, **{k: v for k, v in value.items() if k != "type"}}
    return {"type": kind, "message": payload.decode("utf-8", "replace")}


class BinaryFraming:
    """The event-stream side of the parser (mixed into :class:`.driver.StreamParser`, which
    holds the ``_binary`` and ``_sniff`` slots): under ``format="bedrock"`` every read is framed
    as event-stream messages; under ``"auto"`` a stream whose first byte is NUL is held until
    its 12-byte prelude is in, and is Bedrock if that prelude's CRC checks (SSE text never
    starts with NUL, so other streams are not delayed by a byte).

    Each ``event`` message is dispatched like an SSE event whose ``event:`` name is its
    ``:event-type``; ``exception`` and ``error`` messages are in-band API errors; a framing
    error is reported per ``on_error``. A ``metadata`` event after ``messageStop`` (the end
    marker) is still folded: Bedrock sends the usage after the stop.
    """

    __slots__ = ()

    def _frame(self, data: bytes) -> None:
        # The parser's slots are declared on the parser (a mixin cannot hold slots).
        parser: Any = self
        sniff = parser._sniff
        if sniff is not None:
            data = sniff + data
            if not data or (data[:1] == b"\x00" and len(data) < PRELUDE_BYTES):
                parser._sniff = data
                return
            parser._sniff = None
            if is_prelude(data):
                parser._decide("bedrock")
                parser._binary = Framer(parser._max_line)
        framer = parser._binary
        if framer is None:
            super()._frame(data)  # type: ignore[misc]
            return
        stash = parser._stash
        if stash:
            data = stash + data
            parser._stash = b""
        framer.push(data)
        while (item := framer.next()) is not None:
            try:
                self._message(item)
            except BaseException:
                # Nothing after the message that raised is lost: framed again next call.
                parser._stash = framer.take_rest()
                raise

    def _message(self, item: Item | FrameError) -> None:
        parser: Any = self
        if isinstance(item, FrameError):
            if item.limit >= 0:
                error: DeltafoldError = LimitExceededError(
                    f"limit exceeded: max_line_bytes is {item.limit}",
                    limit="max_line_bytes",
                    maximum=item.limit,
                    byte_offset=item.offset,
                    event_index=item.index,
                )
            else:
                error = item.exception()
            parser._report(error)
            return
        headers, payload, offset, payload_offset = item
        index = parser._dispatched
        parser._dispatched = index + 1
        kind = headers.get(":message-type")
        if kind == "event":
            name = headers.get(":event-type")
            event_type = name.encode() if type(name) is str else b""
            # After the end of the content only the fold's trailer events belong to the
            # stream (docs/formats.md, "Decisions taken").
            trailer = parser._trailer
            if trailer is not None:
                trails = event_type == trailer
                if parser._capture and not trails:
                    parser._end_of_stream()
                elif trails and parser._done:
                    parser._done = False
                    try:
                        parser._dispatch(payload, payload_offset, index, event_type)
                    finally:
                        parser._done = True
                    return
            parser._dispatch(payload, payload_offset, index, event_type)
        elif kind == "exception":
            body = exception_body(headers, payload, parser._max_depth)
            parser._report(_api_error(body, payload_offset, index))
        elif kind == "error":
            body = {
                "type": _string_header(headers, ":error-code"),
                "message": _string_header(headers, ":error-message"),
            }
            parser._report(_api_error(body, offset, index))

    def _inside_event(self) -> bool:
        parser: Any = self
        if parser._sniff:
            return True
        if parser._binary is not None:
            return bool(parser._binary.inside())
        return bool(super()._inside_event())  # type: ignore[misc]

    def _drop_unterminated(self) -> None:
        parser: Any = self
        parser._sniff = None
        if parser._binary is not None:
            parser._binary.finish()
        super()._drop_unterminated()  # type: ignore[misc]


def _api_error(body: Any, offset: int, index: int) -> DeltafoldError:
    from deltafold.reference.chat import api_error

    return api_error(body, offset, index)
