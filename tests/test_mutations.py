"""Differential testing on damaged streams: native and reference must fail (or recover) alike.

A valid stream (generated, recorded from the OpenAI API, the user's seed, or hand-made with the
less common features) is damaged by a few mutations: bytes flipped, deleted, duplicated or
inserted, events dropped, duplicated or reordered, the end cut off. The damaged bytes are fed
in random reads to both implementations in every ``on_error`` mode, sometimes with small limits,
sometimes with events on. Everything observable is compared: each error raised (class,
position, partial, limit, body), the snapshot after every read, the events, the final result
and the problems by (kind, action, byte_offset, event_index). Messages may differ.

No expected value here comes from either implementation alone: the oracle is their agreement.
"""

from __future__ import annotations

import re
from itertools import pairwise
from types import ModuleType
from typing import Any

import deltafold.errors as errors
from deltafold.testing import splits, streams
from hypothesis import given
from hypothesis import strategies as st
from support import FIXTURES, chunk, delta, fixture_file, problem_tuples, recorded_fixtures, sse

ON_ERROR_MODES = ("raise", "skip", "repair")

# Small recordings only: every example is fed six times (two implementations, three modes).
RECORDED = [p.read_bytes() for p in recorded_fixtures() if p.stat().st_size <= 8_000]


def _seed_tool_stream() -> bytes:
    """The seed's streamed tool call as a real stream (a blank line after each event)."""
    text = fixture_file("seed", "chat-completions-stream-formats.txt").read_text(encoding="utf-8")
    payloads = []
    for line in text.splitlines():
        at = line.find("data: ")
        if at >= 0:
            payloads.append(line[at + len("data: ") :])
            if payloads[-1] == "[DONE]":
                break
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)


HANDMADE = [
    # Tool calls without index (continued by id, started by name), reasoning, refusal,
    # logprobs, a typed content list, extra keys at every level, an in-band error, an error
    # event, comments, event/id/retry fields, CRLF, a BOM, usage merged from several chunks.
    b"\xef\xbb\xbf: hello\r\n"
    + sse(
        chunk(delta(role="assistant", reasoning_content="think ")),
        chunk(delta(tool_calls=[{"id": "a", "function": {"name": "f", "arguments": '{"x'}}])),
        chunk(delta(tool_calls=[{"id": "a", "function": {"arguments": '": 1}'}}])),
        chunk(delta(tool_calls=[{"function": {"name": "g", "arguments": "[1"}}])),
        chunk(delta(tool_calls=[{"function": {"arguments": ", 2]"}}])),
        chunk(delta(index=1, refusal="no", content=[{"type": "text", "text": "t"}])),
        chunk(
            {
                "index": 1,
                "delta": {"content": [{"type": "thinking", "thinking": "hm"}]},
                "logprobs": {"content": [{"token": "t", "logprob": -0.5}], "refusal": None},
                "content_filter_results": {"hate": {"filtered": False}},
            },
            x_extra={"a": 1},
        ),
        '{"error": {"message": "transient"}}',
        chunk(usage={"prompt_tokens": 5, "completion_tokens": 0}),
        chunk(delta(finish="tool_calls"), delta(index=1, finish="stop"), usage=None),
        chunk(usage={"prompt_tokens": 0, "completion_tokens": 9, "total_tokens": 14}),
        line_ending="\r\n",
    ).replace(b"data: [DONE]", b"event: error\r\ndata: oops\r\n\r\nid: 7\r\ndata: [DONE]"),
    # The legacy function_call shape, lone CR line ends, data split over two lines.
    sse(
        chunk(delta(role="assistant", function_call={"name": "f", "arguments": ""})),
        chunk(delta(function_call={"arguments": '{"a"'})),
        '{"choices": [{"index": 0, "delta": {"function_call":\n{"arguments": ": 2}"}}}]}',
        chunk(delta(finish="function_call")),
        line_ending="\r",
    ).replace(b"\n{", b"\rdata: {"),
    (FIXTURES / "seed_tool_call_fixed.sse").read_bytes(),
    _seed_tool_stream(),
]

JUNK = [
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b'"',
    b"\\",
    b"-",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"\x00",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xe4\xb8",
    b"data: ",
    b"data: [DONE]\n\n",
    b"event: error\n",
    b": c\n",
    b"4294967295",
    b"-1",
    b"1e400",
    b"null",
    b'"\\ud800"',
    b"[[[[[[[[[[",
]

# Event boundaries: a blank line after any line end (CRLF first so it is not split in two).
_EVENT_END = re.compile(rb"(?:\r\n|\r|\n)(?:\r\n|\r|\n)")


def _events(data: bytes) -> list[bytes]:
    """``data`` cut after each blank line; the pieces join back to ``data``."""
    ends = [m.end() for m in _EVENT_END.finditer(data)]
    bounds = [0, *ends] if not ends or ends[-1] == len(data) else [0, *ends, len(data)]
    return [data[a:b] for a, b in pairwise(bounds) if b > a]


@st.composite
def _mutation(draw: st.DrawFn, data: bytes) -> bytes:
    size = len(data)
    how = draw(
        st.sampled_from(
            [
                "flip",
                "delete",
                "duplicate",
                "insert",
                "drop event",
                "duplicate event",
                "reorder events",
                "truncate",
            ]
        ),
        label="mutation",
    )
    position = draw(st.integers(0, size), label="position")
    if how == "flip" and size:
        at = min(position, size - 1)
        mask = draw(st.integers(1, 255), label="mask")
        return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]
    if how == "delete":
        return data[:position] + data[position + draw(st.integers(1, 16), label="length") :]
    if how == "duplicate":
        length = draw(st.integers(1, 64), label="length")
        at = draw(st.integers(0, size), label="insert at")
        return data[:at] + data[position : position + length] + data[at:]
    if how == "insert":
        junk = draw(st.one_of(st.sampled_from(JUNK), st.binary(min_size=1, max_size=6)))
        return data[:position] + junk + data[position:]
    if how == "truncate":
        return data[:position]
    events = _events(data)
    if len(events) < 2:
        return data
    which = draw(st.integers(0, len(events) - 1), label="event")
    if how == "drop event":
        del events[which]
    elif how == "duplicate event":
        events.insert(draw(st.integers(0, len(events)), label="copy to"), events[which])
    else:
        events = draw(st.permutations(events), label="order")
    return b"".join(events)


@st.composite
def damaged_streams(draw: st.DrawFn) -> bytes:
    base = draw(
        st.one_of(
            streams().map(lambda pair: pair[1]),
            st.sampled_from(RECORDED),
            st.sampled_from(HANDMADE),
        ),
        label="base",
    )
    data = base
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        data = draw(_mutation(data))
    return data


# Small limits so that damage trips them, alongside the defaults.
_limits = st.fixed_dictionaries(
    {},
    optional={
        "max_depth": st.integers(1, 8),
        "max_line_bytes": st.integers(1, 600),
        "max_buffer_bytes": st.integers(1, 4000),
        "max_choice_index": st.integers(0, 3),
        "max_tool_calls": st.integers(1, 3),
        "allow_truncated": st.booleans(),
    },
)


def _error_fields(error: errors.DeltafoldError) -> tuple[Any, ...]:
    return (
        type(error).__name__,
        error.byte_offset,
        error.event_index,
        error.partial,
        getattr(error, "limit", None),
        getattr(error, "body", None),
        getattr(error, "doc", None),
    )


def _events_seen(events: list[Any]) -> list[dict[str, Any]]:
    return [event.as_dict() for event in events]


def _run(impl: ModuleType, pieces: list[bytes], options: dict[str, Any]) -> list[Any]:
    """Everything observable while the reads are fed, in order."""
    parser = impl.StreamParser(**options)
    log: list[Any] = []
    for piece in pieces:
        try:
            log.append(("events", _events_seen(parser.feed(piece))))
        except errors.DeltafoldError as error:
            log.append(("raised", *_error_fields(error)))
            # The failed read's rest is kept; drain it (one error per offending event).
            for _ in range(len(piece) + 1):
                try:
                    log.append(("events", _events_seen(parser.feed(b""))))
                    break
                except errors.DeltafoldError as again:
                    log.append(("raised", *_error_fields(again)))
        log.append(("snapshot", parser.snapshot(), parser.done))
    try:
        if options.get("events"):
            log.append(("finish events", _events_seen(parser.finish_events())))
        else:
            log.append(("finish", parser.finish()))
    except errors.DeltafoldError as error:
        log.append(("raised at finish", *_error_fields(error)))
    log.append(("problems", problem_tuples(parser.problems)))
    return log


def _first_difference(native: Any, reference: Any, path: str = "log") -> str | None:
    """Where two logs first differ, for a readable failure message."""
    if type(native) is not type(reference):
        return f"{path}: native {native!r} / reference {reference!r}"
    if isinstance(native, dict):
        if list(native) != list(reference):
            return f"{path} keys: native {list(native)} / reference {list(reference)}"
        for key in native:
            found = _first_difference(native[key], reference[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(native, (list, tuple)):
        for position, (a, b) in enumerate(zip(native, reference, strict=False)):
            found = _first_difference(a, b, f"{path}[{position}]")
            if found:
                return found
        if len(native) != len(reference):
            return f"{path}: native has {len(native)} items / reference {len(reference)}"
        return None
    return None if native == reference else f"{path}: native {native!r} / reference {reference!r}"


def _assert_same_runs(
    native: ModuleType, reference: ModuleType, pieces: list[bytes], options: dict[str, Any]
) -> None:
    from_native = _run(native, pieces, options)
    from_reference = _run(reference, pieces, options)
    assert from_native == from_reference, (
        options,
        _first_difference(from_native, from_reference),
    )


@given(st.data())
def test_native_equals_reference_on_damaged_streams(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    damaged = data.draw(damaged_streams(), label="damaged")
    pieces = data.draw(splits(damaged), label="reads")
    limits = data.draw(_limits, label="limits")
    for on_error in ON_ERROR_MODES:
        _assert_same_runs(native, reference, pieces, {"on_error": on_error, **limits})


@given(st.data())
def test_events_agree_on_damaged_streams(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    damaged = data.draw(damaged_streams(), label="damaged")
    pieces = data.draw(splits(damaged), label="reads")
    on_error = data.draw(st.sampled_from(ON_ERROR_MODES), label="on_error")
    _assert_same_runs(native, reference, pieces, {"on_error": on_error, "events": True})


def _assemble_outcome(impl: ModuleType, data: bytes, options: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("result", impl.assemble(data, **options))
    except errors.DeltafoldError as error:
        return ("raised", *_error_fields(error))


@given(damaged=damaged_streams(), limits=_limits)
def test_assemble_agrees_on_damaged_streams(
    native: ModuleType, reference: ModuleType, damaged: bytes, limits: dict[str, Any]
) -> None:
    # Native assemble() of whole bytes is its own code path (no Python reads, no feed loop).
    for on_error in ON_ERROR_MODES:
        options = {"on_error": on_error, **limits}
        assert _assemble_outcome(native, damaged, options) == _assemble_outcome(
            reference, damaged, options
        ), on_error


def _completions(impl: ModuleType, pieces: list[bytes], on_error: str) -> tuple[Any, ...]:
    found: list[Any] = []
    try:
        for completion in impl.iter_completions(pieces, on_error=on_error):
            found.append(completion)
    except errors.DeltafoldError as error:
        return ("raised", found, *_error_fields(error))
    return ("completions", found)


@given(st.data())
def test_captures_of_damaged_streams_agree(
    native: ModuleType, reference: ModuleType, data: st.DataObject
) -> None:
    # A capture: several streams back to back, bytes after each [DONE] starting the next one.
    parts = data.draw(st.lists(damaged_streams(), min_size=1, max_size=3), label="streams")
    capture = b"".join(parts)
    pieces = data.draw(splits(capture), label="reads")
    for on_error in ON_ERROR_MODES:
        assert _completions(native, pieces, on_error) == _completions(
            reference, pieces, on_error
        ), on_error
