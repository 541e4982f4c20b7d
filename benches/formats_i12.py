"""Gemini and Bedrock throughput: deltafold against tuned pure-Python folds, and Bedrock's
event-stream framing against botocore's ``EventStreamBuffer``.

    python benches/formats_i12.py [--streams N] [--rounds R]

Corpora are generated here (seeded): Gemini ``alt=sse`` streams shaped like the recordings in
tests/fixtures/gemini-recorded (every event repeats ``usageMetadata``, ``modelVersion`` and
``responseId``; text, thought text, function calls with ``partialArgs``), and Bedrock
ConverseStream streams shaped like tests/fixtures/bedrock-recorded (text, reasoning with a
signature, tool input fragments, ``p`` padding, metadata), encoded into real event-stream
frames. Every stream is cut into 1-4 KiB reads.

Each competitor runs over the whole corpus once per round; rounds interleave the competitors
(so machine load hits all alike) and the medians are compared. The tuned folds implement the
same merge rules with orjson and plain dict/list work, as a careful Python programmer would.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import random
import statistics
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import deltafold
import orjson
from deltafold._render_formats import encode_message

Reads = tuple[bytes, ...]

WORDS = (
    "the model streams tokens while a gateway folds them into the whole response and bills "
    "usage without adding latency every provider has its own wire format for the same idea"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _cut(data: bytes, rng: random.Random) -> Reads:
    out = []
    at = 0
    while at < len(data):
        size = rng.randint(1024, 4096)
        out.append(data[at : at + size])
        at += size
    return tuple(out)


# -- corpora --


def gemini_stream(rng: random.Random) -> bytes:
    """One Gemini stream: thought text, answer text, maybe a streamed function call."""
    response_id = base64.urlsafe_b64encode(rng.randbytes(16)).decode()
    usage = {"promptTokenCount": rng.randint(10, 900), "trafficType": "ON_DEMAND"}
    top = {
        "usageMetadata": usage,
        "modelVersion": "gemini-3-flash-preview",
        "responseId": response_id,
    }
    events: list[dict[str, Any]] = []

    def part_event(part: dict[str, Any]) -> None:
        events.append(
            {"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}], **top}
        )

    for _ in range(rng.randint(2, 10)):
        part_event({"text": _text(rng, rng.randint(4, 20)), "thought": True})
    for _ in range(rng.randint(10, 60)):
        part_event({"text": _text(rng, rng.randint(2, 12))})
    if rng.random() < 0.4:
        signature = base64.b64encode(rng.randbytes(rng.randint(100, 600))).decode()
        part_event(
            {
                "functionCall": {"name": "cookRecipe", "willContinue": True},
                "thoughtSignature": signature,
            }
        )
        for i in range(rng.randint(3, 12)):
            for key in ("amount", "name"):
                path = f"$.recipe.ingredients[{i}].{key}"
                part_event(
                    {
                        "functionCall": {
                            "partialArgs": [
                                {
                                    "jsonPath": path,
                                    "stringValue": _text(rng, 2),
                                    "willContinue": True,
                                }
                            ],
                            "willContinue": True,
                        }
                    }
                )
                part_event(
                    {
                        "functionCall": {
                            "partialArgs": [{"jsonPath": path, "stringValue": ""}],
                            "willContinue": True,
                        }
                    }
                )
        part_event({"functionCall": {}})
    final_usage = {
        **usage,
        "candidatesTokenCount": rng.randint(10, 900),
        "totalTokenCount": rng.randint(1000, 3000),
        "thoughtsTokenCount": rng.randint(0, 900),
    }
    events.append(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": ""}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            **top,
            "usageMetadata": final_usage,
        }
    )
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


def _event(event_type: str, payload: dict[str, Any], rng: random.Random) -> bytes:
    # Bedrock pads every payload with a random-length `p` field.
    payload = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"[: rng.randint(1, 32)]}
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        orjson.dumps(payload),
    )


def bedrock_stream(rng: random.Random) -> bytes:
    out = [_event("messageStart", {"role": "assistant"}, rng)]
    index = 0
    if rng.random() < 0.5:
        for _ in range(rng.randint(5, 30)):
            out.append(
                _event(
                    "contentBlockDelta",
                    {
                        "contentBlockIndex": index,
                        "delta": {"reasoningContent": {"text": _text(rng, rng.randint(2, 8))}},
                    },
                    rng,
                )
            )
        signature = base64.b64encode(rng.randbytes(200)).decode()
        out.append(
            _event(
                "contentBlockDelta",
                {
                    "contentBlockIndex": index,
                    "delta": {"reasoningContent": {"signature": signature}},
                },
                rng,
            )
        )
        out.append(_event("contentBlockStop", {"contentBlockIndex": index}, rng))
        index += 1
    for _ in range(rng.randint(20, 120)):
        out.append(
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"text": _text(rng, rng.randint(1, 6))}},
                rng,
            )
        )
    out.append(_event("contentBlockStop", {"contentBlockIndex": index}, rng))
    stop = "end_turn"
    if rng.random() < 0.4:
        index += 1
        stop = "tool_use"
        out.append(
            _event(
                "contentBlockStart",
                {
                    "contentBlockIndex": index,
                    "start": {
                        "toolUse": {
                            "toolUseId": f"tooluse_{rng.randint(0, 10**9)}",
                            "name": "get_weather",
                        }
                    },
                },
                rng,
            )
        )
        arguments = orjson.dumps(
            {"location": _text(rng, 3), "days": rng.randint(1, 9), "units": "metric"}
        ).decode()
        for at in range(0, len(arguments), 8):
            out.append(
                _event(
                    "contentBlockDelta",
                    {
                        "contentBlockIndex": index,
                        "delta": {"toolUse": {"input": arguments[at : at + 8]}},
                    },
                    rng,
                )
            )
        out.append(_event("contentBlockStop", {"contentBlockIndex": index}, rng))
    out.append(_event("messageStop", {"stopReason": stop}, rng))
    out.append(
        _event(
            "metadata",
            {
                "usage": {
                    "inputTokens": rng.randint(10, 999),
                    "outputTokens": rng.randint(10, 999),
                    "totalTokens": rng.randint(100, 2000),
                },
                "metrics": {"latencyMs": rng.randint(100, 5000)},
            },
            rng,
        )
    )
    return b"".join(out)


def corpus(make: Callable[[random.Random], bytes], streams: int, seed: int) -> list[Reads]:
    rng = random.Random(seed)
    return [_cut(make(rng), rng) for _ in range(streams)]


# -- tuned pure-Python folds --


def _merge(into: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        into[key] = value
    else:
        into.setdefault(key, None)


def tuned_gemini(reads: Reads) -> dict[str, Any]:
    """SSE split by bytes.split on CRLF CRLF, orjson per event, dict merging."""
    top: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    state: dict[int, list[Any]] = {}  # index -> [parts, open call continuing, open path]
    held = b""
    for read in reads:
        pieces = (held + read).split(b"\r\n\r\n") if held else read.split(b"\r\n\r\n")
        held = pieces.pop()
        for event in pieces:
            if not event.startswith(b"data: "):
                continue
            chunk = orjson.loads(event[6:])
            for key, value in chunk.items():
                if key != "candidates":
                    _merge(top, key, value)
                    continue
                top.setdefault("candidates", None)
                for delta in value:
                    index = delta.get("index") or 0
                    candidate = candidates.setdefault(index, {})
                    parts = state.setdefault(index, [[], False, None])
                    for ckey, cvalue in delta.items():
                        if ckey != "content":
                            _merge(candidate, ckey, cvalue)
                            continue
                        candidate.setdefault("content", None)
                        candidate["_role"] = cvalue.get("role", candidate.get("_role"))
                        for part in cvalue.get("parts", ()):
                            _tuned_gemini_part(parts, part)
    out = {}
    for key, value in top.items():
        if key == "candidates":
            value = []
            for index in sorted(candidates):
                candidate = dict(candidates[index])
                role = candidate.pop("_role", None)
                candidate["content"] = {"parts": state[index][0], "role": role}
                value.append(candidate)
        out[key] = value
    return out


def _tuned_gemini_part(state: list[Any], part: dict[str, Any]) -> None:
    parts = state[0]
    text = part.get("text")
    if text is not None:
        if text == "" and len(part) <= 2:
            if "thoughtSignature" in part and parts:
                parts[-1]["thoughtSignature"] = part["thoughtSignature"]
            if "thoughtSignature" in part or not parts:
                return
            return
        last = parts[-1] if parts else None
        if last is not None and "text" in last and last.get("thought") == part.get("thought"):
            last["text"] += text
            if "thoughtSignature" in part:
                last["thoughtSignature"] = part["thoughtSignature"]
            return
        parts.append(dict(part))
        return
    call = part.get("functionCall")
    if call is None:
        parts.append(dict(part))
        return
    if "name" not in call and state[1]:
        target = parts[-1]
    else:
        target = {
            "functionCall": {
                k: v for k, v in call.items() if k not in ("partialArgs", "willContinue")
            }
        }
        if "thoughtSignature" in part:
            target["thoughtSignature"] = part["thoughtSignature"]
        parts.append(target)
    function = target["functionCall"]
    for arg in call.get("partialArgs", ()):
        args = function.setdefault("args", {})
        steps = arg["jsonPath"][2:].replace("[", ".").replace("]", "").split(".")
        node = args
        for step, after in itertools.pairwise(steps):
            key = int(step) if step.isdigit() else step
            if isinstance(node, list):
                while len(node) <= key:
                    node.append({} if not after.isdigit() else [])
                node = node[key]
            else:
                node = node.setdefault(key, [] if after.isdigit() else {})
        last_key = int(steps[-1]) if steps[-1].isdigit() else steps[-1]
        if "stringValue" in arg:
            if state[2] == arg["jsonPath"]:
                node[last_key] += arg["stringValue"]
            else:
                node[last_key] = arg["stringValue"]
            state[2] = arg["jsonPath"] if arg.get("willContinue") else None
        else:
            node[last_key] = next(v for k, v in arg.items() if k.endswith("Value"))
            state[2] = None
    state[1] = bool(call.get("willContinue"))


_PRELUDE = struct.Struct("!III")


def tuned_eventstream(reads: Reads) -> list[tuple[str, bytes]]:
    """Event-stream framing only: struct + zlib.crc32 over a bytearray, header scan for
    ``:event-type``. The (event type, payload) pairs."""
    out = []
    buffer = bytearray()
    for read in reads:
        buffer += read
        pos = 0
        while len(buffer) - pos >= 12:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer, pos)
            if zlib.crc32(buffer[pos : pos + 8]) != prelude_crc:
                raise ValueError("prelude CRC")
            if len(buffer) - pos < total:
                break
            end = pos + total
            if zlib.crc32(buffer[pos : end - 4]) != struct.unpack_from("!I", buffer, end - 4)[0]:
                raise ValueError("message CRC")
            headers_end = pos + 12 + headers_length
            at = pos + 12
            event_type = ""
            while at < headers_end:
                name_length = buffer[at]
                name = bytes(buffer[at + 1 : at + 1 + name_length])
                at += 1 + name_length + 1  # the type byte: Bedrock sends strings only
                value_length = (buffer[at] << 8) | buffer[at + 1]
                if name == b":event-type":
                    event_type = buffer[at + 2 : at + 2 + value_length].decode()
                at += 2 + value_length
            out.append((event_type, bytes(buffer[headers_end : end - 4])))
            pos = end
        del buffer[:pos]
    return out


def tuned_bedrock(reads: Reads) -> dict[str, Any]:
    """The tuned framing, then orjson per payload and dict merging into the Converse response."""
    blocks: dict[int, dict[str, Any]] = {}
    inputs: dict[int, list[str]] = {}
    top: dict[str, Any] = {"stopReason": None, "usage": None, "metrics": None}
    role = "assistant"
    for event_type, payload in tuned_eventstream(reads):
        value = orjson.loads(payload)
        if event_type == "contentBlockDelta":
            index = value.get("contentBlockIndex", 0)
            block = blocks.setdefault(index, {})
            delta = value["delta"]
            if "text" in delta:
                block["text"] = block.get("text", "") + delta["text"]
            elif "toolUse" in delta:
                block.setdefault("toolUse", {})
                inputs.setdefault(index, []).append(delta["toolUse"].get("input", ""))
            elif "reasoningContent" in delta:
                reasoning = block.setdefault("reasoningContent", {}).setdefault(
                    "reasoningText", {"text": ""}
                )
                r = delta["reasoningContent"]
                if "text" in r:
                    reasoning["text"] += r["text"]
                if "signature" in r:
                    reasoning["signature"] = r["signature"]
        elif event_type == "contentBlockStart":
            index = value.get("contentBlockIndex", 0)
            blocks.setdefault(index, {})["toolUse"] = dict(value["start"]["toolUse"])
        elif event_type == "contentBlockStop":
            blocks.setdefault(value.get("contentBlockIndex", 0), {})
        elif event_type == "messageStart":
            role = value.get("role", role)
        elif event_type in ("messageStop", "metadata"):
            for key, item in value.items():
                if key != "p":
                    _merge(top, key, item)
    for index, pieces in inputs.items():
        text = "".join(pieces)
        blocks[index]["toolUse"]["input"] = orjson.loads(text) if text else {}
    content = [blocks[i] for i in sorted(blocks)]
    return {"output": {"message": {"role": role, "content": content}}, **top}


def botocore_framing(reads: Reads) -> list[tuple[str, bytes]]:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    out = []
    for read in reads:
        buffer.add_data(read)
        out.extend((m.headers[":event-type"], m.payload) for m in buffer)
    return out


# -- deltafold adapters --


def deltafold_fold(format: str) -> Callable[[Reads], Any]:
    def run(reads: Reads) -> Any:
        parser = deltafold.StreamParser(format=format)
        for read in reads:
            parser.feed(read)
        return parser.finish()

    return run


def deltafold_framing(reads: Reads) -> list[tuple[str, bytes]]:
    decoder = deltafold.EventStreamDecoder()
    out = []
    for read in reads:
        out.extend((m.headers[":event-type"], m.payload) for m in decoder.feed(read))
    return out


def deltafold_framing_count(reads: Reads) -> int:
    """Framing without touching the messages (what a gateway that only folds pays)."""
    decoder = deltafold.EventStreamDecoder()
    count = 0
    for read in reads:
        count += len(decoder.feed(read))
    return count


def measure(
    competitors: dict[str, Callable[[Reads], Any]], streams: Sequence[Reads], rounds: int
) -> dict[str, float]:
    """Median seconds per pass over ``streams``, rounds interleaved."""
    times: dict[str, list[float]] = {name: [] for name in competitors}
    for _ in range(rounds):
        for name, run in competitors.items():
            start = time.perf_counter()
            for reads in streams:
                run(reads)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, medians: dict[str, float], megabytes: float, base: str) -> None:
    print(f"\n{title} ({megabytes:.2f} MB)")
    for name, seconds in medians.items():
        print(
            f"  {name:38s} {seconds * 1e3:9.2f} ms  {megabytes / seconds:8.1f} MB/s  "
            f"x{medians[base] / seconds:7.2f} vs {base}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    gemini = corpus(gemini_stream, args.streams, seed=1)
    bedrock = corpus(bedrock_stream, args.streams, seed=2)
    for reads in gemini[:20]:
        assert deltafold_fold("gemini")(reads) == deltafold.reference.assemble(
            b"".join(reads), format="gemini"
        )
        assert (
            tuned_gemini(reads)["candidates"][0]["content"]["parts"]
            == deltafold_fold("gemini")(reads)["candidates"][0]["content"]["parts"]
        )
    for reads in bedrock[:20]:
        assert deltafold_fold("bedrock")(reads) == tuned_bedrock(reads)
        assert deltafold_framing(reads) == botocore_framing(reads) == tuned_eventstream(reads)

    def size(streams: list[Reads]) -> float:
        return sum(len(r) for reads in streams for r in reads) / 1e6

    medians = measure(
        {"tuned pure Python (orjson + dicts)": tuned_gemini, "deltafold": deltafold_fold("gemini")},
        gemini,
        args.rounds,
    )
    report("Gemini fold", medians, size(gemini), "tuned pure Python (orjson + dicts)")
    medians = measure(
        {
            "tuned pure Python (struct+zlib+orjson)": tuned_bedrock,
            "deltafold": deltafold_fold("bedrock"),
        },
        bedrock,
        args.rounds,
    )
    report("Bedrock fold", medians, size(bedrock), "tuned pure Python (struct+zlib+orjson)")
    medians = measure(
        {
            "botocore EventStreamBuffer": botocore_framing,
            "tuned pure Python framing": tuned_eventstream,
            "deltafold EventStreamDecoder": deltafold_framing,
            "deltafold EventStreamDecoder (count)": deltafold_framing_count,
        },
        bedrock,
        args.rounds,
    )
    report("Bedrock framing only", medians, size(bedrock), "botocore EventStreamBuffer")


if __name__ == "__main__":
    main()
