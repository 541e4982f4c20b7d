"""Gemini (``format="gemini"``), both twins: the recorded streams fold the same natively and in
the reference, whole and at every read size 1..64; text, thought text, function calls and usage
match values computed here from the raw events; ``GenerateContentResponse`` accepts every result;
the merge rules, errors and round trips through the renderer."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest
from deltafold._render_formats import gemini_sse
from deltafold.testing import gemini_responses, gemini_streams
from google.genai import types
from hypothesis import given
from hypothesis import strategies as st

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "gemini-recorded").glob("*.sse"))


def events_of(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    return [
        json.loads(event[len(b"data: ") :])
        for event in raw.split(b"\r\n\r\n")
        if event.startswith(b"data: ")
    ]


def set_path(root: dict[str, Any], json_path: str, value: Any, append: bool) -> None:
    """An independent, plain builder of partialArgs (regex steps, dict/list walk)."""
    steps = [int(i) if i else k for k, i in re.findall(r"\.(\w+)|\[(\d+)\]", json_path)]
    node: Any = root
    for step, after in zip(steps, [*steps[1:], None], strict=True):
        empty: Any = [] if isinstance(after, int) else {}
        if isinstance(step, int):
            while len(node) <= step:
                node.append(None)
            if after is not None and node[step] is None:
                node[step] = empty
            if after is None:
                node[step] = node[step] + value if append else value
            node = node[step]
        else:
            if after is not None:
                node.setdefault(step, empty)
            if after is None:
                node[step] = node.get(step, "") + value if append else value
            node = node[step]


def expected_of(path: Path) -> dict[str, Any]:
    """Text, thought text, calls (name, args) and usage, computed from the raw events."""
    text = thought = ""
    calls: list[dict[str, Any]] = []
    usage: Any = None
    open_path = None
    for event in events_of(path):
        usage = event.get("usageMetadata", usage)
        for candidate in event.get("candidates", []):
            for part in candidate.get("content", {}).get("parts", []):
                if "text" in part:
                    if part.get("thought"):
                        thought += part["text"]
                    else:
                        text += part["text"]
                call = part.get("functionCall")
                if call is None:
                    continue
                if "name" in call:
                    calls.append({"name": call["name"], "args": call.get("args")})
                for arg in call.get("partialArgs", []):
                    if calls[-1]["args"] is None:
                        calls[-1]["args"] = {}
                    value = next(v for k, v in arg.items() if k.endswith("Value"))
                    append = "stringValue" in arg and open_path == arg["jsonPath"]
                    set_path(calls[-1]["args"], arg["jsonPath"], value, append)
                    open_path = arg["jsonPath"] if arg.get("willContinue") else None
    return {"text": text, "thought": thought, "calls": calls, "usage": usage}


def fold(impl: ModuleType, data: bytes, size: int, **options: Any) -> tuple[Any, Any]:
    parser = impl.StreamParser(**options)
    for at in range(0, len(data), size):
        parser.feed(data[at : at + size])
    return parser.finish(), parser.summary()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_recorded_streams_native_equals_reference_at_every_read_size(path: Path) -> None:
    data = path.read_bytes()
    whole = fold(deltafold.reference, data, len(data), format="gemini")
    assert fold(deltafold, data, len(data), format="gemini") == whole
    for size in range(1, 65):
        assert fold(deltafold, data, size) == whole, size
        assert fold(deltafold.reference, data, size) == whole, size


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_recorded_streams_match_independent_values(impl: ModuleType, path: Path) -> None:
    expected = expected_of(path)
    parser = impl.StreamParser()
    parser.feed(path.read_bytes())
    result = parser.finish()
    assert parser.format == "gemini"
    types.GenerateContentResponse.model_validate(result)
    parts = result["candidates"][0]["content"]["parts"]
    assert (
        "".join(p["text"] for p in parts if "text" in p and not p.get("thought"))
        == (expected["text"])
    )
    assert "".join(p["text"] for p in parts if p.get("thought")) == expected["thought"]
    calls = [p["functionCall"] for p in parts if "functionCall" in p]
    assert [c["name"] for c in calls] == [c["name"] for c in expected["calls"]]
    assert [c.get("args") for c in calls] == [c["args"] for c in expected["calls"]]
    assert result["usageMetadata"] == expected["usage"]
    summary = parser.summary()
    assert summary["status"] == "complete"
    assert summary["text"] == expected["text"]
    assert summary["reasoning"] == expected["thought"]
    assert [(c["name"], json.loads(c["arguments"])) for c in summary["tool_calls"]] == [
        (c["name"], c["args"] or {}) for c in expected["calls"]
    ]
    usage = expected["usage"]
    assert summary["usage"]["input_tokens"] == usage["promptTokenCount"]
    assert summary["usage"]["total_tokens"] == usage["totalTokenCount"]
    assert summary["usage"]["reasoning_tokens"] == usage.get("thoughtsTokenCount")
    assert summary["usage"]["output_tokens"] == usage.get("candidatesTokenCount", 0) + usage.get(
        "thoughtsTokenCount", 0
    )
    assert summary["finish_reason"] == ("tool_calls" if calls else "stop")


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def test_signature_rules_and_thought_flag(impl: ModuleType) -> None:
    data = sse(
        {"candidates": [{"content": {"parts": [{"text": "a", "thought": True}], "role": "model"}}]},
        {
            "candidates": [
                {"content": {"parts": [{"text": "b", "thought": True, "thoughtSignature": "s1"}]}}
            ]
        },
        {"candidates": [{"content": {"parts": [{"text": "c"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "s2"}]}}]},
        {
            "candidates": [
                {"content": {"parts": [{"functionCall": {"name": "f", "args": {"x": 1}}}]}}
            ]
        },
        {"candidates": [{"content": {"parts": [{"text": "", "thoughtSignature": "s3"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]},
    )
    result = impl.assemble(data, format="gemini")
    assert result["candidates"][0]["content"]["parts"] == [
        {"text": "ab", "thought": True, "thoughtSignature": "s1"},
        {"text": "c", "thoughtSignature": "s2"},
        {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "s3"},
    ]


def test_candidates_by_index_and_last_non_null(impl: ModuleType) -> None:
    data = sse(
        {"candidates": [{"index": 1, "content": {"parts": [{"text": "B"}]}}], "modelVersion": "m"},
        {"candidates": [{"index": 0, "content": {"parts": [{"text": "A"}]}, "safetyRatings": []}]},
        {
            "candidates": [{"index": 0, "safetyRatings": None, "finishReason": "MAX_TOKENS"}],
            "modelVersion": None,
        },
        {
            "candidates": [{"index": 1, "finishReason": "STOP"}],
            "promptFeedback": {"blockReason": None},
        },
    )
    parser = impl.StreamParser(format="gemini")
    parser.feed(data)
    result = parser.finish()
    assert [c["index"] for c in result["candidates"]] == [0, 1]
    assert result["candidates"][0]["safetyRatings"] == []
    assert result["modelVersion"] == "m"
    assert parser.summary()["finish_reason"] == "length"
    assert parser.summary()["text"] == "A"


def test_no_finish_reason_is_incomplete(impl: ModuleType) -> None:
    data = sse({"candidates": [{"content": {"parts": [{"text": "x"}]}}]})
    with pytest.raises(impl.IncompleteStreamError) as caught:
        impl.assemble(data, format="gemini")
    assert caught.value.partial["candidates"][0]["content"]["parts"] == [{"text": "x"}]
    result = impl.assemble(data, format="gemini", allow_truncated=True)
    assert result["candidates"][0]["content"]["parts"] == [{"text": "x"}]
    assert impl.summarize(data, format="gemini")["status"] == "incomplete"


def test_error_mid_stream_is_an_api_error(impl: ModuleType) -> None:
    body = {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}
    data = sse({"candidates": [{"content": {"parts": [{"text": "x"}]}}]}, {"error": body})
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(data, format="gemini")
    assert caught.value.body == body
    assert caught.value.partial["candidates"][0]["content"]["parts"] == [{"text": "x"}]
    summary = impl.summarize(data)
    assert (summary["format"], summary["status"], summary["error"]) == ("gemini", "failed", body)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"candidates": 5}, "candidates"),
        (
            {"candidates": [{"content": {"parts": [{"text": 1}]}}]},
            "candidates[].content.parts[].text",
        ),
        ({"candidates": [{"index": -1}]}, "candidates[].index"),
        (
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {
                                    "functionCall": {
                                        "partialArgs": [{"jsonPath": "x", "stringValue": "a"}]
                                    }
                                }
                            ]
                        }
                    }
                ]
            },
            "jsonPath",
        ),
    ],
)
def test_schema_errors(impl: ModuleType, event: Any, field: str) -> None:
    with pytest.raises(impl.ChunkDecodeError, match=re.escape(field)):
        impl.assemble(sse(event), format="gemini")


@given(
    pair=gemini_streams(gemini_responses(max_candidates=1, max_parts=6)),
    cuts=st.lists(st.integers(0, 4000), max_size=6),
)
def test_round_trip_through_the_renderer_with_any_split(
    impl: ModuleType, pair: tuple[dict[str, Any], bytes], cuts: list[int]
) -> None:
    response, data = pair
    assert data == gemini_sse(response)
    parser = impl.StreamParser()
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        parser.feed(data[start:end])
    assert parser.finish() == response
    assert parser.format == "gemini"


def outcome(module: ModuleType, data: bytes, **options: Any) -> Any:
    """The result and summary, or the error class and its partial."""
    try:
        parser = module.StreamParser(**options)
        parser.feed(data)
        return ("ok", parser.finish(), parser.summary(), len(parser.problems))
    except module.DeltafoldError as error:
        return (type(error).__name__, error.partial)


@given(
    path=st.sampled_from(FIXTURES),
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=3)), min_size=1, max_size=3),
    on_error=st.sampled_from(["raise", "skip", "repair"]),
)
def test_mutated_streams_twins_agree(
    path: Path, edits: list[tuple[int, bytes]], on_error: str
) -> None:
    data = bytearray(path.read_bytes())
    for at, replacement in edits:
        at %= len(data)
        data[at : at + len(replacement)] = replacement
    native = outcome(deltafold, bytes(data), on_error=on_error)
    reference = outcome(deltafold.reference, bytes(data), on_error=on_error)
    assert native == reference
