"""Load benchmark of ``python -m deltafold.gateway`` (not a test).

2,000 streams, 200 at a time, go from a load generator through the gateway to a local upstream
that replays recorded Chat Completions streams one SSE event per write (as an LLM API sends
them, a few milliseconds apart). Every process is separate: the upstream, the gateway and the
load generator (this script), so the gateway's CPU time can be read from /proc alone.

Compared, in the same proxy position (the gateway's fold hook), in interleaved rounds:

* ``direct``        - no gateway: the baseline for time-to-first-byte and time-to-last-byte;
* ``plain``         - the gateway forwarding without folding (``--no-fold``);
* ``deltafold``     - the gateway folding with deltafold (the default), each fold call timed;
* ``deltafold-untimed`` - the same without the timing wrapper: the gateway as shipped, for the
  whole-process CPU comparison with ``plain`` (reading the thread clock is a system call);
* ``openai-sdk``    - folding with the openai SDK's own parts: its ``SSEDecoder``, ``json``,
  ``construct_type(ChatCompletionChunk)`` and ``ChatCompletionStreamState``;
* ``litellm``       - folding with LiteLLM's ``stream_chunk_builder`` over the chunks (when
  litellm is installed).

Reported per mode (medians over the rounds): streams/s, gateway CPU-seconds per stream, p50/p99
time-to-first-byte and time-to-last-byte and their increase over direct, and rows written
(every folding mode must write 2,000 rows per round, each matching the recording's usage).

    python benches/gateway_load.py                       # 2,000 streams, 200 concurrent, 3 rounds
    python benches/gateway_load.py --streams 400 --rounds 1 --modes plain,deltafold
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = sorted((ROOT / "tests" / "fixtures" / "openai-recorded").glob("*.sse"))
# The streams replayed, cycled: text, tool calls, n=3 choices, logprobs, refusals.
CHOSEN = [p for p in RECORDINGS if "__" not in p.name and p.stem != "chat_completion_state_helper"]


# -- the upstream: a minimal asyncio HTTP/1.1 server (its own process) --


def serve_upstream(port_file: str, gap: float) -> None:
    streams = {p.stem: [e + b"\n\n" for e in p.read_bytes().split(b"\n\n") if e] for p in CHOSEN}

    class Replay(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            head, separator, rest = self.buffer.partition(b"\r\n\r\n")
            if not separator:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            model = json.loads(body).get("model", "")
            self.task = asyncio.ensure_future(self.reply(streams[model]))

        async def reply(self, events: list[bytes]) -> None:
            write = self.transport.write
            write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n"
            )
            for event in events:
                if self.transport.is_closing():
                    return
                write(b"%x\r\n%s\r\n" % (len(event), event))
                await asyncio.sleep(gap)
            write(b"0\r\n\r\n")

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            Replay, "127.0.0.1", 0, backlog=4096
        )
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- folders for the gateway's fold hook (the same position deltafold takes) --


class SdkFolder:
    """The openai SDK's own streaming parts, fed the same bytes as deltafold."""

    def __init__(self) -> None:
        from openai._streaming import SSEDecoder
        from openai.lib.streaming.chat import ChatCompletionStreamState

        self.decoder = SSEDecoder()
        self.state: Any = ChatCompletionStreamState()
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        from openai._models import construct_type
        from openai.types.chat import ChatCompletionChunk

        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            event = self.decoder.decode(line.decode().rstrip("\r"))
            if event is None or event.data.startswith("[DONE]"):
                continue
            try:
                value = construct_type(type_=ChatCompletionChunk, value=json.loads(event.data))
                self.state.handle_chunk(value)
            except Exception:
                pass

    def close(self, *, ended: bool) -> dict[str, Any] | None:
        try:
            completion = self.state.current_completion_snapshot.to_dict()
        except Exception:
            return None
        return summary_of_completion(completion, ended)


class LitellmFolder:
    """LiteLLM's ``stream_chunk_builder`` over the chunks (SSE decoded with the openai SDK's
    decoder, each chunk a ``ModelResponseStream``), run when the stream ends."""

    def __init__(self) -> None:
        from litellm.types.utils import ModelResponseStream
        from openai._streaming import SSEDecoder

        self.decoder = SSEDecoder()
        # LiteLLM's proxy holds each chunk as the ModelResponseStream its stream wrapper built.
        self.make = ModelResponseStream
        self.chunks: list[Any] = []
        self.pending = b""

    def feed(self, chunk: bytes) -> None:
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            event = self.decoder.decode(line.decode().rstrip("\r"))
            if event is not None and not event.data.startswith("[DONE]"):
                try:
                    self.chunks.append(self.make(**json.loads(event.data)))
                except Exception:
                    pass

    def close(self, *, ended: bool) -> dict[str, Any] | None:
        import litellm

        try:
            response = litellm.stream_chunk_builder(self.chunks)
            completion = response.model_dump() if response is not None else None
        except Exception:
            return None
        return summary_of_completion(completion, ended) if completion else None


def summary_of_completion(completion: dict[str, Any], ended: bool) -> dict[str, Any]:
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = completion.get("usage") or {}
    return {
        "format": "chat",
        "id": completion.get("id"),
        "model": completion.get("model"),
        "status": "complete" if ended else "incomplete",
        "finish_reason": choice.get("finish_reason"),
        "stop_reason": choice.get("finish_reason"),
        "usage": {
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": None,
            "cache_write_tokens": None,
            "reasoning_tokens": None,
        },
        "text": message.get("content") or "",
        "reasoning": "",
        "tool_calls": [
            {
                "id": c.get("id"),
                "name": c["function"]["name"],
                "arguments": c["function"]["arguments"],
            }
            for c in message.get("tool_calls") or []
        ],
        "error": None,
    }


class Timed:
    """Wraps a folder to add up the CPU time spent in it: the event loop's thread CPU clock,
    so time the process spends preempted on a busy machine is not counted."""

    total = 0.0
    calls = 0

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def feed(self, chunk: bytes) -> None:
        start = time.thread_time()
        self.inner.feed(chunk)
        Timed.total += time.thread_time() - start
        Timed.calls += 1

    def close(self, *, ended: bool) -> dict[str, Any] | None:
        start = time.thread_time()
        summary = self.inner.close(ended=ended)
        Timed.total += time.thread_time() - start
        Timed.calls += 1
        return summary  # type: ignore[no-any-return]


def serve_gateway(mode: str, upstream: str, db: str, port_file: str) -> None:
    import uvicorn
    from deltafold._tee import SideFold
    from deltafold.gateway import Gateway, parse_upstreams
    from deltafold.gateway.__main__ import _listen

    app = Gateway(parse_upstreams([upstream]), db)
    folders = {"deltafold": SideFold, "openai-sdk": SdkFolder, "litellm": LitellmFolder}
    # "deltafold-untimed" is the gateway exactly as shipped: no clock reads around the fold
    # calls, whose system calls would otherwise be billed to the folding mode's process CPU.
    untimed = mode.endswith("-untimed")
    inner = folders.get(mode.removesuffix("-untimed"))
    if inner is None:
        app.fold = None  # type: ignore[assignment]
    elif untimed:
        app.fold = inner  # type: ignore[assignment]
    else:
        app.fold = lambda: Timed(inner())  # type: ignore[assignment]
    stop = app.stop

    async def stop_and_report() -> None:
        await stop()
        # Reading the thread CPU clock is a system call here (microseconds): what two empty
        # reads cost is measured and taken off every timed call.
        pairs = []
        for _ in range(2000):
            start = time.thread_time()
            pairs.append(time.thread_time() - start)
        clock = statistics.median(pairs)
        Path(port_file + ".fold").write_text(str(max(0.0, Timed.total - Timed.calls * clock)))

    app.stop = stop_and_report  # type: ignore[method-assign]
    listener = _listen("127.0.0.1", 0)
    Path(port_file).write_text(str(listener.getsockname()[1]))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[listener])


# -- the load generator --


def _spawn(args: list[str], port_file: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, *args])
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"{args} did not start")
        time.sleep(0.05)
    return process, int(port_file.read_text())


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(url: str, streams: int, concurrency: int) -> tuple[list[float], list[float], int]:
    import aiohttp

    ttfb: list[float] = []
    ttlb: list[float] = []
    received = 0
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    models = [CHOSEN[i % len(CHOSEN)].stem for i in range(streams)]

    async def one(session: aiohttp.ClientSession, model: str) -> None:
        nonlocal received
        body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with semaphore:
            start = time.perf_counter()
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                first = None
                async for data in response.content.iter_any():
                    if first is None:
                        first = time.perf_counter()
                    received += len(data)
                end = time.perf_counter()
            ttfb.append((first or end) - start)
            ttlb.append(end - start)

    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(one(session, model) for model in models))
    return ttfb, ttlb, received


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _check_rows(db: Path, expected_total: int) -> tuple[int, int]:
    """(rows, rows whose usage and status match their recording)."""
    usage = {}
    for path in CHOSEN:
        for line in path.read_bytes().split(b"\n"):
            if line.startswith(b"data: {"):
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    usage[chunk["model"], chunk["id"]] = chunk["usage"]["total_tokens"]
    connection = sqlite3.connect(db)
    rows = connection.execute("SELECT summary_json FROM requests").fetchall()
    good = 0
    for (summary_json,) in rows:
        if summary_json is None:
            continue
        summary = json.loads(summary_json)
        if summary["status"] == "complete" and summary["usage"]["total_tokens"] == usage.get(
            (summary["model"], summary["id"])
        ):
            good += 1
    connection.close()
    return len(rows), good


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="gateway-load-"))
    upstream, upstream_port = _spawn(
        ["--serve-upstream", str(workdir / "upstream.port"), "--gap", str(args.gap)],
        workdir / "upstream.port",
    )
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    modes = args.modes.split(",")
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in ["direct", *modes]}
    try:
        for round_ in range(args.rounds):
            for mode in ["direct", *modes]:
                if mode == "direct":
                    start = time.perf_counter()
                    ttfb, ttlb, received = asyncio.run(
                        _load(upstream_url, args.streams, args.concurrency)
                    )
                    wall = time.perf_counter() - start
                    results[mode].append(
                        {
                            "wall": wall,
                            "ttfb50": _quantile(ttfb, 0.5),
                            "ttfb99": _quantile(ttfb, 0.99),
                            "ttlb50": _quantile(ttlb, 0.5),
                            "ttlb99": _quantile(ttlb, 0.99),
                            "cpu": 0.0,
                            "fold": 0.0,
                            "rows": 0,
                            "good": 0,
                            "bytes": received,
                        }
                    )
                    continue
                db = workdir / f"{mode}-{round_}.db"
                gateway, port = _spawn(
                    [
                        "--serve-gateway",
                        mode,
                        "--upstream",
                        upstream_url,
                        "--db",
                        str(db),
                        "--port-file",
                        str(workdir / "gateway.port"),
                    ],
                    workdir / "gateway.port",
                )
                try:
                    time.sleep(0.3)
                    cpu_before = _cpu_seconds(gateway.pid)
                    start = time.perf_counter()
                    ttfb, ttlb, received = asyncio.run(
                        _load(f"http://127.0.0.1:{port}", args.streams, args.concurrency)
                    )
                    wall = time.perf_counter() - start
                    time.sleep(0.3)  # the writer's last batch
                    cpu = _cpu_seconds(gateway.pid) - cpu_before
                finally:
                    gateway.terminate()
                    gateway.wait(timeout=30)
                fold_file = workdir / "gateway.port.fold"
                fold = float(fold_file.read_text()) if fold_file.exists() else 0.0
                fold_file.unlink(missing_ok=True)
                rows, good = _check_rows(db, args.streams)
                results[mode].append(
                    {
                        "wall": wall,
                        "ttfb50": _quantile(ttfb, 0.5),
                        "ttfb99": _quantile(ttfb, 0.99),
                        "ttlb50": _quantile(ttlb, 0.5),
                        "ttlb99": _quantile(ttlb, 0.99),
                        "cpu": cpu,
                        "fold": fold,
                        "rows": rows,
                        "good": good,
                        "bytes": received,
                    }
                )
                print(
                    f"round {round_ + 1} {mode}: {args.streams / wall:.0f} streams/s, "
                    f"{cpu / args.streams * 1000:.2f} ms CPU/stream, "
                    f"fold {fold / args.streams * 1000:.3f} ms/stream, rows {rows}, good {good}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    report(results, args)


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    modes = [m for m in results if m != "direct" and results[m]]

    def median(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode])

    print(
        f"\n{args.streams} streams, {args.concurrency} concurrent, medians of "
        f"{', '.join(f'{len(results[m])} {m}' for m in results)} rounds; "
        f"upstream gap {args.gap * 1000:.1f} ms between events\n"
    )
    print(
        "| mode | streams/s | gateway CPU ms/stream | vs plain | fold ms/stream (share of "
        "CPU) | TTFB p50 / p99 ms (added) | TTLB p50 / p99 ms (added) | rows (correct) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base = {k: median("direct", k) for k in ("ttfb50", "ttfb99", "ttlb50", "ttlb99")}
    plain_cpu = median("plain", "cpu") if results.get("plain") else None
    for mode in ["direct", *modes]:
        cpu = median(mode, "cpu") / args.streams * 1000
        ratio = (
            f"{median(mode, 'cpu') / plain_cpu - 1:+.1%}" if plain_cpu and mode != "direct" else ""
        )
        fold = median(mode, "fold")
        share = (
            f"{fold / args.streams * 1000:.3f} ({fold / median(mode, 'cpu'):.1%})" if fold else ""
        )
        t = {k: median(mode, k) * 1000 for k in base}
        added = {k: t[k] - base[k] * 1000 for k in base}
        rows = (
            f"{int(median(mode, 'rows'))} ({int(median(mode, 'good'))})" if mode != "direct" else ""
        )
        print(
            f"| {mode} | {args.streams / median(mode, 'wall'):.0f} | "
            f"{cpu:.2f} | {ratio} | {share} | "
            f"{t['ttfb50']:.1f} / {t['ttfb99']:.1f} "
            f"({added['ttfb50']:+.1f} / {added['ttfb99']:+.1f}) | "
            f"{t['ttlb50']:.1f} / {t['ttlb99']:.1f} "
            f"({added['ttlb50']:+.1f} / {added['ttlb99']:+.1f}) | "
            f"{rows} |"
        )
    if args.plot:
        plot(results, args.streams, args.plot)


def plot(results: dict[str, list[dict[str, float]]], streams: int, path: str) -> None:
    """Gateway CPU per stream (the fold's part shaded) and added time-to-last-byte, by mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in results if m != "direct" and results[m]]
    cpu = [statistics.median(r["cpu"] for r in results[m]) / streams * 1000 for m in modes]
    fold = [statistics.median(r["fold"] for r in results[m]) / streams * 1000 for m in modes]
    direct = {k: statistics.median(r[k] for r in results["direct"]) for k in ("ttlb50", "ttlb99")}
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    left.bar(modes, [c - f for c, f in zip(cpu, fold, strict=True)], label="forwarding")
    left.bar(modes, fold, bottom=[c - f for c, f in zip(cpu, fold, strict=True)], label="fold")
    left.set_ylabel("gateway CPU ms per stream")
    left.legend()
    width = 0.4
    xs = range(len(modes))
    for offset, key, label in ((-width / 2, "ttlb50", "p50"), (width / 2, "ttlb99", "p99")):
        added = [
            (statistics.median(r[key] for r in results[m]) - direct[key]) * 1000 for m in modes
        ]
        right.bar([x + offset for x in xs], added, width, label=label)
    right.set_xticks(list(xs), modes)
    right.set_ylabel("added time-to-last-byte, ms")
    right.legend()
    figure.suptitle(f"{streams} streams through python -m deltafold.gateway")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gap", type=float, default=0.002, help="seconds between events")
    parser.add_argument("--modes", default="plain,deltafold,openai-sdk,litellm")
    parser.add_argument("--json", help="write every round's numbers here")
    parser.add_argument("--plot", help="write a PNG chart here (needs matplotlib)")
    parser.add_argument(
        "--from-json", help="only print the table (and --plot) of an earlier --json run"
    )
    parser.add_argument("--serve-upstream", help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, args.gap)
    elif args.serve_gateway:
        serve_gateway(args.serve_gateway, args.upstream, args.db, args.port_file)
    elif args.from_json:
        merged: dict[str, list[dict[str, float]]] = {}
        for name in args.from_json.split(","):
            for mode, rounds in json.loads(Path(name).read_text()).items():
                merged.setdefault(mode, []).extend(rounds)
        report(merged, args)
    else:
        if "litellm" in args.modes:
            try:
                import litellm  # noqa: F401
            except ImportError:
                print("litellm is not installed: its mode is left out", file=sys.stderr)
                args.modes = ",".join(m for m in args.modes.split(",") if m != "litellm")
        run(args)


if __name__ == "__main__":
    main()
