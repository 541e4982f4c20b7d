"""Native core of deltafold (Rust, built by maturin).

This stub is hand-written and checked against the built module by ``mypy.stubtest``.
The pure-Python twin :mod:`deltafold.reference` has the same names and gives the same results.
"""

from types import MappingProxyType
from typing import Any, Literal, TypeAlias, final

from typing_extensions import Self

from deltafold.errors import Problem

_OnError: TypeAlias = Literal["raise", "skip", "repair"]
_Format: TypeAlias = Literal["auto", "chat", "anthropic", "responses", "gemini", "bedrock"]

__version__: str

DEFAULTS: MappingProxyType[str, Any]
"""The default of every keyword option: the ``...`` defaults of the limits below are these."""

FORMATS: tuple[str, ...]
"""The names ``format=`` accepts besides ``"auto"``: the formats implemented."""

ALLOCATOR: Literal["mimalloc", "system"]
"""The heap of the extension's Rust side: ``"mimalloc"`` (small blocks; large ones from the
system allocator) in the wheels, ``"system"`` in a build without the ``mimalloc`` feature."""

@final
class SseEvent:
    """One dispatched Server-Sent Event (WHATWG "event stream interpretation")."""

    @property
    def event(self) -> str:
        """The event type; ``"message"`` when no ``event:`` field was given."""
    @property
    def data(self) -> str:
        """The data buffer: ``data`` lines joined with ``\\n``."""
    @property
    def id(self) -> str:
        """The last event ID at dispatch time (persists across events; ``""`` if never set)."""
    @property
    def retry(self) -> int | None:
        """The reconnection time at dispatch time (persists; ``None`` if never set)."""

@final
class SseDecoder:
    """Incremental SSE decoder: feed bytes as they arrive, get the events they complete.

    Line ends are CRLF, LF or lone CR, also when a CR ends one read and the LF starts the next.
    One leading BOM is stripped. Invalid UTF-8 becomes U+FFFD.

    A line longer than ``max_line_bytes`` raises :class:`~deltafold.LimitExceededError`. The
    events completed before it are returned first, and the next call raises; decoding then
    goes on after that line, so nothing before or after it is lost.
    """

    def __new__(cls, *, max_line_bytes: int = ...) -> Self: ...
    def feed(self, data: bytes) -> list[SseEvent]:
        """Decode one read and return the events it completed.

        Raises an error met by the previous call after it had completed events; ``data`` is
        then kept and decoded by the next call.
        """
    def finish(self) -> list[SseEvent]:
        """End of input: the events that input held after an error still completes; an
        unterminated event is discarded (per spec)."""
    @property
    def last_event_id(self) -> str:
        """The last event ID buffer."""
    @property
    def retry(self) -> int | None:
        """The reconnection time, if a valid ``retry`` field was seen."""

@final
class Event:
    """A per-delta event. Immutable; attributes that do not apply to a type are ``None``.

    Types: ``content.delta``, ``content.done``, ``refusal.delta``, ``refusal.done``,
    ``reasoning.delta``, ``reasoning.done``, ``tool_calls.function.arguments.delta``,
    ``tool_calls.function.arguments.done``, ``function_call.arguments.delta``,
    ``function_call.arguments.done``, ``logprobs.content.delta``, ``logprobs.refusal.delta``,
    ``usage``, ``error``, ``done``.
    """

    @property
    def type(self) -> str: ...
    @property
    def choice_index(self) -> int | None: ...
    @property
    def index(self) -> int | None:
        """Tool-call position in the choice's ``tool_calls`` list (tool events only)."""
    @property
    def id(self) -> str | None:
        """Tool-call id (tool events only)."""
    @property
    def name(self) -> str | None:
        """Function name (tool and function_call events)."""
    @property
    def field(self) -> str | None:
        """The delta key a reasoning event comes from (``reasoning_content`` or ``reasoning``)."""
    @property
    def delta(self) -> str | None:
        """The new text of a ``*.delta`` event."""
    @property
    def snapshot(self) -> Any:
        """Text so far (text events) or the whole list so far (logprobs events)."""
    @property
    def content(self) -> Any:
        """``content.done``: the final text; ``logprobs.content.delta``: the new entries."""
    @property
    def refusal(self) -> Any:
        """``refusal.done``: the final text; ``logprobs.refusal.delta``: the new entries."""
    @property
    def arguments(self) -> str | None:
        """Tool/function arguments so far (delta events) or final (done events)."""
    @property
    def arguments_delta(self) -> str | None:
        """The new argument text of an arguments delta event."""
    @property
    def parsed_arguments(self) -> Any:
        """Arguments parsed as partial JSON (only with ``partial_arguments=True``)."""
    @property
    def usage(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> Any:
        """``error`` events: the error body."""
    @property
    def completion(self) -> dict[str, Any] | None:
        """``done`` events: the assembled completion."""
    def as_dict(self) -> dict[str, Any]:
        """The event as a plain dict (``type`` plus every attribute that is not ``None``)."""

@final
class StreamParser:
    """Incremental parser for one stream (Chat Completions, Anthropic Messages, ...).

    Feed each network read to :meth:`feed`; call :meth:`finish` at end of input. Holds only the
    partial line and the accumulators, never the raw chunks.
    """

    def __new__(
        cls,
        *,
        format: _Format = "auto",
        on_error: _OnError = "raise",
        events: bool = False,
        partial_arguments: bool = False,
        allow_truncated: bool = False,
        max_line_bytes: int = ...,
        max_buffer_bytes: int = ...,
        max_choice_index: int = ...,
        max_tool_calls: int = ...,
        max_depth: int = ...,
        max_problems: int = ...,
    ) -> Self: ...
    def feed(self, data: bytes) -> list[Event]:
        """Consume one read. Returns the events it produced (``[]`` unless ``events=True``).

        Events produced before a bad chunk are returned, and the error is raised by the next
        call (``feed``, ``finish`` or ``finish_events``), whose input is kept.
        """
    def finish(self) -> dict[str, Any]:
        """End of input: return the assembled ``chat.completion`` dict.

        Raises :class:`~deltafold.IncompleteStreamError` if input ended inside an event or with
        neither ``[DONE]`` nor a finish_reason on every choice (unless ``allow_truncated``).
        """
    def finish_json(self) -> bytes:
        """:meth:`finish`, as compact JSON bytes (what ``orjson.dumps`` of it gives, key order
        kept), written without building Python objects."""
    def finish_events(self) -> list[Event]:
        """End of input with events: the pending ``*.done`` events and the ``done`` event.

        If the input held after a raised error yields events and then another error, those
        events are returned (without ``done``) and the next call raises the error.
        """
    def snapshot(self) -> dict[str, Any]:
        """The completion assembled so far."""
    @property
    def problems(self) -> list[Problem]:
        """What was skipped or repaired (``on_error`` ``"skip"``/``"repair"``), in order: the
        first ``max_problems``."""
    @property
    def problems_dropped(self) -> int:
        """Problems past ``max_problems``, counted but not kept."""
    @property
    def done(self) -> bool:
        """Whether the stream's end marker (``data: [DONE]``, ``message_stop``) was seen."""
    @property
    def format(self) -> str | None:
        """The fixed format, or under ``format="auto"`` the one decided on the first event
        (``None`` until then)."""
    def summary(self) -> dict[str, Any]:
        """The cross-format summary of the stream as it stands; works at any time, also after
        the parser raised. Keys: format, id, model, status, finish_reason, stop_reason, usage,
        text, reasoning, tool_calls, error."""
    def summary_json(self) -> bytes:
        """:meth:`summary` as compact JSON bytes."""
    @property
    def bytes_fed(self) -> int: ...

@final
class CaptureParser:
    """Parser for a capture holding many streams back to back (each ended by ``[DONE]``)."""

    def __new__(
        cls,
        *,
        format: _Format = "auto",
        on_error: _OnError = "raise",
        allow_truncated: bool = False,
        max_line_bytes: int = ...,
        max_buffer_bytes: int = ...,
        max_choice_index: int = ...,
        max_tool_calls: int = ...,
        max_depth: int = ...,
        max_problems: int = ...,
    ) -> Self: ...
    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Consume one read; returns the completions of the streams it closed. An error met
        after one closed is raised by the next call."""
    def finish(self) -> list[dict[str, Any]]:
        """End of input: the last stream's completion, if it had any chunk."""
    @property
    def problems(self) -> list[Problem]: ...
    @property
    def problems_dropped(self) -> int: ...

def assemble(
    source: bytes,
    *,
    format: _Format = "auto",
    on_error: _OnError = "raise",
    allow_truncated: bool = False,
    max_line_bytes: int = ...,
    max_buffer_bytes: int = ...,
    max_choice_index: int = ...,
    max_tool_calls: int = ...,
    max_depth: int = ...,
    max_problems: int = ...,
) -> dict[str, Any]:
    """Assemble a whole stream held in memory."""

@final
class EventStreamMessage:
    """One AWS event-stream message whose CRCs and headers checked."""

    @property
    def headers(self) -> dict[str, bool | int | bytes | str]:
        """The headers as botocore gives them: bool, int (byte, short, int, long, timestamp in
        milliseconds), bytes (bytes, uuid) or str. A new dict on each read."""
    @property
    def payload(self) -> bytes: ...

@final
class EventStreamDecoder:
    """Incremental AWS event-stream decoder (the framing of Bedrock streams): feed bytes as
    they arrive, get the messages they complete.

    A bad prelude or message CRC, impossible lengths, a malformed header or an input that ends
    inside a message raise :class:`~deltafold.StreamDecodeError` at the offset of the message
    (of the header, for a header problem); a message longer than ``max_message_bytes`` raises
    :class:`~deltafold.LimitExceededError` before anything of it is buffered. Messages
    completed before an error are returned first and the next call raises. After a bad
    prelude nothing tells where the next message starts: the rest of the input is dropped.
    """

    def __new__(cls, *, max_message_bytes: int = ...) -> Self: ...
    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Decode one read and return the messages it completed."""
    def finish(self) -> list[EventStreamMessage]:
        """End of input: raises if the input ended inside a message."""

def assemble_json(
    source: bytes,
    *,
    format: _Format = "auto",
    on_error: _OnError = "raise",
    allow_truncated: bool = False,
    max_line_bytes: int = ...,
    max_buffer_bytes: int = ...,
    max_choice_index: int = ...,
    max_tool_calls: int = ...,
    max_depth: int = ...,
    max_problems: int = ...,
) -> bytes:
    """:func:`assemble`, as compact JSON bytes."""
