"""``format="auto"`` (the default): the format is decided once, from the first event
(docs/formats.md), and exposed as ``StreamParser.format``; ``format=`` is checked on every
entry point.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from support import FIXTURES, fixture_file, recorded_fixtures, sse
from test_seed import TEXT_STREAM, TOOL_STREAM

ANTHROPIC = sorted(fixture_file("anthropic-recorded").glob("*.sse"))
CHAT: list[tuple[str, bytes]] = [(path.stem, path.read_bytes()) for path in recorded_fixtures()]
CHAT += [
    ("seed-tool", TOOL_STREAM.data),
    ("seed-text", TEXT_STREAM.data),
    ("seed-tool-fixed", (FIXTURES / "seed_tool_call_fixed.sse").read_bytes()),
]


def _fed(impl: ModuleType, reads: list[bytes], **options: object) -> tuple[object, object]:
    """(format after the first read, format after all of them); errors are not the point."""
    parser = impl.StreamParser(on_error="skip", **options)
    parser.feed(reads[0])
    first = parser.format
    for read in reads[1:]:
        parser.feed(read)
    return first, parser.format


@pytest.mark.parametrize("path", ANTHROPIC, ids=[p.stem for p in ANTHROPIC])
def test_anthropic_recordings_are_detected(impl: ModuleType, path: Path) -> None:
    data = path.read_bytes()
    assert _fed(impl, [data]) == ("anthropic", "anthropic")
    # A 1-byte first read decides nothing; the first event does.
    assert _fed(impl, [data[:1], data[1:]]) == (None, "anthropic")
    # Byte by byte through the first event.
    first_event_end = data.index(b"\n\n") + 2
    parser = impl.StreamParser(on_error="skip")
    for position in range(first_event_end - 1):
        parser.feed(data[position : position + 1])
        assert parser.format is None
    parser.feed(data[first_event_end - 1 : first_event_end])
    assert parser.format == "anthropic"


@pytest.mark.parametrize(("name", "data"), CHAT, ids=[name for name, _ in CHAT])
def test_chat_streams_are_detected(impl: ModuleType, name: str, data: bytes) -> None:
    assert _fed(impl, [data]) == ("chat", "chat")
    assert _fed(impl, [data[:1], data[1:]]) == (None, "chat")
    # Auto changes nothing for chat: the same result as format="chat", same problems.
    fixed = impl.StreamParser(format="chat", on_error="repair")
    auto = impl.StreamParser(on_error="repair")
    for parser in (fixed, auto):
        parser.feed(data)
    assert auto.finish() == fixed.finish()
    assert auto.problems == fixed.problems


def test_format_is_none_until_decided_and_fixed_when_given(impl: ModuleType) -> None:
    assert impl.StreamParser().format is None
    assert impl.StreamParser(format="chat").format == "chat"
    assert impl.StreamParser(format="anthropic").format == "anthropic"
    # An input that ends undecided (no event at all) is chat.
    parser = impl.StreamParser(allow_truncated=True)
    parser.feed(b": just a comment\n\n")
    assert parser.format is None
    parser.finish()
    assert parser.format is None  # nothing decided it
    assert parser.summary()["format"] == "chat"


def test_error_frames_and_empty_data_decide_nothing(impl: ModuleType) -> None:
    error = b'event: error\ndata: {"type": "error", "error": {"message": "busy"}}\n\n'
    start = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":'
        b'"message","role":"assistant","content":[],"model":"x","usage":{"input_tokens":1,'
        b'"output_tokens":1}}}\n\n'
    )
    parser = impl.StreamParser(on_error="skip")
    parser.feed(b"data:\n\n" + error)
    assert parser.format is None
    parser.feed(start)
    assert parser.format == "anthropic"


def test_a_payload_type_decides_without_an_event_line(impl: ModuleType) -> None:
    parser = impl.StreamParser(on_error="skip")
    parser.feed(sse({"type": "message_start", "message": {"id": "m", "content": []}}, done=False))
    assert parser.format == "anthropic"


def test_decided_once_never_again(impl: ModuleType) -> None:
    chat_chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    parser = impl.StreamParser(on_error="skip")
    parser.feed(sse(chat_chunk, done=False))
    assert parser.format == "chat"
    # An Anthropic event later does not switch the parser.
    parser.feed(b'event: message_start\ndata: {"type": "message_start", "message": {}}\n\n')
    assert parser.format == "chat"


def test_the_wrong_fixed_format_is_refused(impl: ModuleType) -> None:
    anthropic = ANTHROPIC[0].read_bytes()
    with pytest.raises(impl.UnsupportedFormatError) as caught:
        impl.assemble(anthropic, format="chat", on_error="skip")
    assert caught.value.format == "anthropic"
    chat = CHAT[0][1]
    with pytest.raises(impl.ChunkDecodeError):  # a chunk has no Anthropic event type
        impl.assemble(chat, format="anthropic")


# The accepted names, in FORMATS-PLAN order, as the on_error message lists its values.
ACCEPTED_NAMES = r"^format must be 'auto', 'chat'(, '[a-z-]+')* or '[a-z-]+', not "
ENTRY_POINTS = ["assemble", "iter_events", "iter_completions", "summarize", "StreamParser"]


def _call(impl: ModuleType, name: str, **options: object) -> object:
    data = CHAT[0][1]
    target = getattr(impl, name)
    if name == "StreamParser":
        return target(**options)
    if name in ("iter_events", "iter_completions"):
        return list(target(data, **options))
    return target(data, **options)


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_every_entry_point_checks_format(impl: ModuleType, name: str) -> None:
    for value in ("xml", "Chat", "", "openai"):
        with pytest.raises(ValueError, match=ACCEPTED_NAMES):
            _call(impl, name, format=value)
    with pytest.raises(ValueError) as caught:
        _call(impl, name, format="xml")
    assert str(caught.value).endswith(", not 'xml'")
    assert "'anthropic'" in str(caught.value)
    for value in (None, 1, b"chat"):
        with pytest.raises(TypeError, match=r"^format must be a str"):
            _call(impl, name, format=value)
    _call(impl, name, format="chat")
    _call(impl, name, format="auto")


def test_async_entry_points_check_format(impl: ModuleType) -> None:
    import asyncio

    async def reads():  # type: ignore[no-untyped-def]
        yield CHAT[0][1]

    async def run(function: object) -> None:
        async for _ in function(reads(), format="xml"):  # type: ignore[operator]
            pass

    for name in ("aiter_events", "aiter_completions"):
        with pytest.raises(ValueError, match=ACCEPTED_NAMES):
            asyncio.run(run(getattr(impl, name)))


def test_the_same_messages_in_both_twins(native: ModuleType, reference: ModuleType) -> None:
    messages = []
    for impl in (native, reference):
        with pytest.raises(ValueError) as caught:
            impl.StreamParser(format="xml")
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
