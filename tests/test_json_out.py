"""JSON bytes out: ``assemble_json`` and ``StreamParser.finish_json`` give the completion as
compact JSON, the same value and key order as ``assemble``/``finish`` (both twins).

Oracle: the generated completion itself (deltafold.testing), serialised by orjson; streams
rendered by ``to_sse`` carry orjson's own number text, so there the bytes must be exactly
``orjson.dumps(completion)``.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import orjson
import pytest
from deltafold.testing import splits, streams
from hypothesis import given
from hypothesis import strategies as st
from support import assert_same_completion, fixture_file


@given(streams())
def test_assemble_json_is_orjson_dumps_of_the_completion(
    impl: ModuleType, pair: tuple[dict[str, Any], bytes]
) -> None:
    completion, data = pair
    out = impl.assemble_json(data)
    assert isinstance(out, bytes)
    assert_same_completion(orjson.loads(out), completion)
    assert out == orjson.dumps(completion)


@given(st.data())
def test_finish_json_on_any_split_equals_finish(impl: ModuleType, data: st.DataObject) -> None:
    completion, stream = data.draw(streams(), label="stream")
    pieces = data.draw(splits(stream), label="reads")
    as_json, as_dict = impl.StreamParser(), impl.StreamParser()
    for piece in pieces:
        as_json.feed(piece)
        as_dict.feed(piece)
    out = as_json.finish_json()
    assert_same_completion(orjson.loads(out), as_dict.finish())
    assert_same_completion(orjson.loads(out), completion)


def _chunk(body: str) -> bytes:
    return b"data: " + body.encode() + b"\n\n"


# Chunk text written by hand: spaces around separators, \u escapes, \/ and numbers in forms
# orjson never writes (1.50, 1E2, -0, an integer beyond 64 bits).
ODD_STREAM = (
    _chunk(
        '{"id" : "c1", "object":"chat.completion.chunk", "created" : 1, "model":"m\\u00e9",'
        ' "choices":[{"index":0,"delta":{"role":"assistant","content":"a\\"b\\\\c\\/d\\u0001'
        '\\u2028\\ud83d\\ude00\\n\\t"}, "logprobs": {"content": [ {"token" : "\\u00e9\\u0002",'
        ' "logprob" : -1.50, "bytes" : [ 195, 169 ], "top_logprobs" : [ ] } ], "refusal":null},'
        ' "finish_reason":null}], "x_big": 18446744073709551616, "x_exp": 1E2, "x_neg": -0}'
    )
    + _chunk(
        '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    )
    + b"data: [DONE]\n\n"
)


def test_escapes_whitespace_and_number_forms(impl: ModuleType) -> None:
    out = impl.assemble_json(ODD_STREAM)
    completion = impl.assemble(ODD_STREAM)
    assert_same_completion(orjson.loads(out), completion)
    # Independent of orjson: the standard library reads the same value back.
    assert json.loads(out) == completion
    # Compact: no whitespace outside strings, so re-serialising compactly changes nothing
    # but number spellings.
    assert b": " not in out and b", " not in out
    content = completion["choices"][0]["message"]["content"]
    assert content == 'a"b\\c/d\x01\u2028\U0001f600\n\t'
    # The string escapes are orjson's: control characters as \u00XX or by name, the rest raw.
    assert orjson.dumps(content) in out
    token = completion["choices"][0]["logprobs"]["content"][0]["token"]
    assert orjson.dumps(token) == '"é\\u0002"'.encode()
    assert b'"token":"\xc3\xa9\\u0002"' in out


def test_errors_are_those_of_assemble(impl: ModuleType) -> None:
    bad = ODD_STREAM.replace(b"data: [DONE]\n\n", b"data: {nope\n\n")
    with pytest.raises(impl.ChunkDecodeError) as from_dict:
        impl.assemble(bad)
    with pytest.raises(impl.ChunkDecodeError) as from_json:
        impl.assemble_json(bad)
    assert str(from_json.value) == str(from_dict.value)
    assert from_json.value.partial == from_dict.value.partial
    parser = impl.StreamParser()
    parser.feed(ODD_STREAM[:40])
    with pytest.raises(impl.IncompleteStreamError):
        parser.finish_json()


def test_options_are_those_of_assemble(impl: ModuleType) -> None:
    truncated = ODD_STREAM[: ODD_STREAM.index(b"\n\n") + 2]
    with pytest.raises(impl.IncompleteStreamError):
        impl.assemble_json(truncated)
    out = impl.assemble_json(truncated, allow_truncated=True)
    assert_same_completion(orjson.loads(out), impl.assemble(truncated, allow_truncated=True))
    assert orjson.loads(out)["choices"][0]["finish_reason"] is None
    assert orjson.loads(impl.assemble_json([ODD_STREAM[:7], ODD_STREAM[7:]])) == impl.assemble(
        ODD_STREAM
    )


@given(st.data())
def test_summary_json_is_orjson_dumps_of_the_summary(
    impl: ModuleType, data: st.DataObject
) -> None:
    _, stream = data.draw(streams(), label="stream")
    cut = data.draw(st.integers(0, len(stream)), label="cut")
    parser = impl.StreamParser(allow_truncated=True)
    parser.feed(stream[:cut])
    # Before the end, and after it.
    assert parser.summary_json() == orjson.dumps(parser.summary())
    parser.feed(stream[cut:])
    parser.finish()
    summary = parser.summary()
    assert_same_completion(orjson.loads(parser.summary_json()), summary)
    assert parser.summary_json() == orjson.dumps(summary)


ANTHROPIC = sorted(fixture_file("anthropic-recorded").glob("*.sse"))


@pytest.mark.parametrize("path", ANTHROPIC, ids=lambda p: p.name)
def test_every_format_gets_json_out(impl: ModuleType, path: Any) -> None:
    data = path.read_bytes()
    options = {"format": "anthropic", "on_error": "skip", "allow_truncated": True}
    message = impl.assemble(data, **options)
    out = impl.assemble_json(data, **options)
    assert_same_completion(orjson.loads(out), message)
    assert out == orjson.dumps(message)
    parser = impl.StreamParser(**options)
    parser.feed(data)
    assert parser.finish_json() == out
