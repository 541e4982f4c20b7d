"""The summary: one vocabulary for every format (docs/formats.md "The summary").

Each fold gives its part (:meth:`.fold.Fold.summary`): ``id``, ``model``, ``stop_reason`` (the
provider's own value), ``usage`` (already normalised by :func:`usage`), ``text``, ``reasoning``
and ``tool_calls``, plus ``has_tool_calls`` (whether the message holds client tool calls, which
turns a plain stop into ``tool_calls``). The driver knows the rest: the format, the status and
the in-band error. :func:`build` puts them together in the contract's key order.

Decisions the contract leaves open, taken here (and by the native core alike):

- ``text`` and ``reasoning`` are ``""`` when none arrived (never ``None``);
- ``status`` is ``"failed"`` as soon as an in-band error arrived (raised, or skipped in skip
  mode), whatever came after; ``"complete"`` when the end marker was seen; else ``"incomplete"``;
- ``error`` is the body of the first in-band error;
- ``finish_reason`` is ``"error"`` for a failed stream, else ``stop_reason`` through
  :data:`FINISH_REASONS` (``None`` for a value not in the table), and a ``"stop"`` whose message
  holds client tool calls is ``"tool_calls"``.
"""

from __future__ import annotations

from typing import Any, Final

#: The keys of a summary, in order.
KEYS: Final = (
    "format",
    "id",
    "model",
    "status",
    "finish_reason",
    "stop_reason",
    "usage",
    "text",
    "reasoning",
    "tool_calls",
    "error",
)
#: The keys of a summary's usage, in order.
USAGE_KEYS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

#: Every provider's stop reasons, normalised (one table for every format).
FINISH_REASONS: Final = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "STOP": "stop",
    "completed": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "max_output_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def count(value: Any) -> int | None:
    """A token count as the provider sent it: an int (not a bool), else ``None``."""
    return value if type(value) is int else None


def usage(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    total_tokens: int | None = None,
    cached_input_tokens: int | None = None,
    cache_write_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> dict[str, int | None]:
    """A normalised usage; ``total_tokens`` is ``input + output`` when the provider gave no
    total and both are known (never guessed otherwise)."""
    if total_tokens is None and input_tokens is not None and output_tokens is not None:
        total_tokens = input_tokens + output_tokens
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": total_tokens,
        "cached_input_tokens": cached_input_tokens,
        "cache_write_tokens": cache_write_tokens,
        "reasoning_tokens": reasoning_tokens,
    }


def finish_reason(stop_reason: Any, has_tool_calls: bool, status: str) -> str | None:
    if status == "failed":
        return "error"
    normalised = FINISH_REASONS.get(stop_reason) if type(stop_reason) is str else None
    if normalised == "stop" and has_tool_calls:
        return "tool_calls"
    return normalised


def build(format: str, status: str, error: Any, part: dict[str, Any]) -> dict[str, Any]:
    """The summary of a stream of ``format`` from its fold's part."""
    return {
        "format": format,
        "id": part["id"],
        "model": part["model"],
        "status": status,
        "finish_reason": finish_reason(part["stop_reason"], part["has_tool_calls"], status),
        "stop_reason": part["stop_reason"],
        "usage": part["usage"],
        "text": part["text"],
        "reasoning": part["reasoning"],
        "tool_calls": part["tool_calls"],
        "error": error,
    }
