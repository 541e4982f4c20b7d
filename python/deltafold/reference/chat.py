"""The OpenAI Chat Completions format: chunk validation and the accumulators that fold
validated chunks into a ``chat.completion`` (merge rules: docs/design.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Final

import orjson

from deltafold.errors import (
    ChunkDecodeError,
    LimitExceededError,
    StreamAPIError,
    UnsupportedFormatError,
)
from deltafold.reference.events import Event, _ListSoFar, _PartialSoFar, _TextSoFar
from deltafold.reference.fold import Fold, FoldSettings
from deltafold.reference.json import value_position
from deltafold.reference.sniff import _FORMAT_DESCRIPTIONS, _format_of_chunk, _format_of_event
from deltafold.reference.summary import count, usage
from deltafold.reference.values import Path, _copy, _Parts

# Keys with their own merge rule; every other key falls to the generic rule of its level.
_TOP_LEVEL_KEYS: Final = frozenset(
    {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
        "service_tier",
        "obfuscation",
        "error",
    }
)
_CHOICE_KEYS: Final = frozenset({"index", "delta", "finish_reason", "logprobs"})
_TOOL_CALL_KEYS: Final = frozenset({"index", "id", "type", "function"})
_FUNCTION_KEYS: Final = frozenset({"name", "arguments"})
_REASONING_FIELDS: Final = frozenset({"reasoning_content", "reasoning"})
# Delta keys _apply_delta handles itself, outside the arrival-order pass over the others.
_DELTA_FIXED_ORDER: Final = frozenset(
    {"index", "role", "content", "refusal", "tool_calls", "function_call", "audio"}
)

_ABSENT: Final[Any] = object()
# -- chunk validation -----------------------------------------------------------------------------

_STRING_OR_NULL: Final = "a string or null"
_OBJECT_OR_NULL: Final = "an object or null"
_ARRAY_OR_NULL: Final = "an array or null"
_INDEX: Final = "a non-negative integer"

Violation = tuple[Path, str]


def _schema_violation(chunk: Any) -> Violation | None:
    """The first place where a decoded payload breaks the chunk schema, or ``None``."""
    if type(chunk) is not dict:
        return (), "a JSON object"
    get = chunk.get
    value = get("id")
    if value is not None and type(value) is not str:
        return ("id",), _STRING_OR_NULL
    value = get("model")
    if value is not None and type(value) is not str:
        return ("model",), _STRING_OR_NULL
    value = get("system_fingerprint")
    if value is not None and type(value) is not str:
        return ("system_fingerprint",), _STRING_OR_NULL
    value = get("service_tier")
    if value is not None and type(value) is not str:
        return ("service_tier",), _STRING_OR_NULL
    value = get("created")
    if value is not None and type(value) is not int:
        return ("created",), "an integer or null"
    value = get("usage")
    if value is not None and type(value) is not dict:
        return ("usage",), _OBJECT_OR_NULL
    return _list_violation(get("choices"), "choices", _choice_violation)


def _list_violation(
    items: Any, key: str, check: Callable[[Any], Violation | None]
) -> Violation | None:
    """An array-or-null field whose items must each pass ``check``: the first item's violation,
    its path under ``key`` and the item's position."""
    if items is None:
        return None
    if type(items) is not list:
        return (key,), _ARRAY_OR_NULL
    for position, item in enumerate(items):
        found = check(item)
        if found is not None:
            return (key, position, *found[0]), found[1]
    return None


def _choice_violation(choice: Any) -> Violation | None:
    if type(choice) is not dict:
        return (), "an object"
    get = choice.get
    index = get("index", 0)
    if type(index) is not int or index < 0:
        return ("index",), _INDEX
    value = get("finish_reason")
    if value is not None and type(value) is not str:
        return ("finish_reason",), _STRING_OR_NULL
    logprobs = get("logprobs")
    if logprobs is not None:
        found = _logprobs_violation(logprobs)
        if found is not None:
            return ("logprobs", *found[0]), found[1]
    delta = get("delta")
    if delta is None:
        return None
    if type(delta) is not dict:
        return ("delta",), _OBJECT_OR_NULL
    found = _delta_violation(delta)
    if found is not None:
        return ("delta", *found[0]), found[1]
    return None


def _logprobs_violation(logprobs: Any) -> Violation | None:
    if type(logprobs) is not dict:
        return (), _OBJECT_OR_NULL
    for key in ("content", "refusal"):
        value = logprobs.get(key)
        if value is not None and type(value) is not list:
            return (key,), _ARRAY_OR_NULL
    return None


def _delta_violation(delta: dict[str, Any]) -> Violation | None:
    get = delta.get
    content = get("content")
    if content is not None and type(content) is not str and type(content) is not list:
        return ("content",), "a string, an array or null"
    if len(delta) == 1 and content is not None:
        return None  # the common delta: just content
    value = get("role")
    if value is not None and type(value) is not str:
        return ("role",), _STRING_OR_NULL
    value = get("refusal")
    if value is not None and type(value) is not str:
        return ("refusal",), _STRING_OR_NULL
    value = get("audio")
    if value is not None and type(value) is not dict:
        return ("audio",), _OBJECT_OR_NULL
    call = get("function_call")
    if call is not None:
        if type(call) is not dict:
            return ("function_call",), _OBJECT_OR_NULL
        for key in _FUNCTION_KEYS:
            value = call.get(key)
            if value is not None and type(value) is not str:
                return ("function_call", key), _STRING_OR_NULL
    return _list_violation(get("tool_calls"), "tool_calls", _tool_call_violation)


def _tool_call_violation(fragment: Any) -> Violation | None:
    if type(fragment) is not dict:
        return (), "an object"
    get = fragment.get
    index = get("index")
    if index is not None and (type(index) is not int or index < 0):
        return ("index",), _INDEX
    value = get("id")
    if value is not None and type(value) is not str:
        return ("id",), _STRING_OR_NULL
    value = get("type")
    if value is not None and type(value) is not str:
        return ("type",), _STRING_OR_NULL
    function = get("function")
    if function is None:
        return None
    if type(function) is not dict:
        return ("function",), _OBJECT_OR_NULL
    for key in _FUNCTION_KEYS:
        value = function.get(key)
        if value is not None and type(value) is not str:
            return ("function", key), _STRING_OR_NULL
    return None


def _describe(path: Path) -> str:
    return "".join(f"[{step}]" if type(step) is int else f".{step}" for step in path) or "payload"


def _api_message(body: Any) -> str:
    if type(body) is dict and "message" in body:
        return str(body["message"])
    return str(body)


def first_decode_error(payload: bytes, error: orjson.JSONDecodeError) -> tuple[str, int]:
    """The message and byte position of the first error in ``payload``, in byte order.

    orjson checks a document's UTF-8 before it parses, so a syntax error before the first bad
    byte goes unreported; deltafold reads in one pass and reports whichever comes first. The
    valid prefix is parsed again to find such an error: orjson reports running out of input
    exactly at the prefix's end, so an error before it is a real one."""
    position = _byte_position(payload, error)
    if error.doc or not payload:
        return error.msg, position
    try:
        orjson.loads(payload[:position])
    except orjson.JSONDecodeError as earlier:
        at = _byte_position(payload[:position], earlier)
        if at < position and "recursion" not in earlier.msg:
            return earlier.msg, at
    return error.msg, position


def _byte_position(payload: bytes, error: orjson.JSONDecodeError) -> int:
    """orjson reports a character index into the decoded text; the contract wants bytes."""
    if not error.doc and payload:  # invalid UTF-8: orjson gives no text, so no position
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return bad.start
        return 0
    return len(error.doc[: error.pos].encode("utf-8", "surrogatepass"))


# -- assembly -------------------------------------------------------------------------------------


def _deep_merge(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Merge ``new`` into ``old``: null keeps the old value (a key only ever null stays, as
    null), dicts merge per key, anything else replaces. (A work list, not recursion: values
    may nest as deep as ``max_depth`` allows.)"""
    work = [(old, new)]
    while work:
        target, source = work.pop()
        for key, value in source.items():
            if value is None:
                if key not in target:
                    target[key] = None
                continue
            current = target.get(key)
            if type(value) is dict and type(current) is dict:
                work.append((current, value))
            else:
                target[key] = value


def _is_zero(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == 0


def _merge_usage(old: Any, new: Any) -> Any:
    """Usage merge: a later null or 0 never erases a count; never summed. Returns the result,
    which owns its objects (``new`` may be shared, e.g. an ``x_groq.usage`` also kept as is)."""
    if new is None:
        return old
    if old is None:
        return _copy(new)
    if type(old) is dict and type(new) is dict:
        _merge_usage_into(old, new)
        return old
    if _is_zero(new):
        return old
    return _copy(new)


def _merge_usage_into(old: dict[str, Any], new: dict[str, Any]) -> None:
    work = [(old, new)]
    while work:
        target, source = work.pop()
        for key, value in source.items():
            if value is None:
                if key not in target:
                    target[key] = None
                continue
            current = target.get(key)
            if current is None:
                target[key] = _copy(value)
            elif type(current) is dict and type(value) is dict:
                work.append((current, value))
            elif not _is_zero(value):
                target[key] = _copy(value)


def _typed_parts(parts: list[Any]) -> tuple[str | None, str | None]:
    """A content list of typed parts: (text of its text parts, text of its thinking parts),
    each ``None`` when no such part carried a string."""
    text: list[str] | None = None
    thinking: list[str] | None = None
    for part in parts:
        if type(part) is not dict:
            continue
        kind = part.get("type")
        if kind == "text":
            value = part.get("text")
            if type(value) is str:
                if text is None:
                    text = []
                text.append(value)
        elif kind == "thinking":
            value = part.get("thinking")
            pieces: list[str] = []
            if type(value) is str:
                pieces.append(value)
            elif type(value) is list:
                for item in value:
                    if type(item) is dict and item.get("type") == "text":
                        item_text = item.get("text")
                        if type(item_text) is str:
                            pieces.append(item_text)
            if pieces:
                if thinking is None:
                    thinking = []
                thinking.extend(pieces)
    return (
        None if text is None else "".join(text),
        None if thinking is None else "".join(thinking),
    )


def _add_to_message(message: dict[str, Any], key: str, value: Any) -> _Parts | None:
    """Generic delta key: strings concatenate, lists append, anything else replaces. Returns
    the text parts when ``value`` was a string."""
    current = message.get(key)
    if type(value) is str:
        if type(current) is _Parts:
            current.append(value)
            return current
        parts = _Parts((value,))
        message[key] = parts
        return parts
    if type(value) is list and type(current) is list:
        current.extend(value)
    else:
        message[key] = value
    return None


class _ToolCall:
    __slots__ = ("arguments", "done", "extra", "function_extra", "id", "name", "position", "type")

    def __init__(self, position: int) -> None:
        self.position = position  # place in the choice's tool_calls list
        self.id: str | None = None
        self.type: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []
        self.function_extra: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.done = False  # its arguments.done event has been emitted

    def render(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name, "arguments": "".join(self.arguments)}
        for key, value in self.function_extra.items():
            function[key] = _copy(value)
        call: dict[str, Any] = {
            "id": self.id,
            "type": self.type or "function",
            "function": function,
        }
        for key, value in self.extra.items():
            call[key] = _copy(value)
        return call


class _FunctionCall:
    __slots__ = ("arguments", "name")

    def __init__(self) -> None:
        self.name: str | None = None
        self.arguments: list[str] = []


class _Choice:
    __slots__ = (
        "addressed",
        "calls",
        "calls_by_id",
        "calls_by_index",
        "content",
        "current_call",
        "extra",
        "finish_reason",
        "finished_items",
        "function_call",
        "index",
        "logprobs",
        "message",
        "reasoning",
        "refusal",
        "role",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        # Other message keys in order of first non-null appearance. Values: the calls list for
        # "tool_calls", a _FunctionCall for "function_call", a dict for "audio", else _Parts
        # (text), a list, or the last non-null value.
        self.message: dict[str, Any] = {}
        self.calls: list[_ToolCall] = []
        self.calls_by_index: dict[int, _ToolCall] = {}
        self.calls_by_id: dict[str, _ToolCall] = {}
        # The call the latest tool-call fragment went to: where one with no index, no known id
        # and no name continues (not necessarily the newest call).
        self.addressed: _ToolCall | None = None
        self.function_call: _FunctionCall | None = None
        self.logprobs: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.extra: dict[str, Any] = {}
        # Event bookkeeping (only used when events are on).
        self.current_call: _ToolCall | None = None
        self.finished_items: set[str] = set()
        # Reasoning text per field, every string piece in arrival order (what its events show,
        # even where a later non-string value replaced the field in the message).
        self.reasoning: dict[str, list[str]] = {}

    def call_for(self, fragment: dict[str, Any]) -> _ToolCall:
        """The call a fragment belongs to: by ``index`` when present; else a known non-empty
        ``id``; else a new call if it names a function (or none exists); else the call the
        previous fragment went to."""
        index = fragment.get("index")
        if index is not None:
            call = self.calls_by_index.get(index)
            if call is None:
                call = self.calls_by_index[index] = self.new_call()
            return call
        call_id = fragment.get("id")
        if call_id:
            call = self.calls_by_id.get(call_id)
            if call is not None:
                return call
        function = fragment.get("function")
        if (function and function.get("name")) or self.addressed is None:
            return self.new_call()
        return self.addressed

    def new_call(self) -> _ToolCall:
        call = _ToolCall(len(self.calls))
        self.calls.append(call)
        return call

    def apply_fragment(self, fragment: dict[str, Any]) -> tuple[_ToolCall, str | None]:
        call = self.addressed = self.call_for(fragment)
        get = fragment.get
        # "" is no value: first non-empty wins, and a call that only ever got "" keeps null.
        call_id = get("id")
        if call_id and not call.id:
            call.id = call_id
            # Two calls may end up with one id: it addresses the first of them in output order.
            known = self.calls_by_id.get(call_id)
            if known is None or known.position > call.position:
                self.calls_by_id[call_id] = call
        kind = get("type")
        if kind and not call.type:
            call.type = kind
        function = get("function")
        arguments = None
        if function:
            name = function.get("name")
            if name and not call.name:
                call.name = name
            arguments = function.get("arguments")
            if arguments:
                call.arguments.append(arguments)
            if not function.keys() <= _FUNCTION_KEYS:
                for key, value in function.items():
                    if key not in _FUNCTION_KEYS and value is not None:
                        call.function_extra[key] = value
        if not fragment.keys() <= _TOOL_CALL_KEYS:
            for key, value in fragment.items():
                if key not in _TOOL_CALL_KEYS and value is not None:
                    call.extra[key] = value
        return call, arguments

    def merge_extras(self, choice: dict[str, Any]) -> None:
        """Other choice keys: lists append, objects deep-merge, else last non-null."""
        extra = self.extra
        for key, value in choice.items():
            if key in _CHOICE_KEYS:
                continue
            current = extra.get(key)
            if current is None:
                extra[key] = value
            elif value is None:
                continue
            elif type(value) is list and type(current) is list:
                current.extend(value)
            elif type(value) is dict and type(current) is dict:
                _deep_merge(current, value)
            else:
                extra[key] = value

    def pending_done_events(self, partial_arguments: bool) -> list[Event]:
        """``*.done`` events not emitted yet, in contract order; each fires at most once."""
        events: list[Event] = []
        finished = self.finished_items
        index = self.index
        if self.content is not None and "content" not in finished:
            finished.add("content")
            text = "".join(self.content)
            events.append(Event("content.done", choice_index=index, content=text, snapshot=text))
        if self.refusal is not None and "refusal" not in finished:
            finished.add("refusal")
            text = "".join(self.refusal)
            events.append(Event("refusal.done", choice_index=index, refusal=text, snapshot=text))
        # Only a field that produced text (a reasoning.delta) gets its done event.
        for key, trail in self.reasoning.items():
            if key not in finished:
                finished.add(key)
                events.append(
                    Event("reasoning.done", choice_index=index, field=key, snapshot="".join(trail))
                )
        for call in self.calls:
            if not call.done:
                events.append(self.call_done_event(call, partial_arguments))
        function_call = self.function_call
        if function_call is not None and "function_call" not in finished:
            finished.add("function_call")
            events.append(
                _arguments_done_event(
                    "function_call.arguments.done",
                    function_call.arguments,
                    partial_arguments,
                    choice_index=index,
                    name=function_call.name,
                )
            )
        return events

    def call_done_event(self, call: _ToolCall, partial_arguments: bool) -> Event:
        call.done = True
        return _arguments_done_event(
            "tool_calls.function.arguments.done",
            call.arguments,
            partial_arguments,
            choice_index=self.index,
            index=call.position,
            id=call.id,
            name=call.name,
        )

    def render(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": None if self.content is None else "".join(self.content),
            "refusal": None if self.refusal is None else "".join(self.refusal),
        }
        for key, value in self.message.items():
            if key == "tool_calls":
                message[key] = [call.render() for call in self.calls]
            elif key == "function_call":
                message[key] = {"name": value.name, "arguments": "".join(value.arguments)}
            elif key == "audio":
                message[key] = {
                    k: "".join(v) if type(v) is _Parts else _copy(v) for k, v in value.items()
                }
            elif type(value) is _Parts:
                message[key] = "".join(value)
            else:
                message[key] = _copy(value)
        logprobs = self.logprobs
        choice: dict[str, Any] = {
            "index": self.index,
            "message": message,
            "logprobs": None if logprobs is None else _copy(logprobs),
            "finish_reason": self.finish_reason,
        }
        for key, value in self.extra.items():
            choice[key] = _copy(value)
        return choice


class _ToolCallCounter:
    """Replays how fragments map to calls, without changing anything, to see whether a chunk
    would make a choice hold more tool calls than allowed."""

    __slots__ = ("count", "current", "has_id", "ids", "indices")

    def __init__(self, choice: _Choice | None) -> None:
        # Calls are numbered by position; has_id[n]: call n already has a non-empty id.
        self.count = 0 if choice is None else len(choice.calls)
        addressed = None if choice is None else choice.addressed
        self.current: int | None = None if addressed is None else addressed.position
        self.has_id = [] if choice is None else [bool(call.id) for call in choice.calls]
        self.indices: dict[int, int] = (
            {} if choice is None else {i: c.position for i, c in choice.calls_by_index.items()}
        )
        self.ids: dict[str, int] = (
            {} if choice is None else {i: c.position for i, c in choice.calls_by_id.items()}
        )

    def add(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        call_id = fragment.get("id")
        position: int | None = None
        if index is not None:
            position = self.indices.get(index)
            if position is None:
                position = self.indices[index] = self._new()
        else:
            if call_id:
                position = self.ids.get(call_id)
            if position is None:
                function = fragment.get("function")
                if (function and function.get("name")) or self.current is None:
                    position = self._new()
                else:
                    position = self.current
        self.current = position
        if call_id and not self.has_id[position]:
            self.has_id[position] = True
            known = self.ids.get(call_id)
            if known is None or known > position:
                self.ids[call_id] = position

    def _new(self) -> int:
        self.has_id.append(False)
        self.count += 1
        return self.count - 1


class _Assembly:
    """The accumulators of one stream, and its rendering as a ``chat.completion``."""

    __slots__ = (
        "choices",
        "chunks",
        "created",
        "extra",
        "groq_usage",
        "id",
        "model",
        "service_tier",
        "system_fingerprint",
        "usage",
    )

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.service_tier: Any = _ABSENT
        self.system_fingerprint: Any = _ABSENT
        self.usage: Any = None
        self.groq_usage: Any = None
        self.extra: dict[str, Any] = {}
        self.choices: dict[int, _Choice] = {}
        self.chunks = 0

    def limit_violation(
        self, chunk: dict[str, Any], max_choice_index: int, max_tool_calls: int
    ) -> tuple[str, int, str] | None:
        """(limit, maximum, message) for the first limit the chunk would break, or ``None``."""
        choices = chunk.get("choices")
        if not choices:
            return None
        counters: dict[int, _ToolCallCounter] = {}
        for choice in choices:
            index = choice.get("index", 0)
            if index > max_choice_index:
                return "max_choice_index", max_choice_index, f"choice index {index}"
            delta = choice.get("delta")
            fragments = delta.get("tool_calls") if delta else None
            if not fragments:
                continue
            state = self.choices.get(index)
            if (
                index not in counters
                and state is not None
                and self._only_known_calls(state, fragments, max_tool_calls)
            ):
                continue
            counter = counters.get(index)
            if counter is None:
                counter = counters[index] = _ToolCallCounter(state)
            for fragment in fragments:
                call_index = fragment.get("index")
                if call_index is not None and call_index >= max_tool_calls:
                    return "max_tool_calls", max_tool_calls, f"tool call index {call_index}"
                counter.add(fragment)
                if counter.count > max_tool_calls:
                    return "max_tool_calls", max_tool_calls, f"{counter.count} tool calls"
        return None

    @staticmethod
    def _only_known_calls(state: _Choice, fragments: list[Any], max_tool_calls: int) -> bool:
        """The usual case: every fragment continues a call already seen by its index."""
        known = state.calls_by_index
        for fragment in fragments:
            index = fragment.get("index")
            if index is None or index not in known or index >= max_tool_calls:
                return False
        return True

    def apply(
        self, chunk: dict[str, Any], events: list[Event] | None, partial_arguments: bool
    ) -> None:
        """Fold in one chunk already checked by :meth:`StreamParser._check`."""
        get = chunk.get
        self._commit(
            chunk,
            get("id"),
            get("model"),
            get("created"),
            get("usage"),
            get("service_tier", _ABSENT),
            get("system_fingerprint", _ABSENT),
            events,
            partial_arguments,
        )

    def _commit(
        self,
        chunk: dict[str, Any],
        chunk_id: str | None,
        model: str | None,
        created: int | None,
        usage: dict[str, Any] | None,
        service_tier: Any,
        system_fingerprint: Any,
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        """Apply a checked chunk (the top-level values as read by the caller; ``_ABSENT`` for a
        key the chunk does not carry)."""
        self.chunks += 1
        if chunk_id is not None and not self.id:
            self.id = chunk_id
        if model is not None and not self.model:
            self.model = model
        if created is not None and not self.created:
            self.created = created
        if service_tier is not _ABSENT and (
            service_tier is not None or self.service_tier is _ABSENT
        ):
            self.service_tier = service_tier
        if system_fingerprint is not _ABSENT and (
            system_fingerprint is not None or self.system_fingerprint is _ABSENT
        ):
            self.system_fingerprint = system_fingerprint
        states = self.choices
        for item in chunk.get("choices") or ():
            get = item.get
            index = get("index", 0)
            choice = states.get(index)
            if choice is None:
                choice = states[index] = _Choice(index)
            delta = get("delta")
            if delta:
                content = delta.get("content")
                if events is None and len(delta) == 1 and type(content) is str:
                    # The usual delta: one more piece of content.
                    if choice.content is None:
                        choice.content = [content]
                    else:
                        choice.content.append(content)
                else:
                    self._apply_delta(choice, delta, events, partial_arguments)
            logprobs = get("logprobs")
            if logprobs is not None:
                self._apply_logprobs(choice, logprobs, events)
            finish_reason = get("finish_reason")
            if finish_reason:
                choice.finish_reason = finish_reason
            if not item.keys() <= _CHOICE_KEYS:
                choice.merge_extras(item)
            if finish_reason and events is not None:
                events.extend(choice.pending_done_events(partial_arguments))
        if usage is not None:
            self.usage = _merge_usage(self.usage, usage)
            if events is not None:
                events.append(Event("usage", usage=_copy(self.usage)))
        if not chunk.keys() <= _TOP_LEVEL_KEYS:
            self._apply_top_level_extras(chunk)

    def _apply_top_level_extras(self, chunk: dict[str, Any]) -> None:
        extra = self.extra
        for key, value in chunk.items():
            if key in _TOP_LEVEL_KEYS:
                continue
            current = extra.get(key)
            if current is None:
                extra[key] = value
            elif value is None:
                continue
            elif type(value) is dict and type(current) is dict:
                _deep_merge(current, value)
            else:
                extra[key] = value
            if key == "x_groq" and type(value) is dict:
                groq_usage = value.get("usage")
                if type(groq_usage) is dict:  # a usage is an object, as top-level usage must be
                    self.groq_usage = _merge_usage(self.groq_usage, groq_usage)

    def _apply_delta(
        self,
        choice: _Choice,
        delta: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        """Fold in one delta. Keys are applied in a fixed order, not the order they arrived in
        (JSON objects are unordered, so two servers writing the same delta with their keys in
        another order give the same result): role, content (text parts; then its thinking
        parts, appended to ``reasoning_content``), refusal, the other keys in arrival order,
        tool_calls, function_call, audio."""
        message = choice.message
        get = delta.get
        new_content: str | None = None
        # (field, text) of every piece of reasoning text, in the order it was appended.
        reasoning: list[tuple[str, str]] | None = None
        role = get("role")
        if role and not choice.role:
            choice.role = role
        thinking: str | None = None
        value = get("content")
        if value is not None:
            if type(value) is str:
                text: str | None = value
            else:
                text, thinking = _typed_parts(value)
            if text is not None:
                if choice.content is None:
                    choice.content = [text]
                else:
                    choice.content.append(text)
                new_content = text
        new_refusal = get("refusal")
        if new_refusal is not None:
            if choice.refusal is None:
                choice.refusal = [new_refusal]
            else:
                choice.refusal.append(new_refusal)
        if thinking:  # empty thinking parts add nothing: no reasoning_content key of their own
            _add_to_message(message, "reasoning_content", thinking)
            reasoning = [("reasoning_content", thinking)]
        for key, value in delta.items():
            if value is None or key in _DELTA_FIXED_ORDER:
                continue  # an index in a delta only repeats the choice index
            parts = _add_to_message(message, key, value)
            if events is not None and parts is not None and key in _REASONING_FIELDS and value:
                if reasoning is None:
                    reasoning = []
                reasoning.append((key, value))
        call_events: list[Event] | None = None
        value = get("tool_calls")
        if value:  # `tool_calls: []` carries no call: the key stays absent
            if "tool_calls" not in message:
                message["tool_calls"] = choice.calls
            for fragment in value:
                call, arguments = choice.apply_fragment(fragment)
                if events is not None:
                    if call_events is None:
                        call_events = []
                    current = choice.current_call
                    if current is not None and current is not call and not current.done:
                        call_events.append(choice.call_done_event(current, partial_arguments))
                    choice.current_call = call
                    call_events.append(
                        _arguments_delta_event(
                            "tool_calls.function.arguments.delta",
                            call.arguments,
                            arguments,
                            partial_arguments,
                            choice_index=choice.index,
                            index=call.position,
                            id=call.id,
                            name=call.name,
                        )
                    )
        function_event: Event | None = None
        value = get("function_call")
        if value is not None:
            function_call = choice.function_call
            if function_call is None:
                function_call = choice.function_call = _FunctionCall()
                message["function_call"] = function_call
            name = value.get("name")
            if name and not function_call.name:
                function_call.name = name
            arguments = value.get("arguments")
            if arguments:
                function_call.arguments.append(arguments)
            if events is not None:
                function_event = _arguments_delta_event(
                    "function_call.arguments.delta",
                    function_call.arguments,
                    arguments,
                    partial_arguments,
                    choice_index=choice.index,
                    name=function_call.name,
                )
        value = get("audio")
        if value is not None:
            _merge_audio(message, value)
        if events is None:
            return
        index = choice.index
        if new_content:
            content = choice.content or []
            events.append(
                Event(
                    "content.delta",
                    choice_index=index,
                    delta=new_content,
                    snapshot=_TextSoFar(content, len(content)),
                )
            )
        if new_refusal:
            refusal = choice.refusal or []
            events.append(
                Event(
                    "refusal.delta",
                    choice_index=index,
                    delta=new_refusal,
                    snapshot=_TextSoFar(refusal, len(refusal)),
                )
            )
        if reasoning:
            for field, added in reasoning:
                trail = choice.reasoning.get(field)
                if trail is None:
                    trail = choice.reasoning[field] = []
                trail.append(added)
                events.append(
                    Event(
                        "reasoning.delta",
                        choice_index=index,
                        field=field,
                        delta=added,
                        snapshot=_TextSoFar(trail, len(trail)),
                    )
                )
        if call_events:
            events.extend(call_events)
        if function_event is not None:
            events.append(function_event)

    @staticmethod
    def _apply_logprobs(
        choice: _Choice, logprobs: dict[str, Any], events: list[Event] | None
    ) -> None:
        state = choice.logprobs
        if state is None:
            state = choice.logprobs = {"content": None, "refusal": None}
        for key, value in logprobs.items():
            if key != "content" and key != "refusal":
                if value is not None or key not in state:
                    state[key] = value
                continue
            if value is None:
                continue
            current = state[key]
            if current is None:
                # A copy: the chunk's own list may be handed out as an event's new entries.
                current = state[key] = list(value)
            else:
                current.extend(value)
            if events is not None and value:
                events.append(
                    Event(
                        f"logprobs.{key}.delta",
                        choice_index=choice.index,
                        snapshot=_ListSoFar(current, len(current)),
                        **{key: value},
                    )
                )

    def unfinished(self) -> bool:
        """No choice at all, or some choice without a finish_reason."""
        return not self.choices or any(c.finish_reason is None for c in self.choices.values())

    def render(self) -> dict[str, Any]:
        usage = self.usage if self.usage is not None else self.groq_usage
        completion: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [self.choices[index].render() for index in sorted(self.choices)],
            "usage": _copy(usage),
        }
        if self.service_tier is not _ABSENT:
            completion["service_tier"] = self.service_tier
        if self.system_fingerprint is not _ABSENT:
            completion["system_fingerprint"] = self.system_fingerprint
        for key, value in self.extra.items():
            completion[key] = _copy(value)
        return completion


def _arguments_delta_event(
    kind: str, parts: list[str], fragment: str | None, partial_arguments: bool, **about: Any
) -> Event:
    """A tool-call or function_call arguments delta: the fragment (``""`` if none) and the
    arguments so far (computed when read, as is their partial-JSON parse)."""
    so_far = _TextSoFar(parts, len(parts))
    return Event(
        kind,
        delta=fragment or "",
        arguments_delta=fragment or "",
        snapshot=so_far,
        arguments=so_far,
        parsed_arguments=_PartialSoFar(parts, len(parts)) if partial_arguments else None,
        **about,
    )


def _arguments_done_event(
    kind: str, parts: list[str], partial_arguments: bool, **about: Any
) -> Event:
    arguments = "".join(parts)
    return Event(
        kind,
        snapshot=arguments,
        arguments=arguments,
        parsed_arguments=_PartialSoFar(parts, len(parts)) if partial_arguments else None,
        **about,
    )


def _merge_audio(message: dict[str, Any], audio: dict[str, Any]) -> None:
    """``id``: first non-empty; ``data`` and ``transcript``: concatenated; others last non-null."""
    state = message.get("audio")
    if state is None:
        state = message["audio"] = {}
    for key, value in audio.items():
        if value is None:
            state.setdefault(key, None)  # a key once carried stays, as null until it has a value
            continue
        if key == "id":
            if not state.get("id"):
                state["id"] = value
        elif (key == "data" or key == "transcript") and type(value) is str:
            current = state.get(key)
            if type(current) is _Parts:
                current.append(value)
            else:
                state[key] = _Parts((value,))
        else:
            state[key] = value




# -- the fold -------------------------------------------------------------------------------------

# ASCII whitespace as WHATWG defines it: what may surround `[DONE]`.
_ASCII_WS: Final = b" \t\n\r\x0c"


def api_error(body: Any, offset: int, index: int) -> StreamAPIError:
    return StreamAPIError(
        f"stream reported an error: {_api_message(body)}",
        body=body,
        byte_offset=offset,
        event_index=index,
    )


class ChatFold(Fold):
    """OpenAI Chat Completions: ``chat.completion.chunk`` payloads, ended by ``[DONE]``."""

    name: ClassVar[str] = "chat"
    end_name: ClassVar[str] = "[DONE]"
    truncated_message: ClassVar[str] = (
        "stream ended without [DONE] or a finish_reason on every choice"
    )
    __slots__ = ("assembly",)

    def __init__(self, settings: FoldSettings) -> None:
        super().__init__(settings)
        self.assembly = _Assembly()

    def end_marker(self, payload: bytes) -> bool:
        return payload[:1] != b"{" and payload.strip(_ASCII_WS) == b"[DONE]"

    def refuse_event(self, event_type: bytes | None, offset: int, index: int) -> None:
        if not self.assembly.chunks and event_type:
            self._refuse_format(_format_of_event(event_type), offset, index)

    def refuse_payload(self, value: Any, offset: int, index: int) -> None:
        if not self.assembly.chunks and type(value) is dict:
            self._refuse_format(_format_of_chunk(value), offset, index)

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        """Schema, no in-band error, limits."""
        violation = _schema_violation(value)
        if violation is not None:
            path, expected = violation
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk: expected {_describe(path)} to be {expected}",
                payload,
                value_position(payload, path),
                byte_offset=offset,
                event_index=index,
            )
        body = value.get("error")
        if body is None and value.get("object") == "error":
            body = value
        if body is not None:
            raise api_error(body, offset, index)
        settings = self.settings
        broken = self.assembly.limit_violation(
            value, settings.max_choice_index, settings.max_tool_calls
        )
        if broken is not None:
            limit, maximum, what = broken
            raise LimitExceededError(
                f"{what} exceeds {limit} ({maximum})",
                limit=limit,
                maximum=maximum,
                byte_offset=offset,
                event_index=index,
            )

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
                partial=self.assembly.render(),
            )

    def apply(self, value: Any, events: list[Event] | None, offset: int, index: int) -> bool:
        self.assembly.apply(value, events, self.settings.partial_arguments)
        return False  # only [DONE] ends a chat stream, and it is not JSON

    def started(self) -> bool:
        return self.assembly.chunks > 0

    def finished(self) -> bool:
        return not self.assembly.unfinished()

    def render(self) -> dict[str, Any]:
        return self.assembly.render()

    def done_events(self) -> list[Event]:
        events: list[Event] = []
        choices = self.assembly.choices
        for index in sorted(choices):
            events.extend(choices[index].pending_done_events(self.settings.partial_arguments))
        return events

    def summary(self) -> dict[str, Any]:
        """Choice 0 (text, reasoning, tool calls and legacy function_call, finish_reason) and
        the usage."""
        assembly = self.assembly
        choice = assembly.choices.get(0)
        text = reasoning = ""
        stop_reason = None
        calls: list[dict[str, Any]] = []
        if choice is not None:
            text = "".join(choice.content or ())
            reasoning = "".join(
                "".join(value)
                for key, value in choice.message.items()
                if key in _REASONING_FIELDS and type(value) is _Parts
            )
            stop_reason = choice.finish_reason
            calls = [
                {"id": call.id, "name": call.name, "arguments": "".join(call.arguments)}
                for call in choice.calls
            ]
            function_call = choice.function_call
            if function_call is not None:
                calls.append(
                    {
                        "id": None,
                        "name": function_call.name,
                        "arguments": "".join(function_call.arguments),
                    }
                )
        raw = assembly.usage if assembly.usage is not None else assembly.groq_usage
        if type(raw) is not dict:
            raw = {}
        prompt_details = raw.get("prompt_tokens_details")
        completion_details = raw.get("completion_tokens_details")
        return {
            "id": assembly.id,
            "model": assembly.model,
            "stop_reason": stop_reason,
            "usage": usage(
                input_tokens=count(raw.get("prompt_tokens")),
                output_tokens=count(raw.get("completion_tokens")),
                total_tokens=count(raw.get("total_tokens")),
                cached_input_tokens=count(
                    prompt_details.get("cached_tokens") if type(prompt_details) is dict else None
                ),
                reasoning_tokens=count(
                    completion_details.get("reasoning_tokens")
                    if type(completion_details) is dict
                    else None
                ),
            ),
            "text": text,
            "reasoning": reasoning,
            "tool_calls": calls,
            "has_tool_calls": bool(calls),
        }
