"""The native core pauses CPython's cyclic garbage collector while it builds a result (see
rust/py/gc_pause.rs): no collection starts inside the call, the collector's on/off state is
the caller's afterwards, and the collection that came due runs at the next allocation.

Oracle: ``gc.callbacks`` (CPython reports every collection it starts) and ``gc.isenabled``;
the results themselves are checked against the reference twin.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest


def _logprobs_stream(tokens: int) -> bytes:
    """A stream whose completion holds about 6 lists and dicts per token: far more than the
    700 new containers that start a young-generation collection."""
    parts = []
    for i in range(tokens):
        token = f" t{i % 50}"
        entry = {
            "token": token,
            "logprob": -0.25,
            "bytes": list(token.encode()),
            "top_logprobs": [
                {"token": " a", "logprob": -1.5, "bytes": [32, 97]},
                {"token": " b", "logprob": -2.5, "bytes": [32, 98]},
            ],
        }
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": token},
                    "logprobs": {"content": [entry], "refusal": None},
                    "finish_reason": None,
                }
            ],
        }
        parts.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    end = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    parts.append(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
    return b"".join(parts)


STREAM = _logprobs_stream(400)


def _finish(module: ModuleType) -> Any:
    parser = module.StreamParser()
    parser.feed(STREAM)
    return parser.finish()


def _finish_events(module: ModuleType) -> Any:
    parser = module.StreamParser(events=True)
    parser.feed(STREAM)
    return parser.finish_events()[-1].completion


CALLS: dict[str, Callable[[ModuleType], Any]] = {
    "assemble": lambda m: m.assemble(STREAM),
    "finish": _finish,
    "finish_events": _finish_events,
}


@pytest.fixture
def collections() -> Iterator[list[str]]:
    """The phases of every collection CPython starts or ends while the test runs."""
    seen: list[str] = []

    def record(phase: str, info: dict[str, int]) -> None:
        seen.append(phase)

    gc.callbacks.append(record)
    try:
        yield seen
    finally:
        gc.callbacks.remove(record)


@pytest.mark.parametrize("call", sorted(CALLS))
def test_no_collection_starts_while_a_result_is_built(
    native: ModuleType, collections: list[str], call: str
) -> None:
    run = CALLS[call]
    gc.collect()
    collections.clear()
    # The containers allocated between here and the call's result (the parser, the chunks'
    # bytes) are far fewer than a collection's threshold.
    result = run(native)
    during = len(collections)
    assert during == 0, f"{during // 2} collection(s) started inside {call}"
    assert len(result["choices"][0]["logprobs"]["content"]) == 400
    # Nothing is lost: the collection that came due runs at the next allocations.
    kept: list[list[int]] = [[] for _ in range(1000)]
    assert "start" in collections
    del kept


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_collector_is_left_as_the_caller_had_it(
    native: ModuleType, reference: ModuleType, call: str
) -> None:
    run = CALLS[call]
    want = run(reference)
    assert gc.isenabled()
    assert run(native) == want
    assert gc.isenabled()
    gc.disable()
    try:
        assert run(native) == want
        assert not gc.isenabled()
    finally:
        gc.enable()
