"""Per-delta events of Gemini and Bedrock ConverseStream, both twins (docs/formats.md "Events").

Expected values are computed here from the recorded raw events (text, thought text, calls and
their arguments, usage), and ``parsed_arguments`` is checked against jiter's partial mode: the
twins agree with each other (native == reference, every attribute) and with those values, at
many read sizes and through ``aiter_events``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import jiter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventstream_encoder import BEDROCK_FIXTURES, bedrock_events, bedrock_stream
from tests.test_gemini import FIXTURES as GEMINI_FIXTURES
from tests.test_gemini import events_of as gemini_events
from tests.test_gemini import expected_of as gemini_expected

READ_SIZES = (1, 2, 3, 5, 7, 13, 31, 64, 1000)
TOOL_DELTA = "tool_calls.function.arguments.delta"
TOOL_DONE = "tool_calls.function.arguments.done"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def events(impl: ModuleType, data: bytes, size: int, **options: Any) -> list[Any]:
    reads = [data[at : at + size] for at in range(0, len(data), size)]
    return list(impl.iter_events(reads, partial_arguments=True, **options))


def rows(found: list[Any]) -> list[dict[str, Any]]:
    return [e.as_dict() for e in found]


def partial(text: str) -> Any:
    """The oracle for ``parsed_arguments``: jiter's partial mode, keeping open strings."""
    return jiter.from_json(text.encode(), partial_mode="trailing-strings")


def check_tool_events(found: list[Any], calls: list[dict[str, Any]]) -> None:
    """Per call (by ``index``): deltas joined == the ``.done`` arguments == ``arguments``;
    every delta's snapshot is the text so far and its ``parsed_arguments`` jiter's partial
    value of it; the ``.done`` comes after the call's deltas and parses to ``args``."""
    joined: dict[int, str] = {}
    done: dict[int, Any] = {}
    for e in found:
        if e.type == TOOL_DELTA:
            assert e.index not in done, "a delta after the call's .done"
            joined[e.index] = joined.get(e.index, "") + e.delta
            assert e.delta == e.arguments_delta
            assert e.snapshot == e.arguments == joined[e.index]
            assert e.parsed_arguments == partial(joined[e.index])
            assert e.name == calls[e.index]["name"]
        elif e.type == TOOL_DONE:
            assert e.index not in done, "two .done events for one call"
            done[e.index] = e
    assert sorted(done) == list(range(len(calls)))
    for index, call in enumerate(calls):
        e = done[index]
        assert e.name == call["name"]
        assert e.arguments == e.snapshot == call["arguments"]
        assert joined.get(index, "") == call["arguments"]
        if call["arguments"]:
            assert e.parsed_arguments == json.loads(call["arguments"])


# -- Gemini ------------------------------------------------------------------------------


def gemini_usages(path: Path) -> list[Any]:
    """``usageMetadata`` values, each only when it differs from the one before."""
    out: list[Any] = []
    for event in gemini_events(path):
        usage = event.get("usageMetadata")
        if usage is not None and (not out or out[-1] != usage):
            out.append(usage)
    return out


@pytest.mark.parametrize("path", GEMINI_FIXTURES, ids=lambda p: p.stem)
def test_gemini_events_match_the_raw_stream(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    expected = gemini_expected(path)
    found = events(impl, data, len(data))
    kinds = [e.type for e in found]
    text = [e for e in found if e.type == "content.delta"]
    thought = [e for e in found if e.type == "reasoning.delta"]
    assert "".join(e.delta for e in text) == expected["text"]
    assert "".join(e.delta for e in thought) == expected["thought"]
    assert all(e.delta for e in text + thought), "no empty text deltas"
    assert all(e.choice_index == 0 for e in found if e.type not in ("usage", "done"))
    assert all(e.field == "thought" for e in thought)
    if text:
        assert text[-1].snapshot == expected["text"]
    # .done events: the text ones once, with the whole text, after every delta of their kind.
    assert kinds.count("content.done") == (1 if expected["text"] else 0)
    assert kinds.count("reasoning.done") == (1 if expected["thought"] else 0)
    for e in found:
        if e.type == "content.done":
            assert e.content == e.snapshot == expected["text"]
            assert kinds.index("content.done") > max(
                (i for i, k in enumerate(kinds) if k == "content.delta"), default=-1
            )
        if e.type == "reasoning.done":
            assert e.snapshot == expected["thought"]
    calls = [
        {"name": c["name"], "arguments": compact({} if c["args"] is None else c["args"])}
        for c in expected["calls"]
    ]
    check_tool_events(found, calls)
    assert [e.usage for e in found if e.type == "usage"] == gemini_usages(path)
    assert kinds[-1] == "done" and kinds.count("done") == 1
    assert found[-1].completion == impl.assemble(data)


def test_gemini_whole_args_is_one_delta_and_no_args_is_braces(impl: ModuleType) -> None:
    data = sse(
        {"candidates": [{"content": {"parts": [{"functionCall": {"name": "a", "id": "c1"}}]}}]},
        {
            "candidates": [
                {
                    "content": {
                        "parts": [{"functionCall": {"name": "b", "args": {"x": [1, "é"]}}}]
                    },
                    "finishReason": "STOP",
                }
            ]
        },
    )
    found = [e for e in events(impl, data, len(data)) if e.type.startswith("tool_calls")]
    assert [(e.type, e.index, e.name, e.id, e.delta) for e in found] == [
        (TOOL_DELTA, 1, "b", None, '{"x":[1,"é"]}'),
        (TOOL_DELTA, 0, "a", "c1", "{}"),
        (TOOL_DONE, 0, "a", "c1", None),
        (TOOL_DONE, 1, "b", None, None),
    ]
    assert [e.arguments for e in found] == ['{"x":[1,"é"]}', "{}", "{}", '{"x":[1,"é"]}']


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def call_chunk(call: dict[str, Any], finish: bool = False) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"functionCall": call}]}}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate]}


def arg(path: str, value: Any, more: bool = False) -> dict[str, Any]:
    key = "stringValue" if isinstance(value, str) else "numberValue"
    out = {"jsonPath": path, key: value}
    if more:
        out["willContinue"] = True
    return out


def test_gemini_partial_args_grow_as_json_text(impl: ModuleType) -> None:
    """Strings that continue, nested objects, array padding, then the closing brackets."""
    data = sse(
        call_chunk({"name": "f", "willContinue": True}),
        call_chunk({"partialArgs": [arg("$.a.s", 'he"', True)], "willContinue": True}),
        call_chunk({"partialArgs": [arg("$.a.s", "llo")], "willContinue": True}),
        call_chunk({"partialArgs": [arg("$.a.n", 2), arg("$.b[1].c", 3)], "willContinue": True}),
        call_chunk({"partialArgs": [arg("$.b[2]", "x", True)], "willContinue": True}),
        call_chunk({}, finish=True),
    )
    found = [e for e in events(impl, data, 3) if e.type.startswith("tool_calls")]
    assert [e.delta for e in found[:-1]] == [
        '{"a":{"s":"he\\"',
        'llo"',
        ',"n":2',
        '},"b":[null,{"c":3',
        '},"x',
        '"]}',
    ]
    args = {"a": {"s": 'he"llo', "n": 2}, "b": [None, {"c": 3}, "x"]}
    assert found[-1].type == TOOL_DONE
    assert found[-1].arguments == compact(args)
    assert found[-1].parsed_arguments == args
    assert impl.summarize(data)["tool_calls"][0]["arguments"] == compact(args)


def test_gemini_partial_args_out_of_order_stop_the_deltas(impl: ModuleType) -> None:
    """A key written before cannot be appended to: no more deltas; the .done is the truth."""
    data = sse(
        call_chunk({"name": "f", "partialArgs": [arg("$.a.x", 1), arg("$.b", 2)]}),
        call_chunk({"name": "g", "partialArgs": [arg("$.a", 1), arg("$.a", 5)]}),
        call_chunk({"name": "h", "partialArgs": [arg("$.a.x", 1), arg("$.b", 2), arg("$.a.y", 3)]}),
        {"candidates": [{"finishReason": "STOP"}]},
    )
    found = [e for e in events(impl, data, len(data)) if e.type.startswith("tool_calls")]
    deltas = [(e.index, e.delta) for e in found if e.type == TOOL_DELTA]
    assert deltas == [
        (0, '{"a":{"x":1'),
        (0, '},"b":2'),
        (1, '{"a":1'),
        (2, '{"a":{"x":1'),
        (2, '},"b":2'),
        (0, "}"),
    ]
    done = {e.index: e.arguments for e in found if e.type == TOOL_DONE}
    assert done == {0: '{"a":{"x":1},"b":2}', 1: '{"a":5}', 2: '{"a":{"x":1,"y":3},"b":2}'}


def test_gemini_candidates_thoughts_and_usage_changes(impl: ModuleType) -> None:
    usage = {"promptTokenCount": 3}
    data = sse(
        {
            "candidates": [
                {"index": 1, "content": {"parts": [{"text": "b1"}]}},
                {"content": {"parts": [{"text": "t", "thought": True}, {"text": "a1"}]}},
            ],
            "usageMetadata": usage,
        },
        {
            "candidates": [
                {"index": 1, "content": {"parts": [{"text": "b2"}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": usage,
        },
        {
            "candidates": [{"content": {"parts": [{"text": "a2"}]}, "finishReason": "STOP"}],
            "usageMetadata": {**usage, "totalTokenCount": 9},
        },
    )
    found = [
        (e.type, e.choice_index, e.delta if e.type.endswith("delta") else e.snapshot)
        for e in events(impl, data, 5)
        if e.type not in ("usage", "done")
    ]
    assert found == [
        ("content.delta", 1, "b1"),
        ("reasoning.delta", 0, "t"),
        ("content.delta", 0, "a1"),
        ("content.delta", 1, "b2"),
        ("content.done", 1, "b1b2"),
        ("content.delta", 0, "a2"),
        ("content.done", 0, "a1a2"),
        ("reasoning.done", 0, "t"),
    ]
    usages = [e.usage for e in events(impl, data, 5) if e.type == "usage"]
    assert usages == [usage, {**usage, "totalTokenCount": 9}]


# -- Bedrock -----------------------------------------------------------------------------


def bedrock_expected(path: Path) -> dict[str, Any]:
    """From the raw events: text and reasoning deltas, calls (id, name, input fragments) in
    the order their blocks start, where each call stops, and the usages."""
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    by_block: dict[int, dict[str, Any]] = {}
    usages = []
    for event_type, payload in bedrock_events(path):
        if event_type == "contentBlockStart" and "toolUse" in payload.get("start", {}):
            tool = payload["start"]["toolUse"]
            call = {"id": tool["toolUseId"], "name": tool["name"], "fragments": []}
            by_block[payload["contentBlockIndex"]] = call
            calls.append(call)
        elif event_type == "contentBlockDelta":
            delta = payload["delta"]
            if delta.get("text"):
                text.append(delta["text"])
            if delta.get("reasoningContent", {}).get("text"):
                reasoning.append(delta["reasoningContent"]["text"])
            if "toolUse" in delta:
                by_block[payload["contentBlockIndex"]]["fragments"].append(
                    delta["toolUse"]["input"]
                )
        elif event_type == "metadata" and "usage" in payload:
            usages.append(payload["usage"])
    return {"text": text, "reasoning": reasoning, "calls": calls, "usages": usages}


@pytest.mark.parametrize("path", BEDROCK_FIXTURES, ids=lambda p: p.stem)
def test_bedrock_events_match_the_raw_stream(impl: ModuleType, path: Path) -> None:
    data = bedrock_stream(path)
    expected = bedrock_expected(path)
    found = events(impl, data, len(data))
    kinds = [e.type for e in found]
    assert [e.delta for e in found if e.type == "content.delta"] == expected["text"]
    assert [e.delta for e in found if e.type == "reasoning.delta"] == expected["reasoning"]
    assert all(e.field == "reasoningContent" for e in found if e.type.startswith("reasoning"))
    assert all(e.choice_index == 0 for e in found if e.type not in ("usage", "done"))
    for e in found:
        if e.type == "content.done":
            assert e.content == "".join(expected["text"])
        if e.type == "reasoning.done":
            assert e.snapshot == "".join(expected["reasoning"])
    assert kinds.count("reasoning.done") == (1 if expected["reasoning"] else 0)
    # One delta per input fragment, id and name from the block's start.
    tool_deltas = [e for e in found if e.type == TOOL_DELTA]
    assert [(e.index, e.id, e.delta) for e in tool_deltas] == [
        (i, c["id"], f) for i, c in enumerate(expected["calls"]) for f in c["fragments"]
    ]
    calls = [{"name": c["name"], "arguments": "".join(c["fragments"])} for c in expected["calls"]]
    check_tool_events(found, calls)
    assert [e.id for e in found if e.type == TOOL_DONE] == [c["id"] for c in expected["calls"]]
    assert [e.usage for e in found if e.type == "usage"] == expected["usages"]
    assert kinds[-1] == "done"
    assert found[-1].completion == impl.assemble(data)


def test_bedrock_call_done_at_its_block_stop(impl: ModuleType) -> None:
    """A call's .done comes at its contentBlockStop, before later blocks' events; text .done
    at messageStop."""
    path = next(p for p in BEDROCK_FIXTURES if "text-then-weather-then-json" in p.name)
    found = events(impl, bedrock_stream(path), 64)
    raw = [
        ("call_stop" if t == "contentBlockStop" and _is_tool(path, p) else t)
        for t, p in bedrock_events(path)
    ]
    stops = raw.count("call_stop")
    assert stops == len([e for e in found if e.type == TOOL_DONE]) == 2
    kinds = [e.type for e in found]
    first_done = kinds.index(TOOL_DONE)
    # The second call's deltas come after the first call's .done.
    assert any(e.type == TOOL_DELTA and e.index == 1 for e in found[first_done + 1 :])
    assert kinds.index("content.done") > max(i for i, k in enumerate(kinds) if k == TOOL_DONE)


def _is_tool(path: Path, stop: dict[str, Any]) -> bool:
    index = stop.get("contentBlockIndex")
    return any(
        t == "contentBlockStart"
        and p.get("contentBlockIndex") == index
        and "toolUse" in p.get("start", {})
        for t, p in bedrock_events(path)
    )


# -- Both formats: split invariance, sync == async, native == reference ------------------


def streams() -> list[tuple[str, bytes]]:
    out = [(p.stem, p.read_bytes()) for p in GEMINI_FIXTURES]
    out += [(p.stem, bedrock_stream(p)) for p in BEDROCK_FIXTURES]
    return out


@pytest.mark.parametrize(("name", "data"), streams(), ids=[n for n, _ in streams()])
def test_events_are_split_invariant_and_async_equals_sync(
    impl: ModuleType, name: str, data: bytes
) -> None:
    whole = rows(events(impl, data, len(data)))
    assert len(whole) > 2, name
    for size in READ_SIZES:
        assert rows(events(impl, data, size)) == whole, size

    async def reads() -> AsyncIterator[bytes]:
        for at in range(0, len(data), 11):
            yield data[at : at + 11]

    async def collect() -> list[Any]:
        return [e async for e in impl.aiter_events(reads(), partial_arguments=True)]

    assert rows(asyncio.run(collect())) == whole


@pytest.mark.parametrize(("name", "data"), streams(), ids=[n for n, _ in streams()])
def test_native_events_equal_reference_events(name: str, data: bytes) -> None:
    expected = rows(events(deltafold.reference, data, len(data)))
    for size in (1, 7, 64, len(data)):
        assert rows(events(deltafold, data, size)) == expected, (name, size)
    # Without partial arguments too (parsed_arguments then None in both).
    plain = list(deltafold.iter_events([data]))
    assert rows(plain) == rows(list(deltafold.reference.iter_events([data])))
    assert all(e.parsed_arguments is None for e in plain)
    assert any(e.type.endswith("delta") for e in plain)


# -- Gemini partialArgs: any order of entries ---------------------------------------------

_STEP = st.one_of(st.sampled_from(["a", "b", "é"]), st.integers(min_value=0, max_value=2))


@st.composite
def _entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        steps = [draw(st.sampled_from(["a", "b", "é"]))]
        steps += draw(st.lists(_STEP, max_size=2))
        path = "$" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps)
        value = draw(st.one_of(st.text(max_size=3), st.integers(-5, 5)))
        out.append(arg(path, value, draw(st.booleans()) and isinstance(value, str)))
    return out


@given(entries=_entries(), per_chunk=st.integers(min_value=1, max_value=3))
@settings(max_examples=150, deadline=None)
def test_gemini_partial_args_in_any_order_twins_agree(
    entries: list[dict[str, Any]], per_chunk: int
) -> None:
    """Native == reference on every event; the .done is the folded args; each snapshot is a
    JSON prefix; the deltas add up to the .done arguments unless an entry went back into what
    was written (then the deltas stopped early, leaving text that is not whole JSON)."""
    chunks = [call_chunk({"name": "f", "willContinue": True})]
    for at in range(0, len(entries), per_chunk):
        chunks.append(
            call_chunk({"partialArgs": entries[at : at + per_chunk], "willContinue": True})
        )
    chunks.append(call_chunk({}, finish=True))
    data = sse(*chunks)
    native = events(deltafold, data, 17)
    assert rows(native) == rows(events(deltafold.reference, data, len(data)))
    args = deltafold.assemble(data)["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]
    (done,) = [e for e in native if e.type == TOOL_DONE]
    assert done.arguments == compact(args)
    assert done.parsed_arguments == args
    joined = ""
    for e in native:
        if e.type == TOOL_DELTA:
            joined += e.delta
            partial(joined)  # raises if the text is not the start of a JSON document
    # Whole JSON only when closed, which a call whose deltas stopped never is.
    try:
        json.loads(joined)
    except json.JSONDecodeError:
        assert joined != done.arguments
    else:
        assert joined == done.arguments
