"""The Anthropic part of the benchmarks (issue 10): ``python benches/run.py --format anthropic``.

Corpus: ``corpus.generate_anthropic`` (text, thinking, tool use with long JSON input in small
fragments, server tools), ground truth built from the generated messages. Every competitor is
checked against it first; then all are timed in one process, in interleaved rounds (the order
rotates each round), and the medians compared. The anthropic SDK is timed on a sample of the
streams (it is slow), its rate scaled per byte.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import competitors
import corpus

MB = 1_000_000
SDK_SAMPLE_BYTES = 600_000


def _check(competitor: competitors.Competitor, streams: Sequence[corpus.AnthropicStream]) -> str:
    from run import first_difference

    for number, stream in enumerate(streams):
        try:
            got = competitor.run(stream.data, stream.reads)
        except Exception as exc:  # a crash is a wrong answer
            return f"stream {number} ({stream.kind}) raised {type(exc).__name__}: {exc}"
        if competitor.floor:
            continue
        difference = first_difference(got, stream.expected)
        if difference:
            return f"stream {number} ({stream.kind}): {difference}"
    return ""


def _sample(streams: Sequence[corpus.AnthropicStream], tools: bool = True) -> list[int]:
    """About ``SDK_SAMPLE_BYTES`` of streams, every kind (tool use last, or not at all: the
    reference re-checks a tool input's whole JSON text per fragment, quadratic in it)."""
    chosen: list[int] = []
    size = 0
    kinds = ("text", "thinking", "server", "tools") if tools else ("text", "thinking", "server")
    for kind in kinds:
        for index, stream in enumerate(streams):
            if stream.kind == kind and (size < SDK_SAMPLE_BYTES or kind not in {
                streams[i].kind for i in chosen
            }):
                chosen.append(index)
                size += len(stream.data)
    return sorted(chosen)


def main(args: Any) -> int:
    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    loaded = competitors.load_anthropic()
    chosen = loaded.competitors
    for name, why in loaded.unavailable.items():
        say(f"unavailable: {name}: {why}")
    streams = corpus.generate_anthropic(args.size, args.seed)
    gc.freeze()
    total = sum(len(s.data) for s in streams)
    events = sum(s.chunks for s in streams)
    print(f"# Anthropic benchmark ({args.size} corpus, seed {args.seed})\n")
    print(
        f"corpus: {len(streams)} streams, {total / MB:.2f} MB, {events} events "
        f"({', '.join(corpus.ANTHROPIC_KINDS)} in turn), reads of 1-4 KiB\n"
    )
    wrong = {}
    samples = {
        c.name: _sample(streams, tools=c.name != "reference.assemble") for c in chosen
    }
    for competitor in chosen:
        sample = samples[competitor.name]
        checked = [streams[i] for i in sample] if competitor.sampled else streams
        found = _check(competitor, checked)
        say(f"  {competitor.name}: {'OK' if not found else 'WRONG ' + found}")
        if found:
            wrong[competitor.name] = found
    if wrong:
        print("disagreements with the ground truth:")
        for name, found in wrong.items():
            print(f"- {name}: {found}")
    if args.check_only:
        return 1 if wrong else 0
    timed = [c for c in chosen if c.name not in wrong]
    everything = list(range(len(streams)))
    seconds: dict[str, list[float]] = {c.name: [] for c in timed}
    clock = time.perf_counter
    for round_number in range(args.rounds):
        shift = round_number % len(timed)
        for competitor in timed[shift:] + timed[:shift]:
            chosen_streams = samples[competitor.name] if competitor.sampled else everything
            gc.collect()
            spent = 0.0
            for index in chosen_streams:
                stream = streams[index]
                start = clock()
                competitor.run(stream.data, stream.reads)
                spent += clock() - start
            seconds[competitor.name].append(spent)
        say(f"round {round_number + 1}/{args.rounds} done")
    rates: dict[str, float] = {}
    for competitor in timed:
        chosen_streams = samples[competitor.name] if competitor.sampled else everything
        size = sum(len(streams[i].data) for i in chosen_streams)
        rates[competitor.name] = size / MB / statistics.median(seconds[competitor.name])
    print(f"| competitor | MB/s (median of {args.rounds} interleaved rounds) |")
    print("|---|---|")
    for competitor in timed:
        sampled = " (sampled)" if competitor.sampled else ""
        print(f"| {competitor.label}{sampled} | {rates[competitor.name]:.1f} |")
    print()
    base = rates.get("deltafold.assemble")
    if base is not None:
        for other, target in (("tuned-python", 10), ("orjson-lines", 5), ("anthropic-sdk", 300)):
            if other in rates:
                print(
                    f"- deltafold assemble / {other}: {base / rates[other]:.1f}x "
                    f"(target {target}x)"
                )
    return 1 if wrong else 0
