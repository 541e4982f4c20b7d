"""How `StreamParser(...)` is called at the binding: the native class builds a parser called
with `format=` alone (or nothing) without the generated argument parsing, and sends every
other call to the generated constructor. Both must give the same parser, and the same errors,
as each other and as the reference twin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import deltafold
import deltafold.reference
import pytest

IMPLS = [deltafold, deltafold.reference]
# Untyped: the calls here pass what the stubs refuse.
NATIVE: Any = deltafold.StreamParser
REFERENCE: Any = deltafold.reference.StreamParser
FORMATS = ["auto", *deltafold._core.FORMATS]
CHAT = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
    b"data: [DONE]\n\n"
)
GEMINI = sorted((Path(__file__).parent / "fixtures" / "gemini-recorded").glob("*.sse"))


def text(value: Any) -> str:
    """JSON text, so that key order counts."""
    return json.dumps(value, ensure_ascii=False)


def outcome(make: Any, data: bytes) -> str:
    try:
        parser = make()
        parser.feed(data)
        return text([parser.format, parser.finish()])
    except Exception as e:  # the outcome compared is the error too
        return f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("name", FORMATS)
def test_format_alone_gives_the_parser_the_full_call_gives(name: str) -> None:
    data = GEMINI[0].read_bytes() if name in ("auto", "gemini") else CHAT
    # `on_error` at its default sends the call through the generated constructor.
    full = outcome(lambda: NATIVE(format=name, on_error="raise"), data)
    assert outcome(lambda: NATIVE(format=name), data) == full
    assert outcome(lambda: NATIVE(**{"format": name}), data) == full
    if name in ("auto", "chat", "gemini"):
        # (The others refuse the chat stream, and the twins word some of those errors apart.)
        assert outcome(lambda: REFERENCE(format=name), data) == full
    parser = NATIVE(format=name)
    assert parser.format == (None if name == "auto" else name)
    assert type(parser) is deltafold.StreamParser


def test_no_option_is_auto() -> None:
    full = outcome(lambda: NATIVE(format="auto", on_error="raise"), CHAT)
    assert outcome(NATIVE, CHAT) == full
    assert outcome(lambda: NATIVE(**{}), CHAT) == full
    assert NATIVE().format is None


@pytest.mark.parametrize("name", ["chat", "gemini"])
def test_parsers_made_one_after_another_do_not_share_state(name: str) -> None:
    data = GEMINI[0].read_bytes() if name == "gemini" else CHAT
    first = NATIVE(format=name)
    first.feed(data)
    second = NATIVE(format=name)
    assert second.bytes_fed == 0 and not second.done
    second.feed(data)
    assert text(first.finish()) == text(second.finish())


class _Str(str):
    pass


@pytest.mark.parametrize(
    "options",
    [
        {"format": "x"},
        {"format": "it's"},
        {"format": ""},
        {"format": "Gemini"},
        {"format": 1},
        {"format": None},
        {"format": b"gemini"},
        {"format": _Str("gemini")},
        {"format": "gemini", "max_depth": 0},
        {"format": "gemini", "on_error": "bogus"},
        {"on_error": 3},
    ],
)
def test_bad_options_raise_as_in_the_reference(options: dict[str, Any]) -> None:
    errors = []
    for impl in IMPLS:
        with pytest.raises((TypeError, ValueError)) as info:
            impl.StreamParser(**options)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_a_format_that_does_not_encode_raises_the_generated_error() -> None:
    with pytest.raises(UnicodeEncodeError):
        NATIVE(format="gemini\ud800")


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError, match="takes 0 positional arguments but 1 was given"):
        NATIVE("gemini")
    with pytest.raises(TypeError, match="takes 0 positional arguments but 1 was given"):
        NATIVE("gemini", format="gemini")
    with pytest.raises(TypeError, match="unexpected keyword argument 'formt'"):
        NATIVE(formt="gemini")


def test_other_options_beside_format_are_taken() -> None:
    parser = NATIVE(format="chat", max_line_bytes=10)
    with pytest.raises(deltafold.LimitExceededError):
        parser.feed(CHAT)
    parser = NATIVE(on_error="skip", format="chat")
    parser.feed(b"data: {oops}\n\n" + CHAT)
    assert len(parser.problems) == 1


def test_an_init_set_on_the_class_runs_as_type_call_runs_it() -> None:
    seen: list[dict[str, Any]] = []

    def init(self: Any, **options: Any) -> None:
        seen.append(options)

    cls: Any = deltafold.StreamParser
    try:
        cls.__init__ = init
    except TypeError:
        pytest.skip("the class is immutable here")
    try:
        cls(format="chat")
        cls()
    finally:
        del cls.__init__
    assert seen == [{"format": "chat"}, {}]
    cls(format="chat")
    assert len(seen) == 2


# Run apart: `CPython` cannot put the generated `__new__` slot back once it was replaced.
NEW_SET_ON_THE_CLASS = """
import deltafold
made = []
def new(cls, **options):
    made.append(options)
    return "made"
deltafold.StreamParser.__new__ = new
assert deltafold.StreamParser(format="chat") == "made"
assert deltafold.StreamParser() == "made"
assert made == [{"format": "chat"}, {}], made
"""


def test_a_new_set_on_the_class_runs_as_type_call_runs_it() -> None:
    subprocess.run([sys.executable, "-c", NEW_SET_ON_THE_CLASS], check=True)
