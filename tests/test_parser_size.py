"""The native parser objects stay within CPython's small-object allocator, and 10,000 live
parsers within the memory target.

Objects of at most 512 bytes come from pymalloc's pools; a larger one is a ``malloc`` block of
its own, with the allocator's overhead on top, in each of the many parsers a server keeps alive
(the 10,000-parser target of ``benches/memory.py``). Rarely used parts are boxed to stay under.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import deltafold
import deltafold.reference
import pytest
from deltafold import _core

SMALL_OBJECT_LIMIT = 512  # CPython's SMALL_REQUEST_THRESHOLD
BENCH = Path(__file__).resolve().parents[1] / "benches" / "memory.py"


@pytest.mark.parametrize("cls", [deltafold.StreamParser, _core.CaptureParser])
def test_parser_objects_are_small_objects(cls: type) -> None:
    assert cls.__basicsize__ <= SMALL_OBJECT_LIMIT


def test_a_stream_parser_is_one_size_class_below_the_limit() -> None:
    # pymalloc's size classes are 16 bytes apart: 496 bytes, not 512, for every live parser.
    assert deltafold.StreamParser.__basicsize__ <= SMALL_OBJECT_LIMIT - 16


def test_ten_thousand_parsers_after_one_read_fit_the_target() -> None:
    # RSS growth with 10,000 `StreamParser`s alive, each after the first 1-4 KiB read of a
    # corpus stream (benches/memory.py, in a fresh process). The target is 20 MB; measured:
    # 22.06 MB at ac39284, 18.51 MB since the chat fold's state was packed (mem5).
    command = [sys.executable, str(BENCH), "--child", "parsers", "--parsers", "10000"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout)
    assert result["parsers"] == 10_000
    assert result["growth"] <= 18_800_000, result


def test_the_boxed_parts_appear_on_first_use() -> None:
    # An error's `.partial`, a skipped chunk's problem: the same as the reference twin's.
    bad = b'data: {"bad"\n\n'
    good = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m"}\n\n'
    for module in (deltafold, deltafold.reference):
        parser = module.StreamParser(on_error="skip")
        parser.feed(good + bad)
        assert [p.kind for p in parser.problems] == ["ChunkDecodeError"]
        assert parser.problems_dropped == 0
    strict = [m.StreamParser() for m in (deltafold, deltafold.reference)]
    partials = []
    for parser in strict:
        parser.feed(good)
        with pytest.raises(deltafold.errors.DeltafoldError) as caught:
            parser.feed(bad)
        partials.append(caught.value.partial)
    assert partials[0] == partials[1]
    assert partials[0]["id"] == "c"
