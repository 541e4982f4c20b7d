"""Exception types and problem records shared by the native parser and ``deltafold.reference``.

Both implementations raise these very classes, so ``except deltafold.ChunkDecodeError`` works
whichever one produced the error, and differential tests can compare error classes directly.

Every error raised while a completion was partly assembled carries ``.partial``: the snapshot of
the completion up to the last good chunk. Positions are:

* ``byte_offset`` - offset in the whole input stream (0-based) of the start of the offending
  event's payload (or of the offending bytes, for framing errors);
* ``event_index`` - 0-based index of the offending SSE event among the data events of the stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ChunkDecodeError",
    "DeltafoldError",
    "IncompleteStreamError",
    "LimitExceededError",
    "Problem",
    "StreamAPIError",
    "StreamDecodeError",
    "UnsupportedFormatError",
]


def _where(byte_offset: int | None, event_index: int | None) -> str:
    parts = []
    if byte_offset is not None:
        parts.append(f"at byte {byte_offset}")
    if event_index is not None:
        parts.append(f"(event {event_index})")
    return " ".join(parts)


class DeltafoldError(Exception):
    """Base class of every error deltafold raises."""

    # The native parser leaves here a callable of no arguments, called on the first read of
    # `.partial`: converting the completion costs time in proportion to it, and an error caught
    # and dropped unread should not pay that (see docs/design.md, "Errors and limits").
    _partial: dict[str, Any] | Callable[[], dict[str, Any] | None] | None
    byte_offset: int | None
    event_index: int | None

    def __init__(
        self,
        message: str,
        *,
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        where = _where(byte_offset, event_index)
        super().__init__(f"{message} {where}" if where else message)
        self.message = message
        self.byte_offset = byte_offset
        self.event_index = event_index
        self.partial = partial

    @property
    def partial(self) -> dict[str, Any] | None:
        """The completion as it stood when the error was raised; ``None`` for errors without one."""
        partial = self._partial
        if callable(partial):
            partial = self._partial = partial()
        return partial

    @partial.setter
    def partial(self, value: dict[str, Any] | None) -> None:
        self._partial = value

    def _state(self) -> dict[str, Any]:
        return {
            "byte_offset": self.byte_offset,
            "event_index": self.event_index,
            "partial": self.partial,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.message,), self._state()))


def _rebuild(cls: type[DeltafoldError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    return cls(*args, **state)


class StreamDecodeError(DeltafoldError, ValueError):
    """The input is not a well-formed chat-completions event stream.

    Raised as such when the input is not an event stream at all (its first line is not an SSE
    line: an HTML page, a JSON body); the message shows its first bytes.
    """


class LimitExceededError(StreamDecodeError):
    """A configured limit was exceeded; ``.limit`` names the option (e.g. ``"max_line_bytes"``)."""

    def __init__(
        self,
        message: str,
        *,
        limit: str = "",
        maximum: int | None = None,
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, byte_offset=byte_offset, event_index=event_index, partial=partial
        )
        self.limit = limit
        self.maximum = maximum

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "limit": self.limit, "maximum": self.maximum}


class UnsupportedFormatError(StreamDecodeError):
    """The stream is of a format deltafold does not fold (yet).

    ``.format`` names it: ``"anthropic"`` (Anthropic Messages), ``"responses"`` (OpenAI
    Responses), ``"gemini"``, ``"completions"`` (legacy ``text_completion`` chunks) or
    ``"unknown"`` (chunks with a ``type`` field and no ``choices``). Raised in every
    ``on_error`` mode: skipping such chunks would only leave an empty completion.
    """

    def __init__(
        self,
        message: str,
        *,
        format: str = "",
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, byte_offset=byte_offset, event_index=event_index, partial=partial
        )
        self.format = format

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "format": self.format}


class ChunkDecodeError(StreamDecodeError, json.JSONDecodeError):
    """A ``data:`` payload is not valid JSON, or not a chat-completion chunk.

    Also a :class:`json.JSONDecodeError`: ``doc`` is the payload text, ``pos`` the character
    index in it, ``lineno``/``colno`` as the standard library computes them.
    """

    def __init__(
        self,
        message: str,
        doc: str = "",
        pos: int = 0,
        *,
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        lineno = doc.count("\n", 0, pos) + 1
        colno = pos - doc.rfind("\n", 0, pos)
        where = _where(byte_offset, event_index)
        text = f"{message} {where}, line {lineno} column {colno} of the payload".replace(
            "  ", " "
        )
        ValueError.__init__(self, text.strip())
        self.message = message
        self.msg = message
        self.doc = doc
        self.pos = pos
        self.lineno = lineno
        self.colno = colno
        self.byte_offset = byte_offset
        self.event_index = event_index
        self.partial = partial

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.message, self.doc, self.pos), self._state()))

    @classmethod
    def from_payload_bytes(
        cls,
        message: str,
        payload: bytes,
        byte_pos: int,
        *,
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> ChunkDecodeError:
        """Build the error from a raw payload and a byte position inside it.

        The payload is decoded with U+FFFD replacement and the byte position converted into the
        character position ``json.JSONDecodeError`` expects.
        """
        doc = payload.decode("utf-8", "replace")
        pos = len(payload[:byte_pos].decode("utf-8", "replace"))
        return cls(
            message,
            doc,
            pos,
            byte_offset=byte_offset,
            event_index=event_index,
            partial=partial,
        )


class StreamAPIError(DeltafoldError):
    """The server reported an error inside the stream; ``.body`` holds the error object."""

    def __init__(
        self,
        message: str,
        *,
        body: Any = None,
        byte_offset: int | None = None,
        event_index: int | None = None,
        partial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, byte_offset=byte_offset, event_index=event_index, partial=partial
        )
        self.body = body

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "body": self.body}


class IncompleteStreamError(DeltafoldError):
    """Input ended inside an event, or before ``[DONE]`` / a finish_reason on every choice."""


@dataclass(frozen=True)
class Problem:
    """Something that went wrong in ``on_error="skip"`` or ``"repair"`` mode, and what was done.

    ``kind`` is the name of the error class that would have been raised (``"ChunkDecodeError"``,
    ``"LimitExceededError"``, ``"StreamAPIError"``, ``"IncompleteStreamError"``), ``action`` is
    ``"skipped"``, ``"repaired"`` or ``"ignored"``.
    """

    kind: str
    action: str
    message: str
    byte_offset: int | None
    event_index: int | None
