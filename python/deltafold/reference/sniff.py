"""Input that is not a chat-completions event stream: a JSON or HTML body, or another
provider's stream format."""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from deltafold.errors import (
    DeltafoldError,
    StreamAPIError,
    StreamDecodeError,
)
from deltafold.reference.framing import _BOM
from deltafold.reference.json import first_too_deep

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


