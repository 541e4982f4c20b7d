"""Reading `parsed_arguments` on every event, as the README quickstart does (issue 8, Q6).

One tool call whose arguments arrive one element (or one byte) per fragment; every
`tool_calls.function.arguments.delta` event's `parsed_arguments` is read. Each case is timed at
n/4 and n, so the growth exponent shows whether the total cost is linear or quadratic; the last
value read is checked against the document.

    python benches/partial_reads.py              # native, n = 10,000 (strings: 30,000 bytes)
    python benches/partial_reads.py reference    # the pure-Python twin (slow: use a small n)
    python benches/partial_reads.py deltafold 2000
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any


def chunk(delta: dict[str, Any]) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def stream(fragments: list[str]) -> list[bytes]:
    """The stream cut into 4 KiB reads, as a network would deliver it."""
    opening = {"index": 0, "id": "call_0", "type": "function", "function": {"name": "f"}}
    parts = [chunk({"tool_calls": [{**opening, "function": {"name": "f", "arguments": ""}}]})]
    parts += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments
    ]
    parts.append(chunk({}) + b"data: [DONE]\n\n")
    data = b"".join(parts)
    return [data[i : i + 4096] for i in range(0, len(data), 4096)]


def read_every_event(impl: ModuleType, reads: list[bytes]) -> tuple[float, int, Any]:
    parser = impl.StreamParser(events=True, partial_arguments=True)
    last, count = None, 0
    started = time.perf_counter()
    for piece in reads:
        for event in parser.feed(piece):
            if event.type == "tool_calls.function.arguments.delta":
                last = event.parsed_arguments
                count += 1
    elapsed = time.perf_counter() - started
    parser.finish()
    return elapsed, count, last


Case = tuple[str, Callable[[int], list[str]], Callable[[int], Any]]

CASES: list[Case] = [
    (
        "string, 1-byte fragments",
        lambda n: ['{"a": "'] + ["x"] * (3 * n) + ['"}'],
        lambda n: {"a": "x" * (3 * n)},
    ),
    (
        "int array, 1 element/fragment",
        lambda n: ["["] + [f"{i}," for i in range(n - 1)] + [f"{n - 1}]"],
        lambda n: list(range(n)),
    ),
    (
        'array of {"a":i}, 1 element/fragment',
        lambda n: ["["] + [f'{{"a":{i}}},' for i in range(n - 1)] + [f'{{"a":{n - 1}}}]'],
        lambda n: [{"a": i} for i in range(n)],
    ),
    (
        "object of n int keys, 1 entry/fragment",
        lambda n: ["{"] + [f'"k{i}":{i},' for i in range(n - 1)] + [f'"k{n - 1}":{n - 1}}}'],
        lambda n: {f"k{i}": i for i in range(n)},
    ),
    (
        "array of arrays [i,i], 1 byte/fragment",
        lambda n: list("[" + ",".join(f"[{i % 10},{i % 10}]" for i in range(n // 4)) + "]"),
        lambda n: [[i % 10, i % 10] for i in range(n // 4)],
    ),
]


def main() -> None:
    args = sys.argv[1:]
    impl_name = args[0] if args else "deltafold"
    n = int(args[1]) if len(args) > 1 else 10_000
    impl = __import__(impl_name, fromlist=["_"])
    print(f"{impl_name}: parsed_arguments read on every delta event")
    for name, fragments, expected in CASES:
        times = []
        for size in (n // 4, n):
            elapsed, count, last = read_every_event(impl, stream(fragments(size)))
            if last != expected(size):
                raise SystemExit(f"{name}, n={size}: wrong last value")
            times.append(elapsed)
            print(f"  {name:40} n={size:6}: {count:6} reads {elapsed:7.3f} s")
        exponent = math.log(times[1] / times[0]) / math.log(4)
        print(f"  {name:40} growth exponent {exponent:.2f}")


if __name__ == "__main__":
    main()
