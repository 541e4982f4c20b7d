"""Gemini streams of text payloads that repeat one another's bytes around new text.

The native fold reads such a payload against a template learned from an earlier one, and a
plain text continuing a clean template's text takes a path of its own. Whatever the mix of
thoughts and answers, candidates, signatures, other part keys, texts (escaped, not ASCII) and
usage numbers, the twins must agree: result (to the key order), summary and events.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
from hypothesis import given, settings
from hypothesis import strategies as st

EVENT_FIELDS = ("type", "choice_index", "index", "field", "delta", "snapshot", "usage")


def text(value: Any) -> str:
    """JSON text that keeps key order."""
    return json.dumps(value, ensure_ascii=False)


def payload(index: int, part: dict[str, Any], prompt: int, version: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "index": index}],
        "usageMetadata": {"promptTokenCount": prompt, "trafficType": "ON_DEMAND"},
        "modelVersion": version,
    }


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n" for e in events
    )


def run(impl: ModuleType, data: bytes, events: bool) -> Any:
    try:
        parser = impl.StreamParser(format="gemini", events=events)
        seen = parser.feed(data)
        if events:
            seen += parser.finish_events()
        rows = [tuple(text(getattr(e, f, None)) for f in EVENT_FIELDS) for e in seen]
        return text(parser.finish()), parser.summary(), rows
    except impl.DeltafoldError as error:
        return type(error).__name__, text(error.partial)


TEXTS = st.one_of(
    st.sampled_from(["", "a", "0123456789abcdef", "0123456789abcdefg", 'q"\\', "caf\u00e9"]),
    st.text(max_size=40),
)

PARTS = st.fixed_dictionaries(
    {
        "index": st.sampled_from([0, 0, 0, 1]),
        "text": TEXTS,
        "thought": st.booleans(),
        "signature": st.sampled_from([None, None, "s", "t"]),
        "x": st.sampled_from([None, None, None, 1, 2]),
        "prompt": st.sampled_from([7, 7, 7, 8]),
        "version": st.sampled_from(["m", "m", "m", "n"]),
    }
)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(PARTS, min_size=1, max_size=14), end=st.booleans())
def test_text_payloads_twins_agree(parts: list[dict[str, Any]], end: bool) -> None:
    events = []
    for p in parts:
        part: dict[str, Any] = {"text": p["text"]}
        if p["thought"]:
            part["thought"] = True
        if p["x"] is not None:
            part["x"] = p["x"]
        if p["signature"] is not None:
            part["thoughtSignature"] = p["signature"]
        events.append(payload(p["index"], part, p["prompt"], p["version"]))
    if end:
        done = [
            {"content": {"parts": [{"text": ""}]}, "finishReason": "STOP", "index": i}
            for i in (0, 1)
        ]
        events.append({"candidates": done})
    data = sse(events)
    for with_events in (False, True):
        native = run(deltafold, data, with_events)
        assert native == run(deltafold.reference, data, with_events)


def test_thoughts_and_answers_alternating_over_two_candidates() -> None:
    stream = []
    for i, word in enumerate(["a", "b", "c", "d", "e", "f", "g", "h"]):
        thought = i % 4 < 2
        part: dict[str, Any] = {"text": word, **({"thought": True} if thought else {})}
        stream.append(payload(i % 2, part, 7, "m"))
    done = [
        {"content": {"parts": [{"text": ""}]}, "finishReason": "STOP", "index": i} for i in (0, 1)
    ]
    data = sse([*stream, {"candidates": done}])
    for with_events in (False, True):
        assert run(deltafold, data, with_events) == run(deltafold.reference, data, with_events)
    result = deltafold.assemble(data, format="gemini")
    assert [c["content"]["parts"] for c in result["candidates"]] == [
        [
            {"text": "a", "thought": True},
            {"text": "c"},
            {"text": "e", "thought": True},
            {"text": "g"},
        ],
        [
            {"text": "b", "thought": True},
            {"text": "d"},
            {"text": "f", "thought": True},
            {"text": "h"},
        ],
    ]
