"""A Responses closing snapshot is handed out from its validated text (`RawWalk`): every value
in it builds as orjson reads the same text. Escaped strings (decoded into a buffer the thread
keeps), keys with escapes, surrogate pairs, big and negative integers past 64 bits, floats,
duplicate keys, deep nesting and empty containers."""

from __future__ import annotations

import json
from typing import Any

import deltafold
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _closing(response: bytes) -> bytes:
    return (
        b'data: {"type":"response.completed","sequence_number":0,"response":' + response + b"}\n\n"
    )


def _assembled(response: bytes) -> Any:
    return deltafold.assemble(_closing(response), format="responses")


CASES = [
    # Escapes of every kind, in keys and values, at the start, middle and end of long texts.
    rb'{"output":[],"t":"\"quoted\" \\ \/ \b\f\n\r\t end"}',
    rb'{"output":[],"k\tey":"v","\u00e9":"\u00e9","\ud83d\ude00":"\ud83d\ude00"}',
    b'{"output":[],"long":"' + b"word \\n" * 400 + b'"}',
    b'{"output":[],"mixed":"' + "caf\u00e9 ".encode() * 100 + b'\\t\\"x\\"' + b'"}',
    # One escaped string after another, then a plain one: the thread's buffer is reused.
    rb'{"output":[],"a":"x\ny","b":"z","c":"\\","d":"pl"}',
    # Numbers: big, negative past 64 bits (floats in orjson), fractions, exponents.
    rb'{"output":[],"u":18446744073709551615,"n":-9223372036854775808,'
    rb'"m":-9223372036854775809,"f":1.5e300,"g":-0.0,"h":1E-5,"i":0}',
    # Integers read in place (up to eighteen digits) and the numbers next to them that are not.
    rb'{"output":[],"a":999999999999999999,"b":1000000000000000000,"c":1765297718,'
    rb'"d":12e3,"e":120.5,"f":7E0,"g":[0,1,22,333],"h":{"n":5}}',
    # Duplicate keys: the last value, at the first key's place.
    rb'{"output":[],"d":1,"e":2,"d":{"x":1,"x":"\n"}}',
    # Empty and deeply nested containers.
    rb'{"output":[{}],"e":{},"a":[],"n":[[[[[[[[[[{"k":[{}]}]]]]]]]]]]}',
    # Whitespace between tokens.
    b'{ "output" : [ ] , "s" : "a\\nb" , "l" : [ 1 , "x" , null , true , false ] }',
    # Tabs before each `:`, `,` and closing bracket (the walk reads these inline when no
    # whitespace comes first).
    b'{\t"output"\t:\t[\t{"a":1\t}\t]\t,"b":[1\t,\t2\t]\t,"c"\t:{"d"\t:\t"e"\t}\t}',
]


@pytest.mark.parametrize("response", CASES)
def test_closing_snapshots_build_as_orjson_reads_them(response: bytes) -> None:
    expected = orjson.loads(response)
    got = _assembled(response)
    assert got == expected
    assert list(got) == list(expected)
    # Strings of equal text are equal objects whether or not they had escapes.
    assert json.dumps(got, sort_keys=False) == json.dumps(expected, sort_keys=False)


_strings = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(["", "\t", '"', "\\", "\u00e9", "\U0001f600", "a\nb" * 30])
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_strings, _values, max_size=6), st.booleans())
def test_random_closing_snapshots_build_as_orjson_reads_them(
    members: dict[str, Any], ascii_only: bool
) -> None:
    members["output"] = []
    # Python's encoder escapes differently from orjson (\uXXXX for non-ASCII when ascii_only):
    # both spellings must build the same value.
    text = json.dumps(members, ensure_ascii=ascii_only).encode()
    assert _assembled(text) == orjson.loads(text)


def _long_keys_snapshot(salt: int) -> bytes:
    """Keys the builder's cache (16 bytes) does not take, which a snapshot's own key cache
    does (17 to 64 bytes): some that collide in it (one length, the same first and last
    eight bytes), escaped and non-ASCII ones, and one either side of each bound."""
    colliding = {f"prefix__{c}__suffix": i for i, c in enumerate("abcdefgh")}
    members: dict[str, Any] = {
        "output": [],
        "x" * 16: 16,
        "x" * 17: 17,
        "y" * 64: 64,
        "y" * 65: 65,
        "output_tokens_details": {"reasoning_tokens": salt},
        "incomplete_details": None,
        "caf\u00e9_caf\u00e9_caf\u00e9_caf\u00e9": salt,
        **colliding,
    }
    # The same long key spelled with an escape: the same key, the last value wins.
    text = json.dumps(members, ensure_ascii=False).encode()
    return text[:-1] + b',"incomplete\\u005fdetails":' + str(salt).encode() + b"}"


def test_long_keys_build_as_orjson_reads_them_every_time() -> None:
    # Several snapshots in a row: the cache admits a key on its second sight and serves it
    # from the third, and keys that collide take turns in one slot.
    for salt in range(5):
        text = _long_keys_snapshot(salt)
        got = _assembled(text)
        expected = orjson.loads(text)
        assert got == expected
        assert list(got) == list(expected)
        assert list(got["output_tokens_details"]) == ["reasoning_tokens"]
    # Served from the cache: the same Python string in two results.
    first, second = (_assembled(_long_keys_snapshot(s)) for s in (7, 8))
    key = "output_tokens_details"
    assert next(k for k in first if k == key) is next(k for k in second if k == key)


def test_line_breaks_between_tokens_build_as_orjson_reads_them() -> None:
    # A payload over several `data` lines holds the line feeds that join them, here before
    # each `:`, `,` and closing bracket of the snapshot.
    lines = [
        b'{"type":"response.completed","sequence_number":0,"response":{"output"',
        b':[{"a":1',
        b"}",
        b'],"b":[1',
        b",2",
        b'],"c":{"d"',
        b':"e"',
        b"}",
        b"}}",
    ]
    data = b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    expected = orjson.loads(b"\n".join(lines))["response"]
    got = deltafold.assemble(data, format="responses")
    assert got == expected
    assert list(got) == list(expected)
