"""The format-independent driver on top of the framer: stream-wide limits, JSON decoding,
``on_error`` handling, captures of many streams, truncation, the problems kept, and the choice
of format (fixed, or decided once from the first event under ``format="auto"``). What the
payloads mean is the business of a :class:`~.fold.Fold` (:mod:`.chat`, :mod:`.anthropic`)."""

from __future__ import annotations

import json
from typing import Any, Final, final

import orjson

from deltafold._options import OnError
from deltafold.errors import (
    ChunkDecodeError,
    DeltafoldError,
    IncompleteStreamError,
    LimitExceededError,
    Problem,
    StreamAPIError,
)
from deltafold.reference import summary as _summary
from deltafold.reference.chat import api_error, first_decode_error
from deltafold.reference.detect import detect, undecided
from deltafold.reference.events import Event
from deltafold.reference.eventstream import BinaryFraming
from deltafold.reference.eventstream import Framer as _EventStreamFramer
from deltafold.reference.fold import EndBefore, Fold, FoldSettings
from deltafold.reference.formats import FOLDS, check_format, fold_class
from deltafold.reference.framing import _Framer
from deltafold.reference.json import (
    ORJSON_MAX_DEPTH,
    DeepSyntaxError,
    first_too_deep,
    parse_deep,
)
from deltafold.reference.options import (
    DEFAULT_MAX_BUFFER_BYTES,
    DEFAULT_MAX_CHOICE_INDEX,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PROBLEMS,
    DEFAULT_MAX_TOOL_CALLS,
    MAX_DEPTH_CEILING,
    Format,
    _as_bytes,
    _check_flag,
    _check_limit,
    _check_on_error,
)
from deltafold.reference.repair import repair_chunk_json
from deltafold.reference.sniff import _Head

# ASCII whitespace as WHATWG defines it: all an ignored empty data event may hold.
_ASCII_WS: Final = b" \t\n\r\x0c"
_UNPARSED: Final[Any] = object()


@final
class StreamParser(BinaryFraming, _Framer):
    """Incremental parser for one stream (of the format given, or detected).

    Feed each network read to :meth:`feed`; call :meth:`finish` at end of input. Holds only the
    partial line and the accumulators, never the raw chunks.
    """

    __slots__ = (
        "_allow_truncated",
        "_api_error",
        "_binary",
        "_buffered",
        "_bytes_fed",
        "_capture",
        "_completed",
        "_done",
        "_events",
        "_events_on",
        "_fold",
        "_format",
        "_head",
        "_max_buffer",
        "_max_depth",
        "_max_problems",
        "_on_error",
        "_problems",
        "_problems_dropped",
        "_settings",
        "_sniff",
        "_trailer",
    )

    def __init__(
        self,
        *,
        format: Format = "auto",
        on_error: OnError = "raise",
        events: bool = False,
        partial_arguments: bool = False,
        allow_truncated: bool = False,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_choice_index: int = DEFAULT_MAX_CHOICE_INDEX,
        max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_problems: int = DEFAULT_MAX_PROBLEMS,
    ) -> None:
        check_format(format)
        _check_on_error(on_error)
        _check_flag("events", events)
        _check_flag("partial_arguments", partial_arguments)
        _check_flag("allow_truncated", allow_truncated)
        _check_limit("max_line_bytes", max_line_bytes, 1)
        _check_limit("max_buffer_bytes", max_buffer_bytes, 1)
        _check_limit("max_choice_index", max_choice_index, 0)
        _check_limit("max_tool_calls", max_tool_calls, 1)
        _check_limit("max_depth", max_depth, 1, MAX_DEPTH_CEILING)
        _check_limit("max_problems", max_problems, 0)
        super().__init__(max_line_bytes)
        self._on_error = on_error
        self._events_on = bool(events)
        self._allow_truncated = bool(allow_truncated)
        self._max_buffer = max_buffer_bytes
        self._max_depth = max_depth
        self._settings = FoldSettings(
            max_choice_index=max_choice_index,
            max_tool_calls=max_tool_calls,
            max_depth=max_depth,
            partial_arguments=bool(partial_arguments),
            record=self._record,
        )
        # The format: fixed, or None until the first deciding event under "auto".
        self._format: str | None = None if format == "auto" else format
        self._fold: Fold | None = None if format == "auto" else FOLDS[format](self._settings)
        # Bedrock's binary framing (reference/eventstream.py BinaryFraming): the framer when
        # the format is bedrock; under "auto" the first bytes held while they may be a prelude.
        self._binary = _EventStreamFramer(max_line_bytes) if format == "bedrock" else None
        self._sniff: bytes | None = b"" if format == "auto" else None
        self._problems: list[Problem] = []
        self._max_problems = max_problems
        self._problems_dropped = 0
        self._head = _Head()
        self._done = False  # the end marker was seen ([DONE], message_stop, ...)
        # After the end of the content: the event name that still belongs to the stream
        # (fold.EndBefore); any other ends a capture's stream.
        self._trailer: bytes | None = None
        self._api_error: StreamAPIError | None = None  # the first in-band error (summary)
        self._bytes_fed = 0
        self._buffered = 0  # payload bytes dispatched in this stream (max_buffer_bytes)
        # Events made but not yet returned (kept across a raised error, returned next time).
        self._events: list[Event] = []
        # iter_completions: the end marker ends one stream of a capture and the next starts.
        self._capture = False
        self._completed: list[dict[str, Any]] = []

    # -- public API --

    def feed(self, data: bytes) -> list[Event]:
        """Consume one read. Returns the events it produced (``[]`` unless ``events=True``)."""
        data = _as_bytes(data)
        with self._lock:
            self._bytes_fed += len(data)
            self._raise_deferred(data)
            if not self._dispatched:
                self._head.see(data)
            self._frame_delivering(data)
            if self._dispatched:
                self._head.forget()
            events = self._events
            if not events:
                return []
            self._events = []
            return events

    def finish(self) -> dict[str, Any]:
        """End of input: return the folded result (for chat, the ``chat.completion`` dict).

        Raises :class:`~deltafold.IncompleteStreamError` if input ended inside an event or
        before the stream's end (unless ``allow_truncated``).
        """
        with self._lock:
            self._raise_deferred(b"")
            # Events made before an error in the held input are not returned here: raise it.
            self._finalize()
            return self._render()

    def finish_json(self) -> bytes:
        """End of input: the assembled completion as compact JSON bytes (:meth:`finish`)."""
        return json_bytes(self.finish())

    def finish_events(self) -> list[Event]:
        """End of input with events: the pending ``*.done`` events and the ``done`` event.

        If the input held after a raised error yields events and then another error, those
        events are returned (without ``done``) and the next call raises the error.
        """
        with self._lock:
            self._raise_deferred(b"")
            if self._stash:
                self._frame_delivering(b"")
                if self._deferred is not None:
                    events, self._events = self._events, []
                    return events
            self._finalize()
            if not self._events_on:
                return []  # events are made only when asked for, as feed() does
            events, self._events = self._events, []
            fold = self._decided_fold()
            events.extend(fold.done_events())
            events.append(Event("done", completion=fold.render()))
            return events

    def snapshot(self) -> dict[str, Any]:
        """The result folded so far."""
        with self._lock:
            return self._render()

    def summary_json(self) -> bytes:
        """:meth:`summary` as compact JSON bytes."""
        return json_bytes(self.summary())

    def summary(self) -> dict[str, Any]:
        """The cross-format summary of the stream so far (docs/formats.md "The summary"); works at
        any time, also after an error was raised."""
        with self._lock:
            fold = self._fold if self._fold is not None else self._placeholder()
            part = fold.summary()
            # A fold may say its stream closed as failed (Responses: response.failed).
            failed = part.pop("failed", False)
            folded_error = part.pop("error", None)
            if self._api_error is not None or failed:
                status = "failed"
            elif self._done:
                status = "complete"
            else:
                status = "incomplete"
            error = folded_error if self._api_error is None else self._api_error.body
            return _summary.build(self._format or "chat", status, error, part)

    @property
    def format(self) -> str | None:
        """The format: the one given, or under ``"auto"`` ``None`` until decided."""
        return self._format

    @property
    def problems(self) -> list[Problem]:
        """What was skipped or repaired (``on_error`` ``"skip"``/``"repair"``), in order."""
        return list(self._problems)

    @property
    def problems_dropped(self) -> int:
        """Problems past ``max_problems``, counted but not kept."""
        return self._problems_dropped

    @property
    def done(self) -> bool:
        """Whether the stream's end marker (``data: [DONE]``, ``message_stop``) was seen."""
        return self._done

    @property
    def bytes_fed(self) -> int:
        return self._bytes_fed

    # -- the fold --

    def _placeholder(self) -> Fold:
        """What an undecided stream shows: an empty chat result (anything else is chat)."""
        return fold_class("chat")(self._settings)

    def _decide(self, name: str) -> Fold:
        fold_type = fold_class(name)
        self._format = fold_type.name
        fold = self._fold = fold_type(self._settings)
        return fold

    def _decided_fold(self) -> Fold:
        """The fold; an input that ends undecided is folded as chat (``format`` stays
        ``None``: nothing decided it, and the summary says ``"chat"``)."""
        fold = self._fold
        if fold is None:
            fold = self._fold = fold_class("chat")(self._settings)
        return fold

    def _render(self) -> dict[str, Any]:
        fold = self._fold if self._fold is not None else self._placeholder()
        return fold.render()

    # -- end of input --

    def _finalize(self) -> None:
        """End of input: frame what an earlier error left unframed, drop an unterminated
        event, and apply the truncation rule (checked again on every call)."""
        if self._stash:
            self._frame(b"")
        inside_event = self._inside_event()
        self._drop_unterminated()
        self._refuse_non_stream()
        fold = self._decided_fold()
        if not inside_event and (self._done or fold.finished()):
            return
        error = IncompleteStreamError(
            "stream ended inside an event" if inside_event else fold.truncated_message,
            byte_offset=self._bytes_fed,
            event_index=self._dispatched,
        )
        if self._on_error == "raise" and not self._allow_truncated:
            error.partial = fold.render()
            raise error
        self._record(
            Problem(
                "IncompleteStreamError",
                "ignored",
                error.message,
                error.byte_offset,
                error.event_index,
            )
        )

    def _refuse_non_stream(self) -> None:
        """End of an input that dispatched no event: refuse it, in every mode, if it does not
        start like an event stream (an HTML page, a JSON error response)."""
        if not self._dispatched:
            error = self._head.not_an_event_stream(self._max_depth)
            if error is not None:
                error.partial = self._render()
                if isinstance(error, StreamAPIError) and self._api_error is None:
                    self._api_error = error
                raise error

    def _end_capture(self) -> dict[str, Any] | None:
        """End of a capture: the last stream's result, if it has any payload."""
        self._raise_deferred(b"")
        if self._stash:
            self._frame_delivering(b"")
            if self._deferred is not None:
                return None  # the completions made first are in _completed; raised next call
        self._refuse_non_stream()
        started = self._fold is not None and self._fold.started()
        if not started and not self._inside_event():
            return None
        self._finalize()
        fold = self._decided_fold()
        return fold.render() if fold.started() else None

    # -- per event --

    def _produced(self) -> bool:
        return bool(self._events or self._completed)

    def _record(self, problem: Problem) -> None:
        """Keep the first ``max_problems`` problems and count the rest."""
        if len(self._problems) < self._max_problems:
            self._problems.append(problem)
        else:
            self._problems_dropped += 1

    def _report(self, error: DeltafoldError) -> None:
        """A problem with the event at hand: raise it, or record it and go on."""
        if isinstance(error, StreamAPIError) and self._api_error is None:
            self._api_error = error
        if self._on_error == "raise":
            error.partial = self._render()
            raise error
        self._record(
            Problem(
                type(error).__name__, "skipped", error.message, error.byte_offset, error.event_index
            )
        )
        if self._events_on and isinstance(error, StreamAPIError):
            self._events.append(Event("error", error=error.body))

    def _dispatch(self, payload: bytes, offset: int, index: int, event_type: bytes | None) -> None:
        if self._done:
            message = f"event after {self._decided_fold().end_name} ignored"
            self._record(Problem("DataAfterDone", "ignored", message, offset, index))
            return
        fold = self._fold
        if fold is None:
            if undecided(payload, event_type):
                fold = self._placeholder()  # answers end_marker and refuse_event as chat would
            else:
                fold = self._decide(detect(payload, event_type, self._max_depth))
        if fold.end_marker(payload):
            self._decided_fold()
            self._end_of_stream()
            return
        self._buffered += len(payload)
        if self._buffered > self._max_buffer:
            self._report(
                LimitExceededError(
                    f"stream data longer than max_buffer_bytes ({self._max_buffer})",
                    limit="max_buffer_bytes",
                    maximum=self._max_buffer,
                    byte_offset=offset,
                    event_index=index,
                )
            )
            return
        if event_type == b"error":
            self._report(api_error(_error_event_body(payload, self._max_depth), offset, index))
            return
        if payload[:1] != b"{" and not payload.strip(_ASCII_WS):
            return  # an empty data event (WHATWG dispatches it) carries no payload
        fold.refuse_event(event_type, offset, index)
        value: Any = _UNPARSED
        if payload.count(b"{") + payload.count(b"[") <= self._max_depth:
            try:
                value = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass  # the careful path below finds out why
        if value is _UNPARSED:
            try:
                value = self._parse(payload, offset, index)
            except ChunkDecodeError as error:
                if self._on_error != "repair" or not self._apply_repaired(
                    fold, payload, event_type, offset, index
                ):
                    self._report(error)
                return
            except DeltafoldError as error:
                self._report(error)
                return
        fold.refuse_payload(value, offset, index)
        try:
            fold.check(value, payload, event_type, offset, index)
        except DeltafoldError as error:
            self._report(error)
            return
        self._apply(fold, value, offset, index)

    def _apply(self, fold: Fold, value: Any, offset: int, index: int) -> None:
        folded = fold.apply(value, self._events if self._events_on else None, offset, index)
        if isinstance(folded, EndBefore):
            self._trailer = folded.trailer
            if not self._capture:
                self._done = True
        elif folded:
            self._end_of_stream()

    def _apply_repaired(
        self, fold: Fold, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> bool:
        """Repair mode: apply the repaired payload if it is valid; whether that happened."""
        repaired = repair_chunk_json(payload)
        if repaired is None:
            return False
        try:
            value = self._parse(repaired, offset, index)
            fold.check(value, repaired, event_type, offset, index)
        except DeltafoldError:
            return False
        self._record(
            Problem("ChunkDecodeError", "repaired", "malformed chunk JSON repaired", offset, index)
        )
        self._apply(fold, value, offset, index)
        return True

    def _parse(self, payload: bytes, offset: int, index: int) -> Any:
        """orjson-decode a payload, enforcing ``max_depth`` as if nesting were checked while
        reading: whichever comes first, the too-deep bracket or the syntax error, is reported."""
        too_deep: int | None = None
        if payload.count(b"{") + payload.count(b"[") > self._max_depth:
            too_deep = first_too_deep(payload, self._max_depth)
        try:
            value = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            message, position = first_decode_error(payload, error)
            if too_deep is not None and too_deep < position:
                raise self._depth_error(offset, index) from None
            if (
                self._max_depth > ORJSON_MAX_DEPTH
                and first_too_deep(payload, ORJSON_MAX_DEPTH) is not None
            ):
                # orjson stopped at its own nesting limit, below the one asked for.
                try:
                    value = parse_deep(payload)
                except DeepSyntaxError as deep:
                    message, position = str(deep), deep.pos
                else:
                    if too_deep is not None:
                        raise self._depth_error(offset, index) from None
                    return value
                if too_deep is not None and too_deep < position:
                    raise self._depth_error(offset, index) from None
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid event JSON: {message}",
                payload,
                position,
                byte_offset=offset,
                event_index=index,
            ) from None
        if too_deep is not None:
            raise self._depth_error(offset, index)
        return value

    def _depth_error(self, offset: int, index: int) -> LimitExceededError:
        return LimitExceededError(
            f"JSON nested deeper than max_depth ({self._max_depth})",
            limit="max_depth",
            maximum=self._max_depth,
            byte_offset=offset,
            event_index=index,
        )

    def _end_of_stream(self) -> None:
        """The end marker: the stream is complete (in a capture, the next one starts)."""
        self._trailer = None
        if not self._capture:
            self._done = True
            return
        fold = self._decided_fold()
        self._completed.append(fold.render())
        self._fold = type(fold)(self._settings)
        self._buffered = 0


def json_bytes(value: Any) -> bytes:
    """Compact JSON as the native writer makes it: orjson's escaping and key order, or
    ``json.dumps`` with the same escaping for a value nested deeper than orjson writes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()


def _error_event_body(payload: bytes, max_depth: int) -> Any:
    """``event: error``: the data as JSON if it is JSON nested no deeper than ``max_depth``,
    else as text (empty data gives ``""``)."""
    if payload.count(b"{") + payload.count(b"[") <= max_depth or (
        first_too_deep(payload, max_depth) is None
    ):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            if max_depth > ORJSON_MAX_DEPTH and first_too_deep(payload, ORJSON_MAX_DEPTH):
                try:
                    return parse_deep(payload)
                except DeepSyntaxError:
                    pass
    return payload.decode("utf-8", "replace")
