"""Renderers for Bedrock and Gemini: a folded result back into the stream that folds to it.

``to_event_stream(response)`` renders a Bedrock ``Converse`` response as ``ConverseStream``
event-stream frames; ``gemini_sse(response)`` renders a Gemini ``GenerateContentResponse`` as an
``alt=sse`` stream (CRLF line ends, one whole response per event). Both are inverses of the
folds on the results the folds produce: ``assemble(to_event_stream(r), format="bedrock") == r``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["encode_message", "gemini_sse", "to_event_stream"]


def _header(name: str, value: str) -> bytes:
    raw_name = name.encode()
    raw = value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack("!H", len(raw)) + raw


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (the only type Bedrock sends)."""
    block = b"".join(_header(name, value) for name, value in headers.items())
    prelude = struct.pack("!II", 16 + len(block) + len(payload), len(block))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack("!I", zlib.crc32(body))


def _event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    return encode_message(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        orjson.dumps(payload),
    )


def _pieces(text: str, size: int) -> list[str]:
    return [text[at : at + size] for at in range(0, len(text), size)] or [""]


def to_event_stream(response: Mapping[str, Any], *, chunk_size: int = 16) -> bytes:
    """Render a Bedrock ``Converse`` response as the ``ConverseStream`` frames that fold to it:
    ``messageStart``, each content block (text and tool input in ``chunk_size`` pieces),
    ``messageStop`` (with ``additionalModelResponseFields``), ``metadata`` (usage, metrics and
    every other top-level key)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be a positive integer")
    message = response.get("output", {}).get("message", {})
    out = [_event("messageStart", {"role": message.get("role", "assistant")})]
    for index, block in enumerate(message.get("content") or ()):
        for key, value in block.items():
            out.extend(_block_events(index, key, value, chunk_size))
        out.append(_event("contentBlockStop", {"contentBlockIndex": index}))
    stop: dict[str, Any] = {"stopReason": response.get("stopReason")}
    if "additionalModelResponseFields" in response:
        stop["additionalModelResponseFields"] = response["additionalModelResponseFields"]
    out.append(_event("messageStop", stop))
    metadata = {
        key: value
        for key, value in response.items()
        if key not in ("output", "stopReason", "additionalModelResponseFields")
    }
    out.append(_event("metadata", metadata))
    return b"".join(out)


def _block_events(index: int, key: str, value: Any, chunk_size: int) -> list[bytes]:
    def delta(body: Mapping[str, Any]) -> bytes:
        return _event("contentBlockDelta", {"contentBlockIndex": index, "delta": body})

    if key == "text":
        return [delta({"text": piece}) for piece in _pieces(value, chunk_size)]
    if key == "toolUse":
        start = {k: v for k, v in value.items() if k != "input"}
        tool_input = value.get("input", {})
        text = tool_input if type(tool_input) is str else orjson.dumps(tool_input).decode()
        events = [
            _event("contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": start}})
        ]
        if text != "{}":
            events += [delta({"toolUse": {"input": p}}) for p in _pieces(text, chunk_size)]
        else:
            events.append(delta({"toolUse": {}}))
        return events
    if key == "reasoningContent":
        events = []
        reasoning = value.get("reasoningText")
        if reasoning is not None:
            for piece in _pieces(reasoning.get("text", ""), chunk_size):
                events.append(delta({"reasoningContent": {"text": piece}}))
            if "signature" in reasoning:
                events.append(delta({"reasoningContent": {"signature": reasoning["signature"]}}))
        if "redactedContent" in value:
            events.append(
                delta({"reasoningContent": {"redactedContent": value["redactedContent"]}})
            )
        if not events:
            events.append(delta({"reasoningContent": {}}))
        return events
    return [delta({key: value})]


def gemini_sse(response: Mapping[str, Any]) -> bytes:
    """Render a Gemini ``GenerateContentResponse`` as the ``alt=sse`` stream that folds to it:
    per candidate, one event per part (with the candidate's index and role), then one event
    with every candidate's other keys (``finishReason`` ...) and the top-level keys."""
    events: list[dict[str, Any]] = []
    candidates = response.get("candidates") or []
    for candidate in candidates:
        content = candidate.get("content")
        index = {"index": candidate["index"]} if "index" in candidate else {}
        if type(content) is not dict:
            continue
        shell = {k: v for k, v in content.items() if k != "parts"}
        for part in content.get("parts") or ():
            events.append({"candidates": [{**index, "content": {**shell, "parts": [part]}}]})
    last_candidates = []
    for candidate in candidates:
        rest = {k: v for k, v in candidate.items() if k != "content"}
        content = candidate.get("content")
        if "content" in candidate:
            if type(content) is dict:
                rest["content"] = {k: v for k, v in content.items() if k != "parts"}
                if "parts" in content and not content["parts"]:
                    rest["content"]["parts"] = []
            else:
                rest["content"] = content
        last_candidates.append(rest)
    final = {k: v for k, v in response.items() if k != "candidates"}
    if "candidates" in response:
        final = {"candidates": last_candidates, **final}
    events.append(final)
    return b"".join(b"data: " + orjson.dumps(event) + b"\r\n\r\n" for event in events)
