"""Bedrock end of stream in captures (issue 12), both twins: AWS sends the ``metadata`` event
(usage, metrics) after ``messageStop``, so in a capture of ConverseStream streams back to back a
stream ends at its ``metadata``; a stream without one ends where the next stream's first event
comes (or at end of input). Each stream's expected result is built here from the events the test
wrote, never from the code under test; a single stream keeps its status rules."""

from __future__ import annotations

import itertools
from types import ModuleType
from typing import Any

import pytest

from tests.eventstream_encoder import BEDROCK_FIXTURES, bedrock_events, event_message


def converse(n: int, *, metadata: bool, metadata_first: bool = False) -> tuple[bytes, Any]:
    """Stream number ``n``: its bytes and the Converse response it must fold to."""
    text = f"answer {n}"
    usage = {"inputTokens": 10 + n, "outputTokens": 20 + n, "totalTokens": 30 + 2 * n}
    metrics = {"latencyMs": 100 + n}
    stop = "end_turn" if n % 2 == 0 else "max_tokens"
    meta = event_message("metadata", {"usage": usage, "metrics": metrics})
    data = (
        event_message("messageStart", {"role": "assistant"})
        + event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})
        + event_message("contentBlockStop", {"contentBlockIndex": 0})
        + (meta if metadata and metadata_first else b"")
        + event_message("messageStop", {"stopReason": stop})
        + (meta if metadata and not metadata_first else b"")
    )
    expected = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": usage if metadata else None,
        "metrics": metrics if metadata else None,
    }
    return data, expected


def completions(impl: ModuleType, data: bytes, size: int) -> list[Any]:
    reads = (data[at : at + size] for at in range(0, len(data), size))
    return list(impl.iter_completions(reads, format="bedrock"))


# Which of three streams carry metadata (after messageStop unless said otherwise).
SHAPES = [
    (True, True, True),
    (False, False, False),
    (False, True, False),
    (True, False, True),
    (True, True, False),
    (False, False, True),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "".join("M" if m else "-" for m in s))
@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_each_stream_of_a_capture_keeps_its_own_metadata(
    impl: ModuleType, shape: tuple[bool, ...], size: int
) -> None:
    streams = [converse(n, metadata=m) for n, m in enumerate(shape)]
    data = b"".join(s for s, _ in streams)
    assert completions(impl, data, size) == [e for _, e in streams]


@pytest.mark.parametrize("count", [2, 3])
def test_metadata_before_stop_and_after_stop_mixed(impl: ModuleType, count: int) -> None:
    streams = [converse(n, metadata=True, metadata_first=n % 2 == 1) for n in range(count)]
    data = b"".join(s for s, _ in streams)
    assert completions(impl, data, 5) == [e for _, e in streams]


def test_recorded_streams_back_to_back_fold_one_by_one(impl: ModuleType) -> None:
    """The recordings (metadata before messageStop, no messageStart): a capture of them gives
    each one's fold alone, and the usage of each lands on its own result."""
    data = b"".join(
        event_message(t, p) for path in BEDROCK_FIXTURES for t, p in bedrock_events(path)
    )
    alone = [
        impl.assemble(b"".join(event_message(t, p) for t, p in bedrock_events(path)))
        for path in BEDROCK_FIXTURES
    ]
    for got, path in zip(completions(impl, data, 3), BEDROCK_FIXTURES, strict=True):
        usage = [p["usage"] for t, p in bedrock_events(path) if t == "metadata"]
        assert got["usage"] == (usage[0] if usage else None), path.name
    assert completions(impl, data, 3) == alone


def test_a_stream_cut_before_stop_is_still_incomplete(impl: ModuleType) -> None:
    first, expected = converse(0, metadata=True)
    second, _ = converse(1, metadata=False)
    cut = second[: second.index(event_message("messageStop", {"stopReason": "max_tokens"}))]
    with pytest.raises(impl.IncompleteStreamError):
        completions(impl, first + cut, 9)
    got = list(impl.iter_completions(first + cut, format="bedrock", allow_truncated=True))
    assert got[0] == expected
    assert got[1]["stopReason"] is None


@pytest.mark.parametrize(("metadata", "tail"), list(itertools.product([False, True], repeat=2)))
def test_single_stream_status_rules_unchanged(impl: ModuleType, metadata: bool, tail: bool) -> None:
    """Complete at messageStop with or without metadata; an event after the end (other than
    metadata) is ignored as data after the end, not folded."""
    data, expected = converse(0, metadata=metadata)
    extra = event_message("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})
    parser = impl.StreamParser(format="bedrock")
    parser.feed(data + (extra if tail else b""))
    assert parser.finish() == expected
    summary = parser.summary()
    assert summary["status"] == "complete"
    assert summary["usage"]["total_tokens"] == (30 if metadata else None)
    assert [p.kind for p in parser.problems] == (["DataAfterDone"] if tail else [])
