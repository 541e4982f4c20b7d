"""The per-delta :class:`Event`."""

from __future__ import annotations

from typing import Any, Final, SupportsIndex, final

from deltafold.reference.partial import parse_partial
from deltafold.reference.values import _copy

#: The attributes of an event, in the order ``as_dict`` and ``repr`` show them.
FIELDS: Final = (
    "type",
    "choice_index",
    "index",
    "id",
    "name",
    "field",
    "delta",
    "snapshot",
    "content",
    "refusal",
    "arguments",
    "arguments_delta",
    "parsed_arguments",
    "usage",
    "error",
    "completion",
)


class _Lazy:
    """A value computed on first access: a long stream's events must not each copy the text."""

    __slots__ = ("_count", "_items")

    def __init__(self, items: list[Any], count: int) -> None:
        self._items = items
        self._count = count

    def resolve(self) -> Any:
        raise NotImplementedError


class _TextSoFar(_Lazy):
    """The text of an accumulator as it was when the event was made (parts only ever grow)."""

    __slots__ = ()

    def resolve(self) -> str:
        return "".join(self._items[: self._count])


class _ListSoFar(_Lazy):
    __slots__ = ()

    def resolve(self) -> list[Any]:
        return _copy(self._items[: self._count])  # type: ignore[no-any-return]


class _PartialSoFar(_Lazy):
    __slots__ = ()

    def resolve(self) -> Any:
        return parse_partial("".join(self._items[: self._count]))


@final
class Event:
    """A per-delta event. Immutable; attributes that do not apply to a type are ``None``.

    Each attribute is a read-only property over a private slot, so assigning or deleting one
    raises ``AttributeError``, and ``__slots__`` refuses any other name.

    ``snapshot``, ``arguments`` and ``parsed_arguments`` may be given as a :class:`_Lazy`, which
    is resolved (once) when the attribute is first read.
    """

    __slots__ = tuple(f"_{name}" for name in FIELDS)

    _type: str
    _choice_index: int | None
    _index: int | None
    _id: str | None
    _name: str | None
    _field: str | None
    _delta: str | None
    _snapshot: Any
    _content: Any
    _refusal: Any
    _arguments: str | _Lazy | None
    _arguments_delta: str | None
    _parsed_arguments: Any
    _usage: dict[str, Any] | None
    _error: Any
    _completion: dict[str, Any] | None

    def __init__(
        self,
        type: str,
        *,
        choice_index: int | None = None,
        index: int | None = None,
        id: str | None = None,
        name: str | None = None,
        field: str | None = None,
        delta: str | None = None,
        snapshot: Any = None,
        content: Any = None,
        refusal: Any = None,
        arguments: str | _Lazy | None = None,
        arguments_delta: str | None = None,
        parsed_arguments: Any = None,
        usage: dict[str, Any] | None = None,
        error: Any = None,
        completion: dict[str, Any] | None = None,
    ) -> None:
        self._type = type
        self._choice_index = choice_index
        self._index = index
        self._id = id
        self._name = name
        self._field = field
        self._delta = delta
        self._snapshot = snapshot
        self._content = content
        self._refusal = refusal
        self._arguments = arguments
        self._arguments_delta = arguments_delta
        self._parsed_arguments = parsed_arguments
        self._usage = usage
        self._error = error
        self._completion = completion

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        # Like the native class: not picklable, and copy/deepcopy refuse it the same way (an
        # event is immutable: share it instead of copying it).
        raise TypeError("cannot pickle 'deltafold.Event' object")

    def _resolved(self, slot: str) -> Any:
        value = getattr(self, slot)
        if isinstance(value, _Lazy):
            value = value.resolve()
            setattr(self, slot, value)
        return value

    @property
    def type(self) -> str:
        return self._type

    @property
    def choice_index(self) -> int | None:
        return self._choice_index

    @property
    def index(self) -> int | None:
        """Tool-call position in the choice's ``tool_calls`` list (tool events only)."""
        return self._index

    @property
    def id(self) -> str | None:
        """Tool-call id (tool events only)."""
        return self._id

    @property
    def name(self) -> str | None:
        """Function name (tool and function_call events)."""
        return self._name

    @property
    def field(self) -> str | None:
        """The delta key a reasoning event comes from (``reasoning_content`` or ``reasoning``)."""
        return self._field

    @property
    def delta(self) -> str | None:
        """The new text of a ``*.delta`` event."""
        return self._delta

    @property
    def snapshot(self) -> Any:
        """Text so far (text events) or the whole list so far (logprobs events)."""
        return self._resolved("_snapshot")

    @property
    def content(self) -> Any:
        """``content.done``: the final text; ``logprobs.content.delta``: the new entries."""
        return self._content

    @property
    def refusal(self) -> Any:
        """``refusal.done``: the final text; ``logprobs.refusal.delta``: the new entries."""
        return self._refusal

    @property
    def arguments(self) -> str | None:
        """Tool/function arguments so far (delta events) or final (done events)."""
        arguments: str | None = self._resolved("_arguments")
        return arguments

    @property
    def arguments_delta(self) -> str | None:
        """The new argument text of an arguments delta event."""
        return self._arguments_delta

    @property
    def parsed_arguments(self) -> Any:
        """Arguments parsed as partial JSON (only with ``partial_arguments=True``)."""
        return self._resolved("_parsed_arguments")

    @property
    def usage(self) -> dict[str, Any] | None:
        return self._usage

    @property
    def error(self) -> Any:
        """``error`` events: the error body."""
        return self._error

    @property
    def completion(self) -> dict[str, Any] | None:
        """``done`` events: the assembled completion."""
        return self._completion

    def as_dict(self) -> dict[str, Any]:
        """The event as a plain dict (``type`` plus every attribute that is not ``None``)."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items())
        return f"Event({fields})"


def texts_done(text: str | None, field: str, reasoning: str | None) -> list[Event]:
    """The ``.done`` events of the texts of a one-message fold (Anthropic, Bedrock):
    ``content.done`` if the message has a text block (``text`` is not None), then
    ``reasoning.done`` under ``field`` if it has a reasoning block."""
    events: list[Event] = []
    if text is not None:
        events.append(Event("content.done", choice_index=0, content=text, snapshot=text))
    if reasoning is not None:
        events.append(Event("reasoning.done", choice_index=0, field=field, snapshot=reasoning))
    return events


def call_done(
    index: int | None, id: str | None, name: str | None, arguments: str, partial: bool
) -> Event:
    """A tool call's ``.done`` from its final arguments text, with ``parsed_arguments`` when
    ``partial`` (``partial_arguments=True``)."""
    return Event(
        "tool_calls.function.arguments.done",
        choice_index=0,
        index=index,
        id=id,
        name=name,
        snapshot=arguments,
        arguments=arguments,
        parsed_arguments=_PartialSoFar([arguments], 1) if partial else None,
    )
