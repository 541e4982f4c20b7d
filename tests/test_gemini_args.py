"""Gemini function-call arguments streamed as ``partialArgs``, both twins, to the key order.

Gemini 3 streams a call's arguments as one string entry per payload: a fragment that says
``willContinue``, then the entry that ends the string (``stringValue: ""``), payload after
payload of the same shape. The native fold reads most of those payloads against a template and
keeps the open string's path between them; these streams are long enough for every template
to be learned and used, and each one is checked against the reference after every payload
(``snapshot``), at its end (``finish``), whole (``assemble``), cut by an in-band error, a bad
payload or the end of the input (``.partial``, ``allow_truncated``), and fed in pieces.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest

TWINS = [deltafold, deltafold.reference]
TOP = {"usageMetadata": {"promptTokenCount": 7}, "modelVersion": "m", "responseId": "r"}


def text(value: Any) -> str:
    """JSON text that keeps key order and tells apart types ``==`` mixes (1, 1.0, True)."""
    return json.dumps(value, ensure_ascii=False)


def sse(*events: Any) -> bytes:
    return b"".join(
        b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\r\n\r\n" for e in events
    )


def payload(part: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [part]}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], **TOP}


def entry(path: str, value: Any, more: bool = False, **call: Any) -> dict[str, Any]:
    key = "stringValue" if isinstance(value, str) else "numberValue"
    arg: dict[str, Any] = {"jsonPath": path, key: value}
    if more:
        arg["willContinue"] = True
    return payload({"functionCall": {"partialArgs": [arg], "willContinue": True, **call}})


def string(path: str, *pieces: str) -> list[dict[str, Any]]:
    """A string streamed as Gemini 3 does: each piece continues, an empty entry ends it."""
    return [entry(path, piece, more=True) for piece in pieces] + [entry(path, "")]


def start(name: str = "cook") -> dict[str, Any]:
    return payload({"functionCall": {"name": name, "willContinue": True}})


def end() -> dict[str, Any]:
    return payload({"text": ""}, finish="STOP")


# Twelve ingredients, each string in one to three fragments, escapes and non-ASCII text among
# them: every payload after the first few of each shape is read against a template.
PIECES = ["a", 'b "q"', "c\\d", "é 😀", "line\nbreak", "x" * 40]
MANY = [start()]
for i in range(12):
    MANY += string(f"$.recipe.ingredients[{i}].amount", *PIECES[i % 3 : i % 3 + 1 + i % 3])
    MANY += string(f"$.recipe.ingredients[{i}].name", PIECES[(i + 2) % len(PIECES)])
MANY += string("$.recipe.title", "Pan", "cakes")
MANY.append(end())

# A whole `args` after streamed ones replaces them; entries after it set into it, and a string
# still open before it is not appended to; a second call follows.
WHOLE = [
    start(),
    *string("$.a.s", "one ", "two"),
    entry("$.a.t", "open", more=True),
    payload({"functionCall": {"args": {"a": {"t": "whole"}, "b": [1, 2]}, "willContinue": True}}),
    entry("$.a.t", " more", more=True),
    entry("$.a.t", ""),
    *string("$.b[3]", "x", "y"),
    *string("$.c", "z"),
    start("second"),
    *string("$.q", "r", "s"),
    end(),
]

# Entries the text of the arguments could not follow by appending: a key written before, an
# earlier array index, a number between strings, the root, a quoted key holding `.` and `[`.
BACK = [
    start(),
    *string("$.a[2].k", "v"),
    *string("$.a[0]", "first"),
    *string("$.b", "once"),
    *string("$.b", "again"),
    entry("$.n", 4.5),
    *string("$['x.y[0]'].z", "q", "uoted"),
    *string("$['x.y[0]'].w", "w"),
    *string("$.a[2].m", "late"),
    entry("$", "root", more=True),
    entry("$", " string"),
    end(),
]

STREAMS = {"many": MANY, "whole": WHOLE, "back": BACK}


def snapshots(module: ModuleType, events: list[dict[str, Any]]) -> list[str]:
    parser = module.StreamParser(format="gemini", allow_truncated=True)
    seen = []
    for one in events:
        parser.feed(sse(one))
        seen.append(text(parser.snapshot()))
    seen.append(text(parser.finish()))
    return seen


@pytest.mark.parametrize("name", STREAMS)
def test_every_payload_folds_as_the_reference(name: str) -> None:
    events = STREAMS[name]
    assert snapshots(deltafold, events) == snapshots(deltafold.reference, events)
    data = sse(*events)
    want = text(deltafold.reference.assemble(data, format="gemini"))
    assert text(deltafold.assemble(data, format="gemini")) == want
    want_summary = deltafold.reference.summarize(data, format="gemini")
    assert deltafold.summarize(data, format="gemini") == want_summary


def test_the_streamed_arguments_are_the_pieces_joined() -> None:
    result = deltafold.assemble(sse(*MANY), format="gemini")
    args = result["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]
    assert len(args["recipe"]["ingredients"]) == 12
    assert args["recipe"]["ingredients"][5] == {"amount": "c\\dé 😀line\nbreak", "name": 'b "q"'}
    assert args["recipe"]["title"] == "Pancakes"
    assert list(args["recipe"]) == ["ingredients", "title"]
    whole = deltafold.assemble(sse(*WHOLE), format="gemini")["candidates"][0]["content"]
    assert whole["parts"][0]["functionCall"]["args"] == {
        "a": {"t": "whole more"},
        "b": [1, 2, None, "xy"],
        "c": "z",
    }


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("reads", [1, 3, 17, 10**6])
def test_fed_in_pieces(name: str, reads: int) -> None:
    data = sse(*STREAMS[name])
    want = text(deltafold.reference.assemble(data, format="gemini"))
    for events in ({}, {"events": True, "partial_arguments": True}):
        parser = deltafold.StreamParser(format="gemini", **events)
        step = max(1, len(data) // reads)
        for at in range(0, len(data), step):
            parser.feed(data[at : at + step])
        assert text(parser.finish()) == want


def outcome(module: ModuleType, data: bytes, **options: Any) -> Any:
    """The result, or the error's class, position and partial result (a JSON syntax error's
    wording is each twin's reader's own)."""
    try:
        return ("ok", text(module.assemble(data, format="gemini", **options)))
    except module.DeltafoldError as error:
        where = (getattr(error, "byte_offset", None), getattr(error, "event_index", None))
        return (type(error).__name__, where, text(error.partial))


@pytest.mark.parametrize("name", STREAMS)
def test_cut_by_an_error_or_the_end_mid_arguments(name: str) -> None:
    events = STREAMS[name]
    api_error = sse({"error": {"code": 500, "message": "boom"}})
    for cut in range(1, len(events)):
        head = sse(*events[:cut])
        for data, options in (
            (head, {}),
            (head, {"allow_truncated": True}),
            (head + api_error, {}),
            (head + b"data: {bad\r\n\r\n", {}),
            (head + b"data: {bad\r\n\r\n" + sse(*events[cut:]), {"on_error": "skip"}),
        ):
            native = outcome(deltafold, data, **options)
            assert native == outcome(deltafold.reference, data, **options), (cut, options)


@pytest.mark.parametrize("impl", TWINS)
def test_an_error_mid_string_keeps_the_fragments_so_far(impl: ModuleType) -> None:
    events = [
        start(),
        *string("$.s", "ab"),
        entry("$.t", "cd", more=True),
        entry("$.t", "ef", more=True),
    ]
    parser = impl.StreamParser(format="gemini")
    parser.feed(sse(*events))
    with pytest.raises(impl.StreamAPIError) as caught:
        parser.feed(sse({"error": {"code": 429, "message": "slow"}}))
    call = caught.value.partial["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["args"] == {"s": "ab", "t": "cdef"}


# The native fold parses a templated entry's path from the steps it shares with the path
# parsed before it, and folds the payload that ends a call (`"functionCall": {}`) from the
# fragments' template. Paths that share text up to, into and past a step's end; indexes
# growing and going back; a string, then an object, then an array at the same place; keys
# that share bytes of one character; calls ended when one is open and when none is.
def fragment(path: str, piece: str) -> list[dict[str, Any]]:
    return [entry(path, piece, more=True), entry(path, "")]


def call_end() -> dict[str, Any]:
    return payload({"functionCall": {}})


def signed_start(name: str) -> dict[str, Any]:
    return payload({"functionCall": {"name": name, "willContinue": True}, "thoughtSignature": "s"})


# Objects of keys of one length that differ in one byte (the first, a middle or the last
# one), of keys past two words, and one of more keys than a few.
KEYS = {
    "k1": ["aXb", "aYb", "abXd", "abYd", "Xbcd"],
    "k2": ["abcdeX", "abcdeY", "abcdXfghij", "abcdYfghij", "abcdefghiZ"],
    "k3": ["a" * 17, "a" * 16 + "b", "a" * 16, "a" * 15 + "b"],
    "k4": [f"x{i}" for i in range(12)] + ["x0"],
}

SHARED = [
    signed_start("cook"),
    *fragment("$.recipe.ingredients[3].amount", "a"),
    *fragment("$.recipe.ingredients[3].name", "b"),
    *fragment("$.recipe.ingredients[4].amount", "c"),
    *fragment("$.recipe.ingredients[10].amount", "d"),
    *fragment("$.recipe.ingredients[1].name", "e"),
    *fragment("$.recipe.ingredients[1]", "whole"),
    *fragment("$.recipe.ingredients[1].name", "again"),
    *fragment("$.recipe.ingredientsX", "f"),
    *fragment("$.recipe.ingredients", "flat"),
    *fragment("$.ab", "g"),
    *fragment("$.abc", "h"),
    *fragment("$.ab.c", "i"),
    *fragment("$.s", "str"),
    *fragment("$.s.t", "object now"),
    *fragment("$.s[2]", "array now"),
    *fragment("$.s[2].u", "deeper"),
    *fragment("$['a.b'].c", "j"),
    *fragment("$['a.b'].d", "k"),
    *fragment("$['a.c']", "l"),
    *fragment('$["a.b"].c', "m"),
    *fragment("$.é.x", "n"),
    *fragment("$.ê.x", "o"),
    *fragment("$.é", "p"),
    *[one for k, keys in KEYS.items() for key in keys for one in fragment(f"$.{k}.{key}", key)],
    call_end(),
    # No call is open: the end is a call of its own.
    call_end(),
    signed_start("second"),
    *fragment("$", "root"),
    *fragment("$.x[0]", "r"),
    *fragment("$.x[1]", "s"),
    call_end(),
    signed_start("third"),
    entry("$.y", "t", more=True),
    entry("$.y", "u", more=True),
    call_end(),
    end(),
]

STREAMS["shared"] = SHARED


def event_dicts(module: ModuleType, events: list[dict[str, Any]]) -> list[Any]:
    parser = module.StreamParser(format="gemini", events=True, partial_arguments=True)
    seen: list[Any] = []
    for one in events:
        seen.append([e.as_dict() for e in parser.feed(sse(one))])
    seen.append([e.as_dict() for e in parser.finish_events()])
    return seen


@pytest.mark.parametrize("name", ["shared", "many", "back"])
def test_every_payload_gives_the_reference_events(name: str) -> None:
    events = STREAMS[name]
    assert event_dicts(deltafold, events) == event_dicts(deltafold.reference, events)


def test_call_ends_as_the_reference_ends_it() -> None:
    data = sse(*SHARED)
    result = deltafold.assemble(data, format="gemini")
    assert text(result) == text(deltafold.reference.assemble(data, format="gemini"))
    parts = result["candidates"][0]["content"]["parts"]
    assert [part["functionCall"].get("name") for part in parts] == [
        "cook",
        None,
        "second",
        "third",
    ]
    assert parts[1] == {"functionCall": {}}
    assert parts[2]["functionCall"]["args"] == {"x": ["r", "s"]}
    assert parts[3]["functionCall"]["args"] == {"y": "tu"}
    args = parts[0]["functionCall"]["args"]
    assert args == {
        "recipe": {"ingredients": "flat", "ingredientsX": "f"},
        "ab": {"c": "i"},
        "abc": "h",
        "s": [None, None, {"u": "deeper"}],
        "a.b": {"c": "m", "d": "k"},
        "a.c": "l",
        "é": "p",
        "ê": {"x": "o"},
        **{k: {key: key for key in keys} for k, keys in KEYS.items()},
    }


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_call_ends_meet_the_call_limit_as_the_reference(limit: int) -> None:
    data = sse(*SHARED)
    for options in ({}, {"on_error": "skip"}):
        native = outcome(deltafold, data, max_tool_calls=limit, **options)
        assert native == outcome(deltafold.reference, data, max_tool_calls=limit, **options)


@pytest.mark.parametrize("bad", ["$.recipe.ingredients[3]x", "$.recipe..a", "$.recipe[99999]"])
def test_a_bad_path_between_shared_ones(bad: str) -> None:
    events = [
        signed_start("cook"),
        *fragment("$.recipe.ingredients[3].amount", "a"),
        *fragment("$.recipe.ingredients[3].name", "b"),
        *fragment(bad, "c"),
        *fragment("$.recipe.ingredients[3].amount", "d"),
        *fragment("$.recipe.ingredients[4].amount", "e"),
        call_end(),
        end(),
    ]
    data = sse(*events)
    for options in ({}, {"on_error": "skip"}, {"allow_truncated": True}):
        native = outcome(deltafold, data, **options)
        assert native == outcome(deltafold.reference, data, **options), options
