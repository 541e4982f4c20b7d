"""The memory targets of issue 13, each case in a fresh child process.

    python benches/memory.py                       # native, 200 KB argument, 10,000 parsers
    python benches/memory.py --impl reference      # the pure-Python twin
    python benches/memory.py --argument-bytes 20000 --parsers 1000   # quick
    python benches/memory.py --cases parsers       # only the 10,000 parsers

- Folding one tool call whose 200 KB JSON argument arrives in 1-8 byte fragments (the partial
  arguments stream of corpus.py): peak RSS growth over the baseline, against the size of the
  completion (``len(orjson.dumps(completion))``). Target: at most 1.5x, for ``assemble`` and
  for ``feed``/``finish`` (and the JSON-out twins of both).
- 10,000 live ``StreamParser``s, each after one 1-4 KiB read (the first read of a corpus
  stream): RSS growth with all of them alive. Target: at most 20 MB.

Baseline: RSS after imports, a warm-up fold of a few small streams, input generation, gc and
``malloc_trim``; peak: ``VmHWM``, reset
through ``/proc/self/clear_refs`` just before the case (Linux).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import corpus
import orjson

MB = 1_000_000
CASES = ("assemble", "feed/finish", "assemble_json", "feed/finish_json", "parsers")


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/self/status")


def _settle() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def child(impl_name: str, case: str, argument_bytes: int, parsers: int) -> dict[str, Any]:
    module = __import__(impl_name, fromlist=["_"])
    streams = corpus.generate("small", 0)
    # A process that folds has folded before: one-time set-up (caches, lazily built tables) is
    # not growth of the case.
    for stream in streams[:4]:
        module.assemble(stream.data)
        if hasattr(module, "assemble_json"):  # an older build has none: compare the rest
            module.assemble_json(stream.data)
    if case == "parsers":
        first_reads = [s.reads[0] for s in streams]
        del streams
        _settle()
        before = _status_kib("VmRSS")
        alive = []
        for i in range(parsers):
            parser = module.StreamParser()
            parser.feed(first_reads[i % len(first_reads)])
            alive.append(parser)
        grown = (_status_kib("VmRSS") - before) * 1024
        return {"parsers": len(alive), "growth": grown}
    del streams
    stream = corpus.big_argument_stream(argument_bytes)
    completion_bytes = len(orjson.dumps(stream.expected))
    data, reads = stream.data, stream.reads
    _settle()
    baseline = _status_kib("VmRSS")
    reset = True
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        reset = False
    if case.startswith("assemble"):
        result = getattr(module, case)(data)
    else:
        parser = module.StreamParser()
        for read in reads:
            parser.feed(read)
        result = parser.finish_json() if case.endswith("json") else parser.finish()
    peak = _status_kib("VmHWM")
    got = orjson.loads(result) if isinstance(result, bytes) else result
    if got != stream.expected:
        raise SystemExit(f"{case}: wrong completion")
    return {
        "completion_bytes": completion_bytes,
        "growth": (peak - baseline) * 1024,
        "peak_reset": reset,
    }


def measure(impl_name: str, case: str, argument_bytes: int, parsers: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", case, "--impl", impl_name]
    command += ["--argument-bytes", str(argument_bytes), "--parsers", str(parsers)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip()[-500:]}
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", default="deltafold")
    parser.add_argument("--argument-bytes", type=int, default=200_000)
    parser.add_argument("--parsers", type=int, default=10_000)
    parser.add_argument(
        "--cases", nargs="+", choices=CASES, default=list(CASES), help="the cases to run"
    )
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    impl_name = "deltafold.reference" if args.impl == "reference" else args.impl
    if args.child:
        print(json.dumps(child(impl_name, args.child, args.argument_bytes, args.parsers)))
        return 0
    results = {
        case: measure(impl_name, case, args.argument_bytes, args.parsers) for case in args.cases
    }
    missed = False
    print(f"{impl_name}: peak RSS growth (each case in a fresh process)")
    for case, r in results.items():
        if "error" in r:
            print(f"  {case:17} error: {r['error']}")
            missed = True
        elif case == "parsers":
            mb = r["growth"] / MB
            ok = mb <= 20 * r["parsers"] / 10_000
            missed |= not ok
            print(
                f"  {r['parsers']} StreamParsers after one 1-4 KiB read: {mb:.2f} MB"
                f" ({r['growth'] / r['parsers']:.0f} B each; target <= 20 MB per 10,000:"
                f" {'PASS' if ok else 'FAIL'})"
            )
        else:
            ratio = r["growth"] / r["completion_bytes"]
            ok = ratio <= 1.5
            missed |= not ok
            note = "" if r["peak_reset"] else " (VmHWM not resettable: includes set-up)"
            print(
                f"  {args.argument_bytes // 1000} KB argument, {case:17}: growth"
                f" {r['growth'] / MB:.3f} MB = {ratio:.2f}x the {r['completion_bytes'] / MB:.3f}"
                f" MB completion (target <= 1.5x: {'PASS' if ok else 'FAIL'}){note}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
