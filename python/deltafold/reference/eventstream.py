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


class Framer:
    """Cuts reads into messages. :meth:`frame` returns, for one read, the messages and errors
    in stream order as ``(headers, payload, offset, payload_offset)`` tuples or
    :class:`FrameError`; a message is dispatched only once its CRCs and headers checked."""

    __slots__ = (
        "_broken",
        "_buffer",
        "_limit",
        "_need",
        "_skipping",
        "_start",
        "dispatched",
        "seen",
    )

    def __init__(self, max_message_bytes: int) -> None:
        self._limit = max_message_bytes
        self._buffer = bytearray()  # bytes from `_start` on not framed yet
        self._need = PRELUDE_BYTES  # buffered bytes needed before framing can go on
        self._start = 0  # stream offset of `_buffer[0]`
        self._skipping = 0  # bytes still to drop of a message over the limit
        self._broken = False
        self.dispatched = 0
        self.seen = 0

    def frame(self, data: bytes) -> list[tuple[dict[str, HeaderValue], bytes, int, int] | FrameError]:
        self.seen += len(data)
        out: list[tuple[dict[str, HeaderValue], bytes, int, int] | FrameError] = []
        if self._broken:
            self._start += len(data)
            return out
        if self._skipping:
            dropped = min(self._skipping, len(data))
            self._skipping -= dropped
            self._start += dropped
            data = data[dropped:]
        if self._buffer:
            self._buffer += data
            if len(self._buffer) < self._need:
                return out
            buffer = bytes(self._buffer)
            self._buffer.clear()
        elif len(data) < self._need:
            self._buffer += data
            return out
        else:
            buffer = data
        pos = 0
        size = len(buffer)
        while size - pos >= PRELUDE_BYTES:
            start = self._start + pos
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, pos)
            computed = zlib.crc32(buffer[pos : pos + 8])
            if computed != prelude_crc:
                self._break()
                out.append(
                    FrameError(
                        "event-stream prelude CRC mismatch: the message says "
                        f"{prelude_crc:#010x}, its bytes give {computed:#010x}",
                        start,
                        self.dispatched,
                        fatal=True,
                    )
                )
                return out
            if total < MIN_MESSAGE_BYTES or headers_length > total - MIN_MESSAGE_BYTES:
                self._break()
                out.append(
                    FrameError(
                        "event-stream message has impossible lengths: total "
                        f"{total}, headers {headers_length}",
                        start,
                        self.dispatched,
                        fatal=True,
                    )
                )
                return out
            if total > self._limit:
                out.append(
                    FrameError(
                        f"event-stream message of {total} bytes is longer than "
                        f"max_message_bytes ({self._limit})",
                        start,
                        self.dispatched,
                        limit=self._limit,
                    )
                )
                taken = min(total, size - pos)
                self._skipping = total - taken
                pos += taken
                continue
            if size - pos < total:
                self._need = total
                break
            end = pos + total
            expected = _U32.unpack_from(buffer, end - 4)[0]
            computed = zlib.crc32(buffer[pos : end - 4])
            pos_before = pos
            pos = end
            if computed != expected:
                out.append(
                    FrameError(
                        "event-stream message CRC mismatch: the message says "
                        f"{expected:#010x}, its bytes give {computed:#010x}",
                        start,
                        self.dispatched,
                    )
                )
                continue
            headers_end = pos_before + PRELUDE_BYTES + headers_length
            try:
                headers = parse_headers(buffer[pos_before + PRELUDE_BYTES : headers_end])
            except _HeaderProblem as problem:
                out.append(
                    FrameError(problem.text, start + PRELUDE_BYTES + problem.at, self.dispatched)
                )
                continue
            self.dispatched += 1
            out.append((headers, buffer[headers_end : end - 4], start, start + headers_end - pos_before))
        else:
            self._need = PRELUDE_BYTES
        self._buffer += buffer[pos:]
        self._start += pos
        return out

    def _break(self) -> None:
        self._broken = True
        self._buffer.clear()

    def finish(self) -> FrameError | None:
        """End of input: the error when it ended inside a message."""
        inside = bool(self._buffer) or self._skipping > 0
        error = None
        if inside and not self._broken:
            error = FrameError(
                "stream ended inside an event-stream message", self._start, self.dispatched
            )
        self._buffer.clear()
        self._need = PRELUDE_BYTES
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
        for item in self._framer.frame(data):
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
