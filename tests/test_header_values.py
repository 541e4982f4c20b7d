"""id, model, created, system_fingerprint and service_tier through a live parser.

The native fold keeps these five values in one buffer (rust/formats/chat/header.rs) and skips a
header it has already applied; these streams change, escape, drop and null them mid-stream,
with enough identical chunks in between for the template fast path to take over, and are fed
in small reads, so that every path between the buffer and the rendered completion is checked
against values written here (and against the reference twin).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference
import pytest
from support import chunk, delta, sse

HEADER_KEYS = ("id", "created", "model", "service_tier", "system_fingerprint")


def _feed(impl: ModuleType, data: bytes, read: int = 7) -> dict[str, Any]:
    parser = impl.StreamParser()
    for at in range(0, len(data), read):
        parser.feed(data[at : at + read])
    result: dict[str, Any] = parser.finish()
    return result


def _header(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in HEADER_KEYS if k in result}


def _text_chunks(n: int, **top: Any) -> list[dict[str, Any]]:
    return [chunk(delta(content=f"t{i} "), **top) for i in range(n)]


CASES: dict[str, tuple[list[Any], dict[str, Any]]] = {
    # Every value changes mid-stream: id, model, created keep their first non-empty value;
    # system_fingerprint and service_tier their last non-null one.
    "changed mid-stream": (
        [
            *_text_chunks(
                4, id="a", model="m1", created=5, system_fingerprint="fp1", service_tier="default"
            ),
            *_text_chunks(
                4, id="b", model="m2", created=6, system_fingerprint="fp2", service_tier="flex"
            ),
            *_text_chunks(
                3, id="a", model="m1", created=5, system_fingerprint=None, service_tier=None
            ),
        ],
        {
            "id": "a",
            "created": 5,
            "model": "m1",
            "service_tier": "flex",
            "system_fingerprint": "fp2",
        },
    ),
    # Escapes in the wire text (the stream is written with `ensure_ascii`): the rendered
    # values are the decoded strings.
    "escaped": (
        _text_chunks(
            5,
            id='c"1\u00e9',
            model="m\n/\\",
            system_fingerprint='fp\t"x"',
            service_tier="\u0000\u20ac",
        ),
        {
            "id": 'c"1\u00e9',
            "created": 1,
            "model": "m\n/\\",
            "service_tier": "\u0000\u20ac",
            "system_fingerprint": 'fp\t"x"',
        },
    ),
    # Raw UTF-8 of 2, 3 and 4 bytes, split by the 7-byte reads.
    "non-ascii": (
        _text_chunks(
            5,
            id="chat-\u00e9\u4e2d\U0001f600",
            model="\u00fcber-\u6a21\u578b",
            system_fingerprint="\u00df" * 200,
            service_tier="\u20ac",
        ),
        {
            "id": "chat-\u00e9\u4e2d\U0001f600",
            "created": 1,
            "model": "\u00fcber-\u6a21\u578b",
            "service_tier": "\u20ac",
            "system_fingerprint": "\u00df" * 200,
        },
    ),
    # Never carried: id, model, created render null; the other two have no key.
    "absent": (
        [{"choices": [delta(content=f"t{i} ")]} for i in range(5)],
        {"id": None, "created": None, "model": None},
    ),
    # Carried as null or empty first, then set; a later null or empty never unsets.
    "null then set": (
        [
            *[
                {
                    "id": None,
                    "model": "",
                    "created": 0,
                    "system_fingerprint": None,
                    "choices": [delta(content=f"t{i} ")],
                }
                for i in range(3)
            ],
            *_text_chunks(4, id="late", model="m-late", created=9, system_fingerprint="fpL"),
            *[
                {
                    "id": "",
                    "model": None,
                    "created": 0,
                    "system_fingerprint": None,
                    "choices": [delta(content=f"u{i} ")],
                }
                for i in range(3)
            ],
        ],
        {"id": "late", "created": 9, "model": "m-late", "system_fingerprint": "fpL"},
    ),
    # Only null or empty ever: the first non-null value, and a null fingerprint key.
    "only empty": (
        [
            {
                "id": "",
                "model": "",
                "created": 0,
                "system_fingerprint": None,
                "service_tier": None,
                "choices": [delta(content=f"t{i} ")],
            }
            for i in range(4)
        ],
        {"id": "", "created": 0, "model": "", "service_tier": None, "system_fingerprint": None},
    ),
    # A value longer than 127 bytes (a two-byte length prefix) next to short ones.
    "long": (
        _text_chunks(4, id="i" * 20_000, model="m" * 130, system_fingerprint="f"),
        {"id": "i" * 20_000, "created": 1, "model": "m" * 130, "system_fingerprint": "f"},
    ),
}


def _stream(name: str) -> bytes:
    payloads = CASES[name][0]
    if name == "escaped":
        return sse(*(json.dumps(p) for p in payloads))
    return sse(*payloads)


@pytest.mark.parametrize("name", list(CASES))
def test_header_values(impl: ModuleType, name: str) -> None:
    payloads, expected = CASES[name]
    data = _stream(name)
    fed = _feed(impl, data)
    assert _header(fed) == expected
    assert _header(impl.assemble(data)) == expected
    text = "".join(d["delta"]["content"] for p in payloads for d in p["choices"] if "delta" in d)
    assert fed["choices"][0]["message"]["content"] == text


@pytest.mark.parametrize("name", list(CASES))
def test_twins_agree_on_header_values(name: str) -> None:
    data = _stream(name)
    for read in (1, 64, len(data)):
        assert _feed(deltafold, data, read) == _feed(deltafold.reference, data, read)


def test_snapshots_between_changes() -> None:
    # The values as they stand after each chunk, read from the live parser.
    payloads = CASES["changed mid-stream"][0]
    native, reference = deltafold.StreamParser(), deltafold.reference.StreamParser()
    for p in payloads:
        for parser in (native, reference):
            parser.feed(sse(p, done=False))
        assert _header(native.snapshot()) == _header(reference.snapshot())
    assert native.summary() == reference.summary()
