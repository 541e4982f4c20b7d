"""Inputs on which the native core and the reference once differed (issue 8 §5, rows a-k).

docs/design.md, "Decisions where the twins once differed", gives each row's rule and why. Every
row has a test with the expected value written out, run against both implementations (the
``impl`` fixture), and, where the row is one case of a class, a hypothesis test that generates
variants of the class and requires the two implementations to agree (same result, or the same
error class).
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import chunk, delta, sse


def message(impl: ModuleType, *chunks: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = impl.assemble(sse(*chunks))["choices"][0]["message"]
    return result


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", value) or ("raised", the exception class name): what twins must agree on."""
    try:
        return "ok", call()
    except Exception as error:
        return "raised", type(error).__name__


def calls(impl: ModuleType, *fragments: dict[str, Any]) -> list[tuple[Any, Any, str]]:
    """(id, name, arguments) of each assembled tool call, one fragment per chunk."""
    out = message(impl, *(chunk(delta(tool_calls=[f])) for f in fragments))
    return [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in out.get("tool_calls", [])
    ]


# -- a: a fragment with no index, id or name continues the call most recently addressed --------


def test_a_unaddressed_fragment_continues_the_most_recently_addressed_call(
    impl: ModuleType,
) -> None:
    got = calls(
        impl,
        {"index": 0, "id": "c0", "function": {"name": "f", "arguments": "A"}},
        {"index": 1, "id": "c1", "function": {"name": "g", "arguments": "B"}},
        {"index": 0, "function": {"arguments": "C"}},
        {"function": {"arguments": "D"}},
    )
    assert got == [("c0", "f", "ACD"), ("c1", "g", "B")]


def test_a_known_id_readdresses_an_older_call(impl: ModuleType) -> None:
    got = calls(
        impl,
        {"id": "x", "function": {"name": "f", "arguments": "1"}},
        {"id": "y", "function": {"name": "g", "arguments": "2"}},
        {"id": "x", "function": {"arguments": "3"}},
        {"function": {"arguments": "4"}},
    )
    assert got == [("x", "f", "134"), ("y", "g", "2")]


_fragment_keys = st.fixed_dictionaries(
    {},
    optional={
        "index": st.integers(0, 2),
        "id": st.sampled_from(["", "a", "b", "c"]),
        "type": st.sampled_from(["", "function"]),
        "function": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["", "f", "g"]),
                "arguments": st.sampled_from(["", "1", "2", "{"]),
            },
        ),
    },
)


@given(st.lists(st.lists(_fragment_keys, min_size=1, max_size=3), min_size=1, max_size=8))
def test_a_any_mix_of_addressing_agrees(
    native: ModuleType, reference: ModuleType, fragments: list[list[dict[str, Any]]]
) -> None:
    data = sse(*(chunk(delta(tool_calls=group)) for group in fragments))
    for limit in (1024, 2):
        expected = outcome(lambda: reference.assemble(data, max_tool_calls=limit))  # noqa: B023
        assert outcome(lambda: native.assemble(data, max_tool_calls=limit)) == expected  # noqa: B023
    events = [(e.type, e.index, e.id, e.name, e.arguments) for e in reference.iter_events(data)]
    assert [(e.type, e.index, e.id, e.name, e.arguments) for e in native.iter_events(data)] == (
        events
    )


# -- b: `tool_calls: []` leaves the key absent ------------------------------------------------


def test_b_empty_tool_calls_list_leaves_the_key_absent(impl: ModuleType) -> None:
    got = message(impl, chunk(delta(role="assistant", content="x", tool_calls=[])))
    assert got == {"role": "assistant", "content": "x", "refusal": None}


def test_b_empty_list_then_a_call(impl: ModuleType) -> None:
    got = message(
        impl,
        chunk(delta(tool_calls=[])),
        chunk(delta(content="x")),
        chunk(delta(tool_calls=[{"index": 0, "id": "i", "function": {"name": "f"}}])),
    )
    assert got["tool_calls"] == [
        {"id": "i", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]


# -- c: "" is no value for id, type, name -------------------------------------------------------


def test_c_id_and_name_only_ever_empty_stay_null(impl: ModuleType) -> None:
    fragment = {"index": 0, "id": "", "type": "", "function": {"name": "", "arguments": "{}"}}
    got = message(impl, chunk(delta(tool_calls=[fragment])), chunk(delta(tool_calls=[fragment])))
    assert got["tool_calls"] == [
        {"id": None, "type": "function", "function": {"name": None, "arguments": "{}{}"}}
    ]


def test_c_empty_then_real_values(impl: ModuleType) -> None:
    got = message(
        impl,
        chunk(delta(tool_calls=[{"index": 0, "id": "", "function": {"name": ""}}])),
        chunk(delta(tool_calls=[{"index": 0, "id": "i", "type": "t", "function": {"name": "n"}}])),
    )
    assert got["tool_calls"] == [
        {"id": "i", "type": "t", "function": {"name": "n", "arguments": ""}}
    ]


def test_c_function_call_name_only_ever_empty_is_null(impl: ModuleType) -> None:
    got = message(impl, chunk(delta(function_call={"name": "", "arguments": "x"})))
    assert got["function_call"] == {"name": None, "arguments": "x"}


def test_c_events_carry_null_id_and_name(impl: ModuleType) -> None:
    fragment = {"index": 0, "id": "", "function": {"name": "", "arguments": "{}"}}
    events = impl.StreamParser(events=True).feed(sse(chunk(delta(tool_calls=[fragment]))))
    assert [(e.type, e.id, e.name) for e in events] == [
        ("tool_calls.function.arguments.delta", None, None)
    ]


# -- d: a key inside audio appears once carried -----------------------------------------------


def test_d_audio_key_carried_as_null_is_kept(impl: ModuleType) -> None:
    got = message(impl, chunk(delta(content="x", audio={"transcript": None})))
    assert got["audio"] == {"transcript": None}


def test_d_audio_keys_in_order_of_first_appearance(impl: ModuleType) -> None:
    got = message(
        impl,
        chunk(delta(audio={"transcript": None, "id": None, "expires_at": None})),
        chunk(delta(audio={"id": "a1", "data": "AA", "transcript": "hel"})),
        chunk(delta(audio={"data": "BB", "transcript": "lo", "expires_at": 9})),
    )
    assert list(got["audio"].items()) == [
        ("transcript", "hello"),
        ("id", "a1"),
        ("expires_at", 9),
        ("data", "AABB"),
    ]


# -- e: keys of one delta are applied in a fixed order ----------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"reasoning_content": "c", "content": [{"type": "thinking", "thinking": "a"}]},
        {"content": [{"type": "thinking", "thinking": "a"}], "reasoning_content": "c"},
    ],
    ids=["field-first", "part-first"],
)
def test_e_thinking_part_comes_before_reasoning_content(
    impl: ModuleType, fields: dict[str, Any]
) -> None:
    assert message(impl, chunk(delta(**fields)))["reasoning_content"] == "ac"
    events = impl.StreamParser(events=True).feed(sse(chunk(delta(**fields))))
    assert [(e.type, e.delta, e.snapshot) for e in events] == [
        ("reasoning.delta", "a", "a"),
        ("reasoning.delta", "c", "ac"),
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "thinking", "thinking": ""},
        {"type": "thinking", "thinking": [{"type": "text", "text": ""}]},
    ],
)
def test_e_empty_thinking_adds_no_reasoning_content(impl: ModuleType, part: dict[str, Any]) -> None:
    assert message(impl, chunk(delta(content=[part]))) == {
        "role": "assistant",
        "content": None,
        "refusal": None,
    }
    assert message(impl, chunk(delta(content=[{"type": "text", "text": ""}])))["content"] == ""


def test_e_message_key_order_does_not_follow_the_delta_key_order(impl: ModuleType) -> None:
    fields = {
        "audio": {"id": "a"},
        "function_call": {"name": "f"},
        "tool_calls": [{"index": 0, "id": "i", "function": {"name": "g"}}],
        "foo": 1,
        "content": [{"type": "thinking", "thinking": "t"}],
    }
    assert list(message(impl, chunk(delta(**fields)))) == [
        "role",
        "content",
        "refusal",
        "reasoning_content",
        "foo",
        "tool_calls",
        "function_call",
        "audio",
    ]


_delta_values = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from([None, "", "assistant"]),
        "content": st.one_of(
            st.none(),
            st.sampled_from(["", "t"]),
            st.lists(
                st.sampled_from(
                    [
                        {"type": "text", "text": "T"},
                        {"type": "thinking", "thinking": "H"},
                        {"type": "thinking", "thinking": ""},
                        {"type": "text", "text": ""},
                        {"type": "thinking", "thinking": [{"type": "text", "text": "h"}]},
                    ]
                ),
                max_size=3,
            ),
        ),
        "refusal": st.sampled_from([None, "", "r"]),
        "reasoning_content": st.sampled_from([None, "", "c", 5, [1]]),
        "reasoning": st.sampled_from([None, "R"]),
        "foo": st.sampled_from([None, 1, "x", [2], {"k": 3}]),
        "tool_calls": st.sampled_from(
            [None, [], [{"index": 0, "id": "", "function": {"name": "", "arguments": "a"}}]]
        ),
        "function_call": st.sampled_from([None, {"name": "", "arguments": "b"}, {"name": "f"}]),
        "audio": st.sampled_from(
            [None, {}, {"transcript": None}, {"id": "", "data": "d"}, {"expires_at": None}]
        ),
    },
)


@st.composite
def shuffled_deltas(draw: st.DrawFn) -> dict[str, Any]:
    fields = draw(_delta_values)
    keys = draw(st.permutations(list(fields)))
    return {key: fields[key] for key in keys}


@given(st.lists(shuffled_deltas(), min_size=1, max_size=4))
def test_b_to_e_generated_deltas_agree(
    native: ModuleType, reference: ModuleType, deltas: list[dict[str, Any]]
) -> None:
    data = sse(*(chunk(delta(**fields)) for fields in deltas))
    expected = outcome(lambda: reference.assemble(data))
    got = outcome(lambda: native.assemble(data))
    assert got == expected
    if got[0] == "ok":  # the key order is part of the contract
        assert json.dumps(got[1]) == json.dumps(expected[1])
    assert outcome(lambda: [e.as_dict() for e in native.iter_events(data)]) == outcome(
        lambda: [e.as_dict() for e in reference.iter_events(data)]
    )


# -- f: only an object x_groq.usage is a usage --------------------------------------------------


def test_f_non_object_x_groq_usage_is_not_a_usage(impl: ModuleType) -> None:
    got = impl.assemble(
        sse(
            chunk(delta(content="x"), x_groq={"usage": {"a": 1}}),
            chunk(delta(content="y"), x_groq={"usage": 5}),
        )
    )
    assert got["usage"] == {"a": 1}
    assert got["x_groq"] == {"usage": 5}


@given(
    st.lists(
        st.one_of(st.none(), st.integers(0, 3), st.just([1]), st.just("u"), st.just({"b": 0})),
        min_size=1,
        max_size=4,
    )
)
def test_f_any_x_groq_usage_sequence_agrees(
    native: ModuleType, reference: ModuleType, values: list[Any]
) -> None:
    data = sse(*(chunk(delta(content="x"), x_groq={"usage": v}) for v in values))
    assert outcome(lambda: native.assemble(data)) == outcome(lambda: reference.assemble(data))


# -- g: `event: error` is an error even with empty data -----------------------------------------


@pytest.mark.parametrize("frame", [b"event: error\ndata:\n\n", b"event: error\ndata\n\n"])
def test_g_error_event_with_empty_data_raises(impl: ModuleType, frame: bytes) -> None:
    data = sse(chunk(delta(content="x")), done=False) + frame + sse(chunk(delta(content="y")))
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(data)
    assert caught.value.body == ""
    assert caught.value.partial["choices"][0]["message"]["content"] == "x"


def test_g_empty_data_without_event_error_is_a_keep_alive(impl: ModuleType) -> None:
    data = (
        sse(chunk(delta(content="x")), done=False) + b"data:\n\n" + sse(chunk(delta(content="y")))
    )
    assert impl.assemble(data)["choices"][0]["message"]["content"] == "xy"


@pytest.mark.parametrize(
    ("depth", "body"),
    [(3, {"error": {"m": [1]}}), (4, '{"error":{"m":[[1]]}}')],
)
def test_error_body_deeper_than_max_depth_is_text(impl: ModuleType, depth: int, body: Any) -> None:
    payload = b'{"error":{"m":[1]}}' if depth == 3 else b'{"error":{"m":[[1]]}}'
    data = b"event: error\ndata: " + payload + b"\n\n"
    with pytest.raises(impl.StreamAPIError) as caught:
        impl.assemble(data, max_depth=3)
    assert caught.value.body == body


_json_values = st.recursive(
    st.one_of(st.none(), st.integers(-2, 2), st.text("ab[{", max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text("ab", max_size=2), inner, max_size=2)
    ),
    max_leaves=8,
)
_error_data = st.one_of(
    _json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(
        st.sampled_from([b"{", b"[", b'"a"', b"1", b":", b",", b" ", b"]", b"}"]), max_size=12
    ).map(b"".join),
)


@given(_error_data, st.integers(1, 5))
def test_g_any_error_frame_body_agrees(
    native: ModuleType, reference: ModuleType, payload: bytes, max_depth: int
) -> None:
    data = b"event: error\ndata: " + payload + b"\n\n" + sse(chunk(delta(content="y")))

    def body(impl: ModuleType) -> Any:
        try:
            impl.assemble(data, max_depth=max_depth)
        except impl.StreamAPIError as error:
            return "api", error.body
        except impl.DeltafoldError as error:
            return type(error).__name__
        return "no error"

    assert body(native) == body(reference)


# -- h: brackets inside an unterminated string are text ---------------------------------------

_OPEN_CONTENT = (
    b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"'
)


def test_h_repair_of_unterminated_string_full_of_brackets(impl: ModuleType) -> None:
    parser = impl.StreamParser(on_error="repair")
    parser.feed(_OPEN_CONTENT + b"[" * 200 + b"\n\ndata: [DONE]\n\n")
    result = parser.finish()
    assert result["choices"][0]["message"]["content"] == "[" * 200
    assert [(p.kind, p.action) for p in parser.problems] == [("ChunkDecodeError", "repaired")]


_string_text = st.lists(
    st.tuples(
        st.sampled_from([b"[", b"{", b"]", b"}", b"a", b" ", b'\\"', b"\\\\", b'"']),
        st.integers(1, 40),
    ),
    max_size=6,
).map(lambda runs: b"".join(token * count for token, count in runs))


@given(
    _string_text,
    st.sampled_from([b"", b"\\"]),
    st.sampled_from(["raise", "skip", "repair"]),
    st.integers(1, 40),
)
def test_h_any_unterminated_string_agrees(
    native: ModuleType,
    reference: ModuleType,
    text: bytes,
    tail: bytes,
    on_error: str,
    max_depth: int,
) -> None:
    data = _OPEN_CONTENT + text + tail + b"\n\ndata: [DONE]\n\n"

    def run(impl: ModuleType) -> Any:
        parser = impl.StreamParser(on_error=on_error, max_depth=max_depth)
        result = outcome(lambda: (parser.feed(data), parser.finish())[1])
        return result, [(p.kind, p.action) for p in parser.problems]

    assert run(native) == run(reference)


# -- i: partial arguments are None once the text cannot become JSON ---------------------------


def parsed_arguments(impl: ModuleType, pieces: list[str]) -> list[Any]:
    chunks = [
        chunk(
            delta(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": p}}])
        )
        for p in pieces
    ]
    parser = impl.StreamParser(events=True, partial_arguments=True)
    return [
        e.parsed_arguments
        for e in parser.feed(sse(*chunks))
        if e.type == "tool_calls.function.arguments.delta"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[e", None),
        ("[1,+", None),
        ('{"a":01', None),
        ("[-01", None),
        ("[1 2", None),
        ("[tru", []),
        ("[1,", [1]),
        ("[-", []),
        ("[1.", []),
        ("[1e+", []),
        ('{"a":-0', {"a": 0}),
        ('{"a":1.5e', {}),
    ],
)
def test_i_partial_arguments_of_a_prefix(impl: ModuleType, text: str, expected: Any) -> None:
    assert parsed_arguments(impl, [text]) == [expected]


_JSON_TOKENS = ["[", "]", "{", "}", ",", ":", '"k"', '"s', "0", "1", "-", ".", "e", "+", "tr", "n"]


@given(st.lists(st.sampled_from(_JSON_TOKENS), min_size=1, max_size=8), st.integers(1, 4))
def test_i_any_token_soup_agrees(
    native: ModuleType, reference: ModuleType, tokens: list[str], pieces: int
) -> None:
    text = "".join(tokens)
    step = max(1, len(text) // pieces)
    split = [text[i : i + step] for i in range(0, len(text), step)]
    assert parsed_arguments(native, split) == parsed_arguments(reference, split)


# -- j: a retry that does not fit 64 bits is ignored -------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"9" * 23, 7),
        (b"18446744073709551616", 7),
        (b"18446744073709551615", 2**64 - 1),
        (b"0" * 30 + b"5", 5),
        (b"12a", 7),
    ],
)
def test_j_retry(impl: ModuleType, value: bytes, expected: int) -> None:
    decoder = impl.SseDecoder()
    events = decoder.feed(b"retry: 7\n\nretry: " + value + b"\ndata: x\n\n")
    assert [e.retry for e in events] == [expected]
    assert decoder.retry == expected


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_j_any_digit_run_agrees(native: ModuleType, reference: ModuleType, digits: str) -> None:
    data = b"retry: 3\ndata: a\n\nretry: " + digits.encode() + b"\ndata: b\n\n"
    expected = int(digits) if int(digits) < 2**64 else 3
    for impl in (native, reference):
        decoder = impl.SseDecoder()
        assert [e.retry for e in decoder.feed(data)] == [3, expected]


# -- k: argument types, copying, finish_events -------------------------------------------------


@pytest.mark.parametrize(
    "data", ["data: [DONE]\n\n", memoryview(b"data: [DONE]\n\n"), 5, None], ids=repr
)
def test_k_feed_takes_bytes_or_bytearray_only(impl: ModuleType, data: Any) -> None:
    with pytest.raises(TypeError):
        impl.StreamParser().feed(data)
    with pytest.raises(TypeError):
        impl.SseDecoder().feed(data)


def test_k_feed_takes_bytearray(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(bytearray(sse(chunk(delta(content="x", finish="stop")))))
    assert parser.finish()["choices"][0]["message"]["content"] == "x"
    assert [e.data for e in impl.SseDecoder().feed(bytearray(b"data: y\n\n"))] == ["y"]


LIMITS = ("max_line_bytes", "max_buffer_bytes", "max_choice_index", "max_tool_calls")


@pytest.mark.parametrize("option", LIMITS)
@pytest.mark.parametrize("value", [2**63, 2**64, 2**200])
def test_k_huge_limits_mean_no_limit(impl: ModuleType, option: str, value: int) -> None:
    data = sse(chunk(delta(content="x", finish="stop")))
    assert impl.assemble(data, **{option: value})["choices"][0]["message"]["content"] == "x"
    parser = impl.StreamParser(**{option: value})
    parser.feed(data)
    assert parser.finish()["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (True, TypeError),
        (False, TypeError),
        (1.0, TypeError),
        (None, TypeError),
        ("5", TypeError),
        (0, ValueError),
        (-1, ValueError),
        (-(2**70), ValueError),
    ],
    ids=repr,
)
@pytest.mark.parametrize("option", (*LIMITS, "max_depth"))
def test_k_bad_limits(impl: ModuleType, option: str, value: Any, error: type) -> None:
    if option == "max_choice_index" and value == 0:
        assert impl.StreamParser(max_choice_index=0) is not None  # 0 is a valid index bound
        return
    with pytest.raises(error):
        impl.StreamParser(**{option: value})
    with pytest.raises(error):
        impl.assemble(b"", **{option: value})
    if option == "max_line_bytes":
        with pytest.raises(error):
            impl.SseDecoder(max_line_bytes=value)


@pytest.mark.parametrize("value", [4097, 2**63, 2**64])
def test_k_max_depth_above_its_ceiling(impl: ModuleType, value: int) -> None:
    with pytest.raises(ValueError):
        impl.StreamParser(max_depth=value)


@pytest.mark.parametrize(
    ("value", "error"),
    [(None, TypeError), (1, TypeError), (b"raise", TypeError), ("RAISE", ValueError)],
    ids=repr,
)
def test_k_on_error_type(impl: ModuleType, value: Any, error: type) -> None:
    with pytest.raises(error):
        impl.StreamParser(on_error=value)
    with pytest.raises(error):
        impl.assemble(b"", on_error=value)


@pytest.mark.parametrize("option", ["events", "partial_arguments", "allow_truncated"])
@pytest.mark.parametrize("value", [1, 0, None, "yes"], ids=repr)
def test_k_flags_are_bools(impl: ModuleType, option: str, value: Any) -> None:
    with pytest.raises(TypeError):
        impl.StreamParser(**{option: value})


_option_values = st.one_of(
    st.integers(-3, 3),
    st.integers(),
    st.sampled_from([2**63, 2**64, -(2**64), True, False, None, 1.0, "1", "raise", "skip"]),
)


@given(
    st.sampled_from([*LIMITS, "max_depth", "on_error", "events", "allow_truncated"]), _option_values
)
def test_k_any_option_value_agrees(
    native: ModuleType, reference: ModuleType, option: str, value: Any
) -> None:
    def make(impl: ModuleType) -> Callable[[], Any]:
        return lambda: type(impl.StreamParser(**{option: value})).__name__

    assert outcome(make(native)) == outcome(make(reference))


def _one_event(impl: ModuleType) -> Any:
    return impl.StreamParser(events=True).feed(sse(chunk(delta(content="x"))))[0]


@pytest.mark.parametrize(
    "operation",
    [copy.copy, copy.deepcopy, pickle.dumps],
    ids=["copy", "deepcopy", "pickle"],
)
def test_k_events_are_not_copied_or_pickled(
    impl: ModuleType, operation: Callable[[Any], Any]
) -> None:
    with pytest.raises(TypeError):
        operation(_one_event(impl))
    with pytest.raises(TypeError):
        operation(impl.SseDecoder().feed(b"data: x\n\n")[0])


def test_k_finish_events_without_events_is_empty(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    assert parser.feed(sse(chunk(delta(content="x", finish="stop")))) == []
    assert parser.finish_events() == []
    assert parser.snapshot()["choices"][0]["message"]["content"] == "x"


def test_k_finish_events_without_events_still_checks_the_end(impl: ModuleType) -> None:
    parser = impl.StreamParser()
    parser.feed(sse(chunk(delta(content="x")), done=False))
    with pytest.raises(impl.IncompleteStreamError):
        parser.finish_events()
