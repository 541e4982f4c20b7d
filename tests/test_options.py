"""The keyword options: one set of defaults, and the same messages from both twins."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import deltafold
import deltafold.reference as reference
import pytest
from deltafold import _core
from support import chunk, delta, sse

LIMITS = (
    "max_line_bytes",
    "max_buffer_bytes",
    "max_choice_index",
    "max_tool_calls",
    "max_depth",
    "max_problems",
)


def test_reference_defaults_are_the_native_ones() -> None:
    assert dict(reference.DEFAULTS) == dict(deltafold.DEFAULTS)
    assert deltafold.DEFAULTS is _core.DEFAULTS
    assert dict(deltafold.DEFAULTS) == {
        "format": "auto",
        "on_error": "raise",
        "events": False,
        "partial_arguments": False,
        "allow_truncated": False,
        "max_line_bytes": 64 << 20,
        "max_buffer_bytes": 256 << 20,
        "max_choice_index": 1024,
        "max_tool_calls": 1024,
        "max_depth": 128,
        "max_problems": 1000,
    }


def test_defaults_are_read_only(impl: ModuleType) -> None:
    with pytest.raises(TypeError):
        impl.DEFAULTS["max_depth"] = 1


def test_reference_signatures_use_the_defaults() -> None:
    # The reference spells its defaults in its signatures; they are the ones DEFAULTS names.
    for function in (reference.StreamParser, reference.assemble):
        for name, parameter in inspect.signature(function).parameters.items():
            if parameter.default is not inspect.Parameter.empty:
                assert parameter.default == reference.DEFAULTS[name], (function, name)
    decoder = inspect.signature(reference.SseDecoder).parameters["max_line_bytes"]
    assert decoder.default == reference.DEFAULTS["max_line_bytes"]


def parameters(obj: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


def test_core_entry_points_take_the_reference_options() -> None:
    # One macro writes the core's option parameters (rust/py/parser.rs, `entry_point!`); the
    # names, kinds and defaults each entry point shows are the reference's, spelled out there.
    stream = parameters(reference.StreamParser)
    whole = parameters(reference.assemble)
    assert parameters(_core.StreamParser) == stream
    assert parameters(_core.assemble) == whole
    assert parameters(_core.assemble_json) == whole
    flags = {"events", "partial_arguments"}
    assert parameters(_core.CaptureParser) == [p for p in stream if p[0] not in flags]
    assert [p for p in whole if p[0] != "source"] == parameters(_core.CaptureParser)


@pytest.mark.parametrize(
    "options",
    [{}, {"max_depth": 3, "max_line_bytes": 10}],
    ids=["defaults", "given"],
)
def test_omitted_options_take_the_defaults(impl: ModuleType, options: dict[str, Any]) -> None:
    # A line one byte over the (default or given) max_line_bytes is refused, one at it is not.
    limit = options.get("max_line_bytes", impl.DEFAULTS["max_line_bytes"])
    decoder = impl.SseDecoder(**{k: v for k, v in options.items() if k == "max_line_bytes"})
    assert [e.data for e in decoder.feed(b"data:" + b"x" * (limit - 5) + b"\n\n")] == [
        "x" * (limit - 5)
    ]
    with pytest.raises(impl.LimitExceededError) as caught:
        decoder.feed(b"data:" + b"x" * (limit - 4) + b"\n\n")
    assert caught.value.limit == "max_line_bytes"


@pytest.mark.parametrize("option", LIMITS)
@pytest.mark.parametrize("value", [True, 1.0, "8", None], ids=repr)
def test_limit_of_wrong_type_names_the_option(option: str, value: object) -> None:
    kind = type(value).__name__
    for impl in (deltafold, reference):
        with pytest.raises(TypeError) as caught:
            impl.StreamParser(**{option: value})
        assert str(caught.value) == f"{option} must be an int, not {kind}", impl
        with pytest.raises(TypeError) as caught:
            impl.assemble(b"", **{option: value})
        assert str(caught.value) == f"{option} must be an int, not {kind}", impl


def test_decoder_limit_of_wrong_type_names_the_option(impl: ModuleType) -> None:
    with pytest.raises(TypeError, match=r"^max_line_bytes must be an int, not bool$"):
        impl.SseDecoder(max_line_bytes=True)


@pytest.mark.parametrize("option", LIMITS)
def test_out_of_range_limit_gives_one_message(option: str) -> None:
    messages = set()
    for impl in (deltafold, reference):
        with pytest.raises(ValueError) as caught:
            impl.StreamParser(**{option: -1})
        messages.add(str(caught.value))
    assert len(messages) == 1
    (message,) = messages
    assert message.startswith(f"{option} must be a ") and message.endswith(", not -1")


def _limit_error(impl: ModuleType, data: bytes) -> Any:
    with pytest.raises(impl.LimitExceededError) as caught:
        impl.assemble(data)
    return caught.value


def test_parsers_without_options_apply_the_defaults(impl: ModuleType) -> None:
    # The native signatures spell the defaults out again: these run without options and find
    # the limits DEFAULTS names (max_line_bytes and max_buffer_bytes would take 64 and 256 MiB
    # of input; SseDecoder's max_line_bytes is checked above).
    defaults = impl.DEFAULTS
    top = defaults["max_choice_index"]
    ok = sse(chunk(delta(index=top, content="x", finish="stop")))
    assert impl.assemble(ok)["choices"][0]["index"] == top
    error = _limit_error(impl, sse(chunk(delta(index=top + 1, content="x"))))
    assert (error.limit, error.maximum) == ("max_choice_index", top)

    calls = defaults["max_tool_calls"]
    fragment = {"index": calls, "id": "c", "type": "function", "function": {"name": "f"}}
    error = _limit_error(impl, sse(chunk(delta(tool_calls=[fragment]))))
    assert (error.limit, error.maximum) == ("max_tool_calls", calls)

    depth = defaults["max_depth"]
    nested = '{"choices":[],"x":' + "[" * depth + "]" * depth + "}"
    error = _limit_error(impl, f"data: {nested}\n\ndata: [DONE]\n\n".encode())
    assert (error.limit, error.maximum) == ("max_depth", depth)

    kept = defaults["max_problems"]
    parser = impl.StreamParser(on_error="skip")
    parser.feed(b"data: {\n\n" * (kept + 3) + sse(chunk(delta(content="x", finish="stop"))))
    parser.finish()
    assert (len(parser.problems), parser.problems_dropped) == (kept, 3)


FLAGS = ("events", "partial_arguments", "allow_truncated")


def _messages(build: Any, *args: Any, **kwargs: Any) -> tuple[type[BaseException], str]:
    """The exception type and message ``build(*args, **kwargs)`` raises, for comparing twins."""
    with pytest.raises((TypeError, ValueError)) as info:
        build(*args, **kwargs)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("option", FLAGS)
@pytest.mark.parametrize("value", [0, 1, "yes", None], ids=repr)
def test_flag_of_wrong_type_names_the_option(option: str, value: object) -> None:
    expected = (TypeError, f"{option} must be a bool, not {type(value).__name__}")
    for impl in (deltafold, reference):
        assert _messages(impl.StreamParser, **{option: value}) == expected
        if option == "allow_truncated":
            assert _messages(impl.assemble, b"", **{option: value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (TypeError, "on_error must be a str, not NoneType")),
        (1, (TypeError, "on_error must be a str, not int")),
        (b"skip", (TypeError, "on_error must be a str, not bytes")),
        ("ignore", (ValueError, "on_error must be 'raise', 'skip' or 'repair', not 'ignore'")),
    ],
    ids=repr,
)
def test_on_error_messages_agree(value: object, expected: tuple[type, str]) -> None:
    for impl in (deltafold, reference):
        assert _messages(impl.StreamParser, on_error=value) == expected
        assert _messages(impl.assemble, b"", on_error=value) == expected
