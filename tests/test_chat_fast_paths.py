"""Chat streams shaped as a server writes them (one header, compact JSON, obfuscation padding),
with the near misses of the native fold's template path: the native fold, fed whole and in
small reads, gives the reference twin's completion."""

from __future__ import annotations

import json
from typing import Any

import deltafold
import deltafold.reference
import pytest

HEADER = {
    "id": "chatcmpl-x",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "service_tier": "default",
    "system_fingerprint": "fp",
}


def payload(
    choices: list[dict[str, Any]],
    usage: Any = None,
    padding: str = "ab",
    *,
    ascii_only: bool = False,
) -> str:
    body = {**HEADER, "choices": choices, "usage": usage, "obfuscation": padding}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=ascii_only)


def stream(payloads: list[str]) -> bytes:
    return "".join(f"data: {p}\n\n" for p in [*payloads, "[DONE]"]).encode()


def tool(index: Any, arguments: str, **more: Any) -> dict[str, Any]:
    """One argument fragment (with `more` keys, such as an id, before its function)."""
    fragment: dict[str, Any] = {"index": index, **more, "function": {"arguments": arguments}}
    return {
        "index": 0,
        "delta": {"tool_calls": [fragment]},
        "logprobs": None,
        "finish_reason": None,
    }


def opening(index: int, call_id: str) -> dict[str, Any]:
    fragment = {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": f"f{index}", "arguments": ""},
    }
    return {
        "index": 0,
        "delta": {"tool_calls": [fragment]},
        "logprobs": None,
        "finish_reason": None,
    }


def text(content: str, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": {"content": content}, "logprobs": None, "finish_reason": None}


FRAGMENTS = ['{"', "loc", 'a\\"b', "\\n", "é", "\u00e9t\u00e9", "😀", "\\\\", "x" * 40, ""]

CASES: dict[str, list[str]] = {
    "calls out of order, an unknown index, an id again": [
        payload([opening(0, "a")]),
        *(payload([tool(0, f)]) for f in FRAGMENTS[:3]),
        payload([opening(2, "b")]),
        payload([tool(2, "[1,")]),
        payload([tool(0, "z")]),
        payload([tool(2, "2]")]),
        payload([tool(5, "new")]),
        payload([tool(5, "er")]),
        payload([tool(2, "again", id="b2")]),
        payload([tool(2, "!")]),
        payload([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}]),
    ],
    "escaped and non-ASCII fragments": [
        payload([opening(0, "a")]),
        *(
            payload([tool(0, f)], ascii_only=ascii_only)
            for f in FRAGMENTS
            for ascii_only in (False, True)
        ),
        *(
            payload([text(f)], ascii_only=ascii_only)
            for f in FRAGMENTS
            for ascii_only in (False, True)
        ),
    ],
    "finish chunks with extra keys": [
        payload([text("He")]),
        payload([text("llo")]),
        payload(
            [
                {
                    "index": 0,
                    "delta": {},
                    "logprobs": None,
                    "finish_reason": "stop",
                    "content_filter_results": {"hate": {"filtered": False}},
                    "token_ids": [1, 2],
                }
            ]
        ),
        payload([text("!")]),
        payload(
            [
                {
                    "index": 0,
                    "delta": {"content": "?"},
                    "logprobs": None,
                    "finish_reason": "length",
                    "stop_reason": 7,
                }
            ]
        ),
    ],
    "usage chunks with choices": [
        payload([text("a")]),
        payload([text("b")], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
        payload([text("c")]),
        payload(
            [text("d"), text("e", 1)],
            usage={"prompt_tokens": 0, "completion_tokens": 4, "total_tokens": 4, "x": None},
        ),
        payload([text("f")]),
        payload([], usage={"prompt_tokens": 1, "completion_tokens": 5, "total_tokens": 6}),
    ],
    "paddings of every length": [
        payload([text("p")], padding=padding)
        for padding in ["", "a", 'q"', "\\", "é", "\n", *("z" * n for n in range(14, 20))]
    ],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_native_fold_gives_the_reference_completion(name: str) -> None:
    data = stream(CASES[name])
    expected = deltafold.reference.assemble(data)
    assert deltafold.assemble(data, format="chat") == expected
    for read in (1, 7, 64, 4096):
        parser = deltafold.StreamParser(format="chat")
        for at in range(0, len(data), read):
            parser.feed(data[at : at + read])
        got = parser.finish()
        assert got == expected, read
        assert json.dumps(got) == json.dumps(expected), read
