"""Throughput, partial-arguments and memory benchmarks of deltafold against its peers.

    python benches/run.py [--size small|full] [--rounds N] [--check-only] [--only NAMES]
                          [--plot benches/out/throughput.png] [--json out.json]

Every competitor is first checked against the corpus generator's ground truth on every stream;
then all are timed in interleaved rounds in this one process (medians reported). Exit status:
0 all agreed, 1 some competitor disagreed with the ground truth, 2 a competitor could not run
(name the ones to run with ``--only``), 3 a target was missed under ``--enforce-targets``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import competitors
import corpus
import orjson

MB = 1_000_000
# Columns of the per-kind tables: every stream kind, and CRLF streams (of any kind) on their own.
KIND_COLUMNS: tuple[str, ...] = (*corpus.KINDS, "crlf")
SDK_SUBSET_BYTES = 1_000_000
PARSER_COUNT = 10_000
# Below this the 1.5x-the-completion memory target is finer than RSS can resolve (pages, arenas).
MEMORY_RESOLUTION = 100_000
# The ratio column divides by the first of these that ran.
BASELINE_PREFERENCE = (
    "deltafold.assemble",
    "deltafold.feed",
    "reference.assemble",
    "reference.feed",
    "httpx-sse",
)


# --- checking -----------------------------------------------------------------------------------


def first_difference(got: Any, want: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ, or ``None`` when equal (types compared too)."""
    if type(got) is not type(want):
        return f"{path}: got {_short(got)}, want {_short(want)}"
    if isinstance(want, dict):
        for key in want:
            if key not in got:
                return f"{path}.{key}: missing"
            found = first_difference(got[key], want[key], f"{path}.{key}")
            if found:
                return found
        extra = [key for key in got if key not in want]
        return f"{path}: unexpected keys {extra}" if extra else None
    if isinstance(want, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            found = first_difference(g, w, f"{path}[{i}]")
            if found:
                return found
        if len(got) != len(want):
            return f"{path}: {len(got)} items, want {len(want)}"
        return None
    return None if got == want else f"{path}: got {_short(got)}, want {_short(want)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check(
    competitor: competitors.Competitor, streams: Sequence[corpus.Stream]
) -> list[tuple[int, str]]:
    """``(stream number, what differs)`` for every stream the competitor gets wrong."""
    wrong = []
    for number, stream in enumerate(streams):
        try:
            got = competitor.run(stream.data, stream.reads)
        except Exception as exc:  # a crash on a stream is a wrong answer, reported as such
            wrong.append((number, f"raised {type(exc).__name__}: {exc}"))
            continue
        if isinstance(got, bytes):
            got = orjson.loads(got)
        if competitor.floor:
            if got is not None:
                wrong.append((number, "a floor returned a value"))
            continue
        difference = first_difference(got, stream.expected)
        if difference:
            wrong.append((number, difference))
    return wrong


# --- timing -------------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    label: str
    streams: list[int]
    """Indices of the streams timed (all, or the subset of a sampled competitor)."""
    rounds: list[dict[str, float]] = field(default_factory=list)
    """Per round: seconds per kind, and ``"all"``."""


def sdk_subset(streams: Sequence[corpus.Stream], budget: int) -> list[int]:
    """Every k-th stream, about ``budget`` bytes, with at least one stream of every kind."""
    total = sum(len(s.data) for s in streams)
    stride = max(1, round(total / budget))
    chosen = list(range(0, len(streams), stride))
    for kind in corpus.KINDS:
        if not any(streams[i].kind == kind for i in chosen):
            chosen.append(next(i for i, s in enumerate(streams) if s.kind == kind))
    return sorted(chosen)


def time_round(
    competitor: competitors.Competitor, streams: Sequence[corpus.Stream], chosen: list[int]
) -> dict[str, float]:
    seconds: dict[str, float] = dict.fromkeys(KIND_COLUMNS, 0.0)
    run = competitor.run
    clock = time.perf_counter
    gc.collect()
    for index in chosen:
        stream = streams[index]
        data, reads = stream.data, stream.reads
        start = clock()
        run(data, reads)
        took = clock() - start
        seconds[stream.kind] += took
        if stream.crlf:
            seconds["crlf"] += took
    seconds["all"] = sum(seconds[kind] for kind in corpus.KINDS)
    return seconds


def time_all(
    chosen_competitors: Sequence[competitors.Competitor],
    streams: Sequence[corpus.Stream],
    rounds: int,
    subset: list[int],
    progress: Callable[[str], None],
) -> list[Timing]:
    everything = list(range(len(streams)))
    timings = [
        Timing(c.name, c.label, subset if c.sampled else everything) for c in chosen_competitors
    ]
    for round_number in range(rounds):
        # Rotating the order spreads any drift (thermal, other load) over every competitor.
        shift = round_number % len(chosen_competitors)
        order = list(range(len(chosen_competitors)))
        order = order[shift:] + order[:shift]
        for i in order:
            timings[i].rounds.append(time_round(chosen_competitors[i], streams, timings[i].streams))
        progress(f"round {round_number + 1}/{rounds} done")
    return timings


@dataclass
class Rate:
    seconds: float
    """Median seconds for the streams timed."""
    mb_per_s: float
    chunks_per_s: float


def rate(timing: Timing, streams: Sequence[corpus.Stream], kind: str = "all") -> Rate | None:
    timed = [
        streams[i]
        for i in timing.streams
        if kind in ("all", streams[i].kind) or (kind == "crlf" and streams[i].crlf)
    ]
    if not timed:
        return None
    seconds = statistics.median(r[kind] for r in timing.rounds)
    size = sum(len(s.data) for s in timed)
    chunks = sum(s.chunks for s in timed)
    return Rate(seconds, size / MB / seconds, chunks / seconds)


# --- partial arguments (issue 3) ----------------------------------------------------------------


def jiter_reparse(data: bytes, reads: Sequence[bytes]) -> Any:
    """What the openai SDK does for partial arguments: re-parse the whole buffer per fragment."""
    import jiter

    pending = b""
    arguments = ""
    parsed: Any = None
    for read in reads:
        lines = (pending + read if pending else read).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if not line.startswith(b"data: {"):
                continue
            for choice in orjson.loads(line[6:]).get("choices") or ():
                for call in (choice.get("delta") or {}).get("tool_calls") or ():
                    piece = (call.get("function") or {}).get("arguments")
                    if piece:
                        arguments += piece
                        parsed = jiter.from_json(
                            arguments.encode(), partial_mode="trailing-strings"
                        )
    return parsed


def partial_adapter(module: Any, on: bool) -> Callable[[bytes, Sequence[bytes]], Any]:
    """Feeds with events on; returns the last ``parsed_arguments`` (on) or the completion."""

    def run(data: bytes, reads: Sequence[bytes]) -> Any:
        parser = module.StreamParser(events=True, partial_arguments=on)
        last: Any = None
        for read in reads:
            for event in parser.feed(read):
                if event.type == "tool_calls.function.arguments.delta":
                    last = event
        final = parser.finish_events()
        # Materialising every event's value would cost O(arguments so far) per fragment in any
        # implementation; a renderer reads the value when it draws, so only the last is read.
        if not on:
            return final[-1].completion
        return None if last is None else last.parsed_arguments

    return run


def bench_partial(
    modules: dict[str, Any], argument_bytes: int, rounds: int, with_jiter: bool
) -> dict[str, Any]:
    stream = corpus.big_argument_stream(argument_bytes)
    arguments = stream.expected["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    final_value = json.loads(arguments)
    cases: list[tuple[str, Callable[[bytes, Sequence[bytes]], Any], Any]] = []
    for name, module in modules.items():
        cases.append((f"{name} partial off", partial_adapter(module, False), stream.expected))
        cases.append((f"{name} partial on", partial_adapter(module, True), final_value))
    problems = []
    for label, run, want in cases:
        got = run(stream.data, stream.reads)
        difference = first_difference(got, want)
        if difference:
            problems.append(f"{label}: {difference}")
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for _ in range(rounds):
        for label, run, _ in cases:
            gc.collect()
            start = time.perf_counter()
            run(stream.data, stream.reads)
            seconds[label].append(time.perf_counter() - start)
    result: dict[str, Any] = {
        "argument_bytes": len(arguments),
        "stream_bytes": len(stream.data),
        "fragments": stream.chunks - 3,
        "median_seconds": {label: statistics.median(v) for label, v in seconds.items()},
        "problems": problems,
    }
    if with_jiter:
        start = time.perf_counter()
        parsed = jiter_reparse(stream.data, stream.reads)
        result["median_seconds"]["jiter re-parse per fragment (1 run)"] = (
            time.perf_counter() - start
        )
        if parsed != final_value:
            problems.append("jiter re-parse: final value differs from the arguments")
    return result


# --- memory (in a child process, so the peak is this measurement's alone) -----------------------


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def _release_free_heap() -> None:
    """Hand freed heap pages back to the OS (glibc), so that growth is not hidden by reuse of
    memory that earlier work freed but kept resident."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_child(
    implementation: str, size: corpus.Size, seed: int, argument_bytes: int
) -> dict[str, Any]:
    notes: list[str] = []
    module, why = competitors.deltafold_modules(notes)[implementation]
    if module is None:
        raise SystemExit(f"{implementation} unavailable: {why}")
    streams = corpus.generate(size, seed)
    big = [corpus.big_argument_stream(argument_bytes, seed)]
    result: dict[str, Any] = {"notes": notes, "peak_reset": True, "cases": {}}

    def assemble_each(group: Sequence[corpus.Stream], use_feed: bool) -> None:
        for stream in group:
            if use_feed:
                parser = module.StreamParser()
                for read in stream.reads:
                    parser.feed(read)
                completion = parser.finish()
            else:
                completion = module.assemble(stream.data)
            del completion

    cases = [
        ("corpus, feed/finish", streams, True),
        ("corpus, assemble", streams, False),
        (f"{argument_bytes // 1000} KB-argument stream, feed/finish", big, True),
        (f"{argument_bytes // 1000} KB-argument stream, assemble", big, False),
    ]
    for label, group, use_feed in cases:
        gc.collect()
        _release_free_heap()
        baseline = _status_kib("VmRSS")
        result["peak_reset"] &= _reset_peak()
        assemble_each(group, use_feed)
        result["cases"][label] = {
            "baseline_kib": baseline,
            "peak_kib": _status_kib("VmHWM"),
            "stream_bytes": max(len(s.data) for s in group),
            "largest_completion_bytes": max(len(orjson.dumps(s.expected)) for s in group),
        }

    # Parsers that have taken the first event of a stream: alive mid-stream, no partial line.
    first = next(s for s in streams if not s.crlf)
    first_event = first.data[: first.data.index(b"\n\n") + 2]
    del streams, big
    gc.collect()
    _release_free_heap()
    before = _status_kib("VmRSS")
    parsers = [module.StreamParser() for _ in range(PARSER_COUNT)]
    constructed = _status_kib("VmRSS")
    for parser in parsers:
        parser.feed(first_event)
    fed = _status_kib("VmRSS")
    result["parsers"] = {
        "count": len(parsers),
        "constructed_kib": constructed - before,
        "after_first_event_kib": fed - before,
    }
    return result


def bench_memory(
    implementations: Sequence[str], size: str, seed: int, argument_bytes: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for implementation in implementations:
        command = [sys.executable, __file__, "--memory-child", implementation]
        command += ["--size", size, "--seed", str(seed), "--partial-bytes", str(argument_bytes)]
        child = subprocess.run(command, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            results[implementation] = {"error": (child.stderr or child.stdout).strip()[-2000:]}
        else:
            results[implementation] = json.loads(child.stdout)
    return results


# --- report -------------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def per_second(value: float) -> str:
    for scale, suffix in ((1e6, " M"), (1e3, " k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def ratio(value: float) -> str:
    return f"{value:.3g}x"


@dataclass
class Target:
    what: str
    measured: float | None
    goal: str
    ok: bool | None
    unit: str = "x"

    def row(self) -> list[str]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[self.ok]
        shown = "n/a" if self.measured is None else f"{self.measured:.3g}{self.unit}"
        return [self.what, shown, self.goal, verdict]


def kind_targets(timings: Sequence[Timing], streams: Sequence[corpus.Stream]) -> list[Target]:
    """Issue 13: every kind its own ratio to the orjson-lines floor (logprobs >= 2x, every
    other kind >= 6x), and JSON out >= 2x (logprobs >= 4x) the dict-building call."""
    rates = kind_rates(timings, streams)
    targets = []
    for name in ("deltafold.assemble", "deltafold.feed"):
        for kind in KIND_COLUMNS:
            goal = 2 if kind == "logprobs" else 6
            measured = kind_ratio(rates, name, "orjson-lines", kind)
            ok = None if measured is None else measured >= goal
            what = f"{name} vs orjson-lines, {kind} streams"
            targets.append(Target(what, measured, f">= {goal}x", ok))
    for fast, slow in (
        ("deltafold.assemble_json", "deltafold.assemble"),
        ("deltafold.feed_json", "deltafold.feed"),
    ):
        for kind, goal in (("all", 2), ("logprobs", 4)):
            measured = kind_ratio(rates, fast, slow, kind)
            ok = None if measured is None else measured >= goal
            what = f"{fast} vs {slow}, {'whole corpus' if kind == 'all' else kind + ' streams'}"
            targets.append(Target(what, measured, f">= {goal}x", ok))
    return targets


def speed_targets(rates: dict[str, Rate]) -> list[Target]:
    def speedup(fast: str, slow: str) -> float | None:
        if fast in rates and slow in rates:
            return rates[fast].mb_per_s / rates[slow].mb_per_s
        return None

    targets = []
    pairs = [
        ("deltafold.assemble", "reference.assemble", 10),
        ("deltafold.feed", "reference.feed", 10),
        ("deltafold.assemble", "orjson-lines", 6),
        ("deltafold.feed", "orjson-lines", 6),
        ("deltafold.assemble", "openai-sdk", 1000),
        ("deltafold.feed", "openai-sdk", 1000),
        ("deltafold.feed+events", "reference.feed+events", 3),
    ]
    for fast, slow, goal in pairs:
        measured = speedup(fast, slow)
        ok = None if measured is None else measured >= goal
        targets.append(Target(f"{fast} vs {slow}", measured, f">= {goal}x", ok))
    return targets


def render_throughput(
    timings: Sequence[Timing], streams: Sequence[corpus.Stream], sampled: dict[str, bool]
) -> tuple[str, dict[str, Rate]]:
    rates = {t.name: r for t in timings if (r := rate(t, streams)) is not None}
    baseline_name = next(
        (n for n in BASELINE_PREFERENCE if n in rates),
        next(iter(rates)),
    )
    baseline = rates[baseline_name]
    total_bytes = sum(len(s.data) for s in streams)
    rows = []
    for timing in timings:
        r = rates[timing.name]
        label = timing.label
        seconds = f"{r.seconds:.4g}"
        if sampled[timing.name]:
            timed = sum(len(streams[i].data) for i in timing.streams)
            label += f" (timed on {timed / MB:.2f} MB, scaled)"
            seconds = f"{total_bytes / MB / r.mb_per_s:.4g}"
        rows.append(
            [
                label,
                seconds,
                f"{r.mb_per_s:.1f}",
                per_second(r.chunks_per_s),
                ratio(baseline.mb_per_s / r.mb_per_s),
            ]
        )
    header = ["competitor", "median s", "MB/s", "chunks/s", f"time / {baseline_name} time"]
    out = [table(header, rows), ""]

    kind_rows = []
    for timing in timings:
        cells = [timing.label + (" (subset)" if sampled[timing.name] else "")]
        for kind in KIND_COLUMNS:
            kr = rate(timing, streams, kind)
            cells.append("-" if kr is None else f"{kr.mb_per_s:.1f}")
        kind_rows.append(cells)
    out += ["MB/s per stream kind:", "", table(["competitor", *KIND_COLUMNS], kind_rows), ""]
    out += [
        "Per kind, each deltafold row against the orjson-lines floor and against tuned pure "
        "Python in the same mode (speed ratio; higher is better):",
        "",
        kind_ratio_table(timings, streams),
    ]
    return "\n".join(out), rates


# deltafold competitor -> the tuned-Python competitor it is compared with.
PYTHON_COUNTERPART = {
    "deltafold.assemble": "reference.assemble",
    "deltafold.feed": "reference.feed",
    "deltafold.feed+events": "reference.feed+events",
    "deltafold.assemble_json": "reference.assemble",
    "deltafold.feed_json": "reference.feed",
}


def kind_rates(timings: Sequence[Timing], streams: Sequence[corpus.Stream]) -> dict[str, Any]:
    """``{competitor: {kind or "all": Rate}}`` for the competitors timed on every stream."""
    return {
        t.name: {k: rate(t, streams, k) for k in ("all", *KIND_COLUMNS)} for t in timings
    }


def kind_ratio(rates: dict[str, Any], fast: str, slow: str, kind: str) -> float | None:
    a, b = rates.get(fast, {}).get(kind), rates.get(slow, {}).get(kind)
    if a is None or b is None:
        return None
    return float(a.mb_per_s / b.mb_per_s)


def kind_ratio_table(timings: Sequence[Timing], streams: Sequence[corpus.Stream]) -> str:
    rates = kind_rates(timings, streams)
    rows = []
    for name, python in PYTHON_COUNTERPART.items():
        if name not in rates:
            continue
        cells = [name]
        for kind in ("all", *KIND_COLUMNS):
            floor = kind_ratio(rates, name, "orjson-lines", kind)
            tuned = kind_ratio(rates, name, python, kind)
            shown = [f"{r:.3g}x" if r is not None else "-" for r in (floor, tuned)]
            cells.append(" / ".join(shown))
        rows.append(cells)
    header = ["competitor (x floor / x tuned Python)", "all", *KIND_COLUMNS]
    return table(header, rows)


def render_partial(result: dict[str, Any]) -> tuple[str, list[Target]]:
    seconds = result["median_seconds"]
    stream_mb = result["stream_bytes"] / MB
    rows = [[label, f"{s:.4g}", f"{stream_mb / s:.1f}"] for label, s in seconds.items()]
    text = (
        f"One tool call, {result['argument_bytes']} argument bytes in "
        f"{result['fragments']} fragments of 1-8 bytes ({stream_mb:.1f} MB of SSE), events on.\n\n"
        + table(["case", "median s", "MB/s"], rows)
    )
    targets = []
    for name in ("deltafold", "reference"):
        on, off = seconds.get(f"{name} partial on"), seconds.get(f"{name} partial off")
        if on is not None and off is not None and name == "deltafold":
            targets.append(Target("deltafold partial on / off", on / off, "<= 2x", on / off <= 2))
    if "deltafold partial on" not in seconds:
        targets.append(Target("deltafold partial on / off", None, "<= 2x", None))
    for problem in result["problems"]:
        text += f"\n\nWRONG: {problem}"
    return text, targets


def render_memory(results: dict[str, Any]) -> tuple[str, list[Target]]:
    rows = []
    parser_rows = []
    targets = []
    notes = []
    for implementation, result in results.items():
        if "error" in result:
            last_line = result["error"].splitlines()[-1] if result["error"] else "failed"
            rows.append([implementation, "error: " + last_line, "", "", "", ""])
            continue
        if not result["peak_reset"]:
            notes.append(f"{implementation}: VmHWM could not be reset; peaks include set-up")
        for label, numbers in result["cases"].items():
            grown = (numbers["peak_kib"] - numbers["baseline_kib"]) * 1024
            largest = numbers["largest_completion_bytes"]
            rows.append(
                [
                    f"{implementation}: {label}",
                    f"{numbers['stream_bytes'] / MB:.2f}",
                    f"{largest / MB:.3f}",
                    f"{numbers['baseline_kib'] / 1024:.1f}",
                    f"{grown / MB:.3f}",
                    ratio(grown / largest),
                ]
            )
            if implementation == "deltafold":
                measurable = largest >= MEMORY_RESOLUTION
                targets.append(
                    Target(
                        f"deltafold {label}: peak RSS growth / largest completion",
                        grown / largest,
                        "<= 1.5x" if measurable else "<= 1.5x (completion too small for RSS)",
                        grown / largest <= 1.5 if measurable else None,
                    )
                )
        parsers = result["parsers"]
        live_mb = parsers["after_first_event_kib"] * 1024 / MB
        parser_rows.append(
            [
                implementation,
                str(parsers["count"]),
                f"{parsers['constructed_kib'] * 1024 / MB:.2f}",
                f"{live_mb:.2f}",
            ]
        )
        if implementation == "deltafold":
            # One event each, no partial line held: lighter than issue 13's case (one 1-4 KiB
            # read each, several events and a partial line), which benches/memory.py measures.
            what = (
                f"{parsers['count']} live StreamParsers after one event, RSS growth"
                " (issue 13's case, after one 1-4 KiB read: benches/memory.py)"
            )
            targets.append(Target(what, live_mb, "< 20 MB", live_mb < 20, unit=" MB"))
    header = [
        "case (stream by stream)",
        "largest stream MB",
        "largest completion MB",
        "baseline RSS MiB",
        "peak RSS growth MB",
        "growth / largest completion",
    ]
    text = table(header, rows) + "\n\n"
    text += (
        "Baseline: RSS after imports, corpus generation, gc and malloc_trim; peak: VmHWM, reset "
        "just before each case. Growth under ~0.1 MB is at the allocator's granularity.\n\n"
    )
    text += table(
        ["implementation", "parsers", "RSS growth MB, constructed", "after their 1st event"],
        parser_rows,
    )
    for note in notes:
        text += f"\n\nnote: {note}"
    return text, targets


def plot(path: Path, timings: Sequence[Timing], rates: dict[str, Rate], size: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [t.label for t in timings]
    values = [rates[t.name].mb_per_s for t in timings]
    colours = [
        "#1f6feb"
        if t.name.startswith("deltafold")
        else "#8b949e"
        if "floor" in t.label
        else "#d29922"
        for t in timings
    ]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.4))
    bars = axes.barh(labels[::-1], values[::-1], color=colours[::-1])
    axes.set_xscale("log")
    axes.set_xlabel("MB/s (log scale, higher is better)")
    axes.set_title(f"Chat-completions SSE assembly throughput, {size} corpus, 1-4 KiB reads")
    for bar, value in zip(bars, values[::-1], strict=True):
        shown = f"{value:.3g}" if value < 100 else f"{value:,.0f}"
        axes.text(value * 1.05, bar.get_y() + bar.get_height() / 2, shown, va="center")
    axes.set_xlim(right=max(values) * 4)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- command line -------------------------------------------------------------------------------


# --- Responses API bench (issue 11) -------------------------------------------------------------
# Its own corpus (corpus.generate_responses) and competitors; kept apart from the chat bench.

RESPONSES_SDK_BYTES = 1_000_000


def bench_responses(
    size: str, seed: int, rounds: int, check_only: bool, say: Callable[[str], None]
) -> tuple[list[str], list[Target], list[tuple[int, str]]]:
    """Checks every Responses competitor against the closing snapshots, then times them in
    interleaved rounds (medians of CPU-busy wall time). Returns report lines, targets and
    disagreements."""
    streams = corpus.generate_responses(size, seed)  # type: ignore[arg-type]
    total = sum(len(s.data) for s in streams)
    runners: dict[str, Callable[[bytes, Sequence[bytes]], Any]] = {}
    for prefix, (module, _) in competitors.deltafold_modules([]).items():
        if module is None:
            continue

        def assemble(data: bytes, reads: Sequence[bytes], module: Any = module) -> Any:
            return module.assemble(data, format="responses")

        def feed(data: bytes, reads: Sequence[bytes], module: Any = module) -> Any:
            parser = module.StreamParser(format="responses")
            for read in reads:
                parser.feed(read)
            return parser.finish()

        runners[f"{prefix}.assemble"] = assemble
        runners[f"{prefix}.feed"] = feed
    runners["tuned-fold"] = competitors.responses_tuned_fold
    sdk = competitors.responses_sdk_adapter()
    runners["openai-sdk"] = lambda data, reads: competitors.responses_normalise_sdk(
        sdk(data, reads) or {}
    )
    runners["orjson-lines"] = competitors.orjson_lines
    wrong: list[tuple[int, str]] = []
    for name, run in runners.items():
        if name == "orjson-lines":
            continue
        for n, stream in enumerate(streams):
            got = run(stream.data, stream.reads)
            if got != stream.expected:
                wrong.append((n, f"{name}: {first_difference(got, stream.expected)}"))
                break
    lines = [
        f"## Responses API ({size} corpus: {len(streams)} streams, {total / MB:.2f} MB, "
        f"{sum(s.events for s in streams)} events)",
        "",
        f"ground truth (closing snapshots): {'all agree' if not wrong else wrong}",
        "",
    ]
    if check_only:
        return lines, [], wrong
    stride = max(1, round(total / RESPONSES_SDK_BYTES))
    sampled = {"openai-sdk": list(range(0, len(streams), stride))}
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            chosen = sampled.get(name, range(len(streams)))
            run = runners[name]
            gc.collect()
            start = time.perf_counter()
            for n in chosen:
                run(streams[n].data, streams[n].reads)
            seconds[name].append(time.perf_counter() - start)
        say(f"responses round {round_number + 1}/{rounds} done")
    rate = {
        name: sum(len(streams[n].data) for n in sampled.get(name, range(len(streams))))
        / statistics.median(values)
        / MB
        for name, values in seconds.items()
    }
    rows = [[name, f"{rate[name]:.3g}"] for name in names]
    lines += [table(["competitor", "MB/s"], rows), ""]
    targets = []
    for fast in ("deltafold.assemble", "deltafold.feed"):
        for slow, goal in (("tuned-fold", 10), ("orjson-lines", 5), ("openai-sdk", 300)):
            if fast in rate and slow in rate:
                measured = rate[fast] / rate[slow]
                targets.append(
                    Target(
                        f"responses {fast} vs {slow}", measured, f">= {goal}x", measured >= goal
                    )
                )
    return lines, targets, wrong


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check-only", action="store_true", help="verify, time nothing")
    parser.add_argument(
        "--format",
        choices=("chat", "anthropic"),
        default="chat",
        help="corpus: chat completions (default) or Anthropic Messages (anthropic_bench.py)",
    )
    parser.add_argument(
        "--only",
        help="comma-separated competitors to run (default: all, and all must be available): "
        + ", ".join(competitors.ALL_NAMES),
    )
    parser.add_argument("--plot", type=Path, help="write a PNG bar chart of MB/s here")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--no-partial", action="store_true", help="skip the partial-args bench")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory bench")
    parser.add_argument(
        "--no-jiter", action="store_true", help="skip the quadratic SDK-style re-parse contrast"
    )
    parser.add_argument(
        "--partial-bytes",
        type=int,
        help="argument size of the partial-args bench (default 200000, small: 20000)",
    )
    parser.add_argument("--enforce-targets", action="store_true", help="exit 3 on a missed target")
    parser.add_argument("--no-responses", action="store_true", help="skip the Responses bench")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plot:
        # Checked before minutes of timing, not after them.
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib (pip install matplotlib)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.format == "anthropic":
        import anthropic_bench

        return anthropic_bench.main(args)
    if args.memory_child:
        size = args.partial_bytes or 200_000
        print(json.dumps(memory_child(args.memory_child, args.size, args.seed, size)))
        return 0

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    loaded = competitors.load()
    wanted = list(competitors.ALL_NAMES)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in competitors.ALL_NAMES]
        if unknown:
            say(f"unknown competitor(s): {', '.join(unknown)}")
            return 2
    missing = {n: loaded.unavailable[n] for n in wanted if n in loaded.unavailable}
    if missing:
        for name, why in missing.items():
            say(f"unavailable: {name}: {why}")
        available = [c.name for c in loaded.competitors]
        say("run the available ones explicitly with --only " + ",".join(available))
        return 2
    chosen = [c for c in loaded.competitors if c.name in wanted]

    start = time.perf_counter()
    streams = corpus.generate(args.size, args.seed)
    made = time.perf_counter() - start
    # The corpus lives for the whole run: keep the collector from re-scanning it in every pass.
    gc.freeze()
    info = corpus.summary(streams)
    report: list[str] = [f"# deltafold benchmarks ({args.size} corpus, seed {args.seed})", ""]
    deltafold_module = sys.modules.get("deltafold")
    report.append(f"deltafold from: {getattr(deltafold_module, '__file__', None)}")
    for note in loaded.notes:
        report.append(f"note: {note}")
    share = ", ".join(f"{k} {v:.1%}" for k, v in info["chunk_share"].items())
    report += [
        f"corpus: {info['streams']} streams, {info['bytes'] / MB:.2f} MB, {info['chunks']} chunks "
        f"({share} of chunks), {info['crlf_streams']} CRLF, {info['non_ascii_streams']} "
        f"non-ASCII ({info['ascii_escaped_streams']} \\u-escaped), {info['multi_choice_streams']}"
        f" with n=2; {info['reads']} reads of 1-4 KiB; generated in {made:.1f} s "
        "(not timed). MB = 10^6 bytes.",
        "",
    ]

    say(f"checking {len(chosen)} competitors on {len(streams)} streams")
    disagreements: dict[str, list[tuple[int, str]]] = {}
    for competitor in chosen:
        wrong = check(competitor, streams)
        if wrong:
            disagreements[competitor.name] = wrong
        say(f"  {competitor.name}: {'OK' if not wrong else f'{len(wrong)} streams WRONG'}")
    report.append("## Ground truth")
    report.append("")
    for competitor in chosen:
        wrong = disagreements.get(competitor.name, [])
        what = "no value (floor), ran clean" if competitor.floor else "equal to ground truth"
        status = f"{len(streams)}/{len(streams)} streams: {what}"
        if wrong:
            status = f"{len(wrong)}/{len(streams)} streams WRONG, first: stream {wrong[0][0]} "
            status += f"({streams[wrong[0][0]].kind}) {wrong[0][1]}"
        report.append(f"- {competitor.name}: {status}")
    report.append("")
    output: dict[str, Any] = {"corpus": info, "disagreements": disagreements, "notes": loaded.notes}

    targets: list[Target] = []
    if not args.check_only:
        timed = [c for c in chosen if c.name not in disagreements]
        subset = sdk_subset(streams, SDK_SUBSET_BYTES)
        say(f"timing {len(timed)} competitors, {args.rounds} interleaved rounds")
        timings = time_all(timed, streams, args.rounds, subset, say)
        text, rates = render_throughput(timings, streams, {c.name: c.sampled for c in timed})
        report += [f"## Throughput (median of {args.rounds} interleaved rounds)", "", text, ""]
        targets += speed_targets(rates)
        targets += kind_targets(timings, streams)
        output["throughput"] = {
            t.name: {"rounds": t.rounds, "streams_timed": len(t.streams)} for t in timings
        }
        output["rates"] = {name: vars(r) for name, r in rates.items()}
        if args.plot:
            plot(args.plot, timings, rates, args.size)
            report += [f"Chart: {args.plot}", ""]

        modules = {
            name: module
            for name, (module, _) in competitors.deltafold_modules([]).items()
            if module is not None and any(c.name.startswith(name + ".") for c in chosen)
        }
        argument_bytes = args.partial_bytes or (200_000 if args.size == "full" else 20_000)
        if not args.no_partial and modules:
            say(f"partial-arguments bench, {argument_bytes} bytes")
            partial = bench_partial(
                modules, argument_bytes, args.rounds, with_jiter=not args.no_jiter
            )
            text, partial_targets = render_partial(partial)
            report += ["## Partial arguments (issue 3)", "", text, ""]
            targets += partial_targets
            output["partial"] = partial
            if partial["problems"]:
                disagreements["partial-arguments"] = [(0, p) for p in partial["problems"]]
        if not args.no_memory and modules:
            say("memory bench (child processes)")
            memory = bench_memory(list(modules), args.size, args.seed, argument_bytes)
            text, memory_targets = render_memory(memory)
            report += ["## Memory", "", text, ""]
            targets += memory_targets
            output["memory"] = memory

    if not args.no_responses:
        say("Responses API bench")
        lines, responses_targets, responses_wrong = bench_responses(
            args.size, args.seed, args.rounds, args.check_only, say
        )
        report += lines
        targets += responses_targets
        if responses_wrong:
            disagreements["responses"] = responses_wrong

    if not args.check_only:
        report += [
            "## Targets",
            "",
            table(["what", "measured", "target", "verdict"], [t.row() for t in targets]),
            "",
        ]
        output["targets"] = [vars(t) for t in targets]

    print("\n".join(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(output, indent=1, default=str))
    if disagreements:
        return 1
    if args.enforce_targets and any(t.ok is False for t in targets):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
