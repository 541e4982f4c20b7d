"""Object keys of a finished Anthropic tool input, converted from its kept JSON text.

The native converter hands out short strings (keys above all) from a cache of Python strings
(``rust/py/convert.rs``, ``StringCache``): a key that repeats is the same Python object each
time. A cache must never change a result, so these inputs mix keys that repeat, keys that
collide in the cache (many distinct keys, many of one length), keys that are prefixes of one
another or differ only by a trailing NUL, non-ASCII, escaped and empty keys, and keys either
side of the cached length; the oracle is ``json.loads`` of the same text, key order included.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from test_anthropic import START, anthropic_sse, end, tool_block


def many_keys() -> str:
    """Distinct keys of one length, each twice in a row (so a cache admits it), then all again
    in another order: keys of equal length collide in a direct-mapped cache."""
    keys = [f"k{i:04d}" for i in range(3000)]
    pairs = [{key: i} for i, key in enumerate(keys) for _ in range(2)]
    again = [{key: -i} for i, key in reversed(list(enumerate(keys)))]
    return json.dumps({"pairs": pairs, "again": again})


ODD_KEYS = (
    # A key, then the same bytes plus a NUL (escaped in the text): equal when NUL-padded.
    '[{"a": 1}, {"a": 2}, {"a": 3}, {"a\\u0000": 4}, {"a\\u0000": 5}, {"a": 6}]',
    # Prefixes of one another, in both orders, each repeated.
    '[{"ab": 1, "abc": 2, "a": 3, "": 4}, {"a": 5, "abc": 6, "ab": 7, "": 8},'
    ' {"ab": 9, "abc": 10, "a": 11, "": 12}]',
    # The same key escaped and not; non-ASCII of two, three and four bytes.
    '[{"\\u00e9t\\u00e9": 1, "\\"q\\"": 2, "t\\tb": 3}, {"été": 4, "\\u00e9t\\u00e9": 5},'
    ' {"été": 6, "键": 7, "😀": 8, "\\ud83d\\ude00x": 9}, {"键": 10, "😀": 11}]',
    # Either side of the cached length (16 bytes), and of a long key (64).
    json.dumps(
        [
            {"x" * n: n, "y" * n: [n], ("é" * n)[:n]: {"x" * n: n}}
            for n in (15, 16, 17, 63, 64, 65, 200)
            for _ in range(3)
        ]
    ),
    # Keys that look like values, and values that look like keys.
    '{"true": "true", "null": null, "1": "1", "min": {"min": "min", "max": {"min": 0}}}',
)


def stream(text: str, piece: int) -> bytes:
    """An Anthropic stream whose one tool input is ``text``, sent ``piece`` characters at a time."""
    fragments = [text[i : i + piece] for i in range(0, len(text), piece)]
    return anthropic_sse(START, *tool_block(0, "toolu_1", *fragments), *end("tool_use"))


def tool_input(impl: ModuleType, data: bytes, feed: bool) -> Any:
    if feed:
        parser = impl.StreamParser(format="anthropic")
        for i in range(0, len(data), 97):
            parser.feed(data[i : i + 97])
        result = parser.finish()
    else:
        result = impl.assemble(data, format="anthropic")
    (block,) = result["content"]
    return block["input"]


def same(got: Any, want: Any) -> None:
    """Equal values, and equal key order at every depth (``==`` on dicts ignores order)."""
    assert got == want
    assert json.dumps(got) == json.dumps(want)


@pytest.mark.parametrize("feed", [False, True], ids=["assemble", "feed"])
@pytest.mark.parametrize("text", [many_keys(), *ODD_KEYS], ids=["many", *map(str, range(5))])
def test_keys_equal_json_loads(impl: ModuleType, text: str, feed: bool) -> None:
    want = json.loads(text)
    # Twice: the second conversion meets a cache already holding these keys.
    for piece in (len(text), 5 if len(text) < 5000 else 4096):
        same(tool_input(impl, stream(text, piece), feed), want)


def test_results_share_no_mutable_object(impl: ModuleType) -> None:
    text = '{"rows": [{"k": [1], "v": {"w": 1}}, {"k": [1], "v": {"w": 1}}]}'
    first = tool_input(impl, stream(text, len(text)), feed=False)
    second = tool_input(impl, stream(text, len(text)), feed=False)
    rows = first["rows"]
    rows[0]["k"].append(2)
    rows[0]["v"]["w"] = 2
    rows[0]["new"] = 3
    assert rows[1] == {"k": [1], "v": {"w": 1}}
    assert second == json.loads(text)
