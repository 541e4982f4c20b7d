"""The Responses `feed` ratio alone, over many rounds: the tuned pure-Python fold, deltafold
`StreamParser.feed`/`finish` and deltafold `assemble` over the full Responses corpus
(corpus.generate_responses), interleaved rounds in one process, medians.

    python benches/responses_feed.py [--rounds 25]

`run.py` times the same three among all its competitors in 5 rounds, where a 30 MB corpus
scatters by about 15% from run to run; this runs only these three, so many more rounds fit.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import competitors
import corpus
import deltafold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    streams = corpus.generate_responses("full", 0)

    def tuned() -> None:
        for s in streams:
            competitors.responses_tuned_fold(s.data, s.reads)

    def feed() -> None:
        for s in streams:
            p = deltafold.StreamParser(format="responses")
            for read in s.reads:
                p.feed(read)
            p.finish()

    def assemble() -> None:
        for s in streams:
            deltafold.assemble(s.data, format="responses")

    runs: dict[str, Callable[[], None]] = {"tuned": tuned, "feed": feed, "assemble": assemble}
    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for n in range(args.rounds):
        # Each round starts with a different competitor, so none always follows another.
        for name in names[n % 3 :] + names[: n % 3]:
            gc.collect()
            start = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - start)
    m = {name: statistics.median(v) for name, v in seconds.items()}
    print(
        f"feed {m['tuned'] / m['feed']:.3g}x the tuned fold, assemble "
        f"{m['tuned'] / m['assemble']:.3g}x (medians of {args.rounds} rounds, ms: tuned "
        f"{m['tuned'] * 1e3:.1f}, feed {m['feed'] * 1e3:.2f}, assemble {m['assemble'] * 1e3:.2f})"
    )


if __name__ == "__main__":
    main()
