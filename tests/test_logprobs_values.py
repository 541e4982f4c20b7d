"""Logprobs entries are kept as their JSON text and built into Python values straight from it
(rust/py/convert.rs, with the integer-array fast path of rust/py/logprobs.rs): every shape of
array and number gives what ``orjson.loads`` gives for the same text, types included.

Oracle: ``orjson.loads`` of each entry's own text.
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

ARRAYS = [
    "[0]",
    "[7]",
    "[32,97]",
    "[255,0,10,200]",
    "[123456789]",
    "[1234567890]",
    "[9223372036854775807]",
    "[18446744073709551616]",
    "[-1,2]",
    "[1.5,2]",
    "[1e2,3]",
    "[0,-0]",
    "[1, 2]",
    "[ 1,2]",
    "[1,2 ]",
    "[[1],[2,3]]",
    "[1,[2]]",
    '[1,"2"]',
    "[1,null,true]",
    "[]",
]


def _stream(entry_texts: list[str]) -> bytes:
    chunks = []
    for i, entry in enumerate(entry_texts):
        chunks.append(
            '{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
            f'"delta":{{"content":"t{i}"}},"logprobs":{{"content":[{entry}],"refusal":null}},'
            '"finish_reason":null}]}'
        )
    chunks.append('{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
    return b"".join(b"data: " + c.encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _entry(array: str) -> str:
    return (
        f'{{"token":"x","logprob":-0.5,"bytes":{array},'
        f'"top_logprobs":[{{"token":"y","logprob":-1,"bytes":{array}}}]}}'
    )


def _typed(value: Any) -> Any:
    """The value with each number's type beside it, so 1 and 1.0 (equal in Python) differ."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("array", ARRAYS)
def test_entry_arrays_build_as_orjson_reads_them(impl: ModuleType, array: str) -> None:
    entries = [_entry(array), _entry(array)]
    # The second entry comes through the chunk template, the first through the full decoder.
    data = _stream(entries)
    want = [orjson.loads(e) for e in entries]
    for got in (
        impl.assemble(data)["choices"][0]["logprobs"]["content"],
        orjson.loads(impl.assemble_json(data))["choices"][0]["logprobs"]["content"],
    ):
        assert _typed(got) == _typed(want)


def test_many_entries_of_mixed_arrays(impl: ModuleType) -> None:
    entries = [_entry(a) for a in ARRAYS for _ in range(3)]
    got = impl.assemble(_stream(entries))["choices"][0]["logprobs"]["content"]
    assert _typed(got) == _typed([orjson.loads(e) for e in entries])


# Whole entries in the shapes the compact fast path of rust/py/logprobs.rs recognises and in
# every near miss of it (which the general walk builds): each must build as orjson reads it.
ENTRIES = [
    # The usual shapes.
    '{"token":" a","logprob":-0.25,"bytes":[32,97],"top_logprobs":[]}',
    '{"token":"\\n","logprob":-2.881288,"bytes":[10],"top_logprobs":'
    '[{"token":" a","logprob":-1.406779773,"bytes":[32,97]},'
    '{"token":" with","logprob":-3.0779076,"bytes":[32,119,105,116,104]}]}',
    '{"token":" br\u00fbl\u00e9e","logprob":-7.724144,'
    '"bytes":[32,98,114,195,187,108,195,169,101],"top_logprobs":[]}',
    # Escaped, non-ASCII, empty and long tokens.
    '{"token":"\\u00e9\\"\\\\","logprob":-1.5,"bytes":[195,169,34,92],"top_logprobs":[]}',
    '{"token":"\\ud83d\\ude00","logprob":-1.5,"bytes":[240,159,152,128],"top_logprobs":[]}',
    '{"token":"","logprob":-1.5,"bytes":[],"top_logprobs":[]}',
    f'{{"token":"{"x" * 40}","logprob":-1.5,"bytes":[{",".join(["120"] * 40)}],"top_logprobs":[]}}',
    # bytes: null, empty, long, large and zero integers.
    '{"token":"\\ufffd","logprob":-0.5,"bytes":null,'
    '"top_logprobs":[{"token":"b","logprob":-1.0,"bytes":null}]}',
    '{"token":"a","logprob":-0.5,"bytes":[0,0],"top_logprobs":[]}',
    f'{{"token":"a","logprob":-0.5,"bytes":[{",".join(map(str, range(70)))}],"top_logprobs":[]}}',
    '{"token":"a","logprob":-0.5,"bytes":[999999999,1000000000,2147483648],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[18446744073709551616],"top_logprobs":[]}',
    # Logprobs of every number shape: integers, exponents, signs, 15 and more digits.
    '{"token":"a","logprob":-2,"bytes":[97],"top_logprobs":[{"token":"b","logprob":0,"bytes":[98]}]}',
    '{"token":"a","logprob":-0,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-0.0,"bytes":[98]}]}',
    '{"token":"a","logprob":-1e-3,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1.5E+2,"bytes":[98]}]}',
    '{"token":"a","logprob":-123456789.012345,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1234567890.123456,"bytes":[98]}]}',
    '{"token":"a","logprob":-0.000000000000001,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-0.1000000000000000055511151231257827,"bytes":[98]}]}',
    '{"token":"a","logprob":9223372036854775808,"bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":0.30000000000000004,"bytes":[97],"top_logprobs":[]}',
    # Near misses: other order, other or extra keys, whitespace, other value types.
    '{"logprob":-0.5,"token":"a","bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[],"x":1}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1,"bytes":[98],"x":[1]}]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1}]}',
    '{"token":"a", "logprob":-0.5,"bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[] }',
    '{"token":"a","logprob":-0.5,"bytes":[97 ],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],'
    '"top_logprobs":[{"token":"b","logprob":-1,"bytes":[98]} ]}',
    '{"token":null,"logprob":-0.5,"bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":null,"bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":"YQ==","top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":null}',
    '{"token":"a","logprob":-0.5,"bytes":[-1,1.5],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[1,{"token":"b"}]}',
    '{"token":"a","token":"b","logprob":-0.5,"bytes":[97],"top_logprobs":[]}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[],"token":"c"}',
    '{"token":"a","logprob":-0.5,"bytes":[97],"top_logprobs":[{"token":"b","logprob":-1,"bytes":[98],"logprob":-2}]}',
    '{"token":"a"}',
    "{}",
]


def _ordered(value: Any) -> Any:
    """As ``_typed``, with each dict as its list of items, so key order counts too."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return (type(value).__name__, value)


@pytest.mark.parametrize("entry", ENTRIES)
def test_entries_build_as_orjson_reads_them(impl: ModuleType, entry: str) -> None:
    entries = [entry, entry, entry]
    data = _stream(entries)
    want = _ordered([orjson.loads(e) for e in entries])
    assert _ordered(impl.assemble(data)["choices"][0]["logprobs"]["content"]) == want
    parser = impl.StreamParser()
    for i in range(0, len(data), 97):
        parser.feed(data[i : i + 97])
    assert _ordered(parser.finish()["choices"][0]["logprobs"]["content"]) == want


def test_entries_of_a_result_are_distinct_objects(impl: ModuleType) -> None:
    """Changing one built entry (or its lists) changes no other entry and no later result."""
    entry = ENTRIES[1]
    data = _stream([entry, entry])
    first = impl.assemble(data)["choices"][0]["logprobs"]["content"]
    first[0]["bytes"].append(1)
    first[0]["top_logprobs"][0]["bytes"].clear()
    first[0]["top_logprobs"].append(None)
    first[0]["token"] = "changed"
    assert _ordered(first[1]) == _ordered(orjson.loads(entry))
    again = impl.assemble(data)["choices"][0]["logprobs"]["content"]
    assert _ordered(again) == _ordered([orjson.loads(entry)] * 2)


_json_floats = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def _number_texts(draw: st.DrawFn) -> str:
    """JSON number texts of every length and form: shortest reprs, fixed and scientific
    notation with 0-20 digits, integers."""
    x = draw(_json_floats)
    form = draw(st.sampled_from(["repr", "fixed", "exp", "int"]))
    if form == "repr":
        return repr(x) if "e" in repr(x) or "." in repr(x) else repr(x) + ".0"
    if form == "fixed":
        digits = draw(st.integers(0, 20))
        text = f"{x:.{digits}f}"
        return text if len(text) < 300 else repr(x)
    if form == "exp":
        return f"{x:.{draw(st.integers(0, 20))}e}"
    return str(draw(st.integers(-(2**70), 2**70)))


@given(
    # Rounding to few digits can carry past the largest double: such a text is an error.
    logprobs=st.lists(
        _number_texts().filter(lambda t: math.isfinite(float(t))), min_size=1, max_size=4
    ),
    tokens=st.lists(st.text(max_size=12), min_size=1, max_size=4),
    ascii_only=st.booleans(),
)
def test_random_entries_build_as_orjson_reads_them(
    impl: ModuleType, logprobs: list[str], tokens: list[str], ascii_only: bool
) -> None:
    def alternative(token: str, logprob: str) -> str:
        raw = token.encode("utf-8", "surrogatepass")
        text = json.dumps(token, ensure_ascii=ascii_only, separators=(",", ":"))
        return f'{{"token":{text},"logprob":{logprob},"bytes":{list(raw)!r}'.replace(" ", "")

    n = max(len(logprobs), len(tokens))
    pairs = [(tokens[i % len(tokens)], logprobs[i % len(logprobs)]) for i in range(n)]
    top = ",".join(alternative(t, lp) + "}" for t, lp in pairs[1:])
    entry = alternative(*pairs[0]) + f',"top_logprobs":[{top}]}}'
    data = _stream([entry, entry])
    want = _ordered([orjson.loads(entry)] * 2)
    assert _ordered(impl.assemble(data)["choices"][0]["logprobs"]["content"]) == want


def test_finishing_leaves_the_logprobs_in_the_parser(impl: ModuleType) -> None:
    """Finishing moves the entries into the result and back (rust/formats/chat/assemble.rs
    `take_completion`/`restore`): every later read of the parser still has all of them."""
    entries = [ENTRIES[1], ENTRIES[0], ENTRIES[3]]
    data = _stream(entries)
    want = _ordered([orjson.loads(e) for e in entries])
    parser = impl.StreamParser()
    parser.feed(data)
    first = parser.finish()
    assert _ordered(first["choices"][0]["logprobs"]["content"]) == want
    assert _ordered(parser.snapshot()["choices"][0]["logprobs"]["content"]) == want
    assert _ordered(parser.finish()["choices"][0]["logprobs"]["content"]) == want
    as_json = orjson.loads(parser.finish_json())
    assert _ordered(as_json["choices"][0]["logprobs"]["content"]) == want
    assert _ordered(parser.finish()) == _ordered(first)
