"""What `StreamParser.feed` takes and returns at the binding: the read as `bytes` (or a
subclass) read in place, a `bytearray` copied, anything else refused; and with events off an
empty list that the caller owns, however the native parser saves allocating one per read."""

from __future__ import annotations

import deltafold
import deltafold.reference
import pytest

CHUNK = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n'
)
STREAM = CHUNK + b"data: [DONE]\n\n"
IMPLS = [deltafold, deltafold.reference]


@pytest.mark.parametrize("impl", IMPLS)
def test_a_returned_empty_list_is_never_handed_out_while_held(impl) -> None:
    parser = impl.StreamParser()
    held = parser.feed(CHUNK[:10])
    again = parser.feed(CHUNK[10:20])
    assert held == [] and again == []
    assert held is not again
    # What one caller does to its list shows in no later return, of this parser or another.
    held.append("mine")
    again.append("mine too")
    other = impl.StreamParser()
    assert other.feed(b"") == []
    assert parser.feed(CHUNK[20:]) == []
    assert held == ["mine"] and again == ["mine too"]


@pytest.mark.parametrize("impl", IMPLS)
def test_an_empty_list_filled_and_dropped_is_not_handed_out_again(impl) -> None:
    parser = impl.StreamParser()
    for _ in range(3):
        # Dropped at once: the native parser may hand the same list out again...
        assert parser.feed(b"") == []
    filled = parser.feed(b"")
    filled.extend([1, 2, 3])
    del filled
    # ...but not once someone has put something in it.
    for _ in range(3):
        assert parser.feed(b"") == []
    parser.feed(STREAM)
    assert parser.finish()["choices"][0]["message"]["content"] == "hi"


class _Bytes(bytes):
    pass


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("kind", [bytes, _Bytes, bytearray])
def test_bytes_a_bytes_subclass_and_bytearray_fold_alike(impl, kind) -> None:
    parser = impl.StreamParser()
    for at in range(0, len(STREAM), 7):
        assert parser.feed(kind(STREAM[at : at + 7])) == []
    assert parser.finish()["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize("impl", IMPLS)
def test_a_bytearray_changed_after_feed_does_not_change_what_was_fed(impl) -> None:
    parser = impl.StreamParser()
    # The read ends inside the event, whose start the parser holds until the rest arrives.
    cut = STREAM.index(b"hi") + 1
    read = bytearray(STREAM[:cut])
    parser.feed(read)
    read[:] = b"X" * len(read)
    parser.feed(STREAM[cut:])
    assert parser.finish()["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bad", ["data: x\n\n", memoryview(b"data: x\n\n"), 1, None])
def test_other_types_are_refused_with_type_error(impl, bad) -> None:
    parser = impl.StreamParser()
    with pytest.raises(TypeError):
        parser.feed(bad)
    # The refusal took nothing in.
    assert parser.bytes_fed == 0
    parser.feed(STREAM)
    assert parser.finish()["choices"][0]["message"]["content"] == "hi"


@pytest.mark.parametrize("impl", IMPLS)
def test_the_read_by_keyword_folds_as_the_read_by_position(impl) -> None:
    # The native `feed` takes a lone positional read on a path of its own; every other form of
    # the call goes through the method's generated argument handling.
    by_keyword, by_position = impl.StreamParser(), impl.StreamParser()
    for at in range(0, len(STREAM), 9):
        assert by_keyword.feed(data=STREAM[at : at + 9]) == []
        assert by_position.feed(STREAM[at : at + 9]) == []
    assert by_keyword.bytes_fed == by_position.bytes_fed == len(STREAM)
    assert by_keyword.finish() == by_position.finish()


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "StreamParser.feed() missing 1 required positional argument: 'data'"),
        ((b"", b""), {}, "StreamParser.feed() takes 1 positional arguments but 2 were given"),
        ((b"",), {"data": b""}, "StreamParser.feed() got multiple values for argument 'data'"),
        ((b"",), {"x": 1}, "StreamParser.feed() got an unexpected keyword argument 'x'"),
        ((), {"x": 1}, "StreamParser.feed() got an unexpected keyword argument 'x'"),
    ],
)
def test_a_call_of_another_shape_is_refused_as_the_generated_method_refuses_it(
    args, kwargs, message
) -> None:
    parser = deltafold.StreamParser()
    with pytest.raises(TypeError) as caught:
        parser.feed(*args, **kwargs)
    assert str(caught.value) == message
    assert parser.bytes_fed == 0
    parser.feed(STREAM)
    assert parser.finish()["choices"][0]["message"]["content"] == "hi"


def test_feed_keeps_its_name_signature_and_docstring() -> None:
    feed = deltafold.StreamParser.feed
    assert feed.__name__ == "feed"
    assert feed.__qualname__ == "StreamParser.feed"
    assert feed.__text_signature__ == "($self, data)"
    assert feed.__doc__ is not None and feed.__doc__.startswith("Consumes one read;")
    with pytest.raises(TypeError, match="doesn't apply to a 'int' object"):
        feed(1, b"")
