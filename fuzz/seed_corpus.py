"""Writes starting corpora for the fuzz targets from the recorded streams and seed file in tests/fixtures.

Run from anywhere: ``python3 fuzz/seed_corpus.py``. The corpora go to ``fuzz/corpus/<target>/``
(ignored by git). The split-invariance targets (framing, assemble, formats) read a 10-byte header before
the stream: flags, read-size selector, 8-byte seed; each stream is written with a few headers
so every on_error mode and the small limits are reached from the start.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
FIXTURES = FUZZ_DIR.parent / "tests" / "fixtures"
SEED_FILE = FIXTURES / "seed" / "chat-completions-stream-formats.txt"

# flags bits (see fuzz_targets/assemble.rs `config`): 0-1 on_error, 2 allow_truncated,
# 3 capture, 4 events, 5 partial arguments, 6 small limits. framing reads bit 7 as "tiny limit".
ASSEMBLE_FLAGS = (0b0000000, 0b0010001, 0b0110010, 0b1000010, 0b0001101)
FRAMING_FLAGS = (0x00, 0x90)
# formats flags (see fuzz_targets/formats.rs `config`): 0-1 format (anthropic, responses, gemini,
# bedrock), 2-3 on_error (3: raise with format="auto"), 4 events, 5 allow_truncated,
# 6 small limits, 7 capture.
FORMATS_EXTRA_FLAGS = (0b0000_0000, 0b0001_0100, 0b0100_1000, 0b0000_1100, 0b1011_0000)
FORMAT_FIXTURES = {
    0: "anthropic-recorded/*.sse",
    1: "responses-recorded/*.sse",
    2: "gemini-recorded/*.sse",
}


def header(flags: int, read_size: int, seed: int) -> bytes:
    return bytes([flags, read_size]) + seed.to_bytes(8, "little")


def write(target: str, content: bytes) -> None:
    directory = FUZZ_DIR / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    # Named by content, as libFuzzer names its own corpus files.
    (directory / hashlib.sha1(content).hexdigest()).write_bytes(content)


def seed_streams() -> list[bytes]:
    """The seed file's two streamed sections, as SSE streams."""
    streams: list[bytes] = []
    current: list[str] = []
    for line in SEED_FILE.read_text(encoding="utf-8").splitlines():
        at = line.find("data: ")
        if at < 0:
            continue
        current.append(line[at:])
        if line[at:].strip() == "data: [DONE]":
            streams.append("".join(f"{event}\n\n" for event in current).encode())
            current = []
    return streams


def payloads(stream: bytes) -> list[bytes]:
    return [
        line[len(b"data: ") :]
        for line in stream.splitlines()
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]"
    ]


def format_streams() -> list[tuple[int, bytes]]:
    """(format number, stream) for every recorded Anthropic, Responses, Gemini and Bedrock
    stream; Bedrock's JSON lines become event-stream frames."""
    streams = [
        (number, path.read_bytes())
        for number, pattern in FORMAT_FIXTURES.items()
        for path in sorted(FIXTURES.glob(pattern))
    ]
    sys.path.insert(0, str(FIXTURES.parent))
    from eventstream_encoder import BEDROCK_FIXTURES, bedrock_stream

    streams += [(3, bedrock_stream(path)) for path in BEDROCK_FIXTURES]
    return streams


def main() -> None:
    recorded = sorted((FIXTURES / "openai-recorded").glob("*.sse"))
    streams = [path.read_bytes() for path in recorded] + seed_streams()
    for number, stream in enumerate(streams):
        for flags in ASSEMBLE_FLAGS:
            write("assemble", header(flags, number % 12, number + 1) + stream)
        for flags in FRAMING_FLAGS:
            write("framing", header(flags, number % 12, number + 1) + stream)
        for payload in payloads(stream):
            write("chunk", payload)
            write("repair", payload)
    for number, (fmt, stream) in enumerate(format_streams()):
        for extra in FORMATS_EXTRA_FLAGS:
            write("formats", header(fmt | extra, number % 12, number + 1) + stream)
    cases = json.loads((FIXTURES / "conformance" / "sse_cases.json").read_text(encoding="utf-8"))
    for number, case in enumerate(cases):
        encoding = case.get("chunk_encoding", "utf-8")
        body = b"".join(chunk.encode(encoding) for chunk in case["input_chunks"])
        write("framing", header(0, number % 12, number + 1) + body)


if __name__ == "__main__":
    main()
