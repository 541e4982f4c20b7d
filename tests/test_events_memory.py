"""C2: events mode must not amplify memory. Every arguments-delta event names its call (a
1 MB name once cost 1 MB per fragment), and every usage event reports the merged usage (once
copied whole into each event: memory quadratic in the number of usage chunks).

The bounds are measured in a subprocess as peak RSS growth while every event of the stream is
alive at once (one feed of the whole input), against a generous multiple of the input size:
the quadratic behaviour exceeded them by two orders of magnitude. The measurement is of the
native core's memory: the pure-Python twin builds Python objects and is not bound by it. The
values the events carry are checked against both twins."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benches" / "events_memory.py"


def _measure(case: str, n: int) -> dict[str, int]:
    namespace: dict[str, object] = {}
    exec(compile(BENCH.read_text(), str(BENCH), "exec"), namespace)
    measure = namespace["measure"]
    assert callable(measure)
    result: dict[str, int] = measure("deltafold", case, n)
    return result


@pytest.mark.parametrize(("case", "n"), [("arguments", 4_000), ("usage", 6_000)])
def test_peak_memory_of_events_is_within_a_constant_of_the_input(case: str, n: int) -> None:
    r = _measure(case, n)
    assert r["events"] >= n
    # Measured: about 2x (arguments) and 10x (usage, small keys are small input but a map
    # entry each); before the fix, 700x and 4000x.
    assert r["growth"] < 40 * r["input"] + 20_000_000, r


def _chunk(d: dict[str, object]) -> bytes:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + json.dumps({**base, **d}).encode() + b"\n\n"


@pytest.mark.parametrize("n", [1, 7, 60])
def test_usage_events_carry_the_usage_merged_so_far(impl: ModuleType, n: int) -> None:
    usages = [
        {f"k{i % 5}": i, "total_tokens": 0 if i % 3 == 0 else i, "details": {f"d{i % 4}": i}}
        for i in range(n)
    ]
    data = b"".join(_chunk({"choices": [], "usage": u}) for u in usages) + b"data: [DONE]\n\n"
    events = impl.StreamParser(events=True).feed(data)
    seen = [e.usage for e in events if e.type == "usage"]
    expected: list[dict[str, object]] = []
    merged: dict[str, object] = {}
    for u in usages:
        for k, v in u.items():
            if isinstance(v, dict):
                inner = merged.setdefault(k, {})
                assert isinstance(inner, dict)
                inner.update(v)
            elif k not in merged or v != 0:
                merged[k] = v
        expected.append(json.loads(json.dumps(merged)))
    assert seen == expected


@pytest.mark.parametrize("name_len", [1, 1000, 100_000])
def test_every_arguments_event_names_its_call(impl: ModuleType, name_len: int) -> None:
    name, call_id = "n" * name_len, "call_" + "i" * name_len
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name}}
    frags = [{"index": 0, "function": {"arguments": c}} for c in '{"a": 1}']
    data = b"".join(
        _chunk({"choices": [{"index": 0, "delta": {"tool_calls": [f]}}]}) for f in [first, *frags]
    )
    events = impl.StreamParser(events=True).feed(data + b"data: [DONE]\n\n")
    deltas = [e for e in events if e.type == "tool_calls.function.arguments.delta"]
    assert len(deltas) >= len(frags)
    assert all(e.name == name and e.id == call_id for e in deltas)
