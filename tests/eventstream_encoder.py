"""A test encoder for AWS event-stream messages, written from the format description (not from
deltafold's code): the frames the tests feed to both twins and to botocore."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BEDROCK_FIXTURES = sorted((FIXTURES / "bedrock-recorded").glob("*.jsonl"))

# (type byte, value): the header types of the spec.
Header = tuple[int, Any]


def encode_header(name: str, kind: int, value: Any) -> bytes:
    raw_name = name.encode()
    out = bytes([len(raw_name)]) + raw_name + bytes([kind])
    if kind in (0, 1):
        return out
    if kind == 2:
        return out + struct.pack("!b", value)
    if kind == 3:
        return out + struct.pack("!h", value)
    if kind == 4:
        return out + struct.pack("!i", value)
    if kind in (5, 8):
        return out + struct.pack("!q", value)
    if kind in (6, 7):
        raw = value.encode() if kind == 7 else value
        return out + struct.pack("!H", len(raw)) + raw
    if kind == 9:
        assert len(value) == 16
        return out + value
    raise ValueError(kind)


def encode_message(headers: list[tuple[str, int, Any]], payload: bytes) -> bytes:
    block = b"".join(encode_header(name, kind, value) for name, kind, value in headers)
    total = 16 + len(block) + len(payload)
    prelude = struct.pack("!II", total, len(block))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event_message(event_type: str, payload: Any) -> bytes:
    """An `event` message as Bedrock ConverseStream sends it."""
    return encode_message(
        [
            (":event-type", 7, event_type),
            (":content-type", 7, "application/json"),
            (":message-type", 7, "event"),
        ],
        json.dumps(payload, separators=(",", ":")).encode(),
    )


def exception_message(exception_type: str, payload: Any) -> bytes:
    return encode_message(
        [
            (":exception-type", 7, exception_type),
            (":content-type", 7, "application/json"),
            (":message-type", 7, "exception"),
        ],
        json.dumps(payload, separators=(",", ":")).encode(),
    )


def bedrock_events(path: Path) -> list[tuple[str, Any]]:
    """The (event type, payload) lines of a recorded ConverseStream fixture."""
    events = []
    for line in path.read_text().splitlines():
        if line.strip():
            ((event_type, payload),) = json.loads(line).items()
            events.append((event_type, payload))
    return events


def bedrock_stream(path: Path) -> bytes:
    return b"".join(event_message(t, p) for t, p in bedrock_events(path))
