"""Gemini results built straight from the fold's state (``Fold::build_result``).

The native ``finish`` and ``assemble`` build a Gemini result from the fold's state, without the
intermediate value tree that ``snapshot()`` and ``.partial`` still convert. The two paths, and
the reference twin, must agree exactly: values, types and the key order of every level (the
comparisons here are of JSON text, which ``==`` on dicts would not check). The state is only
read, so ``finish`` may be called again, and the parser read or fed after it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest
from deltafold.testing import gemini_responses, gemini_streams
from hypothesis import given, settings

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "gemini-recorded").glob("*.sse"))

TWINS = [deltafold, deltafold.reference]


def text(value: Any) -> str:
    """JSON text that keeps key order and tells apart types ``==`` mixes (1, 1.0, True)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def sse(*events: Any) -> bytes:
    return b"".join(
        b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n" for e in events
    )


def event(*parts: dict[str, Any], finish: str | None = None, **top: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **top}


def arg(path: str, value: Any, more: bool = False) -> dict[str, Any]:
    key = "stringValue" if isinstance(value, str) else "numberValue"
    entry: dict[str, Any] = {"jsonPath": path, key: value}
    if more:
        entry["willContinue"] = True
    return {"functionCall": {"partialArgs": [entry], "willContinue": True}}


TOP = {"usageMetadata": {"promptTokenCount": 3}, "modelVersion": "m", "responseId": "r"}

# A stream with every kind of part: thought text, text with a signature on an empty part, a
# call streamed with partialArgs (continued strings, numbers), a call with whole args holding
# big integers and floats, an inlineData part, and non-ASCII text and keys.
BIG = 12345678901234567890123456789
RICH = [
    event({"text": "think ", "thought": True}, **TOP),
    event({"text": "more 中文 😀", "thought": True}, **TOP),
    event({"text": "", "thoughtSignature": "c2ln"}, **TOP),
    event({"text": 'Héllo "quoted" \\ \n'}, **TOP),
    event({"text": " wörld"}, **TOP),
    event(
        {
            "functionCall": {"name": "cook", "willContinue": True, "id": "c1"},
            "thoughtSignature": "s2",
        },
        **TOP,
    ),
    event(arg("$.recipe.ingredients[0].name", "eg", more=True), **TOP),
    event(arg("$.recipe.ingredients[0].name", "gs 🥚", more=True), **TOP),
    event(arg("$.recipe.ingredients[0].name", ""), **TOP),
    event(arg("$.recipe.ingredients[0].amount", 2.5), **TOP),
    event(arg("$.recipe.ingredients[1].name", "flour"), **TOP),
    event({"functionCall": {}}, **TOP),
    event(
        {
            "functionCall": {
                "name": "ints",
                "args": {
                    "big": BIG,
                    "neg": -BIG,
                    "u64": 2**64 - 1,
                    "i64": -(2**63),
                    "f": 1.5e300,
                    "tiny": 5e-324,
                    "z": -0.0,
                    "t": True,
                    "n": None,
                    "ключ": ["é", {"b": 1, "a": 2}],
                },
            }
        },
        **TOP,
    ),
    event({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, **TOP),
    event(
        {"text": ""},
        finish="STOP",
        **{**TOP, "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9}},
    ),
]


def folded(module: ModuleType, data: bytes, reads: int = 1, **options: Any) -> Any:
    parser = module.StreamParser(format="gemini", **options)
    step = max(1, len(data) // reads)
    for at in range(0, len(data), step):
        parser.feed(data[at : at + step])
    return parser.finish()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_recorded_streams_built_as_the_reference_to_the_key_order(path: Path) -> None:
    data = path.read_bytes()
    want = text(deltafold.reference.assemble(data, format="gemini"))
    assert text(deltafold.assemble(data, format="gemini")) == want
    assert text(folded(deltafold, data, reads=7)) == want
    parser = deltafold.StreamParser(format="gemini")
    parser.feed(data)
    assert text(parser.finish()) == want
    # The value-tree path (`snapshot`) and the built one agree.
    assert text(parser.snapshot()) == want


def test_every_kind_of_part_and_value(impl: ModuleType) -> None:
    data = sse(*RICH)
    want = text(deltafold.reference.assemble(data, format="gemini"))
    assert text(impl.assemble(data, format="gemini")) == want
    for reads in (1, 3, 40):
        assert text(folded(impl, data, reads)) == want
    result = impl.assemble(data, format="gemini")
    parts = result["candidates"][0]["content"]["parts"]
    assert list(result) == ["candidates", "usageMetadata", "modelVersion", "responseId"]
    assert list(result["candidates"][0]) == ["content", "index", "finishReason"]
    assert list(result["candidates"][0]["content"]) == ["parts", "role"]
    assert parts[0] == {"text": "think more 中文 😀", "thought": True, "thoughtSignature": "c2ln"}
    assert list(parts[0]) == ["text", "thought", "thoughtSignature"]
    assert parts[1] == {"text": 'Héllo "quoted" \\ \n wörld'}
    call = parts[2]
    assert list(call) == ["functionCall", "thoughtSignature"]
    assert list(call["functionCall"]) == ["name", "args", "id"]
    assert call["functionCall"]["args"] == {
        "recipe": {"ingredients": [{"name": "eggs 🥚", "amount": 2.5}, {"name": "flour"}]}
    }
    args = parts[3]["functionCall"]["args"]
    assert list(args) == ["big", "neg", "u64", "i64", "f", "tiny", "z", "t", "n", "ключ"]
    # Integers past 64 bits read as floats (as orjson reads them); those within, as ints.
    assert type(args["big"]) is float and args["big"] == float(BIG) == -args["neg"]
    assert type(args["u64"]) is int and args["u64"] == 2**64 - 1
    assert type(args["i64"]) is int and args["i64"] == -(2**63)
    assert args["f"] == 1.5e300 and args["tiny"] == 5e-324
    assert text(args["z"]) == "-0.0" and args["t"] is True and args["n"] is None
    assert list(args["ключ"][1]) == ["b", "a"]
    assert parts[4] == {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}


def test_finish_twice_and_every_read_after_it() -> None:
    data = sse(*RICH)
    want = text(deltafold.reference.assemble(data, format="gemini"))
    parser = deltafold.StreamParser(format="gemini")
    parser.feed(data)
    first = parser.finish()
    # The caller owns the result: changing it changes nothing in the parser.
    first["candidates"][0]["content"]["parts"][0]["text"] = "changed"
    first["candidates"][0]["content"]["parts"][2]["functionCall"]["args"]["recipe"].clear()
    first["usageMetadata"]["promptTokenCount"] = -1
    assert text(parser.finish()) == want
    assert text(parser.snapshot()) == want
    assert text(parser.finish()) == want
    assert parser.finish() is not parser.finish()
    assert parser.summary()["text"] == 'Héllo "quoted" \\ \n wörld'


def test_snapshot_then_more_reads_then_finish(impl: ModuleType) -> None:
    data = sse(*RICH)
    reference = deltafold.reference.StreamParser(format="gemini")
    parser = impl.StreamParser(format="gemini")
    for one in RICH:
        chunk = sse(one)
        parser.feed(chunk)
        reference.feed(chunk)
        assert text(parser.snapshot()) == text(reference.snapshot())
    assert text(parser.finish()) == text(impl.assemble(data, format="gemini"))


@pytest.mark.parametrize("cut", [6, 7, 8, 9, 10, 11])
def test_a_stream_cut_mid_call(impl: ModuleType, cut: int) -> None:
    # Cut inside the streamed call (its string still open, or between its entries): the
    # truncated result shows the arguments so far, as the snapshot and the reference do.
    data = sse(*RICH[:cut])
    reference = deltafold.reference.StreamParser(format="gemini", allow_truncated=True)
    reference.feed(data)
    want = text(reference.finish())
    parser = impl.StreamParser(format="gemini", allow_truncated=True)
    parser.feed(data)
    assert text(parser.snapshot()) == want
    assert text(parser.finish()) == want
    assert text(impl.assemble(data, format="gemini", allow_truncated=True)) == want
    # The stream goes on after `finish`, and the next `finish` shows the rest.
    parser.feed(sse(*RICH[cut:]))
    assert text(parser.finish()) == text(deltafold.reference.assemble(sse(*RICH), format="gemini"))


def test_events_on_and_off_give_the_same_result(impl: ModuleType) -> None:
    data = sse(*RICH)
    want = text(deltafold.reference.assemble(data, format="gemini"))
    for options in ({}, {"events": True}, {"events": True, "partial_arguments": True}):
        parser = impl.StreamParser(format="gemini", **options)
        got = parser.feed(data)
        assert bool(got) == bool(options)
        assert text(parser.finish()) == want
        # `finish` returns the result only: the closing events it made are dropped, not
        # left for the next call.
        assert parser.feed(b"") == []
        assert text(parser.finish()) == want
    parser = impl.StreamParser(format="gemini", events=True)
    parser.feed(data)
    events = parser.finish_events()
    assert events[-1].type == "done"
    assert text(events[-1].completion) == want
    assert text(parser.finish()) == want


def test_an_error_after_the_result(impl: ModuleType) -> None:
    head = sse(*RICH[:8])
    parser = impl.StreamParser(format="gemini", allow_truncated=True)
    parser.feed(head)
    before = text(parser.finish())
    with pytest.raises(impl.StreamAPIError) as caught:
        parser.feed(sse({"error": {"code": 429, "message": "slow down"}}))
    assert text(caught.value.partial) == before
    assert text(parser.finish()) == before
    with pytest.raises(impl.ChunkDecodeError) as bad:
        parser.feed(b"data: {not json}\r\n\r\n")
    assert text(bad.value.partial) == before
    parser.feed(sse(*RICH[8:]))
    assert text(parser.finish()) == text(impl.assemble(sse(*RICH), format="gemini"))


@pytest.mark.parametrize("where", ["text", "thought", "signature", "args", "streamed"])
def test_long_texts_either_side_of_the_threshold(impl: ModuleType, where: str) -> None:
    # From 64 KiB on, a text is moved out of the state instead (rust/py/release.rs): that
    # path and the built one give the same result, and `finish` can be called again.
    for size in (64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1):
        data = long_stream(where, size)
        want = text(deltafold.reference.assemble(data, format="gemini"))
        parser = impl.StreamParser(format="gemini")
        parser.feed(data)
        assert text(parser.finish()) == want
        assert text(parser.finish()) == want
        assert text(parser.snapshot()) == want
        assert text(impl.assemble(data, format="gemini")) == want


def long_stream(where: str, size: int) -> bytes:
    """A stream whose one part holds a text of `size` bytes at `where`."""
    long = ("é" + "x" * size)[: size - 1]
    if where == "streamed":
        # Argument fragments of a few KiB (each folded from a template after the first two),
        # the string reaching `size` only with the last one.
        pieces = [long[at : at + 4096] for at in range(0, len(long), 4096)]
        first = arg("$.k[0]", pieces[0], more=True)
        first["functionCall"]["name"] = "f"
        events = [first, *(arg("$.k[0]", piece, more=True) for piece in pieces[1:])]
        events.append(arg("$.k[0]", ""))
        return sse(*(event(e, **TOP) for e in events), event({"text": ""}, finish="STOP"))
    if where == "args":
        parts = [{"functionCall": {"name": "f", "args": {"k": [long]}}}]
    elif where == "signature":
        parts = [{"text": "a", "thoughtSignature": long}]
    else:
        parts = [{"text": long, **({"thought": True} if where == "thought" else {})}]
    # The last part adds nothing, so the long text stays `size` bytes.
    return sse(event(*parts, **TOP), event({"text": ""}, finish="STOP"))


def the_long_text(result: dict[str, Any], where: str) -> str:
    part = result["candidates"][0]["content"]["parts"][0]
    if where in ("args", "streamed"):
        return str(part["functionCall"]["args"]["k"][0])
    return str(part["thoughtSignature" if where == "signature" else "text"])


@pytest.mark.parametrize("where", ["text", "thought", "signature", "args", "streamed"])
def test_only_texts_under_the_threshold_are_built(where: str) -> None:
    # White box (CPython reference counts): the parser keeps the `str` a long text moved into
    # (to put it back into its state on the next read), so the result's string has one more
    # holder; a result built from the state shares nothing with the parser.
    for size, held in ((64 * 1024 - 1, 0), (64 * 1024, 1), (64 * 1024 + 1, 1)):
        parser = deltafold.StreamParser(format="gemini")
        parser.feed(long_stream(where, size))
        long = the_long_text(parser.finish(), where)
        assert len(long.encode()) == size
        # Holders: `long` and getrefcount's argument, and the parser when it moved the text.
        assert sys.getrefcount(long) == 2 + held


@settings(max_examples=60)
@given(pair=gemini_streams(gemini_responses(max_candidates=3, max_parts=6)))
def test_generated_streams_to_the_key_order(pair: tuple[dict[str, Any], bytes]) -> None:
    response, data = pair
    # The renderer may send keys in another order than the response lists them: the key
    # order to match is the reference's.
    want = text(deltafold.reference.assemble(data))
    assert deltafold.assemble(data) == response
    assert text(deltafold.assemble(data)) == want
    parser = deltafold.StreamParser()
    parser.feed(data)
    assert text(parser.finish()) == want
    assert text(parser.snapshot()) == want


# Parts whose keys the native build names in its code ("text", "functionCall", "name", "args",
# "thoughtSignature", "parts"), first, last or alone in their dict, beside keys from the stream.
NAMED_KEY_STREAMS = [
    sse(event({"text": "a"}, finish="STOP", **TOP)),
    sse(event({"text": "a", "thoughtSignature": "s"}, finish="STOP")),
    sse(event({"thoughtSignature": "s", "text": "b", "thought": True}, finish="STOP", **TOP)),
    sse(
        event({"functionCall": {"name": "f", "args": {"text": 1, "name": "n"}}}),
        event({"functionCall": {"args": {"parts": []}, "id": "i"}, "thoughtSignature": "t"}),
        event({"text": "c"}, finish="STOP", **TOP),
    ),
    sse(event({"inlineData": {"mimeType": "x", "data": "AA"}}, finish="STOP")),
    sse({"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model"}}]}),
]


def test_named_keys_across_parsers_one_after_another() -> None:
    want = [text(deltafold.reference.assemble(data, format="gemini")) for data in NAMED_KEY_STREAMS]
    for _ in range(3):
        for data, expected in zip(NAMED_KEY_STREAMS, want, strict=True):
            assert text(folded(deltafold, data)) == expected
    # The same parser's result again, and another format's result built meanwhile.
    parser = deltafold.StreamParser(format="gemini")
    parser.feed(NAMED_KEY_STREAMS[3])
    first = text(parser.finish())
    assert text(deltafold.assemble(NAMED_KEY_STREAMS[1], format="gemini")) == want[1]
    assert first == want[3] and text(parser.finish()) == want[3]
