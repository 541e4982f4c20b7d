"""``parsed_arguments`` hands the previous read's list back when nobody else can see it.

The native module extends an open array's list from the previous read in place, instead of
copying it, when only its memo (and the parent list) holds it and the caller left it as it was
handed. These tests read every event of arrays, nested arrays, arrays inside objects and arrays
whose last item is a string being built, under every way a caller can hold or change the values
(drop each, keep the previous one, keep all, keep only an inner list, mutate and drop, read out
of order, read twice), and compare every value with the reference twin's value for the same
event. A value someone holds must never change: kept values are checked again at the end.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from collections.abc import Callable
from itertools import pairwise
from types import ModuleType
from typing import Any

import pytest
from support import chunk, delta, sse

TOOL_DELTA = "tool_calls.function.arguments.delta"


def _generated(seed: int) -> Any:
    """A random value: arrays (often nested) and objects around numbers and strings."""
    rng = random.Random(seed)

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth < 4 and roll < 0.35:
            return [value(depth + 1) for _ in range(rng.randrange(0, 6))]
        if depth < 4 and roll < 0.45:
            return {f"k{i}": value(depth + 1) for i in range(rng.randrange(0, 4))}
        if roll < 0.7:
            return rng.randrange(-50, 5000)
        return "x" * rng.randrange(0, 6) + "é"

    return [value(1) for _ in range(rng.randrange(8, 16))]


# A string that widens step by step as Python stores it: ASCII, then Latin-1 (an escape, then
# raw 2-byte UTF-8), then UCS-2 (raw 3- and 2-byte UTF-8), then UCS-4 (a surrogate pair, then raw
# 4-byte UTF-8), with short escapes on the way. Split into characters, every escape and
# surrogate pair arrives one character at a time.
WIDENING = (
    '"plain ascii \\n then \\u00e9 and \u00e8 \\t\\"quoted\\", then \u20ac\u0416 wider,'
    ' then \\ud83d\\ude00 and \U0001f680 widest, \\u00e9 again, and ascii at the end"'
)
STRING_DOCUMENTS: dict[str, str] = {
    "top-level": WIDENING,
    "top-level wide at once": '"\U0001f600' + "a" * 40 + '\\u00e9\\ud83d\\ude01"',
    "at the tail of an array": f'[1, "x", {WIDENING}, [{WIDENING}], {WIDENING}]',
    "at the tail of an object": f'{{"a": {WIDENING}, "b": {{"c": {WIDENING}}}, "a": {WIDENING}}}',
    "long ascii": json.dumps(["a" * 200, {"t": "b" * 300}, "c" * 100]),
}

DOCUMENTS: dict[str, str] = {
    "ints": json.dumps(list(range(40))),
    "strings at the tail": json.dumps(["ab" * k for k in range(10)]),
    "nested arrays": json.dumps([[1, 2], [3, [4, 5, [6, 7]], 8], [9, [10, [11, [12]]]], 13]),
    "arrays inside objects": json.dumps(
        {
            "items": [1, [2, 3], "four", [5, [6, "seven"]], 8],
            "more": {"deep": [[1, 2], [3, "x"]], "s": "xyz"},
            "last": [1, "abc", [2]],
        }
    ),
    **{f"generated {seed}": json.dumps(_generated(seed)) for seed in range(4)},
    **{f"string {name}": text for name, text in STRING_DOCUMENTS.items()},
}


def _split(text: str, sizes: str) -> list[str]:
    if sizes == "bytes":
        return list(text)
    rng = random.Random(text)
    pieces = []
    at = 0
    while at < len(text):
        step = rng.randrange(1, 5)
        pieces.append(text[at : at + step])
        at += step
    return pieces


def _deltas(impl: ModuleType, fragments: list[str]) -> list[Any]:
    opening = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    chunks = [chunk(delta(tool_calls=[opening]))]
    chunks += [
        chunk(delta(tool_calls=[{"index": 0, "function": {"arguments": f}}])) for f in fragments
    ]
    chunks.append(chunk(delta(finish="tool_calls")))
    parser = impl.StreamParser(events=True, partial_arguments=True)
    events = list(parser.feed(sse(*chunks))) + list(parser.finish_events())
    return [e for e in events if e.type == TOOL_DELTA]


Case = tuple[list[Any], list[Any]]


def _case(native: ModuleType, reference: ModuleType, name: str, sizes: str) -> Case:
    """The native delta events and, for each, the reference twin's value (a private copy)."""
    fragments = _split(DOCUMENTS[name], sizes)
    events = _deltas(native, fragments)
    expected = [copy.deepcopy(e.parsed_arguments) for e in _deltas(reference, fragments)]
    assert len(events) == len(expected) >= len(fragments)
    return events, expected


def _open_depth(text: str) -> int:
    """Containers still open at the end of the partial JSON `text`."""
    depth = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
    return depth


def _open_lists(value: Any, text: str) -> list[list[Any]]:
    """The open lists of a value read at `text`, outermost first: the still-open containers
    are the value and then each one's last item (a completed child is shared, not open)."""
    spine = []
    for _ in range(_open_depth(text)):
        spine.append(value)
        if isinstance(value, list) and value:
            value = value[-1]
        elif isinstance(value, dict) and value:
            value = list(value.values())[-1]
        else:
            break
    return [v for v in spine if isinstance(v, list)]


NAMES = sorted(DOCUMENTS)
SIZES = ("bytes", "pieces")


@pytest.fixture(params=[(n, s) for n in NAMES for s in SIZES], ids=lambda p: f"{p[0]}-{p[1]}")
def case(request: pytest.FixtureRequest, native: ModuleType, reference: ModuleType) -> Case:
    name, sizes = request.param
    return _case(native, reference, name, sizes)


def test_each_value_dropped(case: Case) -> None:
    events, expected = case
    for event, want in zip(events, expected, strict=True):
        assert event.parsed_arguments == want, event.arguments


def test_previous_value_kept(case: Case) -> None:
    events, expected = case
    last: Any = None
    for i, event in enumerate(events):
        value = event.parsed_arguments
        assert value == expected[i], event.arguments
        if i:
            assert last == expected[i - 1], events[i - 1].arguments
        last = value


def test_every_value_kept(case: Case) -> None:
    events, expected = case
    kept = []
    for event, want in zip(events, expected, strict=True):
        kept.append(event.parsed_arguments)
        assert kept[-1] == want, event.arguments
    # Later reads never changed a value someone holds.
    for event, value, want in zip(events, kept, expected, strict=True):
        assert value == want, event.arguments


def test_only_an_inner_list_kept(case: Case) -> None:
    events, expected = case
    kept = []
    for event, want in zip(events, expected, strict=True):
        value = event.parsed_arguments
        assert value == want, event.arguments
        inner = _open_lists(value, event.arguments)
        want_inner = _open_lists(want, event.arguments)
        if inner:
            kept.append((event, inner[-1], want_inner[-1]))
        del value, inner
    assert kept or "ints" not in events[0].arguments
    for event, value, want in kept:
        assert value == want, event.arguments


def test_inner_list_kept_while_its_parent_changed(case: Case) -> None:
    """The caller keeps an open nested list and puts something else in its place in the
    parent: the parent may be extended again, but the kept list has a second holder that is
    not the parent, so it must not be."""
    events, expected = case
    kept = []
    for event, want in zip(events, expected, strict=True):
        value = event.parsed_arguments
        assert value == want, event.arguments
        spine = _open_lists(value, event.arguments)
        if len(spine) >= 2 and spine[-2] and spine[-2][-1] is spine[-1]:
            kept.append((event, spine[-1], _open_lists(want, event.arguments)[-1]))
            spine[-2][-1] = "replaced"
        del value, spine
    for event, value, want in kept:
        assert value == want, event.arguments


def test_read_out_of_order(case: Case) -> None:
    events, expected = case
    order = list(range(len(events)))
    random.Random(len(events)).shuffle(order)
    for i in order + order[::-1]:
        assert events[i].parsed_arguments == expected[i], events[i].arguments


def test_same_event_read_twice(case: Case) -> None:
    events, expected = case
    for event, want in zip(events, expected, strict=True):
        first = event.parsed_arguments
        del first
        assert event.parsed_arguments == want, event.arguments
        kept = event.parsed_arguments
        assert event.parsed_arguments == want == kept, event.arguments


MUTATIONS: dict[str, Callable[[list[Any]], None]] = {
    "append": lambda x: x.append("added"),
    "pop": lambda x: x.pop() if x else None,
    "set first": lambda x: x.__setitem__(0, "set") if x else None,
    "set last": lambda x: x.__setitem__(-1, "set") if x else None,
    "sort": lambda x: x.sort(key=repr),
    "reverse": lambda x: x.reverse(),
    "clear": lambda x: x.clear(),
    "extend": lambda x: x.extend([1, 2]),
    "swap": lambda x: x.__setitem__(slice(0, 2), x[1::-1]) if len(x) > 1 else None,
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_caller_mutates_then_drops(case: Case, mutation: str) -> None:
    events, expected = case
    mutate = MUTATIONS[mutation]
    for i, (event, want) in enumerate(zip(events, expected, strict=True)):
        value = event.parsed_arguments
        assert value == want, event.arguments
        targets = _open_lists(value, event.arguments)
        if targets:
            # Each open level in turn: the top-level list, then the lists nested in it.
            mutate(targets[i % len(targets)])
        del value, targets


def _blockers() -> list[list[Any]]:
    """Lists that take the memory of any list freed just before, so that a list built next
    cannot have the id of a freed one: equal ids then mean the same object, kept alive."""
    return [[] for _ in range(64)]


def test_dropped_values_are_the_same_list(native: ModuleType) -> None:
    n = 200
    events = _deltas(native, ["["] + ["1,"] * (n - 1) + ["1]"])
    # The first event is the call's opening (no text yet); the last closes the array.
    assert events[0].arguments == "" and events[-1].arguments.endswith("]")
    ids = []
    blockers = []
    for event in events[1:-1]:
        ids.append(id(event.parsed_arguments))
        blockers.append(_blockers())
    # The first read builds the list; every later read extends it in place.
    assert len(ids) == n and len(set(ids)) == 1
    assert events[-2].parsed_arguments == [1] * (n - 1)
    assert events[-1].parsed_arguments == [1] * n


def test_dropped_values_share_the_inner_list_of_an_object(native: ModuleType) -> None:
    n = 100
    events = _deltas(native, ['{"items": ['] + ["1,"] * (n - 1) + ["1]}"])
    ids = set()
    blockers = []
    for event in events[1:-1]:
        value = event.parsed_arguments
        ids.add(id(value["items"]))
        del value
        blockers.append(_blockers())
    # The object is new on every read, the open list inside it extended in place.
    assert len(ids) == 1


def test_held_values_are_distinct_lists(native: ModuleType) -> None:
    n = 50
    events = _deltas(native, ["["] + ["1,"] * (n - 1) + ["1]"])
    events = events[1:]  # from "[" on
    last = events[0].parsed_arguments
    for k, event in enumerate(events[1:], start=1):
        value = event.parsed_arguments
        assert value is not last and value == [1] * k
        assert last == [1] * (k - 1)
        last = value
    kept = [event.parsed_arguments for event in events]
    assert len({id(v) for v in kept}) == len(kept)
    assert kept == [[1] * k for k in range(n + 1)]


# Strings being built: a read appends the new text to the previous read's string, in place when
# nobody but the memo holds it (CPython's PyUnicode_Append decides that).


def _tail_string(value: Any) -> Any:
    """The innermost last string of a value (where an unfinished string sits), or None."""
    while True:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value:
            value = value[-1]
        elif isinstance(value, dict) and value:
            value = list(value.values())[-1]
        else:
            return None


STRING_CASES = [f"string {name}" for name in STRING_DOCUMENTS]


@pytest.mark.parametrize("name", STRING_CASES)
def test_only_the_string_kept(native: ModuleType, reference: ModuleType, name: str) -> None:
    events, expected = _case(native, reference, name, "bytes")
    kept = []
    for event, want in zip(events, expected, strict=True):
        value = event.parsed_arguments
        assert value == want, event.arguments
        kept.append((event, _tail_string(value), _tail_string(want)))
        del value
    assert sum(isinstance(s, str) and len(s) > 20 for _, s, _ in kept) > 20
    for event, string, want in kept:
        assert string == want, event.arguments


@pytest.mark.parametrize("name", STRING_CASES)
def test_hashed_strings_are_never_extended(
    native: ModuleType, reference: ModuleType, name: str
) -> None:
    """A string whose hash was computed cannot change (it may be a dict key): the next read
    gets a new string, built while the hashed one is still alive, so with another id."""
    events, expected = _case(native, reference, name, "bytes")
    last: tuple[int, int] | None = None  # id and length, not the string: it must not be held
    blockers = []
    distinct = 0
    for event, want in zip(events, expected, strict=True):
        value = event.parsed_arguments
        assert value == want, event.arguments
        string = _tail_string(value)
        if isinstance(string, str) and len(string) > 1:
            # A read whose text did not grow (an escape held back) may hand the same string.
            if last is not None and len(string) > last[1]:
                assert id(string) != last[0], event.arguments
                distinct += 1
            hash(string)
            last = (id(string), len(string))
            size = sys.getsizeof(string)
        else:
            last = None
        del value, string
        if last is not None:
            blockers += _string_blockers(size)
    assert distinct > 20


def _string_blockers(size: int) -> list[bytes]:
    """New objects of the memory size (``sys.getsizeof``) of a string just freed and of the next
    sizes, taking that memory so that a string built next cannot have the freed one's id."""
    return [bytes(max(2, size - sys.getsizeof(b"") + grow)) for grow in (0, 4, 16)]


def _same_id_share(native: ModuleType, fragments: list[str]) -> float:
    """Reads every event, drops the value, and takes the memory a dropped string would free
    with strings of its size: the share of reads whose tail string is the previous read's
    object (only the in-place path gives one: a new string cannot land where the previous was)."""
    events = _deltas(native, fragments)
    ids = []
    blockers = []
    for event in events:
        value = event.parsed_arguments
        string = _tail_string(value)
        if not isinstance(string, str) or len(string) < 2:
            continue
        ids.append(id(string))
        size = sys.getsizeof(string)
        del value, string
        blockers += _string_blockers(size)
    # Growing across pymalloc's size classes (every 16 bytes) moves the string.
    assert len(ids) > 100
    return sum(a == b for a, b in pairwise(ids)) / (len(ids) - 1)


@pytest.mark.parametrize(
    "prefix, suffix",
    [('"', '"'), ('[1, "', '"]'), ('{"text": "', '"}'), ('{"a": [["', '"]]}')],
    ids=["top-level", "array", "object", "nested array in object"],
)
def test_dropped_strings_are_extended_in_place(
    native: ModuleType, prefix: str, suffix: str
) -> None:
    fragments = list(prefix) + list("abcdefghij" * 30) + list(suffix)
    assert _same_id_share(native, fragments) > 0.8


def test_held_strings_are_distinct_and_unchanged(native: ModuleType, reference: ModuleType) -> None:
    fragments = list('["' + "ab\\u00e9" * 40 + '"]')
    events = _deltas(native, fragments)
    expected = [_tail_string(e.parsed_arguments) for e in _deltas(reference, fragments)]
    kept = [_tail_string(event.parsed_arguments) for event in events]
    grew = 0
    for i in range(1, len(kept)):
        if expected[i] != expected[i - 1]:
            # Had the kept string been extended in place, it would be the next read's object.
            assert kept[i] is not kept[i - 1], events[i].arguments
            grew += 1
    assert grew > 100
    for event, string, want in zip(events, kept, expected, strict=True):
        assert string == want, event.arguments
