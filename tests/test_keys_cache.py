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

import deltafold
import orjson
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


# Strings either side of the cache's in-slot head (16 bytes) and of its longest string (64
# bytes): pairs of one length that share their first sixteen and last eight bytes (hashed
# alike, so one is admitted into the other's slot) and differ only in between or only at the
# end; non-ASCII (whole, or only past an ASCII head), escaped (a newline, a quote) and empty
# ones.
def edge_strings() -> list[str]:
    out = ["", '"']
    for n in (15, 16, 17, 24, 25, 63, 64, 65):
        out += ["k" * n, "k" * (n - 1) + "z", "q" * (n - 1) + "\n", "é" * (n // 2) + "x" * (n % 2)]
        # The ASCII head of `"k" * n` and its byte length, then a non-ASCII rest.
        out.append("k" * (n - 2) + "é")
        if n >= 25:
            middle = n // 2
            out += ["m" * middle + c + "m" * (n - middle - 1) for c in "ab"]
    # One byte other than the rest, at each place: strings that differ in one byte only.
    for n in (3, 7, 8, 9, 15, 16, 17, 24):
        out += ["k" * i + "z" + "k" * (n - i - 1) for i in range(n)]
    return out


def gemini_edge_stream(strings: list[str]) -> bytes:
    """A Gemini stream whose call ``args``, candidate extras and usage carry ``strings`` as
    keys and values, in two events (each string seen several times over the stream)."""
    args = {s: [s, {s: s}] for s in strings}
    usage = {s: len(s) for s in strings}
    events = [
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": n, "args": args}}],
                    },
                    "index": 0,
                    **{s or "e": s for s in strings},
                }
            ],
            "usageMetadata": usage,
            "modelVersion": "gemini-3-flash-preview-" + "v" * i,
        }
        for i, n in enumerate(("f", "g"))
    ]
    events[-1]["candidates"][0]["finishReason"] = "STOP"
    # The first escaped (`\\u00e9`, `\\n`), the last as UTF-8.
    texts = [json.dumps(events[0]).encode(), orjson.dumps(events[1])]
    return b"".join(b"data: " + t + b"\r\n\r\n" for t in texts)


@pytest.mark.parametrize("feed", [False, True], ids=["assemble", "feed"])
def test_gemini_edge_keys_native_reference_orjson(feed: bool) -> None:
    strings = edge_strings()
    data = gemini_edge_stream(strings)
    *_, last = (orjson.loads(e[len(b"data: ") :]) for e in data.split(b"\r\n\r\n") if e)
    call_args = last["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]

    def run(impl: ModuleType) -> Any:
        if not feed:
            return impl.assemble(data, format="gemini")
        parser = impl.StreamParser(format="gemini")
        for i in range(0, len(data), 61):
            parser.feed(data[i : i + 61])
        return parser.finish()

    for _ in range(3):  # the later conversions meet a cache holding these strings
        native, reference = run(deltafold), run(deltafold.reference)
        same(native, reference)
        candidate = native["candidates"][0]
        parts = candidate["content"]["parts"]
        same([p["functionCall"]["args"] for p in parts], [call_args, call_args])
        same(native["usageMetadata"], last["usageMetadata"])
        same(
            {k: candidate[k] for k in candidate if k not in ("content", "index", "finishReason")},
            {s or "e": s for s in strings},
        )


def test_strings_up_to_64_bytes_come_from_the_cache() -> None:
    """A key or value of 17..64 bytes that repeats is one Python object across results (the
    cache admits it the second time it is asked for); 65 bytes and non-ASCII ones past the
    head are built anew, equal."""
    key17, key64, key65 = "a" * 16 + "Z", "b" * 63 + "Y", "c" * 64 + "X"
    value = "gemini-3-flash-preview"
    wide = "é" * 12
    event = {
        "candidates": [
            {"content": {"parts": [{"text": "hi"}]}, "index": 0, "finishReason": "STOP"}
        ],
        "usageMetadata": {key17: 1, key64: 2, key65: 3, wide: 4},
        "modelVersion": value,
    }
    data = b"data: " + orjson.dumps(event) + b"\r\n\r\n"
    results = [deltafold.assemble(data, format="gemini") for _ in range(4)]
    third, fourth = results[2], results[3]
    assert third["modelVersion"] is fourth["modelVersion"]
    keys3, keys4 = list(third["usageMetadata"]), list(fourth["usageMetadata"])
    assert keys3 == keys4 == [key17, key64, key65, wide]
    assert keys3[0] is keys4[0]
    assert keys3[1] is keys4[1]
    assert keys3[2] is not keys4[2]
