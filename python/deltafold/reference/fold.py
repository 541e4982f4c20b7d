"""The seam between the format-independent driver and one wire format's fold.

The driver (:mod:`.driver`) frames the bytes, decodes each payload as JSON (``max_depth``,
positions, repair), enforces the stream-wide limits, applies ``on_error``, keeps the problems,
splits captures and decides the truncation rule. Everything that depends on what the payloads
mean is a :class:`Fold`: one instance per stream (per message of a capture), one subclass per
format (:mod:`.chat`, :mod:`.anthropic`, ...), registered in :mod:`.formats`.

Per dispatched event the driver calls, in order:

1. :meth:`Fold.end_marker` on the raw payload (a non-JSON end marker such as ``[DONE]``);
2. :meth:`Fold.refuse_event` with the ``event:`` name (may refuse the stream, in every mode);
3. the JSON decoding, then :meth:`Fold.refuse_payload` (the same, from the decoded payload),
   then :meth:`Fold.check` (raises what is wrong with the payload: schema, an in-band API
   error as :class:`~deltafold.StreamAPIError`, a limit; reported per ``on_error``);
4. :meth:`Fold.apply`, which folds the payload in and says whether it ended the stream, or
   ended its content before trailing events (:class:`EndBefore`).

A fold never raises from :meth:`Fold.apply`; whatever can be wrong is found by
:meth:`Fold.check` first, so that in skip mode a refused payload leaves the fold untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from deltafold.errors import Problem
from deltafold.reference.events import Event


class FoldSettings:
    """The options a fold needs, shared by every fold of one parser."""

    __slots__ = (
        "capture",
        "max_choice_index",
        "max_depth",
        "max_tool_calls",
        "partial_arguments",
        "record",
    )

    def __init__(
        self,
        *,
        max_choice_index: int,
        max_tool_calls: int,
        max_depth: int,
        partial_arguments: bool,
        record: Callable[[Problem], None],
    ) -> None:
        self.max_choice_index = max_choice_index
        self.max_tool_calls = max_tool_calls
        self.max_depth = max_depth
        self.partial_arguments = partial_arguments
        # Keeps a problem that is not an error in any mode (an unknown event type, ignored).
        self.record = record
        # A capture of many streams (iter_completions): a Bedrock stream stays open after
        # messageStop for its metadata.
        self.capture = False


class EndBefore(NamedTuple):
    """:meth:`Fold.apply`'s answer when the payload ended the stream's content, but events
    named ``trailer`` may still follow and belong to the stream (Bedrock's ``metadata`` after
    ``messageStop``). A single stream is done and still folds them; a capture's stream stays
    open for them, and an event of any other name ends it and begins the next stream."""

    trailer: bytes


class Fold:
    """One stream of one format: its accumulators and what its payloads mean."""

    #: The ``format=`` name.
    name: ClassVar[str]
    #: The end marker, as messages name it (``"[DONE]"``).
    end_name: ClassVar[str]
    #: The message of a stream that ended before its end marker.
    truncated_message: ClassVar[str]

    __slots__ = ("settings",)

    def __init__(self, settings: FoldSettings) -> None:
        self.settings = settings

    def end_marker(self, payload: bytes) -> bool:
        """Whether this raw payload is the format's end marker and not JSON (``[DONE]``)."""
        return False

    def refuse_event(self, event_type: bytes | None, offset: int, index: int) -> None:
        """Raise, in every ``on_error`` mode, if the ``event:`` name shows that this stream is
        not of this format (before the payload is decoded)."""

    def refuse_payload(self, value: Any, offset: int, index: int) -> None:
        """Raise, in every ``on_error`` mode, if the decoded payload shows that this stream is
        not of this format."""

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        """Raise the :class:`~deltafold.DeltafoldError` this decoded payload deserves, if any."""
        raise NotImplementedError

    def apply(
        self, value: Any, events: list[Event] | None, offset: int, index: int
    ) -> bool | EndBefore:
        """Fold in a checked payload (appending its events to ``events`` when not ``None``).

        Returns whether the payload ended the stream (the format's end marker), or
        :class:`EndBefore` if it ended the content with trailing events still to come."""
        raise NotImplementedError

    def started(self) -> bool:
        """Whether any payload was folded."""
        raise NotImplementedError

    def finished(self) -> bool:
        """Whether the stream may end here without its end marker and not be truncated (chat:
        every choice has a finish_reason). Most formats need their end marker."""
        return False

    def render(self) -> dict[str, Any]:
        """The result so far, as a new plain dict."""
        raise NotImplementedError

    def done_events(self) -> list[Event]:
        """At end of input: the ``*.done`` events not emitted yet (before ``done``)."""
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """This format's part of the summary: ``id``, ``model``, ``stop_reason`` (raw),
        ``usage`` (normalised, :func:`.summary.usage`), ``text``, ``reasoning``,
        ``tool_calls`` and ``has_tool_calls``; :mod:`.summary` adds the rest."""
        raise NotImplementedError
