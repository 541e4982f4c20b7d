"""`.partial` shows the state at the raise, however the parser goes on after it.

The native parser converts an error's `.partial` only when it is read (or when the parser is
about to change while the error is still alive), so a caller that drops errors unread pays
nothing for them. These tests hold errors across further feeding, drop some, read some late,
copy and pickle them, and check every `.partial` against the content a small model computes
from the events themselves; both twins must agree.
"""

from __future__ import annotations

import copy
import gc
import pickle
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import chunk, delta, sse

BAD = b"data: {x}\n\n"
DONE = b"data: [DONE]\n\n"


def good(text: str) -> bytes:
    return sse(chunk(delta(content=text)), done=False)


def content(completion: dict[str, Any] | None) -> str:
    assert completion is not None
    message: dict[str, Any] = completion["choices"][0]["message"]
    return str(message["content"])


def shows(error: Any, text: str) -> bool:
    """Whether the error's `.partial` holds `text` (no choice at all before the first chunk)."""
    partial = error.partial
    return content(partial) == text if text else partial["choices"] == []


def feed_all(parser: Any, impl: ModuleType, data: bytes) -> list[Any]:
    """Feeds `data`, resuming after every error; returns the errors, none of them read."""
    errors = []
    pending = data
    while True:
        try:
            parser.feed(pending)
        except impl.ChunkDecodeError as error:
            errors.append(error)
            pending = b""
            continue
        return errors


def test_partial_read_after_feeding_on_shows_the_state_at_the_raise(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    texts = [f"<{i}>" for i in range(12)]
    errors = feed_all(parser, impl, b"".join(good(t) + BAD for t in texts))
    assert len(errors) == len(texts)
    # Read in reverse, after everything was fed: each shows only the events before it.
    for i in reversed(range(len(texts))):
        assert content(errors[i].partial) == "".join(texts[: i + 1])
        assert errors[i].event_index == 2 * i + 1
    parser.feed(DONE)
    assert content(parser.finish()) == "".join(texts)


def test_dropped_errors_leave_the_result_whole(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    texts = [chr(ord("a") + i % 26) * (i + 1) for i in range(40)]
    raised = 0
    pending = b"".join(good(t) + BAD for t in texts) + DONE
    while True:
        try:
            parser.feed(pending)
        except impl.ChunkDecodeError:
            raised += 1
            pending = b""
            continue
        break
    assert raised == len(texts)
    assert content(parser.snapshot()) == "".join(texts)
    assert content(parser.finish()) == "".join(texts)


def test_an_error_read_once_keeps_its_value(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    (first,) = feed_all(parser, impl, good("a") + BAD)
    assert content(first.partial) == "a"
    feed_all(parser, impl, good("b") + BAD + good("c"))
    assert content(first.partial) == "a"
    assert first.partial is first.partial
    assert type(first.partial) is dict


def test_errors_with_no_chunk_between_them_agree_when_read_late(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    errors = feed_all(parser, impl, good("a") + BAD * 3 + good("b") + BAD * 2 + good("c"))
    assert [content(e.partial) for e in errors] == ["a", "a", "a", "ab", "ab"]
    assert errors[0].partial == errors[2].partial
    parser.feed(DONE)
    assert content(parser.finish()) == "abc"


def test_partial_outlives_its_parser(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    (error,) = feed_all(parser, impl, good("kept") + BAD)
    del parser
    gc.collect()
    assert content(error.partial) == "kept"


def test_finish_errors_are_read_late(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(good("cut"))
    with pytest.raises(impl.IncompleteStreamError) as caught:
        parser.finish()
    with pytest.raises(impl.IncompleteStreamError) as caught_json:
        parser.finish_json()
    assert content(caught.value.partial) == "cut"
    assert content(caught_json.value.partial) == "cut"


def test_events_mode_errors_are_read_late(impl: ModuleType) -> None:
    parser = impl.StreamParser(events=True)
    errors = []
    # One event per read: an error met after events in the same read is raised by the next.
    for piece in (good("x"), BAD, good("y"), BAD, good("z")):
        try:
            parser.feed(piece)
        except impl.ChunkDecodeError as error:
            errors.append(error)
    with pytest.raises(impl.IncompleteStreamError) as caught:
        parser.finish_events()
    assert [content(e.partial) for e in errors] == ["x", "xy"]
    assert content(caught.value.partial) == "xyz"


def test_capture_errors_are_read_late() -> None:
    # Native only: the reference has no capture class (iter_completions drives its
    # StreamParser in capture mode, and stops at the first error).
    import deltafold

    parser = deltafold._core.CaptureParser()
    closed = []
    errors = []
    pending = good("one") + BAD + good("!") + DONE + good("two") + BAD + good("?") + DONE
    # A read that closed a stream returns it and leaves a later error to the next call.
    while True:
        try:
            done = parser.feed(pending)
        except deltafold.ChunkDecodeError as error:
            errors.append(error)
            done = [None]
        closed += [c for c in done if c is not None]
        pending = b""
        if not done:
            break
    closed += parser.finish()
    assert [content(c) for c in closed] == ["one!", "two?"]
    assert [content(e.partial) for e in errors] == ["one", "two"]


def test_assemble_errors_carry_the_partial(impl: ModuleType) -> None:
    data = good("whole") + BAD
    for entry in (impl.assemble, impl.assemble_json):
        with pytest.raises(impl.ChunkDecodeError) as caught:
            entry(data)
        assert content(caught.value.partial) == "whole"


@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy, lambda e: pickle.loads(pickle.dumps(e))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_unread_errors_copy_and_pickle_with_the_state_at_the_raise(
    impl: ModuleType, duplicate: Any
) -> None:
    parser = impl.StreamParser()
    (error,) = feed_all(parser, impl, good("before") + BAD)
    feed_all(parser, impl, good(" after") + BAD)
    twin = duplicate(error)
    assert type(twin) is type(error)
    assert twin.args == error.args
    assert repr(twin) == repr(error)
    assert (twin.doc, twin.pos, twin.byte_offset, twin.event_index) == (
        error.doc,
        error.pos,
        error.byte_offset,
        error.event_index,
    )
    assert content(twin.partial) == "before"
    assert twin.partial == error.partial


def test_errors_read_late_match_the_reference(impl: ModuleType) -> None:
    import deltafold.reference as reference

    def errors_of(module: ModuleType) -> list[tuple[Any, ...]]:
        parser = module.StreamParser()
        errors = feed_all(parser, module, good("a") + BAD + good("b") + BAD)
        parser.feed(good("c"))
        return [(type(e), e.byte_offset, e.event_index, e.pos, e.partial) for e in errors]

    assert errors_of(impl) == errors_of(reference)


# Each step is a good event (its text), a bad event (None), or a read of every error kept so far.
steps = st.lists(
    st.one_of(st.text("abc", min_size=1, max_size=3), st.none(), st.just(0)),
    max_size=30,
)


@given(steps=steps, keep=st.sets(st.integers(0, 30)), reads=st.integers(1, 4))
def test_generated_raise_keep_drop_and_read(
    impl: ModuleType, steps: list[str | int | None], keep: set[int], reads: int
) -> None:
    parser = impl.StreamParser()
    kept: list[tuple[Any, str]] = []
    text = ""
    raised = 0
    for step in steps:
        if step == 0:
            assert all(shows(error, expected) for error, expected in kept)
            continue
        if step is None:
            try:
                parser.feed(BAD)
            except impl.ChunkDecodeError as error:
                if raised in keep:
                    kept.append((error, text))
                raised += 1
            else:
                raise AssertionError("a bad event must raise")
            continue
        assert isinstance(step, str)
        text += step
        parser.feed(good(step))
    parser.feed(DONE)
    final = parser.finish() if text else None
    for _ in range(reads):
        assert all(shows(error, expected) for error, expected in kept)
    if final is not None:
        assert content(final) == text
