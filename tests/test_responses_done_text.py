"""A finished part repeating the `*.done` text before it (the native fold compares it with
that text's bytes instead of reading it again) folds as the reference reads it: results,
snapshots after every event, errors and their positions, problems and events."""

from __future__ import annotations

import json
from typing import Any

import deltafold
import deltafold.reference as reference
import pytest
from test_mutations import _first_difference, _run

# Escapes, non-ASCII written raw and escaped, and a surrogate pair.
TEXT = 'a "quoted" line\nnext\tcafé \u00e9 😀 end'
RAW = json.dumps(TEXT)  # as a server writes it: ASCII with \u escapes
SUMMARY = 'think: "x"\nthen 😀'
RAW_SUMMARY = json.dumps(SUMMARY, ensure_ascii=False)


def _event(body: dict[str, Any] | str) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    # The payload may be malformed on purpose: its type is read from its start.
    kind = data.split('"type":"', 1)[-1].split('"', 1)[0]
    return f"event: {kind}\ndata: {data}\n\n".encode()


def _stream(part_done: str) -> list[bytes]:
    """The events of a message, its text's `.done`, then `part_done` (a payload's text)."""
    response: dict[str, Any] = {
        "id": "r",
        "object": "response",
        "status": "in_progress",
        "output": [],
    }
    message = {"id": "m", "type": "message", "status": "in_progress", "content": []}
    part = {"type": "output_text", "annotations": [], "text": ""}
    events: list[bytes] = [
        _event({"type": "response.created", "sequence_number": 0, "response": response}),
        _event(
            {
                "type": "response.output_item.added",
                "sequence_number": 1,
                "output_index": 0,
                "item": message,
            }
        ),
        _event(
            {
                "type": "response.content_part.added",
                "sequence_number": 2,
                "output_index": 0,
                "content_index": 0,
                "part": part,
            }
        ),
    ]
    pieces = [TEXT[:9], TEXT[9:20], TEXT[20:]]
    for n, piece in enumerate(pieces):
        events.append(
            _event(
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 3 + n,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                }
            )
        )
    events.append(
        _event(
            '{"type":"response.output_text.done","sequence_number":6,"output_index":0,'
            f'"content_index":0,"text":{RAW}}}'
        )
    )
    events.append(_event(part_done))
    finished = {
        "id": "m",
        "type": "message",
        "status": "completed",
        "content": [{"type": "output_text", "annotations": [], "text": TEXT}],
    }
    item = json.dumps(finished)
    events.append(
        _event(
            '{"type":"response.output_item.done","sequence_number":8,"output_index":0,'
            f'"item":{item}}}'
        )
    )
    closed: dict[str, Any] = dict(response, status="completed")
    closed["output"] = [finished]
    events.append(
        _event(
            '{"type":"response.completed","sequence_number":9,"response":'
            + json.dumps(closed)
            + "}"
        )
    )
    return events


def _part_done(part: str) -> str:
    return (
        '{"type":"response.content_part.done","sequence_number":7,"output_index":0,'
        f'"content_index":0,"part":{part}}}'
    )


def _part(text: str) -> str:
    return '{"type":"output_text","annotations":[],"text":' + text + "}"


CUT = RAW[:-1]
CASES = {
    "repeats the done text": _part_done(_part(RAW)),
    "repeats it twice": _part_done(
        '{"type":"output_text","text":' + RAW + ',"refusal":' + RAW + "}"
    ),
    "written otherwise": _part_done(_part(json.dumps(TEXT, ensure_ascii=False))),
    "another text": _part_done(_part(json.dumps(TEXT + "!"))),
    "a longer text": _part_done(_part(CUT + '\\n"')),
    "bad escape after the text": _part_done(_part(CUT + '\\q"')),
    "junk after the text": _part_done('{"type":"output_text","text":' + RAW + "x}"),
    "comma after the text": _part_done('{"type":"output_text","text":' + RAW + ",}"),
    "cut after the text": _part_done('{"type":"output_text","text":' + RAW),
    "not an object": _part_done("[" + RAW + "]"),
    "the text as the part": _part_done(RAW),
    "a missing part": _part_done(_part(RAW)).replace('"content_index":0', '"content_index":4'),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("on_error", ["raise", "skip"])
@pytest.mark.parametrize("events", [False, True])
def test_a_finished_part_folds_as_the_reference_reads_it(
    case: str, on_error: str, events: bool
) -> None:
    stream = _stream(CASES[case])
    options = {"format": "responses", "on_error": on_error, "events": events}
    for pieces in (stream, [b"".join(stream)], stream[:8], stream[:9]):
        native = _run(deltafold, pieces, dict(options, allow_truncated=True))
        twin = _run(reference, pieces, dict(options, allow_truncated=True))
        assert native == twin, _first_difference(native, twin)


def test_the_compared_part_stands_in_snapshots_and_the_result() -> None:
    stream = _stream(CASES["repeats the done text"])
    parser = deltafold.StreamParser(format="responses")
    for n, event in enumerate(stream):
        parser.feed(event)
        if n == 7:  # right after the part's `.done`
            part = parser.snapshot()["output"][0]["content"][0]
            assert part == {"type": "output_text", "annotations": [], "text": TEXT}
    result = parser.finish()
    assert result["output"][0]["content"][0]["text"] == TEXT
    truncated = deltafold.assemble(b"".join(stream[:8]), format="responses", allow_truncated=True)
    assert truncated["output"][0]["content"][0]["text"] == TEXT


def test_a_reasoning_summary_part_repeating_its_done_text_folds_as_the_reference() -> None:
    events = [
        _event(
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {"id": "r", "status": "in_progress", "output": []},
            }
        ),
        _event(
            {
                "type": "response.output_item.added",
                "sequence_number": 1,
                "output_index": 0,
                "item": {"id": "s", "type": "reasoning", "summary": []},
            }
        ),
        _event(
            {
                "type": "response.reasoning_summary_part.added",
                "sequence_number": 2,
                "output_index": 0,
                "summary_index": 0,
                "part": {"type": "summary_text", "text": ""},
            }
        ),
        _event(
            {
                "type": "response.reasoning_summary_text.delta",
                "sequence_number": 3,
                "output_index": 0,
                "summary_index": 0,
                "delta": SUMMARY,
            }
        ),
        _event(
            '{"type":"response.reasoning_summary_text.done","sequence_number":4,'
            f'"output_index":0,"summary_index":0,"text":{RAW_SUMMARY}}}'
        ),
    ]
    for part in (
        '{"type":"summary_text","text":' + RAW_SUMMARY + "}",
        '{"type":"summary_text","text":' + RAW_SUMMARY[:-1] + '\\u0021"}',
        '{"type":"summary_text","text":' + RAW_SUMMARY + "]",
    ):
        stream = [
            *events,
            _event(
                '{"type":"response.reasoning_summary_part.done","sequence_number":5,'
                f'"output_index":0,"summary_index":0,"part":{part}}}'
            ),
        ]
        options = {"format": "responses", "on_error": "raise", "allow_truncated": True}
        native = _run(deltafold, stream, options)
        twin = _run(reference, stream, options)
        assert native == twin, _first_difference(native, twin)
