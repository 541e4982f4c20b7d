"""pytest-benchmark versions of the main cases, on the small corpus.

    pytest benches/test_bench.py                       # time them
    pytest benches/test_bench.py --benchmark-disable   # run each once, as a correctness test

Every case is checked against the generator's ground truth before it is timed. A competitor that
cannot run here (the native module not built yet) is skipped with its reason in the summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import competitors
import corpus
import pytest
import run

SMALL = corpus.generate("small")
LOADED = competitors.load()
BY_NAME = {c.name: c for c in LOADED.competitors}
SMALL_BYTES = sum(len(s.data) for s in SMALL)
ARGUMENT_BYTES = 20_000


def competitor_or_skip(name: str) -> competitors.Competitor:
    competitor = BY_NAME.get(name)
    if competitor is None:
        pytest.skip(f"{name} unavailable: {LOADED.unavailable[name]}")
    return competitor


def whole_corpus(competitor: competitors.Competitor) -> Callable[[], None]:
    adapter = competitor.run

    def run_all() -> None:
        for stream in SMALL:
            adapter(stream.data, stream.reads)

    return run_all


@pytest.mark.parametrize("name", competitors.ALL_NAMES)
def test_throughput(benchmark: Any, name: str) -> None:
    competitor = competitor_or_skip(name)
    assert run.check(competitor, SMALL) == []
    benchmark.extra_info["megabytes"] = SMALL_BYTES / run.MB
    if competitor.sampled:
        # The openai SDK helper is three orders of magnitude slower: a few rounds suffice.
        benchmark.pedantic(whole_corpus(competitor), rounds=3, iterations=1)
    else:
        benchmark(whole_corpus(competitor))


@pytest.fixture(scope="module")
def big_argument_stream() -> corpus.Stream:
    return corpus.big_argument_stream(ARGUMENT_BYTES)


def module_or_skip(name: str) -> Any:
    module, why = competitors.deltafold_modules([])[name]
    if module is None:
        pytest.skip(f"{name} unavailable: {why}")
    return module


@pytest.mark.parametrize("partial", [False, True], ids=["partial-off", "partial-on"])
@pytest.mark.parametrize("implementation", ["deltafold", "reference"])
def test_partial_arguments(
    benchmark: Any, big_argument_stream: corpus.Stream, implementation: str, partial: bool
) -> None:
    module = module_or_skip(implementation)
    adapter = run.partial_adapter(module, partial)
    stream = big_argument_stream
    function = stream.expected["choices"][0]["message"]["tool_calls"][0]["function"]
    want: Any = json.loads(function["arguments"]) if partial else stream.expected
    assert run.first_difference(adapter(stream.data, stream.reads), want) is None
    benchmark(adapter, stream.data, stream.reads)


def test_partial_arguments_sdk_style_reparse(
    benchmark: Any, big_argument_stream: corpus.Stream
) -> None:
    stream = big_argument_stream
    function = stream.expected["choices"][0]["message"]["tool_calls"][0]["function"]
    reparse: Callable[[bytes, Sequence[bytes]], Any] = run.jiter_reparse
    assert reparse(stream.data, stream.reads) == json.loads(function["arguments"])
    benchmark.pedantic(reparse, args=(stream.data, stream.reads), rounds=2, iterations=1)
