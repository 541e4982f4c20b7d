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
