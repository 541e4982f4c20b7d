"""``format="auto"``: which format a stream is, decided once from its first event
(docs/formats.md): an ``event:`` name or a data ``type`` that is an Anthropic event type is
``anthropic``; a ``type`` starting ``response.`` is ``responses``; a payload with top-level
``candidates``, ``usageMetadata`` or ``promptFeedback`` is ``gemini``; anything else is ``chat``.

``event: error`` frames and empty payloads decide nothing (every SSE format may send them
first); an input that ends undecided is ``chat``. (Bedrock is not SSE: its binary framing is
recognised before any event.)
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from deltafold.reference.json import first_too_deep

#: Every event type of an Anthropic Messages stream (``error`` aside, which any format sends).
ANTHROPIC_EVENTS: Final = frozenset(
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
_GEMINI_KEYS: Final = ("candidates", "usageMetadata", "promptFeedback")


def undecided(payload: bytes, event_type: bytes | None) -> bool:
    """Whether this event leaves the format open: an error frame or an empty payload."""
    return event_type == b"error" or not payload.strip(b" \t\n\r\x0c")


def _format_of_type(name: Any) -> str | None:
    if type(name) is not str:
        return None
    if name in ANTHROPIC_EVENTS:
        return "anthropic"
    if name.startswith("response."):
        return "responses"
    return None


def detect(payload: bytes, event_type: bytes | None, max_depth: int) -> str:
    """The format of a stream whose first deciding event this is. A payload is only looked
    into within ``max_depth`` (one nested deeper is not read: chat, whose fold reports it)."""
    if event_type:
        found = _format_of_type(event_type.decode("utf-8", "replace"))
        if found is not None:
            return found
    if payload[:1] != b"{" and payload.lstrip(b" \t\n\r")[:1] != b"{":
        return "chat"  # [DONE], or not an object: whatever it is, the chat fold says so
    if payload.count(b"{") + payload.count(b"[") > max_depth and (
        first_too_deep(payload, max_depth) is not None
    ):
        return "chat"
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return "chat"
    if type(value) is not dict:
        return "chat"
    found = _format_of_type(value.get("type"))
    if found is not None:
        return found
    if any(key in value for key in _GEMINI_KEYS):
        return "gemini"
    return "chat"
