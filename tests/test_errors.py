"""Error shapes users rely on, independent of how each implementation finds the error."""

from __future__ import annotations

import json
import pickle
from types import ModuleType
from typing import Any

import deltafold.errors as errors
import pytest
from support import sse

GOOD_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}],
}


def test_both_implementations_raise_the_shared_classes(impl: ModuleType) -> None:
    for name in (
        "DeltafoldError",
        "StreamDecodeError",
        "ChunkDecodeError",
        "LimitExceededError",
        "StreamAPIError",
        "IncompleteStreamError",
    ):
        assert getattr(impl, name) is getattr(errors, name)


def test_hierarchy() -> None:
    assert issubclass(errors.StreamDecodeError, errors.DeltafoldError)
    assert issubclass(errors.StreamDecodeError, ValueError)
    assert issubclass(errors.ChunkDecodeError, errors.StreamDecodeError)
    assert issubclass(errors.ChunkDecodeError, json.JSONDecodeError)
    assert issubclass(errors.LimitExceededError, errors.StreamDecodeError)
    assert issubclass(errors.StreamAPIError, errors.DeltafoldError)
    assert issubclass(errors.IncompleteStreamError, errors.DeltafoldError)
    assert not issubclass(errors.StreamAPIError, ValueError)


def _raised(impl: ModuleType, data: bytes, **options: Any) -> Any:
    with pytest.raises(impl.DeltafoldError) as caught:
        impl.assemble(data, **options)
    return caught.value


def test_chunk_decode_error_is_everything_it_claims(impl: ModuleType) -> None:
    data = sse(GOOD_CHUNK, '{"choices": [}')
    error = _raised(impl, data)
    assert type(error) is errors.ChunkDecodeError
    for cls in (json.JSONDecodeError, ValueError, errors.StreamDecodeError, errors.DeltafoldError):
        assert isinstance(error, cls)
    # `except ValueError` and `except json.JSONDecodeError` are what users already write.
    with pytest.raises(json.JSONDecodeError):
        impl.assemble(data)
    with pytest.raises(ValueError):
        impl.assemble(data)
    assert error.doc == '{"choices": [}'
    assert error.pos == error.doc.index("}")
    assert (error.lineno, error.colno) == (1, error.pos + 1)
    assert error.event_index == 1
    assert error.byte_offset == data.index(b'{"choices"')
    assert error.partial["choices"][0]["message"]["content"] == "Hi"


# orjson checks UTF-8 before it parses; deltafold reads once and reports the first error in byte
# order, so the reference must find a syntax error that comes before a bad byte (a twin
# disagreement Hypothesis found in Responses streams with max_depth=2).
_SYNTAX_THEN_BAD_BYTE = {
    "chat": b'data: {"id":"c","choices":[{"index":0,"delta":{"content";"a\xdd"}}]}\n\n',
    "responses": (
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"r","object":"response","status":"in_progress","error";null,'
        b'"output":[\xdd,"reasoning":{"effort":"none"},"metadata":{}}}\n\n'
    ),
    "anthropic": (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
        b'"type";"message","role":"assistant","content":[\xdd]}}\n\n'
    ),
}


@pytest.mark.parametrize("deeper", [0, 1, 60])
@pytest.mark.parametrize("fmt", sorted(_SYNTAX_THEN_BAD_BYTE))
def test_a_syntax_error_before_a_bad_byte_is_the_error(
    impl: ModuleType, fmt: str, deeper: int
) -> None:
    data = _SYNTAX_THEN_BAD_BYTE[fmt]
    # The depth of the `;` (so no limit comes first), then deeper: the bad byte and what
    # follows it nest one level more, which only a limit check that ignored order would see.
    at = data[: data.index(b";")]
    max_depth = at.count(b"{") + at.count(b"[") - at.count(b"}") - at.count(b"]") + deeper
    error = _raised(impl, data, format=fmt, max_depth=max_depth)
    assert type(error) is errors.ChunkDecodeError
    assert error.pos == error.doc.index(";")
    assert error.byte_offset == data.index(b"{")


def _one_of_each(impl: ModuleType) -> dict[str, Any]:
    """A real raised instance of every error class, each with a partial completion."""
    in_band = {"error": {"message": "overloaded", "type": "server_error"}}
    truncated = sse(GOOD_CHUNK, done=False)
    deep = {**GOOD_CHUNK, "extra": [[[[[1]]]]]}
    return {
        "ChunkDecodeError": _raised(impl, sse(GOOD_CHUNK, "{not json")),
        "LimitExceededError": _raised(impl, sse(GOOD_CHUNK, deep), max_depth=4),
        "StreamAPIError": _raised(impl, sse(GOOD_CHUNK, in_band)),
        "IncompleteStreamError": _raised(impl, truncated),
    }


@pytest.mark.parametrize(
    "kind", ["ChunkDecodeError", "LimitExceededError", "StreamAPIError", "IncompleteStreamError"]
)
def test_raised_errors_pickle(impl: ModuleType, kind: str) -> None:
    error = _one_of_each(impl)[kind]
    assert type(error).__name__ == kind
    assert error.partial is not None
    assert error.partial["choices"][0]["message"]["content"] == "Hi"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    for attribute in ("byte_offset", "event_index", "partial"):
        assert getattr(copy, attribute) == getattr(error, attribute)
    extra = {
        "ChunkDecodeError": ("doc", "pos", "lineno", "colno", "msg"),
        "LimitExceededError": ("limit", "maximum"),
        "StreamAPIError": ("body",),
        "IncompleteStreamError": (),
    }[kind]
    for attribute in extra:
        assert getattr(copy, attribute) == getattr(error, attribute)


def test_error_fields_of_each_kind(impl: ModuleType) -> None:
    raised = _one_of_each(impl)
    limit = raised["LimitExceededError"]
    assert limit.limit == "max_depth"
    assert isinstance(limit, ValueError)
    api = raised["StreamAPIError"]
    assert api.body == {"message": "overloaded", "type": "server_error"}
    assert "overloaded" in str(api)
    assert api.event_index == 1
    assert not isinstance(api, ValueError)
    assert "(event 1)" in str(raised["ChunkDecodeError"])
