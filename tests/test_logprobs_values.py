"""Logprobs entries are kept as their JSON text and built into Python values straight from it
(rust/py/convert.rs, with the integer-array fast path of rust/py/logprobs.rs): every shape of
array and number gives what ``orjson.loads`` gives for the same text, types included.

Oracle: ``orjson.loads`` of each entry's own text.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import orjson
import pytest

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
