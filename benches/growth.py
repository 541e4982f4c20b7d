"""Growth benchmark: issue 8 section 2, rows Q1-Q6, each timed at three sizes.

Every row is an input shape that once cost time quadratic in its size. For each row the script
times the parser at three sizes, prints the log-log slope of time against size (the growth
exponent) and checks every result against the value the row itself predicts. A linear row has
an exponent near 1; the bar is 1.2.

Timing is process CPU time, input built outside the timer, the three sizes interleaved over
``--repeat`` rounds, and the minimum of each size's runs counts (``--stat median`` for the
median): on a shared machine whose speed swings minute to minute, a slow spell then slows every
size rather than the one being timed. ``--instructions`` counts instructions instead, under
valgrind callgrind, one child process per row: exact and independent of load, and free of the
cache effects that make time per item grow as maps outgrow the caches. Its bar is 1.1.

    python benches/growth.py                 # native, default sizes; exit 1 if an exponent > 1.2
    python benches/growth.py --instructions  # callgrind counts; exit 1 if an exponent > 1.1
    python benches/growth.py --impl reference
    python benches/growth.py --only Q1a,Q3b --scale 0.25
    python benches/growth.py --quick         # small sizes, both twins, results only (CI smoke)
    python benches/growth.py --only Q2 --phases   # also each phase of the Q2 rows on its own

Exit status: 0 every check passed (and, unless ``--quick``, every exponent <= the bar),
1 a result was wrong or an exponent above the bar.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

BAR = 1.2
# Instruction counts carry no noise, so a row over this is superlinear in the code itself.
INSTRUCTION_BAR = 1.1


def sse(payloads: list[Any], done: bool = True) -> bytes:
    body = b"".join(
        b"data: " + json.dumps(p, separators=(",", ":")).encode() + b"\n\n" for p in payloads
    )
    return body + (b"data: [DONE]\n\n" if done else b"")


def choice(delta: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return {"choices": [{"index": index, "delta": delta}]}


def reads(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def message(completion: dict[str, Any], i: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = completion["choices"][i]["message"]
    return result


@dataclass
class Row:
    name: str
    what: str
    sizes: tuple[int, int, int]
    quick: tuple[int, int, int]
    make: Callable[[int], Any]
    run: Callable[[ModuleType, Any], Any]
    check: Callable[[int, Any], None]
    # The input as the named parts a parser is fed one after the other (--phases).
    parts: Callable[[int], list[tuple[str, bytes]]] | None = None
    # Not a deltafold row but another library on a row's input, for comparison: printed, never
    # held to the bar, and left out of --instructions unless named in --only.
    comparison: bool = False


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


# Q1: one chunk whose choices list names the same choice (and tool call) again and again.
def q1_make(n: int, spread: int) -> bytes:
    frag = [{"index": 0, "function": {"arguments": "x"}}]
    entries = [{"index": i % spread, "delta": {"tool_calls": frag}} for i in range(n)]
    return sse([{"choices": entries}])


def q1_check(n: int, spread: int, c: dict[str, Any]) -> None:
    expect(len(c["choices"]) == min(n, spread), "one choice per distinct index")
    for i in range(min(n, spread)):
        calls = message(c, i)["tool_calls"]
        want = "x" * len(range(i, n, spread))
        expect(len(calls) == 1 and calls[0]["function"]["arguments"] == want, f"choice {i}")


# Q2: k distinct delta keys, then k chunks of a message key that is not an extra. Tool calls
# cycle over more calls than the parser keeps chunk templates for, so each chunk is decoded.
def q2_parts(k: int, kind: str) -> list[tuple[str, bytes]]:
    keys = sse([choice({f"k{i}": 1}) for i in range(k)], done=False)
    return [("feed k delta keys", keys), (f"feed k chunks with {kind}", q2_rest(k, kind))]


def q2_make(k: int, kind: str) -> bytes:
    return b"".join(part for _, part in q2_parts(k, kind))


def q2_rest(k: int, kind: str) -> bytes:
    chunks = []
    for i in range(k):
        if kind == "audio":
            chunks.append(choice({"audio": {"data": "x"}}))
        elif kind == "tool_calls":
            chunks.append(
                choice({"tool_calls": [{"index": i % 8, "function": {"arguments": "x"}}]})
            )
        else:
            fc: dict[str, Any] = {"arguments": "x"}
            if i % 2:
                fc["name"] = "f"
            chunks.append(choice({"function_call": fc}))
    return sse(chunks)


def q2_check(k: int, c: dict[str, Any], kind: str) -> None:
    m = message(c)
    expect(all(m.get(f"k{i}") == 1 for i in range(k)), "every extra key kept")
    if kind == "audio":
        expect(m["audio"] == {"data": "x" * k}, "audio data concatenated")
    elif kind == "tool_calls":
        args = [call["function"]["arguments"] for call in m["tool_calls"]]
        expect(args == ["x" * len(range(j, k, 8)) for j in range(min(k, 8))], "eight calls")
    else:
        expect(m["function_call"] == {"name": "f", "arguments": "x" * k}, "function_call")


# Q3: raise and resume. Every raise must cost the same however far the stream has got.
def raise_and_resume(impl: ModuleType, data: bytes) -> list[Any]:
    parser = impl.StreamParser()
    partials = []
    pending = data
    while True:
        try:
            parser.feed(pending)
        except impl.ChunkDecodeError as error:
            partials.append(error.partial)
            pending = b""
            continue
        break
    partials.append(parser.finish())
    return partials


def q3a_make(n: int) -> bytes:
    return b"data: {x}\n\n" * n + b"data: [DONE]\n\n"


def q3a_check(n: int, partials: list[Any]) -> None:
    expect(len(partials) == n + 1, "one raise per bad event")
    expect(partials[-1]["choices"] == [] and partials[0]["choices"] == [], "nothing assembled")


def q3b_make(n: int) -> bytes:
    # A completion that grows with n, then n bad events: each raise hands out a `.partial`.
    return sse([choice({"content": "a" * (400 * n)})], done=False) + q3a_make(n)


def q3b_check(n: int, partials: list[Any]) -> None:
    expect(len(partials) == n + 1, "one raise per bad event")
    for p in (partials[0], partials[n // 2], partials[-1]):
        expect(message(p)["content"] == "a" * (400 * n), "partial holds the content")


# Q3c: good and bad events alternating, so every raise shows a new state. The caller drops
# most errors unread (as a gateway that logs and resumes does) and reads `.partial` of three,
# after feeding on past them: each of those must show the state at its own raise.
def alternate_and_resume(impl: ModuleType, data: bytes) -> list[Any]:
    parser = impl.StreamParser()
    kept = []
    raised = 0
    pending = data
    while True:
        try:
            parser.feed(pending)
        except impl.ChunkDecodeError as error:
            if raised in (0, 1000, 2000):
                kept.append(error)
            raised += 1
            pending = b""
            continue
        break
    return [raised, *(error.partial for error in kept), parser.finish()]


def q3c_make(n: int) -> bytes:
    good = sse([choice({"content": "ab"})], done=False)
    return (good + b"data: {x}\n\n") * n + b"data: [DONE]\n\n"


def q3c_check(n: int, result: list[Any]) -> None:
    raised, *partials, final = result
    expect(raised == n, "one raise per bad event")
    seen = [i for i in (0, 1000, 2000) if i < n]
    expect(len(partials) == len(seen), "the kept errors")
    for i, p in zip(seen, partials, strict=True):
        expect(message(p)["content"] == "ab" * (i + 1), "partial shows the state at its raise")
    expect(message(final)["content"] == "ab" * n, "every good event assembled")


# Q4: many tool calls (n/64, at most the default limit of 1024), fragments cycling over them.
def q4_calls(n: int) -> int:
    return max(1, min(1024, n // 64))


def q4_make(n: int) -> bytes:
    calls = q4_calls(n)
    opening = [
        {
            "index": j,
            "id": f"call_{j}",
            "type": "function",
            "function": {"name": "f", "arguments": ""},
        }
        for j in range(calls)
    ]
    chunks = [choice({"tool_calls": opening})]
    for i in range(n):
        chunks.append(
            choice({"tool_calls": [{"index": i % calls, "function": {"arguments": "x"}}]})
        )
    return sse(chunks)


def q4_check(n: int, c: dict[str, Any]) -> None:
    calls = q4_calls(n)
    got = [call["function"]["arguments"] for call in message(c)["tool_calls"]]
    expect(got == ["x" * len(range(j, n, calls)) for j in range(calls)], "fragments by index")
    expect(message(c)["tool_calls"][-1]["id"] == f"call_{calls - 1}", "ids kept")


# Q5: raised limits, so the number of calls or choices is the size.
def q5a_make(n: int) -> bytes:
    return sse(
        [choice({"tool_calls": [{"index": i, "function": {"arguments": "x"}}]}) for i in range(n)]
    )


def q5a_check(n: int, c: dict[str, Any]) -> None:
    calls = message(c)["tool_calls"]
    expect(len(calls) == n and all(call["function"]["arguments"] == "x" for call in calls), "calls")


def q5b_make(n: int) -> bytes:
    return sse([choice({"content": "x"}, index=n - 1 - i) for i in range(n)])


def q5b_check(n: int, c: dict[str, Any]) -> None:
    expect([ch["index"] for ch in c["choices"]] == list(range(n)), "choices sorted by index")
    expect(all(ch["message"]["content"] == "x" for ch in c["choices"]), "content per choice")


# Q6: read `parsed_arguments` on every event, as the README quickstart does.
def q6_make(fragments: list[str]) -> list[bytes]:
    first = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    chunks = [choice({"tool_calls": [first]})]
    chunks += [
        choice({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in fragments
    ]
    return list(reads(sse(chunks), 4096))


TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"


def render(name: str | None, value: Any) -> int:
    """The quickstart's consumer: looks at the value and keeps nothing of it."""
    return 0 if value is None else len(value)


def q6_run(impl: ModuleType, pieces: list[bytes]) -> Any:
    """The README quickstart: `parsed_arguments` read on every event, rendered and dropped."""
    parser = impl.StreamParser(events=True, partial_arguments=True)
    final = None
    rendered = 0

    def see(event: Any) -> None:
        nonlocal final, rendered
        if event.type == TOOL_DELTA:
            rendered += render(event.name, event.parsed_arguments)
        elif event.type == TOOL_DONE:
            final = event.parsed_arguments

    for piece in pieces:
        for event in parser.feed(piece):
            see(event)
    for event in parser.finish_events():
        see(event)
    expect(rendered > 0, "the values were read")
    return final


def q6_run_keep(impl: ModuleType, pieces: list[bytes]) -> Any:
    """`parsed_arguments` read on every event, each value kept until the next read."""
    parser = impl.StreamParser(events=True, partial_arguments=True)
    last = None
    for piece in pieces:
        for event in parser.feed(piece):
            if event.type == TOOL_DELTA:
                last = event.parsed_arguments
    parser.finish()
    return last


def q6_run_on_done(impl: ModuleType, pieces: list[bytes]) -> Any:
    """The linear way to use partial arguments: read them once, on the call's `.done`."""
    parser = impl.StreamParser(events=True, partial_arguments=True)
    last = None
    for piece in pieces:
        for event in parser.feed(piece):
            if event.type == "tool_calls.function.arguments.done":
                last = event.parsed_arguments
    for event in parser.finish_events():
        if event.type == "tool_calls.function.arguments.done":
            last = event.parsed_arguments
    return last


# The openai SDK's stream state with the tool declared strict, the case in which it sets
# `parsed_arguments`: it re-parses the whole arguments text with jiter on every chunk.
SDK_TOOLS = [
    {
        "type": "function",
        "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
    }
]


def q6_run_sdk(_impl: ModuleType, pieces: list[bytes]) -> Any:
    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state = ChatCompletionStreamState(input_tools=SDK_TOOLS)  # type: ignore[arg-type]
    header = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
    last = None
    for frame in b"".join(pieces).split(b"\n\n"):
        if not frame.startswith(b"data: ") or frame == b"data: [DONE]":
            continue
        chunk = construct_type(type_=ChatCompletionChunk, value={**header, **json.loads(frame[6:])})
        for event in state.handle_chunk(chunk):  # type: ignore[arg-type]
            if event.type == "tool_calls.function.arguments.delta":
                last = event.parsed_arguments
    return last


def assemble(impl: ModuleType, data: bytes, **options: Any) -> Any:
    return impl.assemble(data, **options)


ROWS = [
    Row(
        "Q1a",
        "one chunk, n choice entries, all index 0",
        (4_000, 16_000, 64_000),
        (50, 100, 200),
        lambda n: q1_make(n, 1),
        assemble,
        lambda n, c: q1_check(n, 1, c),
    ),
    Row(
        "Q1b",
        "one chunk, n choice entries, index i % 1000",
        (4_000, 16_000, 64_000),
        (1_000, 2_000, 4_000),
        lambda n: q1_make(n, 1000),
        assemble,
        lambda n, c: q1_check(n, 1000, c),
    ),
    *(
        Row(
            f"Q2{suffix}",
            f"k delta keys, then k chunks with {kind}",
            (10_000, 40_000, 160_000),
            (50, 100, 200),
            functools.partial(q2_make, kind=kind),
            assemble,
            functools.partial(q2_check, kind=kind),
            functools.partial(q2_parts, kind=kind),
        )
        for suffix, kind in (("a", "audio"), ("b", "tool_calls"), ("c", "function_call"))
    ),
    Row(
        "Q3a",
        "n bad events, raise and resume",
        (12_500, 50_000, 200_000),
        (50, 100, 200),
        q3a_make,
        raise_and_resume,
        q3a_check,
    ),
    Row(
        "Q3b",
        "n bad events after 400n bytes of content, raise and resume",
        (2_500, 10_000, 40_000),
        (20, 40, 80),
        q3b_make,
        raise_and_resume,
        q3b_check,
    ),
    Row(
        "Q3c",
        "n good and n bad events alternating, raise and resume, errors dropped",
        (12_500, 50_000, 200_000),
        (50, 100, 2500),
        q3c_make,
        alternate_and_resume,
        q3c_check,
    ),
    Row(
        "Q4",
        "n/64 tool calls (<= 1024), n fragments cycling over them",
        (4_000, 16_000, 64_000),
        (200, 400, 800),
        q4_make,
        assemble,
        q4_check,
    ),
    Row(
        "Q5a",
        "max_tool_calls=10**9, n distinct tool-call indexes",
        (2_000, 8_000, 32_000),
        (50, 100, 200),
        q5a_make,
        lambda impl, data: assemble(impl, data, max_tool_calls=10**9),
        q5a_check,
    ),
    Row(
        "Q5b",
        "max_choice_index=2**40, n descending choice indexes",
        (6_250, 25_000, 100_000),
        (50, 100, 200),
        q5b_make,
        lambda impl, data: assemble(impl, data, max_choice_index=2**40),
        q5b_check,
    ),
    Row(
        "Q6a",
        "parsed_arguments read and dropped on every event: an n-byte string in 1-byte fragments",
        (2_000, 8_000, 32_000),
        (50, 100, 200),
        lambda n: q6_make(['"'] + ["a"] * n + ['"']),
        q6_run,
        lambda n, parsed: expect(parsed == "a" * n, "the whole string"),
    ),
    Row(
        "Q6b",
        "parsed_arguments read and dropped on every event: an n-element array",
        (625, 2_500, 10_000),
        (50, 100, 200),
        lambda n: q6_make(["["] + ["1,"] * (n - 1) + ["1]"]),
        q6_run,
        lambda n, parsed: expect(parsed == [1] * n, "the whole array"),
    ),
    Row(
        "Q6c",
        "Q6b's input, parsed_arguments read only on the call's .done",
        (625, 2_500, 10_000),
        (50, 100, 200),
        lambda n: q6_make(["["] + ["1,"] * (n - 1) + ["1]"]),
        q6_run_on_done,
        lambda n, parsed: expect(parsed == [1] * n, "the whole array"),
    ),
    Row(
        "Q6d",
        "Q6b, each value kept until the next read (`last = event.parsed_arguments`); not held"
        " to the bar: the values are distinct lists alive at once, so writing their sum of"
        " lengths in references is the size of what the interface returns",
        (625, 2_500, 10_000),
        (50, 100, 200),
        lambda n: q6_make(["["] + ["1,"] * (n - 1) + ["1]"]),
        q6_run_keep,
        lambda n, parsed: expect(parsed == [1] * n, "the whole array"),
        comparison=True,
    ),
    Row(
        "Q6e",
        'Q6b inside an object (`{"items": [...]}`, the usual shape of tool arguments)',
        (625, 2_500, 10_000),
        (50, 100, 200),
        lambda n: q6_make(['{"items": ['] + ["1,"] * (n - 1) + ["1]}"]),
        q6_run,
        lambda n, parsed: expect(parsed == {"items": [1] * n}, "the whole object"),
    ),
    Row(
        "Q6f",
        'Q6a at the tail of an array (`["aaa…`): the open list pops the string before it grows',
        (2_000, 8_000, 32_000),
        (50, 100, 200),
        lambda n: q6_make(['["'] + ["a"] * n + ['"]']),
        q6_run,
        lambda n, parsed: expect(parsed == ["a" * n], "the whole array"),
    ),
    Row(
        "Q6g",
        'Q6a inside an object (`{"text": "aaa…`): the object copied, its string extended',
        (2_000, 8_000, 32_000),
        (50, 100, 200),
        lambda n: q6_make(['{"text": "'] + ["a"] * n + ['"}']),
        q6_run,
        lambda n, parsed: expect(parsed == {"text": "a" * n}, "the whole object"),
    ),
    Row(
        "Q6s",
        "Q6b with the openai SDK (strict tool): parsed_arguments on every event",
        (625, 2_500, 10_000),
        (50, 100, 200),
        lambda n: q6_make(["["] + ["1,"] * (n - 1) + ["1]"]),
        q6_run_sdk,
        lambda n, parsed: expect(parsed == [1] * n, "the whole array"),
        comparison=True,
    ),
]


def slope(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-9)) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def interleaved(
    row: Row, impl: ModuleType, sizes: list[int], repeat: int, stat: str
) -> list[float]:
    """Process CPU time of each size: the sizes run interleaved, each repeat starting at a
    different size, so a slow minute of this shared machine falls on every size alike rather
    than on the one being timed; then the minimum (or median) of the repeats of each size.
    CPU time rather than wall time, so time the process spends descheduled does not count."""
    inputs = [row.make(n) for n in sizes]
    # One untimed run first: the first call pays one-time costs (imports, caches).
    row.run(impl, inputs[0])
    runs: list[list[float]] = [[] for _ in sizes]
    for r in range(repeat):
        for i in [(r + j) % len(sizes) for j in range(len(sizes))]:
            # The cyclic collector runs at moments set by allocation counts, not by the
            # parser: keep it out of the timed span so it does not add noise to the slope.
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                result = row.run(impl, inputs[i])
                runs[i].append(time.process_time() - start)
            finally:
                gc.enable()
            if r == 0:
                row.check(sizes[i], result)
            del result
    pick = min if stat == "min" else statistics.median
    return [pick(times) for times in runs]


# --instructions: each row runs in a child process under valgrind's callgrind, which counts
# the instructions executed: exact and the same under any load. The parent builds the inputs
# and pickles them, so the child spends no (slow, instrumented) time building them; the child
# runs each fold inside `functools.reduce`, and callgrind collects only inside that C function
# (--toggle-collect) and writes one count per call (--dump-after). Nothing else in the child
# calls `reduce`.
MARKER = "functools_reduce"


def child(row_name: str, impl_name: str, paths: list[str]) -> None:
    """The child of --instructions: one untimed warm-up run, then each input once, inside the
    marker function."""
    import pickle

    impl = load_impl(impl_name)
    row = next(r for r in ROWS if r.name == row_name)
    inputs = []
    for path in paths:
        with open(path, "rb") as file:
            inputs.append(pickle.load(file))
    row.run(impl, inputs[0])
    for data in inputs:

        def fold(_acc: Any, _item: Any, data: Any = data) -> Any:
            return row.run(impl, data)

        gc.collect()
        gc.disable()
        result = functools.reduce(fold, [None], None)
        gc.enable()
        del result


def instructions(rows: list[Row], impl_name: str, scale: float, jobs: int) -> float:
    """Runs every row under callgrind (``jobs`` at a time) and prints each row's instruction
    counts and their exponent; returns the worst exponent."""
    import pickle
    import re
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    print(f"{impl_name}: callgrind instruction counts of the fold (exact, load-independent)")
    with tempfile.TemporaryDirectory(prefix="growth-cg-") as tmp:
        work = []
        for row in rows:
            sizes = [max(2, round(n * scale)) for n in row.sizes]
            paths = []
            for n in sizes:
                path = f"{tmp}/{row.name}.{n}.pickle"
                with open(path, "wb") as file:
                    pickle.dump(row.make(n), file, protocol=pickle.HIGHEST_PROTOCOL)
                paths.append(path)
            work.append((row, sizes, paths))

        def count(item: tuple[Row, list[int], list[str]]) -> list[int]:
            row, sizes, paths = item
            out = f"{tmp}/cg.{row.name}"
            command = [
                "valgrind",
                "--tool=callgrind",
                f"--toggle-collect={MARKER}",
                f"--dump-after={MARKER}",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                row.name,
                "--impl",
                impl_name,
                *paths,
            ]
            subprocess.run(command, check=True, capture_output=True)
            counts = []
            for part in range(1, len(sizes) + 1):
                with open(f"{out}.{part}", encoding="utf-8") as file:
                    found = re.search(r"^summary: (\d+)$", file.read(), re.MULTILINE)
                if found is None:
                    raise RuntimeError(f"no instruction count in {out}.{part}")
                counts.append(int(found.group(1)))
            return counts

        worst = 0.0
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for (row, sizes, _), counts in zip(work, pool.map(count, work), strict=True):
                exponent = slope(sizes, [float(c) for c in counts])
                if not row.comparison:
                    worst = max(worst, exponent)
                cells = "  ".join(
                    f"n={n:>7}: {c / 1e6:9.1f}M" for n, c in zip(sizes, counts, strict=True)
                )
                held = not row.comparison
                flag = "  <-- above the bar" if held and exponent > INSTRUCTION_BAR else ""
                print(
                    f"{row.name:4} {cells}  exponent {exponent:5.2f}{flag}   {row.what}", flush=True
                )
    return worst


def phases(row: Row, impl: ModuleType, n: int, repeat: int) -> dict[str, float]:
    """Median time of each phase: feeding each part, `finish` (which builds the Python
    result) and dropping the result."""
    assert row.parts is not None
    parts = row.parts(n)
    runs: dict[str, list[float]] = {}

    def timed_step(name: str, step: Callable[[], Any]) -> Any:
        start = time.process_time()
        value = step()
        runs.setdefault(name, []).append(time.process_time() - start)
        return value

    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            parser = impl.StreamParser()
            for name, part in parts:
                timed_step(name, functools.partial(parser.feed, part))
            result = timed_step("finish (builds the dict)", parser.finish)
            row.check(n, result)
            holder = [result, parser]
            del result, parser
            timed_step("drop the result", holder.clear)
        finally:
            gc.enable()
    return {name: statistics.median(times) for name, times in runs.items()}


def print_phases(row: Row, impl: ModuleType, sizes: list[int], repeat: int) -> None:
    by_size = [phases(row, impl, n, repeat) for n in sizes]
    for name in by_size[0]:
        times = [timing[name] for timing in by_size]
        cells = "  ".join(f"n={n:>7}: {t:8.3f}s" for n, t in zip(sizes, times, strict=True))
        print(f"  {row.name:4} {cells}  exponent {slope(sizes, times):5.2f}   {name}", flush=True)


def quick(rows: list[Row], impls: dict[str, ModuleType]) -> bool:
    ok = True
    for row in rows:
        row_ok = True
        for n in row.quick:
            data = row.make(n)
            results = {}
            for name, impl in impls.items():
                try:
                    results[name] = row.run(impl, data)
                    row.check(n, results[name])
                except Exception as error:
                    print(f"FAIL {row.name} n={n} {name}: {type(error).__name__}: {error}")
                    row_ok = False
            if (
                len(results) == len(impls)
                and len({json.dumps(r, sort_keys=True) for r in results.values()}) != 1
            ):
                print(f"FAIL {row.name} n={n}: twins disagree")
                row_ok = False
        ok = ok and row_ok
        sizes = ", ".join(map(str, row.quick))
        print(f"{'ok  ' if row_ok else 'FAIL'} {row.name:4} {row.what} (n = {sizes})")
    return ok


def load_impl(name: str) -> ModuleType:
    import deltafold
    import deltafold.reference

    return deltafold if name == "native" else deltafold.reference


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="small sizes, both twins, check results only"
    )
    ap.add_argument("--impl", choices=("native", "reference"), default="native")
    ap.add_argument("--only", help="comma-separated row names (Q1a, Q3b, ...) or prefixes (Q2)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size by this")
    ap.add_argument(
        "--repeat", type=int, default=7, help="runs per size, interleaved across the sizes"
    )
    ap.add_argument(
        "--stat",
        choices=("min", "median"),
        default="min",
        help="which of a size's repeats counts (default: the minimum, the least disturbed)",
    )
    ap.add_argument(
        "--phases",
        action="store_true",
        help="also time each phase of rows fed in parts (Q2), to tell where time grows",
    )
    ap.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions under valgrind callgrind instead of timing (exact; slow)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="callgrind processes at a time")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("inputs", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        child(args.child, args.impl, args.inputs)
        return 0

    rows = ROWS
    if args.only:
        wanted = args.only.split(",")
        rows = [r for r in ROWS if any(r.name.startswith(w) for w in wanted)]
    if args.quick:
        ok = quick(rows, {"native": load_impl("native"), "reference": load_impl("reference")})
        return 0 if ok else 1
    if args.instructions:
        if not args.only:
            rows = [r for r in rows if not r.comparison]
        worst = instructions(rows, args.impl, args.scale, args.jobs)
        print(f"worst exponent {worst:.2f} (bar {INSTRUCTION_BAR} for instruction counts)")
        return 0 if worst <= INSTRUCTION_BAR else 1

    impl = load_impl(args.impl)
    print(
        f"{args.impl}: {args.stat} of {args.repeat} interleaved runs of process CPU time; "
        "exponent: log-log slope of time vs size"
    )
    worst = 0.0
    for row in rows:
        sizes = [max(2, round(n * args.scale)) for n in row.sizes]
        try:
            times = interleaved(row, impl, sizes, args.repeat, args.stat)
        except Exception as error:
            print(f"{row.name:4} FAIL {type(error).__name__}: {error}", flush=True)
            worst = math.inf
            continue
        exponent = slope(sizes, times)
        if not row.comparison:
            worst = max(worst, exponent)
        cells = "  ".join(f"n={n:>7}: {t:8.3f}s" for n, t in zip(sizes, times, strict=True))
        flag = "" if exponent <= BAR or row.comparison else "  <-- above the bar"
        print(f"{row.name:4} {cells}  exponent {exponent:5.2f}{flag}   {row.what}", flush=True)
        if args.phases and row.parts is not None:
            print_phases(row, impl, sizes, args.repeat)
    print(f"worst exponent {worst:.2f}")
    return 0 if worst <= BAR else 1


if __name__ == "__main__":
    sys.exit(main())
