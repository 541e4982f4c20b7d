"""Archive replay: ``replay(paths)`` and ``python -m deltafold --summary --all FILES...``.

The captures are built here from recorded streams (Anthropic and OpenAI), written back to back,
so the test knows each stream's file, position, format and id independently of the code under
test; each row's summary must equal ``summarize`` of that stream alone (the documented
contract), and the stream's id and format are checked against the recording itself.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import fixture_file

from tests.eventstream_encoder import BEDROCK_FIXTURES, bedrock_events, event_message

ANTHROPIC = sorted(fixture_file("anthropic-recorded").glob("*.sse"))
OPENAI = sorted(fixture_file("openai-recorded").glob("*.sse"))


def _stream(path: Path) -> bytes:
    """A recording as one stream of a capture: ended by a blank line, as a gateway writes it."""
    data = path.read_bytes().rstrip(b"\r\n")
    return data + b"\n\n"


def _recorded_id(path: Path) -> str:
    """The message id as the recording states it (its first payload that carries one)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("data:") or "[DONE]" in line:
            continue
        payload = json.loads(line[5:])
        if payload.get("type") == "message_start":
            return str(payload["message"]["id"])
        if "id" in payload:
            return str(payload["id"])
    raise AssertionError(f"no id in {path}")


def _is_complete(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return "data: [DONE]" in text or "event: message_stop" in text


# Two captures: mixed formats in one file (auto decides each stream on its own), and a file
# whose second stream has a broken chunk and whose last stream is cut short.
MIXED = [*ANTHROPIC[:4], *OPENAI[:4], ANTHROPIC[4]]
BROKEN_CHUNK = b'data: {"id":"chatcmpl-x","object":"chat.completion.chunk","choices":[{"ind\n\n'


@pytest.fixture
def captures(tmp_path: Path) -> tuple[list[Path], list[tuple[str, int, bytes]]]:
    """The capture files, and every stream of them as (file, position, bytes)."""
    mixed = [_stream(p) for p in MIXED]
    good = _stream(OPENAI[5])
    broken = _stream(OPENAI[6]).replace(b"\n\n", b"\n\n" + BROKEN_CHUNK, 1)
    cut = _stream(ANTHROPIC[5]).split(b"event: message_stop")[0]
    second = [good, broken, cut]
    paths, streams = [], []
    for name, parts in (("mixed.sse", mixed), ("second.sse", second)):
        path = tmp_path / name
        path.write_bytes(b"".join(parts))
        paths.append(path)
        streams.extend((str(path), i, part) for i, part in enumerate(parts))
    return paths, streams


def _expected(impl: ModuleType, streams: list[tuple[str, int, bytes]]) -> list[dict[str, Any]]:
    return [{"file": f, "stream": i, **impl.summarize(data)} for f, i, data in streams]


def test_replay_rows_are_each_streams_summary(
    impl: ModuleType, captures: tuple[list[Path], list[tuple[str, int, bytes]]]
) -> None:
    paths, streams = captures
    rows = list(impl.replay(paths))
    assert [(r["file"], r["stream"]) for r in rows] == [(f, i) for f, i, _ in streams]
    assert rows == _expected(impl, streams)
    assert [list(r)[:3] for r in rows] == [["file", "stream", "format"]] * len(rows)


def test_replay_checks_against_the_recordings(
    impl: ModuleType, captures: tuple[list[Path], list[tuple[str, int, bytes]]]
) -> None:
    paths, _ = captures
    rows = list(impl.replay(paths[0]))
    assert [r["format"] for r in rows] == ["anthropic" if p in ANTHROPIC else "chat" for p in MIXED]
    assert [r["id"] for r in rows] == [_recorded_id(p) for p in MIXED]
    assert [r["status"] == "complete" for r in rows] == [_is_complete(p) for p in MIXED]
    second = list(impl.replay([paths[1]]))
    assert len(second) == 3
    assert second[0]["status"] == "complete"
    # The broken chunk stops its stream's fold (as summarize does); the next stream is whole.
    assert second[1]["status"] == "incomplete"
    assert second[2]["status"] == "incomplete"
    assert second[2]["id"] == _recorded_id(ANTHROPIC[5])


def test_replay_options_and_bad_options(impl: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "one.sse"
    path.write_bytes(_stream(ANTHROPIC[0]))
    (row,) = impl.replay(path, format="anthropic")
    assert row["format"] == "anthropic"
    (row,) = impl.replay(path, format="chat")
    assert row["status"] != "complete"
    with pytest.raises(ValueError):
        list(impl.replay(path, format="no-such-format"))


def test_replay_cli_prints_one_json_line_per_stream(
    captures: tuple[list[Path], list[tuple[str, int, bytes]]],
) -> None:
    import deltafold

    paths, streams = captures
    result = subprocess.run(
        [sys.executable, "-m", "deltafold", "--summary", "--all", *map(str, paths)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(streams)
    assert [json.loads(line) for line in lines] == _expected(deltafold, streams)


@pytest.mark.parametrize(
    "args", [["--summary", "--all"], ["--summary", "--all", "-"], ["a.sse", "b.sse"]]
)
def test_replay_cli_usage_errors(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deltafold", *args], capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 2
    assert b"usage: python -m deltafold" in result.stderr


# -- Bedrock binary captures ------------------------------------------------------------------


def _converse(n: int, *, metadata: bool) -> bytes:
    """A ConverseStream stream whose usage (when it has a metadata event, sent after
    messageStop as AWS does) is ``inputTokens = 100 + n``."""
    meta = {"usage": {"inputTokens": 100 + n, "outputTokens": n, "totalTokens": 100 + 2 * n}}
    return (
        event_message("messageStart", {"role": "assistant"})
        + event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f"s{n}"}})
        + event_message("contentBlockStop", {"contentBlockIndex": 0})
        + event_message("messageStop", {"stopReason": "end_turn"})
        + (event_message("metadata", meta) if metadata else b"")
    )


def _invoke(path: Path) -> bytes:
    """An Anthropic recording as InvokeModelWithResponseStream sends it: each event's JSON,
    base64-encoded, in a ``chunk`` event's ``bytes``."""
    import deltafold.reference

    decoder = deltafold.reference.SseDecoder()
    events = decoder.feed(_stream(path)) + decoder.finish()
    return b"".join(
        event_message("chunk", {"bytes": base64.b64encode(e.data.encode()).decode()})
        for e in events
        if e.data.strip() and e.event != "ping"
    )


def _recorded_bedrock(path: Path) -> bytes:
    return b"".join(event_message(t, p) for t, p in bedrock_events(path))


@pytest.fixture
def binary_captures(tmp_path: Path) -> tuple[list[Path], list[tuple[str, int, bytes]]]:
    """Two Bedrock binary capture files, and every stream of them as (file, position, bytes):
    Converse streams with and without metadata after the stop, the recordings (metadata before
    the stop), an InvokeModelWithResponseStream stream; the second file ends in a stream with a
    corrupted message CRC."""
    first = [
        _converse(0, metadata=True),
        _converse(1, metadata=False),
        *(_recorded_bedrock(p) for p in BEDROCK_FIXTURES[:3]),
        _invoke(ANTHROPIC[0]),
        _converse(2, metadata=True),
        _converse(3, metadata=False),
    ]
    bad = bytearray(_converse(5, metadata=True))
    bad[len(bad) // 2] ^= 0x40
    second = [_converse(4, metadata=True), bytes(bad)]
    paths, streams = [], []
    for name, parts in (("first.bin", first), ("second.bin", second)):
        path = tmp_path / name
        path.write_bytes(b"".join(parts))
        paths.append(path)
        streams.extend((str(path), i, part) for i, part in enumerate(parts))
    return paths, streams


def test_replay_reads_bedrock_binary_captures(
    impl: ModuleType, binary_captures: tuple[list[Path], list[tuple[str, int, bytes]]]
) -> None:
    paths, streams = binary_captures
    rows = list(impl.replay(paths))
    assert [(r["file"], r["stream"]) for r in rows] == [(f, i) for f, i, _ in streams]
    assert rows == _expected(impl, streams)
    assert {r["format"] for r in rows} == {"bedrock"}
    # Each stream's own usage, as the test wrote it (not the next stream's).
    inputs = [r["usage"]["input_tokens"] for r in rows]
    assert inputs[:2] == [100, None]
    assert inputs[6:9] == [102, None, 104]
    recorded = [
        next((p["usage"]["inputTokens"] for t, p in bedrock_events(f) if t == "metadata"), None)
        for f in BEDROCK_FIXTURES[:3]
    ]
    assert inputs[2:5] == recorded
    statuses = [r["status"] for r in rows]
    assert statuses[:9] == ["complete"] * 9
    assert statuses[9] != "complete"  # the corrupted frame stops that stream's fold


def test_replay_binary_twins_agree(
    binary_captures: tuple[list[Path], list[tuple[str, int, bytes]]],
) -> None:
    import deltafold
    import deltafold.reference

    paths, _ = binary_captures
    assert list(deltafold.replay(paths)) == list(deltafold.reference.replay(paths))


def test_replay_cli_reads_bedrock_binary_captures(
    binary_captures: tuple[list[Path], list[tuple[str, int, bytes]]],
) -> None:
    import deltafold

    paths, streams = binary_captures
    result = subprocess.run(
        [sys.executable, "-m", "deltafold", "--summary", "--all", *map(str, paths)],
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [json.loads(line) for line in lines] == _expected(deltafold, streams)
