"""The chat layer on top of the framer: ``[DONE]``, in-band errors, chunk validation, limits,
``on_error`` handling, captures of many streams, and the problems kept."""

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
    UnsupportedFormatError,
)
from deltafold.reference.chat import (
    _api_message,
    _Assembly,
    _byte_position,
    _describe,
    _schema_violation,
)
from deltafold.reference.events import Event
from deltafold.reference.framing import _Framer
from deltafold.reference.json import (
    ORJSON_MAX_DEPTH,
    DeepSyntaxError,
    first_too_deep,
    parse_deep,
    value_position,
)
from deltafold.reference.options import (
    DEFAULT_MAX_BUFFER_BYTES,
    DEFAULT_MAX_CHOICE_INDEX,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PROBLEMS,
    DEFAULT_MAX_TOOL_CALLS,
    MAX_DEPTH_CEILING,
    _as_bytes,
    _check_flag,
    _check_limit,
    _check_on_error,
)
from deltafold.reference.repair import repair_chunk_json
from deltafold.reference.sniff import (
    _FORMAT_DESCRIPTIONS,
    _format_of_chunk,
    _format_of_event,
    _Head,
)

# ASCII whitespace as WHATWG defines it: what may surround `[DONE]`, and all an ignored empty
# data event may hold.
_ASCII_WS: Final = b" \t\n\r\x0c"
_UNPARSED: Final[Any] = object()


@final
class StreamParser(_Framer):
    """Incremental parser for one chat-completions stream.

    Feed each network read to :meth:`feed`; call :meth:`finish` at end of input. Holds only the
    partial line and the accumulators, never the raw chunks.
    """

    __slots__ = (
        "_allow_truncated",
        "_assembly",
        "_buffered",
        "_bytes_fed",
        "_capture",
        "_completed",
        "_done",
        "_events",
        "_events_on",
        "_head",
        "_max_buffer",
        "_max_choice_index",
        "_max_depth",
        "_max_problems",
        "_max_tool_calls",
        "_on_error",
        "_partial_arguments",
        "_problems",
        "_problems_dropped",
    )

    def __init__(
        self,
        *,
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
        self._partial_arguments = bool(partial_arguments)
        self._allow_truncated = bool(allow_truncated)
        self._max_buffer = max_buffer_bytes
        self._max_choice_index = max_choice_index
        self._max_tool_calls = max_tool_calls
        self._max_depth = max_depth
        self._assembly = _Assembly()
        self._problems: list[Problem] = []
        self._max_problems = max_problems
        self._problems_dropped = 0
        self._head = _Head()
        self._done = False
        self._bytes_fed = 0
        self._buffered = 0  # payload bytes dispatched in this stream (max_buffer_bytes)
        # Events made but not yet returned (kept across a raised error, returned next time).
        self._events: list[Event] = []
        # iter_completions: [DONE] ends one stream of a capture and the next one starts.
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
        """End of input: return the assembled ``chat.completion`` dict.

        Raises :class:`~deltafold.IncompleteStreamError` if input ended inside an event or with
        neither ``[DONE]`` nor a finish_reason on every choice (unless ``allow_truncated``).
        """
        with self._lock:
            self._raise_deferred(b"")
            # Events made before an error in the held input are not returned here: raise it.
            self._finalize()
            return self._assembly.render()

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
            assembly = self._assembly
            for index in sorted(assembly.choices):
                events.extend(assembly.choices[index].pending_done_events(self._partial_arguments))
            events.append(Event("done", completion=assembly.render()))
            return events

    def snapshot(self) -> dict[str, Any]:
        """The completion assembled so far."""
        with self._lock:
            return self._assembly.render()

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
        """Whether ``data: [DONE]`` was seen."""
        return self._done

    @property
    def bytes_fed(self) -> int:
        return self._bytes_fed

    # -- end of input --

    def _finalize(self) -> None:
        """End of input: frame what an earlier error left unframed, drop an unterminated
        event, and apply the truncation rule (checked again on every call)."""
        if self._stash:
            self._frame(b"")
        inside_event = self._inside_event()
        self._drop_unterminated()
        self._refuse_non_stream()
        if not inside_event and (self._done or not self._assembly.unfinished()):
            return
        error = IncompleteStreamError(
            "stream ended inside an event"
            if inside_event
            else "stream ended without [DONE] or a finish_reason on every choice",
            byte_offset=self._bytes_fed,
            event_index=self._dispatched,
        )
        if self._on_error == "raise" and not self._allow_truncated:
            error.partial = self._assembly.render()
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
                error.partial = self._assembly.render()
                raise error

    def _end_capture(self) -> dict[str, Any] | None:
        """End of a capture: the last stream's completion, if it has any chunk."""
        self._raise_deferred(b"")
        if self._stash:
            self._frame_delivering(b"")
            if self._deferred is not None:
                return None  # the completions made first are in _completed; raised next call
        self._refuse_non_stream()
        if self._assembly.chunks == 0 and not self._inside_event():
            return None
        self._finalize()
        return self._assembly.render() if self._assembly.chunks else None

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
        if self._on_error == "raise":
            error.partial = self._assembly.render()
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
            self._record(
                Problem("DataAfterDone", "ignored", "event after [DONE] ignored", offset, index)
            )
            return
        if payload[:1] != b"{" and payload.strip(_ASCII_WS) == b"[DONE]":
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
            self._report(_api_error(_error_event_body(payload, self._max_depth), offset, index))
            return
        if payload[:1] != b"{" and not payload.strip(_ASCII_WS):
            return  # an empty data event (WHATWG dispatches it) carries no chunk
        if not self._assembly.chunks and event_type:
            self._refuse_format(_format_of_event(event_type), offset, index)
        chunk: Any = _UNPARSED
        if payload.count(b"{") + payload.count(b"[") <= self._max_depth:
            try:
                chunk = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass  # the careful path below finds out why
        if chunk is _UNPARSED:
            try:
                chunk = self._parse(payload, offset, index)
            except ChunkDecodeError as error:
                if self._on_error != "repair" or not self._apply_repaired(payload, offset, index):
                    self._report(error)
                return
            except DeltafoldError as error:
                self._report(error)
                return
        if not self._assembly.chunks and type(chunk) is dict:
            self._refuse_format(_format_of_chunk(chunk), offset, index)
        self._apply_chunk(chunk, payload, offset, index)

    def _apply_chunk(self, chunk: Any, payload: bytes, offset: int, index: int) -> None:
        """Check a parsed chunk and fold it in, or report why it is refused."""
        try:
            self._check(chunk, payload, offset, index)
        except DeltafoldError as error:
            self._report(error)
            return
        events = self._events if self._events_on else None
        self._assembly.apply(chunk, events, self._partial_arguments)

    def _refuse_format(self, format: str | None, offset: int, index: int) -> None:
        """A chunk of another format is raised in every mode: skipping it would leave a
        silently empty completion."""
        if format is not None:
            raise UnsupportedFormatError(
                f"unsupported stream format: this is {_FORMAT_DESCRIPTIONS[format]}, "
                "not an OpenAI Chat Completions stream (chat.completion.chunk)",
                format=format,
                byte_offset=offset,
                event_index=index,
                partial=self._assembly.render(),
            )

    def _apply_repaired(self, payload: bytes, offset: int, index: int) -> bool:
        """Repair mode: apply the repaired chunk if it is valid; whether that happened."""
        repaired = repair_chunk_json(payload)
        if repaired is None:
            return False
        try:
            chunk = self._parse(repaired, offset, index)
            self._check(chunk, repaired, offset, index)
        except DeltafoldError:
            return False
        self._assembly.apply(
            chunk, self._events if self._events_on else None, self._partial_arguments
        )
        self._record(
            Problem("ChunkDecodeError", "repaired", "malformed chunk JSON repaired", offset, index)
        )
        return True

    def _parse(self, payload: bytes, offset: int, index: int) -> Any:
        """orjson-decode a payload, enforcing ``max_depth`` as if nesting were checked while
        reading: whichever comes first, the too-deep bracket or the syntax error, is reported."""
        too_deep: int | None = None
        if payload.count(b"{") + payload.count(b"[") > self._max_depth:
            too_deep = first_too_deep(payload, self._max_depth)
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError as error:
            message, position = error.msg, _byte_position(payload, error)
            if too_deep is not None and too_deep < position:
                raise self._depth_error(offset, index) from None
            if (
                self._max_depth > ORJSON_MAX_DEPTH
                and first_too_deep(payload, ORJSON_MAX_DEPTH) is not None
            ):
                # orjson stopped at its own nesting limit, below the one asked for.
                try:
                    chunk = parse_deep(payload)
                except DeepSyntaxError as deep:
                    message, position = str(deep), deep.pos
                else:
                    if too_deep is not None:
                        raise self._depth_error(offset, index) from None
                    return chunk
                if too_deep is not None and too_deep < position:
                    raise self._depth_error(offset, index) from None
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk JSON: {message}",
                payload,
                position,
                byte_offset=offset,
                event_index=index,
            ) from None
        if too_deep is not None:
            raise self._depth_error(offset, index)
        return chunk

    def _depth_error(self, offset: int, index: int) -> LimitExceededError:
        return LimitExceededError(
            f"JSON nested deeper than max_depth ({self._max_depth})",
            limit="max_depth",
            maximum=self._max_depth,
            byte_offset=offset,
            event_index=index,
        )

    def _check(self, chunk: Any, payload: bytes, offset: int, index: int) -> None:
        """Everything that must hold before a chunk is applied: schema, no in-band error,
        limits. Raises the error to report."""
        violation = _schema_violation(chunk)
        if violation is not None:
            path, expected = violation
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk: expected {_describe(path)} to be {expected}",
                payload,
                value_position(payload, path),
                byte_offset=offset,
                event_index=index,
            )
        body = chunk.get("error")
        if body is None and chunk.get("object") == "error":
            body = chunk
        if body is not None:
            raise _api_error(body, offset, index)
        broken = self._assembly.limit_violation(chunk, self._max_choice_index, self._max_tool_calls)
        if broken is not None:
            limit, maximum, what = broken
            raise LimitExceededError(
                f"{what} exceeds {limit} ({maximum})",
                limit=limit,
                maximum=maximum,
                byte_offset=offset,
                event_index=index,
            )

    def _end_of_stream(self) -> None:
        if not self._capture:
            self._done = True
            return
        self._completed.append(self._assembly.render())
        self._assembly = _Assembly()
        self._buffered = 0


def json_bytes(value: Any) -> bytes:
    """Compact JSON as the native writer makes it: orjson's escaping and key order, or
    ``json.dumps`` with the same escaping for a value nested deeper than orjson writes."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()


def _api_error(body: Any, offset: int, index: int) -> StreamAPIError:
    return StreamAPIError(
        f"stream reported an error: {_api_message(body)}",
        body=body,
        byte_offset=offset,
        event_index=index,
    )


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


