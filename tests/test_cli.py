"""``python -m deltafold``: run as a user would, in a subprocess, on the seed's streams.

Expected outputs are read from the user's seed file (the streamed chunks and the non-streaming
response), never from a run of the code under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import fixture_file

SEED_TEXT = fixture_file("seed", "chat-completions-stream-formats.txt").read_text(encoding="utf-8")


def _seed_streams() -> list[list[str]]:
    """The data payloads of each stream in the seed, ``[DONE]`` included.

    The seed prints one ``data:`` line per chunk, the first glued to the sentence before it
    ("...usage data.data: {"), so a payload starts after the first ``data: `` of a line.
    """
    streams: list[list[str]] = []
    current: list[str] = []
    for line in SEED_TEXT.splitlines():
        _, marker, payload = line.partition("data: ")
        if not marker:
            continue
        current.append(payload)
        if payload == "[DONE]":
            streams.append(current)
            current = []
    return streams


def _seed_responses() -> list[dict[str, Any]]:
    """The non-streaming responses: the JSON objects that start on a line of their own."""
    decoder = json.JSONDecoder()
    responses = []
    at = SEED_TEXT.find("\n{\n")
    while at >= 0:
        response, end = decoder.raw_decode(SEED_TEXT, at + 1)
        responses.append(response)
        at = SEED_TEXT.find("\n{\n", end)
    return responses


TOOL_PAYLOADS, TEXT_PAYLOADS = _seed_streams()
TOOL_RESPONSE, _ = _seed_responses()


def as_stream(payloads: list[str]) -> bytes:
    # A real stream separates events with a blank line; the seed prints them back to back.
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)


def _text_chunks() -> list[dict[str, Any]]:
    return [json.loads(p) for p in TEXT_PAYLOADS if p != "[DONE]"]


def expected_text_answer() -> dict[str, Any]:
    """What the seed's streamed text answer says, read straight off its chunks."""
    chunks = _text_chunks()
    choices = [c for chunk in chunks for c in chunk["choices"]]
    return {
        "id": chunks[0]["id"],
        "model": chunks[0]["model"],
        "created": chunks[0]["created"],
        "content": "".join(c["delta"].get("content") or "" for c in choices),
        "finish_reason": next(c["finish_reason"] for c in choices if c["finish_reason"]),
        "usage": next(chunk["usage"] for chunk in chunks if chunk["usage"]),
    }


def answer_of(completion: dict[str, Any]) -> dict[str, Any]:
    choice = completion["choices"][0]
    return {
        "id": completion["id"],
        "model": completion["model"],
        "created": completion["created"],
        "content": choice["message"]["content"],
        "finish_reason": choice["finish_reason"],
        "usage": completion["usage"],
    }


def run_cli(
    *args: str, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "deltafold", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def completion_printed(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    printed: dict[str, Any] = json.loads(result.stdout)
    assert printed["object"] == "chat.completion"
    return printed


@pytest.fixture
def text_stream_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.sse"
    path.write_bytes(as_stream(TEXT_PAYLOADS))
    return path


@pytest.fixture
def tool_stream_file(tmp_path: Path) -> Path:
    path = tmp_path / "tool.sse"
    path.write_bytes(as_stream(TOOL_PAYLOADS))
    return path


def test_seed_parsed_as_expected() -> None:
    # Guards the oracle: the seed holds a text stream with a finish and a usage chunk.
    assert TEXT_PAYLOADS[-1] == TOOL_PAYLOADS[-1] == "[DONE]"
    expected = expected_text_answer()
    assert expected["content"].startswith('"Crypto')
    assert expected["finish_reason"] == "stop"
    assert expected["usage"]["total_tokens"] > 0
    assert TOOL_RESPONSE["choices"][0]["message"]["function_call"]["name"]


def test_no_arguments_prints_the_bundled_example(tmp_path: Path) -> None:
    # Run away from the repository: the example must come with the package.
    printed = completion_printed(run_cli(cwd=tmp_path))
    assert answer_of(printed) == expected_text_answer()


def test_file_argument(text_stream_file: Path) -> None:
    printed = completion_printed(run_cli(str(text_stream_file)))
    assert answer_of(printed) == expected_text_answer()


def test_dash_reads_stdin() -> None:
    printed = completion_printed(run_cli("-", stdin=as_stream(TEXT_PAYLOADS)))
    assert answer_of(printed) == expected_text_answer()


def test_events_are_json_lines_ending_with_done(text_stream_file: Path) -> None:
    result = run_cli("--events", str(text_stream_file))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events)
    assert [e["type"] for e in events].count("done") == 1
    assert events[-1]["type"] == "done"
    expected = expected_text_answer()
    deltas = [e["delta"] for e in events if e["type"] == "content.delta"]
    assert "".join(deltas) == expected["content"]
    assert [e["content"] for e in events if e["type"] == "content.done"] == [expected["content"]]
    assert [e["usage"] for e in events if e["type"] == "usage"] == [expected["usage"]]
    assert answer_of(events[-1]["completion"]) == expected


def _bad_events() -> list[tuple[int, int]]:
    """(byte offset of its payload, event index) of every seed tool chunk that is not JSON."""
    found, offset = [], 0
    for index, payload in enumerate(TOOL_PAYLOADS):
        try:
            if payload != "[DONE]":
                json.loads(payload)
        except json.JSONDecodeError:
            found.append((offset + len(b"data: "), index))
        offset += len(as_stream([payload]))
    return found


def _recovered(result: subprocess.CompletedProcess[bytes], action: str) -> dict[str, Any]:
    """The completion printed by a run that skipped or repaired, after checking that every
    bad chunk got one stderr line with its position, and the exit status said so."""
    assert result.returncode == 4, result.stderr.decode()
    lines = result.stderr.decode().splitlines()
    bad = _bad_events()
    assert len(bad) == 7  # the published stream, per docs/design.md
    assert len(lines) == len(bad), lines
    for line, (byte_offset, event_index) in zip(lines, bad, strict=True):
        assert line.startswith(f"deltafold: ChunkDecodeError {action} "), line
        assert f"at byte {byte_offset} (event {event_index}):" in line, line
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


def test_skip_lists_each_problem_with_its_position(tool_stream_file: Path) -> None:
    printed = _recovered(run_cli("--on-error", "skip", str(tool_stream_file)), "skipped")
    assert printed["choices"][0]["finish_reason"] == "function_call"


def test_repair_recovers_the_published_tool_stream(tool_stream_file: Path) -> None:
    printed = _recovered(run_cli("--on-error", "repair", str(tool_stream_file)), "repaired")
    response_choice = TOOL_RESPONSE["choices"][0]
    choice = printed["choices"][0]
    assert choice["message"]["function_call"] == response_choice["message"]["function_call"]
    assert choice["finish_reason"] == response_choice["finish_reason"]
    assert printed["usage"] == TOOL_RESPONSE["usage"]
    assert printed["model"] == TOOL_RESPONSE["model"]


def _first_bad_event() -> tuple[int, int]:
    """(byte offset of its payload, event index) of the first seed tool chunk that is not JSON."""
    offset = 0
    for index, payload in enumerate(TOOL_PAYLOADS):
        try:
            json.loads(payload)
        except json.JSONDecodeError:
            return offset + len(b"data: "), index
        offset += len(as_stream([payload]))
    raise AssertionError("the published tool stream is malformed, per DESIGN.md")


def _one_line_error(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode != 0
    stderr = result.stderr.decode()
    assert stderr.endswith("\n")
    assert stderr.count("\n") == 1, stderr
    return stderr


@pytest.mark.parametrize("events", [False, True], ids=["completion", "events"])
def test_bad_input_fails_with_one_line_naming_byte_and_event(
    tool_stream_file: Path, events: bool
) -> None:
    args = ["--events"] if events else []
    result = run_cli(*args, str(tool_stream_file))
    message = _one_line_error(result)
    byte_offset, event_index = _first_bad_event()
    assert "ChunkDecodeError" in message
    assert re.search(rf"\bbyte {byte_offset}\b", message), message
    assert re.search(rf"\bevent {event_index}\b", message), message
    assert result.returncode == 1
    if events:
        # The events of the chunks before the bad one are printed, as JSON lines, and the
        # stream did not "end".
        printed = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert [e["type"] for e in printed] == ["function_call.arguments.delta"]
        assert printed[0]["name"] == json.loads(TOOL_PAYLOADS[0])["choices"][0]["delta"][
            "function_call"
        ]["name"]
    else:
        assert result.stdout == b""


def test_truncated_input_fails_with_one_line() -> None:
    # The text stream cut before its finish chunk: neither [DONE] nor a finish_reason.
    result = run_cli("-", stdin=as_stream(TEXT_PAYLOADS[:3]))
    message = _one_line_error(result)
    assert "IncompleteStreamError" in message
    assert result.returncode == 1


def test_missing_file_fails_with_one_line(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "no-such-file.sse"))
    message = _one_line_error(result)
    assert "no-such-file.sse" in message
    assert result.returncode == 3


@pytest.mark.parametrize(
    "args", [["--on-error", "nope"], ["--events", "--all"], ["a", "b"]], ids=str
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"usage:" in result.stderr


def test_help_documents_the_exit_status() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for code, meaning in [("0", "clean"), ("1", "bad input"), ("2", "usage"), ("3", "I/O"),
                          ("4", "recovered")]:
        assert re.search(rf"^\s+{code}\s+.*{meaning}", text, re.MULTILINE), (code, text)


def test_data_after_done_is_a_problem_in_raise_mode_too() -> None:
    extra = as_stream(TEXT_PAYLOADS) + b"data: {}\n\n"
    result = run_cli("-", stdin=extra)
    assert result.returncode == 4
    assert json.loads(result.stdout)["object"] == "chat.completion"
    offset = len(as_stream(TEXT_PAYLOADS)) + len(b"data: ")
    assert result.stderr.decode().splitlines() == [
        f"deltafold: DataAfterDone ignored at byte {offset} (event {len(TEXT_PAYLOADS)}): "
        "event after [DONE] ignored"
    ]


def test_all_prints_every_completion_of_a_capture() -> None:
    expected = expected_text_answer()
    capture = as_stream(TEXT_PAYLOADS) + b": between\n\n" + as_stream(TEXT_PAYLOADS)
    result = run_cli("--all", "-", stdin=capture)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 2
    assert [answer_of(json.loads(line)) for line in lines] == [expected, expected]


def test_all_prints_the_completions_before_a_bad_chunk() -> None:
    capture = as_stream(TEXT_PAYLOADS) + b"data: {oops}\n\n" + as_stream(TEXT_PAYLOADS)
    result = run_cli("--all", "-", stdin=capture)
    assert result.returncode == 1
    assert [answer_of(json.loads(line)) for line in result.stdout.decode().splitlines()] == [
        expected_text_answer()
    ]
    message = _one_line_error(result)
    assert f"at byte {len(as_stream(TEXT_PAYLOADS)) + 6} (event {len(TEXT_PAYLOADS)})" in message


def test_not_an_event_stream_says_so() -> None:
    body = b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}'
    message = _one_line_error(run_cli("-", stdin=body))
    assert message.startswith("deltafold: StreamAPIError: input is not an event stream")
    assert "Incorrect API key provided" in message
