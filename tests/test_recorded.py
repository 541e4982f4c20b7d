"""The streams recorded from the live OpenAI API (tests/fixtures/openai-recorded/*.sse).

Oracles: the official openai SDK's own assembly (ChatCompletionStreamState), on the fields it
gets right, and the SDK's ChatCompletion model for the shape; plus native == reference.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import ModuleType

import pytest
from openai.types.chat import ChatCompletion
from support import (
    assert_same_completion,
    feed_pieces,
    fixture_file,
    recorded_fixtures,
    sdk_comparable,
    sdk_completion,
)

RECORDED = recorded_fixtures()
IDS = [path.stem for path in RECORDED]


def test_all_recordings_present() -> None:
    # Every recording INDEX.md lists is here: a partial copy must not pass as a smaller suite.
    index = fixture_file("openai-recorded", "INDEX.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+\.sse)` \|", index, flags=re.MULTILINE))
    assert len(listed) >= 49
    assert {path.name for path in RECORDED} == listed


def _reads(data: bytes, seed: str) -> list[bytes]:
    """Network-like reads of 1-4 KiB (and sometimes a few bytes), reproducible per file."""
    rng = random.Random(seed)
    pieces, position = [], 0
    while position < len(data):
        size = rng.choice([rng.randint(1, 16), rng.randint(1024, 4096)])
        pieces.append(data[position : position + size])
        position += size
    return pieces


@pytest.mark.parametrize("path", RECORDED, ids=IDS)
def test_native_equals_reference(native: ModuleType, reference: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    expected = reference.assemble(data)
    assert_same_completion(native.assemble(data), expected)
    reads = _reads(data, path.name)
    assert_same_completion(feed_pieces(native, reads), expected)
    assert_same_completion(feed_pieces(reference, reads), expected)


@pytest.mark.parametrize("path", RECORDED, ids=IDS)
def test_agrees_with_openai_sdk(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    result = impl.assemble(data)
    assert sdk_comparable(result) == sdk_comparable(sdk_completion(data))


@pytest.mark.parametrize("path", RECORDED, ids=IDS)
def test_validates_as_openai_chat_completion(impl: ModuleType, path: Path) -> None:
    result = impl.assemble(path.read_bytes())
    validated = ChatCompletion.model_validate(result)
    assert validated.object == "chat.completion"
    assert len(validated.choices) == len(result["choices"]) >= 1
    # Every recording ends with a usage chunk (INDEX.md).
    assert validated.usage is not None
    assert validated.usage.total_tokens == result["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("path", RECORDED, ids=IDS)
def test_any_read_size_gives_the_same_result(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    whole = impl.assemble(data)
    for size in (1, 2, 3, 5, 64, 1000):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        assert_same_completion(feed_pieces(impl, pieces), whole)
