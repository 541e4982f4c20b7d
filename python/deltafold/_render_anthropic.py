"""Render an Anthropic Messages ``message`` dict as the event stream that produces it.

The inverse of the Anthropic fold: ``assemble(to_sse(m, format="anthropic")) == m`` (key order
included) for every message :func:`deltafold.testing.anthropic_messages` generates, that is,
every message in the shape the fold returns (``stop_reason``, ``stop_sequence`` and
``stop_details`` present, as a ``message_delta`` leaves them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

# What message_delta carries; the rest of the message rides on message_start.
_STOP_KEYS = ("stop_reason", "stop_sequence", "stop_details")


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def anthropic_events(message: Mapping[str, Any], chunk_size: int) -> Iterator[dict[str, Any]]:
    """The payloads of the stream, as the Messages API sends them: ``message_start`` (the
    message with no content, no stop reason and the usage so far), a ``ping``, per block a
    ``content_block_start`` with the block emptied of what its deltas bring, the deltas in
    ``chunk_size`` pieces (tool input JSON included, after an empty first fragment as the API
    sends it), ``content_block_stop``; then ``message_delta`` and ``message_stop``."""
    start = {key: value for key, value in message.items()}
    start["content"] = []
    for key in _STOP_KEYS:
        if key in start:
            start[key] = None
    usage = message.get("usage")
    if isinstance(usage, Mapping) and isinstance(usage.get("output_tokens"), int):
        start["usage"] = {**usage, "output_tokens": min(usage["output_tokens"], 1)}
    yield {"type": "message_start", "message": start}
    yield {"type": "ping"}
    for index, block in enumerate(message.get("content") or ()):
        opened, deltas = _block_events(block, chunk_size)
        yield {"type": "content_block_start", "index": index, "content_block": opened}
        for delta in deltas:
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        yield {"type": "content_block_stop", "index": index}
    final: dict[str, Any] = {"type": "message_delta", "delta": {}}
    for key in _STOP_KEYS:
        if key in message:
            final["delta"][key] = message[key]
    if isinstance(usage, Mapping) and "output_tokens" in usage:
        final["usage"] = {"output_tokens": usage["output_tokens"]}
    yield final
    yield {"type": "message_stop"}


def _block_events(
    block: Mapping[str, Any], chunk_size: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the block as content_block_start gives it, the deltas that complete it)."""
    opened = dict(block)
    deltas: list[dict[str, Any]] = []
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        opened["text"] = ""
        for piece in _pieces(block["text"], chunk_size):
            deltas.append({"type": "text_delta", "text": piece})
        citations = block.get("citations")
        if isinstance(citations, list) and citations:
            opened["citations"] = None
            for citation in citations:
                deltas.append({"type": "citations_delta", "citation": citation})
    elif kind == "thinking" and isinstance(block.get("thinking"), str):
        opened["thinking"] = ""
        for piece in _pieces(block["thinking"], chunk_size):
            deltas.append({"type": "thinking_delta", "thinking": piece})
        if isinstance(block.get("signature"), str):
            opened["signature"] = ""
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif "input" in block and isinstance(block["input"], Mapping):
        opened["input"] = {}
        deltas.append({"type": "input_json_delta", "partial_json": ""})
        text = orjson.dumps(block["input"]).decode() if block["input"] else ""
        for piece in _pieces(text, chunk_size):
            deltas.append({"type": "input_json_delta", "partial_json": piece})
    return opened, deltas


def to_anthropic_sse(message: Mapping[str, Any], chunk_size: int, line_ending: str) -> bytes:
    end = line_ending.encode()
    out = bytearray()
    for payload in anthropic_events(message, chunk_size):
        out += b"event: " + payload["type"].encode() + end
        out += b"data: " + orjson.dumps(payload) + end + end
    return bytes(out)
