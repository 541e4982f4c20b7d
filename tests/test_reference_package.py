"""The reference is a package of one module per layer, with the public face it had as one file."""

from __future__ import annotations

import copy
import pickle

import deltafold
import deltafold.reference as reference
import pytest

# The names the reference had as a single module, and still has, plus summarize (issue 10),
# assemble_json (issue 13), replay (issue 15) and the event-stream names (issue 12).
PUBLIC = {
    "DEFAULTS",
    "ChunkDecodeError",
    "DeltafoldError",
    "Event",
    "IncompleteStreamError",
    "LimitExceededError",
    "EventStreamDecoder",
    "EventStreamMessage",
    "Problem",
    "SseDecoder",
    "SseEvent",
    "StreamAPIError",
    "StreamDecodeError",
    "StreamParser",
    "UnsupportedFormatError",
    "aiter_completions",
    "aiter_events",
    "assemble",
    "assemble_json",
    "atee",
    "iter_completions",
    "iter_events",
    "replay",
    "summarize",
    "tee",
    "to_event_stream",
    "to_sse",
}


def test_public_names() -> None:
    assert set(reference.__all__) == PUBLIC
    assert all(hasattr(reference, name) for name in PUBLIC)
    # Every name the reference exports, the native package exports too.
    assert PUBLIC <= set(deltafold.__all__)
    assert reference.MAX_DEPTH_CEILING == 254
    assert reference.DEFAULT_MAX_DEPTH == deltafold.DEFAULTS["max_depth"]


def public_attributes(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_event_has_the_native_attributes() -> None:
    assert public_attributes(reference.Event) == public_attributes(deltafold.Event)


def test_event_fields_are_named_and_read_only() -> None:
    event = reference.Event("content.delta", choice_index=1, delta="x", snapshot="xy")
    assert (event.type, event.choice_index, event.delta, event.snapshot) == (
        "content.delta",
        1,
        "x",
        "xy",
    )
    assert event.as_dict() == {
        "type": "content.delta",
        "choice_index": 1,
        "delta": "x",
        "snapshot": "xy",
    }
    for name in public_attributes(reference.Event) - {"as_dict"}:
        with pytest.raises(AttributeError):
            setattr(event, name, None)
        with pytest.raises(AttributeError):
            delattr(event, name)
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="cannot pickle"):
        pickle.dumps(event)
    with pytest.raises(TypeError, match="cannot pickle"):
        copy.copy(event)
    with pytest.raises(TypeError):
        reference.Event("usage", unknown=1)  # type: ignore[call-arg]
