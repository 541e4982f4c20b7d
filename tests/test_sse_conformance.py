"""The WHATWG event-stream cases of tests/fixtures/conformance/sse_cases.json through SseDecoder."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from support import fixture_file

CASES: list[dict[str, Any]] = json.loads(
    fixture_file("conformance", "sse_cases.json").read_text(encoding="utf-8")
)


def _reads(case: dict[str, Any]) -> list[bytes]:
    return [chunk.encode(case["chunk_encoding"]) for chunk in case["input_chunks"]]


def _decode(impl: ModuleType, reads: list[bytes]) -> tuple[list[dict[str, Any]], Any]:
    decoder = impl.SseDecoder()
    events = []
    for read in reads:
        events.extend(decoder.feed(read))
    events.extend(decoder.finish())
    as_dicts = [{"event": e.event, "data": e.data, "id": e.id, "retry": e.retry} for e in events]
    return as_dicts, decoder


def test_case_count() -> None:
    # The README promises 86 cases; a truncated file must not pass as a smaller suite.
    assert len(CASES) == 86
    assert len({case["name"] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case_one_feed_per_chunk(impl: ModuleType, case: dict[str, Any]) -> None:
    events, decoder = _decode(impl, _reads(case))
    assert events == case["expected_events"]
    final = case.get("expected_final_state")
    if final is not None:
        if "last_event_id" in final:
            assert decoder.last_event_id == final["last_event_id"]
        if "retry" in final:
            assert decoder.retry == final["retry"]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case_small_reads(impl: ModuleType, case: dict[str, Any]) -> None:
    # Read boundaries carry no meaning in SSE (a CR ending one read and the LF starting the
    # next are one terminator), so single-byte reads must give the very same events. The few
    # 30-200 KB cases use 7-byte reads to keep the pure-Python run short.
    whole = b"".join(_reads(case))
    size = 1 if len(whole) <= 4096 else 7
    events, _ = _decode(impl, [whole[i : i + size] for i in range(0, len(whole), size)])
    assert events == case["expected_events"]
