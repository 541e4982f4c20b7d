"""Peak memory of events mode (issue 8, C2): each case runs in a fresh subprocess, feeds its
whole input in one read (so every event of the stream is alive at once, the worst case) and
reports the peak RSS growth against the input size.

    python benches/events_memory.py            # native
    python benches/events_memory.py reference  # the pure-Python twin
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
impl = __import__(sys.argv[1], fromlist=["_"])
case, n = sys.argv[2], int(sys.argv[3])

def chunk(d):
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return b"data: " + json.dumps({**base, **d}).encode() + b"\n\n"

def call(d):
    return chunk({"choices": [{"index": 0, "delta": {"tool_calls": [d]}}]})

if case == "arguments":  # a 100 KB name and id, then n one-byte argument fragments
    parts = [call({"index": 0, "id": "call_" + "i" * 100_000, "type": "function",
                   "function": {"name": "n" * 100_000, "arguments": ""}})]
    parts += [call({"index": 0, "function": {"arguments": "x"}}) for _ in range(n)]
elif case == "usage":  # usage on every chunk, with a new key each time
    parts = [chunk({"choices": [], "usage": {f"k{i}": i, "total_tokens": i}}) for i in range(n)]
data = b"".join(parts) + b"data: [DONE]\n\n"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
events = impl.StreamParser(events=True).feed(data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"input": len(data), "events": len(events), "growth": (peak - before) * 1024}))
"""


def measure(impl: str, case: str, n: int) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, impl, case, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, int] = json.loads(out.stdout)
    return result


def main() -> None:
    impl = "deltafold.reference" if sys.argv[1:] == ["reference"] else "deltafold"
    print(f"{impl}: peak RSS growth while holding every event of one feed")
    for case, sizes in (("arguments", (2_000, 8_000, 32_000)), ("usage", (1_000, 4_000, 16_000))):
        for n in sizes:
            r = measure(impl, case, n)
            ratio = r["growth"] / r["input"]
            print(
                f"  {case:9} n={n:6}: input {r['input'] / 1e6:6.2f} MB, {r['events']:6} events,"
                f" peak growth {r['growth'] / 1e6:7.1f} MB ({ratio:5.1f}x input)"
            )


if __name__ == "__main__":
    main()
