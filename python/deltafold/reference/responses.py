"""The OpenAI Responses format (``/v1/responses`` with ``stream=true``): the events fold into the
``response`` object the non-streaming call returns (rules: docs/formats.md, "Responses").

Items are addressed by ``output_index`` and parts by ``content_index`` / ``summary_index``,
never by ``item_id``: some servers rotate item ids on every event. When a closing event
(``response.completed`` / ``.incomplete`` / ``.failed``) arrives, its ``response`` is the
result, as the server sent it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from deltafold.errors import ChunkDecodeError, Problem
from deltafold.reference.chat import _describe, api_error
from deltafold.reference.events import Event, _PartialSoFar, _TextSoFar
from deltafold.reference.fold import Fold, FoldSettings
from deltafold.reference.json import value_position
from deltafold.reference.summary import count, usage
from deltafold.reference.values import Path, _copy

LIFECYCLE: Final = frozenset({"response.created", "response.in_progress", "response.queued"})
CLOSING: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})

# Delta families whose text lands somewhere the generic rule (below) would not put it:
# family -> (container key inside the item, or None for the item itself; field).
_DELTA_TARGETS: Final[dict[str, tuple[str | None, str]]] = {
    "output_text": ("content", "text"),
    "refusal": ("content", "refusal"),
    "reasoning_text": ("content", "text"),
    "reasoning_summary_text": ("summary", "text"),
    "apply_patch_call_operation_diff": ("operation", "diff"),
}

# Event types of the Responses API that change nothing in the folded response (progress
# reports; their items and parts arrive in output_item / content_part events).
_PROGRESS: Final = frozenset(
    {
        "response.audio.delta",
        "response.audio.done",
        "response.audio.transcript.delta",
        "response.audio.transcript.done",
        "response.code_interpreter_call.completed",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.compaction.compacting",
        "response.file_search_call.completed",
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.image_generation_call.completed",
        "response.image_generation_call.generating",
        "response.image_generation_call.in_progress",
        "response.image_generation_call.partial_image",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
        "response.mcp_call.in_progress",
        "response.mcp_list_tools.completed",
        "response.mcp_list_tools.failed",
        "response.mcp_list_tools.in_progress",
        "response.shell_call_output_content.delta",
        "response.shell_call_output_content.done",
        "response.steer",
        "response.steer.accepted",
        "response.steer.failed",
        "response.steer.pending",
        "response.web_search_call.completed",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
    }
)

# Item types whose calls the client must answer (summary and tool events).
CLIENT_CALLS: Final = frozenset({"function_call", "custom_tool_call"})
_CALL_FAMILIES: Final = {"function_call_arguments": "arguments", "custom_tool_call_input": "input"}
_REASONING_FAMILIES: Final = frozenset({"reasoning_text", "reasoning_summary_text"})

_INDEX: Final = "a non-negative integer"
_EXISTING_ITEM: Final = "the index of an output item already added"
_EXISTING_PART: Final = "the index of a part already added, or of the next one"


class SchemaViolation(Exception):
    """A Responses event of the wrong shape: ``path`` must be ``expected``."""

    def __init__(self, path: Path, expected: str) -> None:
        super().__init__(path, expected)
        self.path = path
        self.expected = expected


def event_family(kind: str, suffix: str) -> str | None:
    """``"output_text"`` for ``response.output_text.delta`` and suffix ``.delta``."""
    if kind.startswith("response.") and kind.endswith(suffix):
        family = kind[9 : len(kind) - len(suffix)]
        if family and "." not in family:
            return family
    return None


def _field_of(family: str) -> tuple[str | None, str]:
    """Where a delta family's text goes: the generic rule is the family's last word, on the
    part the event addresses (or on the item)."""
    target = _DELTA_TARGETS.get(family)
    if target is not None:
        return target
    return None, family.rsplit("_", 1)[-1]


class _Call:
    """A client tool call, for its events."""

    __slots__ = ("arguments", "done", "id", "json", "name", "position")

    def __init__(self, position: int, item: dict[str, Any]) -> None:
        self.position = position
        self.id = _str_or_none(item.get("call_id"))
        self.name = _str_or_none(item.get("name"))
        self.json = item.get("type") == "function_call"
        self.arguments: list[str] = []
        self.done = False


class _Text:
    """A text field that deltas append to, joined when the response is rendered: appending
    to a ``str`` in a dict would copy the whole text on every delta."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts


def _join(value: Any) -> str:
    if type(value) is _Text:
        return "".join(value.parts)
    raise TypeError


def _render(value: Any) -> Any:
    """An independent copy of folded state, its appended texts joined."""
    try:
        return orjson.loads(orjson.dumps(value, default=_join))
    except orjson.JSONEncodeError:
        return _render_deep(value)


def _render_deep(value: Any) -> Any:
    """:func:`_render` without orjson's depth limit."""
    if type(value) is _Text:
        return "".join(value.parts)
    if type(value) is dict:
        return {k: _render_deep(v) for k, v in value.items()}
    if type(value) is list:
        return [_render_deep(v) for v in value]
    return value


def _append(target: dict[str, Any], field: str, piece: str) -> None:
    old = target.get(field)
    if type(old) is _Text:
        old.parts.append(piece)
    else:
        target[field] = _Text([old, piece] if type(old) is str else [piece])


def _str_or_none(value: Any) -> str | None:
    return value if type(value) is str else None


class ResponsesFold:
    """The folded state of one Responses stream."""

    __slots__ = (
        "base",
        "calls",
        "closed",
        "content",
        "events_done",
        "folded",
        "items",
        "last_sequence",
        "reasoning",
        "refusal",
        "status",
    )

    def __init__(self) -> None:
        # Top-level fields of the response from the lifecycle events, without its output.
        self.base: dict[str, Any] | None = None
        self.items: dict[int, dict[str, Any]] = {}
        # The closing event's response, once it arrived.
        self.closed: dict[str, Any] | None = None
        # "complete" / "failed" once a closing event arrived.
        self.status: str | None = None
        self.last_sequence: int | None = None
        self.folded = 0
        # Event state: the text of every output_text delta, of refusals, of reasoning by
        # family, and the client calls by output_index.
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.reasoning: dict[str, list[str]] = {}
        self.calls: dict[int, _Call] = {}
        self.events_done: set[str] = set()

    # -- results --

    def output(self) -> list[dict[str, Any]]:
        return [_render(self.items[index]) for index in sorted(self.items)]

    def render(self) -> dict[str, Any]:
        if self.closed is not None:
            return _copy(self.closed)  # type: ignore[no-any-return]
        if self.base is None:
            response: dict[str, Any] = {
                "id": None,
                "object": "response",
                "created_at": None,
                "status": "incomplete",
                "model": None,
                "output": [],
                "usage": None,
            }
        else:
            response = _copy(self.base)
            # A stream that ends here ended before the server closed the response.
            response["status"] = "incomplete"
        response["output"] = self.output()
        return response

    # -- folding --

    def sequence_problem(self, event: dict[str, Any]) -> str | None:
        """A gap or reordering of ``sequence_number``; the number becomes the last one."""
        number = event.get("sequence_number")
        if type(number) is not int:
            return None
        last, self.last_sequence = self.last_sequence, number
        if last is not None and number != last + 1:
            return f"sequence_number {number} after {last}"
        return None

    def apply(
        self, event: dict[str, Any], events: list[Event] | None, partial_arguments: bool
    ) -> bool:
        """Folds one checked event in. Returns False for an event type this fold does not
        know (nothing changed)."""
        kind: str = event["type"]
        known = self._apply(kind, event, events, partial_arguments)
        if known:
            self.folded += 1
        return known

    def _apply(
        self,
        kind: str,
        event: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> bool:
        if kind in LIFECYCLE:
            self._lifecycle(event["response"])
            return True
        if kind in CLOSING:
            self._close(kind, event["response"], events, partial_arguments)
            return True
        if kind == "response.output_item.added" or kind == "response.output_item.done":
            item = event.get("item")
            if item is not None:
                index = event["output_index"]
                self.items[index] = _copy(item)
                if item.get("type") in CLIENT_CALLS and index not in self.calls:
                    self.calls[index] = _Call(len(self.calls), item)
                if kind == "response.output_item.done" and events is not None:
                    self._call_done(index, events, partial_arguments)
            return True
        if kind == "response.content_part.added" or kind == "response.content_part.done":
            self._set_part(event, "content", "content_index", event["part"])
            return True
        if kind in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            self._set_part(event, "summary", "summary_index", event["part"])
            return True
        if kind == "response.output_text.annotation.added":
            part = self._part(event, "content", "content_index")
            annotations = part.get("annotations")
            if type(annotations) is not list:
                annotations = part["annotations"] = []
            annotations.append(_copy(event.get("annotation")))
            return True
        if kind.startswith("response.shell_call_command."):
            return self._shell_command(kind, event)
        if kind in _PROGRESS:
            return True
        family = event_family(kind, ".delta")
        if family is not None and "output_index" in event:
            self._delta(family, event, events, partial_arguments)
            return True
        family = event_family(kind, ".done")
        if family is not None and "output_index" in event:
            self._done(family, event, events, partial_arguments)
            return True
        return False

    def _lifecycle(self, response: dict[str, Any]) -> None:
        if self.base is None:
            self.base = {k: _copy(v) for k, v in response.items() if k != "output"}
            output = response.get("output")
            if type(output) is list:
                for index, item in enumerate(output):
                    if type(item) is dict:
                        self.items.setdefault(index, _copy(item))
            return
        for key, value in response.items():
            if key != "output":
                self.base[key] = _copy(value)

    def _close(
        self,
        kind: str,
        response: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        closed = _copy(response)
        if closed.get("output") is None:
            # Some servers close without the output (as the SDK does, the folded items stand).
            closed["output"] = self.output()
        self.closed = closed
        self.status = "failed" if kind == "response.failed" else "complete"
        if events is not None:
            events.extend(self.pending_done_events(partial_arguments))
            usage = closed.get("usage")
            if usage is not None:
                events.append(Event("usage", usage=_copy(usage)))

    def _item(self, event: dict[str, Any]) -> dict[str, Any]:
        item = self.items.get(event["output_index"])
        if item is None:
            raise SchemaViolation(("output_index",), _EXISTING_ITEM)
        return item

    def _parts(self, event: dict[str, Any], key: str) -> list[Any]:
        item = self._item(event)
        parts = item.get(key)
        if type(parts) is not list:
            parts = item[key] = []
        return parts

    def _part(self, event: dict[str, Any], key: str, index_key: str) -> dict[str, Any]:
        parts = self._parts(event, key)
        index = event[index_key]
        if index >= len(parts) or type(parts[index]) is not dict:
            raise SchemaViolation((index_key,), _EXISTING_PART)
        return parts[index]  # type: ignore[no-any-return]

    def _set_part(self, event: dict[str, Any], key: str, index_key: str, part: Any) -> None:
        parts = self._parts(event, key)
        index = event[index_key]
        if index < len(parts):
            parts[index] = _copy(part)
        elif index == len(parts):
            parts.append(_copy(part))
        else:
            raise SchemaViolation((index_key,), _EXISTING_PART)

    def _target(self, family: str, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        container, field = _field_of(family)
        if container is None:
            if "summary_index" in event:
                return self._part(event, "summary", "summary_index"), field
            if "content_index" in event:
                return self._part(event, "content", "content_index"), field
            return self._item(event), field
        if container == "content" or container == "summary":
            index_key = "content_index" if container == "content" else "summary_index"
            if index_key not in event:
                raise SchemaViolation((index_key,), _INDEX)
            return self._part(event, container, index_key), field
        item = self._item(event)
        inner = item.get(container)
        if type(inner) is not dict:
            inner = item[container] = {}
        return inner, field

    def _delta(
        self,
        family: str,
        event: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        target, field = self._target(family, event)
        piece: str = event["delta"]
        _append(target, field, piece)
        if family == "output_text":
            logprobs = event.get("logprobs")
            if logprobs:
                current = target.get("logprobs")
                if type(current) is not list:
                    current = target["logprobs"] = []
                current.extend(_copy(logprobs))
        if events is None or not piece:
            return
        if family == "output_text":
            self.content = _push(self.content, piece)
            events.append(
                Event(
                    "content.delta",
                    choice_index=0,
                    delta=piece,
                    snapshot=_TextSoFar(self.content, len(self.content)),
                )
            )
        elif family == "refusal":
            self.refusal = _push(self.refusal, piece)
            events.append(
                Event(
                    "refusal.delta",
                    choice_index=0,
                    delta=piece,
                    snapshot=_TextSoFar(self.refusal, len(self.refusal)),
                )
            )
        elif family in _REASONING_FAMILIES:
            trail = self.reasoning.setdefault(family, [])
            trail.append(piece)
            events.append(
                Event(
                    "reasoning.delta",
                    choice_index=0,
                    field=family,
                    delta=piece,
                    snapshot=_TextSoFar(trail, len(trail)),
                )
            )
        elif family in _CALL_FAMILIES:
            call = self.calls.get(event["output_index"])
            if call is not None and not call.done:
                call.arguments.append(piece)
                parts = call.arguments
                so_far = _TextSoFar(parts, len(parts))
                parsed = (
                    _PartialSoFar(parts, len(parts)) if partial_arguments and call.json else None
                )
                events.append(
                    Event(
                        "tool_calls.function.arguments.delta",
                        choice_index=0,
                        index=call.position,
                        id=call.id,
                        name=call.name,
                        delta=piece,
                        arguments_delta=piece,
                        snapshot=so_far,
                        arguments=so_far,
                        parsed_arguments=parsed,
                    )
                )

    def _done(
        self,
        family: str,
        event: dict[str, Any],
        events: list[Event] | None,
        partial_arguments: bool,
    ) -> None:
        target, field = self._target(family, event)
        if field in event:
            target[field] = _copy(event[field])
        if events is not None and family in _CALL_FAMILIES:
            self._call_done(event["output_index"], events, partial_arguments)

    def _shell_command(self, kind: str, event: dict[str, Any]) -> bool:
        """``shell_call_command.added`` / ``.delta`` / ``.done``: the command at
        ``command_index`` of the shell call's ``action.commands``."""
        step = kind[len("response.shell_call_command.") :]
        if step not in ("added", "delta", "done"):
            return False
        item = self._item(event)
        action = item.get("action")
        commands = action.get("commands") if type(action) is dict else None
        index = event["command_index"]
        if index > (len(commands) if type(commands) is list else 0):
            raise SchemaViolation(("command_index",), _EXISTING_PART)
        if type(action) is not dict:
            action = item["action"] = {}
        if type(commands) is not list:
            commands = action["commands"] = []
        if index == len(commands):
            commands.append("")
        if step == "delta":
            old = commands[index]
            if type(old) is _Text:
                old.parts.append(event["delta"])
            else:
                piece = event["delta"]
                commands[index] = _Text([old, piece] if type(old) is str else [piece])
        elif "command" in event:
            commands[index] = _copy(event["command"])
        return True

    # -- checks without changes --

    def locate(self, event: dict[str, Any]) -> None:
        """Raise :class:`SchemaViolation` if the (schema-valid) event addresses an item or a
        part that is not there; changes nothing. ``apply`` then cannot fail."""
        kind: str = event["type"]
        if kind in LIFECYCLE or kind in CLOSING or kind in _PROGRESS or kind == "error":
            return
        if kind == "response.output_item.added" or kind == "response.output_item.done":
            return
        if kind == "response.content_part.added" or kind == "response.content_part.done":
            self._check_next_part(event, "content", "content_index")
            return
        if kind in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            self._check_next_part(event, "summary", "summary_index")
            return
        if kind == "response.output_text.annotation.added":
            self._check_part(event, "content", "content_index")
            return
        if kind.startswith("response.shell_call_command."):
            if kind[len("response.shell_call_command.") :] in ("added", "delta", "done"):
                item = self._check_item(event)
                action = item.get("action")
                commands = action.get("commands") if type(action) is dict else None
                if event["command_index"] > (len(commands) if type(commands) is list else 0):
                    raise SchemaViolation(("command_index",), _EXISTING_PART)
            return
        family = event_family(kind, ".delta") or event_family(kind, ".done")
        if family is None or "output_index" not in event:
            return
        container, _ = _field_of(family)
        if container is None:
            if "summary_index" in event:
                self._check_part(event, "summary", "summary_index")
            elif "content_index" in event:
                self._check_part(event, "content", "content_index")
            else:
                self._check_item(event)
        elif container == "content" or container == "summary":
            index_key = "content_index" if container == "content" else "summary_index"
            if index_key not in event:
                raise SchemaViolation((index_key,), _INDEX)
            self._check_part(event, container, index_key)
        else:
            self._check_item(event)

    def _check_item(self, event: dict[str, Any]) -> dict[str, Any]:
        item = self.items.get(event["output_index"])
        if item is None:
            raise SchemaViolation(("output_index",), _EXISTING_ITEM)
        return item

    def _check_part(self, event: dict[str, Any], key: str, index_key: str) -> None:
        parts = self._check_item(event).get(key)
        index = event[index_key]
        if type(parts) is not list or index >= len(parts) or type(parts[index]) is not dict:
            raise SchemaViolation((index_key,), _EXISTING_PART)

    def _check_next_part(self, event: dict[str, Any], key: str, index_key: str) -> None:
        parts = self._check_item(event).get(key)
        if event[index_key] > (len(parts) if type(parts) is list else 0):
            raise SchemaViolation((index_key,), _EXISTING_PART)

    # -- events --

    def _call_done(self, index: int, events: list[Event], partial_arguments: bool) -> None:
        call = self.calls.get(index)
        if call is None or call.done:
            return
        call.done = True
        events.append(self._call_done_event(call, partial_arguments))

    @staticmethod
    def _call_done_event(call: _Call, partial_arguments: bool) -> Event:
        parts = call.arguments
        arguments = "".join(parts)
        return Event(
            "tool_calls.function.arguments.done",
            choice_index=0,
            index=call.position,
            id=call.id,
            name=call.name,
            snapshot=arguments,
            arguments=arguments,
            parsed_arguments=(
                _PartialSoFar(parts, len(parts)) if partial_arguments and call.json else None
            ),
        )

    def pending_done_events(self, partial_arguments: bool) -> list[Event]:
        """The ``*.done`` events not fired yet: text, refusal, reasoning, then calls."""
        events: list[Event] = []
        finished = self.events_done
        if self.content is not None and "content" not in finished:
            finished.add("content")
            text = "".join(self.content)
            events.append(Event("content.done", choice_index=0, content=text, snapshot=text))
        if self.refusal is not None and "refusal" not in finished:
            finished.add("refusal")
            text = "".join(self.refusal)
            events.append(Event("refusal.done", choice_index=0, refusal=text, snapshot=text))
        for family, trail in self.reasoning.items():
            if family not in finished:
                finished.add(family)
                events.append(
                    Event(
                        "reasoning.done", choice_index=0, field=family, snapshot="".join(trail)
                    )
                )
        for call in sorted(self.calls.values(), key=lambda c: c.position):
            if not call.done:
                call.done = True
                events.append(self._call_done_event(call, partial_arguments))
        return events


def _push(parts: list[str] | None, piece: str) -> list[str]:
    if parts is None:
        parts = []
    parts.append(piece)
    return parts


# -- checks ----------------------------------------------------------------------------------

_OBJECT: Final = "an object"
_STRING: Final = "a string"


def schema_violation(event: Any) -> tuple[Path, str] | None:
    """The first place where a decoded payload breaks the shape its event type needs."""
    if type(event) is not dict:
        return (), "a JSON object"
    kind = event.get("type")
    if type(kind) is not str:
        return ("type",), _STRING
    number = event.get("sequence_number")
    if number is not None and type(number) is not int:
        return ("sequence_number",), "an integer or null"
    if kind in LIFECYCLE or kind in CLOSING:
        if type(event.get("response")) is not dict:
            return ("response",), _OBJECT
        return None
    if kind == "error" or kind in _PROGRESS:
        return None
    if kind == "response.output_item.added" or kind == "response.output_item.done":
        item = event.get("item")
        if item is not None and type(item) is not dict:
            return ("item",), "an object or null"
        if item is not None:
            return _index_violation(event, "output_index")
        return None
    if kind.startswith("response.content_part.") or kind.startswith(
        "response.reasoning_summary_part."
    ):
        if kind.endswith(".added") or kind.endswith(".done"):
            if type(event.get("part")) is not dict:
                return ("part",), _OBJECT
            index_key = "content_index" if "content_part" in kind else "summary_index"
            return _index_violation(event, "output_index") or _index_violation(event, index_key)
        return None
    if kind == "response.output_text.annotation.added":
        return _index_violation(event, "output_index") or _index_violation(
            event, "content_index"
        )
    if kind.startswith("response.shell_call_command."):
        found = _index_violation(event, "output_index") or _index_violation(
            event, "command_index"
        )
        if found is None and kind.endswith(".delta") and type(event.get("delta")) is not str:
            return ("delta",), _STRING
        return found
    is_delta = event_family(kind, ".delta") is not None
    if (is_delta or event_family(kind, ".done") is not None) and "output_index" in event:
        found = _index_violation(event, "output_index")
        for key in ("content_index", "summary_index"):
            if found is None and key in event:
                found = _index_violation(event, key)
        if found is None and is_delta and type(event.get("delta")) is not str:
            return ("delta",), _STRING
        if found is None and is_delta and kind == "response.output_text.delta":
            logprobs = event.get("logprobs")
            if logprobs is not None and type(logprobs) is not list:
                return ("logprobs",), "an array or null"
        return found
    return None


def _index_violation(event: dict[str, Any], key: str) -> tuple[Path, str] | None:
    value = event.get(key)
    if type(value) is not int or value < 0:
        return (key,), _INDEX
    return None


# -- the summary -----------------------------------------------------------------------------


def summary_part(response: dict[str, Any], closed: bool) -> dict[str, Any]:
    """The summary fields a Responses result gives (docs/formats.md, "The summary"): the answer
    text, reasoning (reasoning text, then summaries, per item) and client calls of the output,
    usage from the response, and as ``stop_reason`` the ``incomplete_details.reason`` or else
    the closing status (``completed`` normalises to ``stop``)."""
    output = response.get("output")
    items = _dicts(output)
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            for part in _dicts(item.get("content")):
                if part.get("type") == "output_text" and type(part.get("text")) is str:
                    text.append(part["text"])
        elif kind == "reasoning":
            for key in ("content", "summary"):
                for part in _dicts(item.get(key)):
                    if type(part.get("text")) is str:
                        reasoning.append(part["text"])
        elif kind in CLIENT_CALLS:
            arguments = item.get("arguments" if kind == "function_call" else "input")
            calls.append(
                {
                    "id": _str_or_none(item.get("call_id")),
                    "name": _str_or_none(item.get("name")),
                    "arguments": arguments if type(arguments) is str else "",
                }
            )
    stop_reason: Any = None
    if closed:
        details = response.get("incomplete_details")
        reason = details.get("reason") if type(details) is dict else None
        stop_reason = reason if reason is not None else response.get("status")
    raw = response.get("usage")
    raw = raw if type(raw) is dict else {}
    inputs = raw.get("input_tokens_details")
    outputs = raw.get("output_tokens_details")
    inputs = inputs if type(inputs) is dict else {}
    outputs = outputs if type(outputs) is dict else {}
    return {
        "id": _str_or_none(response.get("id")),
        "model": _str_or_none(response.get("model")),
        "stop_reason": stop_reason,
        "usage": usage(
            input_tokens=count(raw.get("input_tokens")),
            output_tokens=count(raw.get("output_tokens")),
            total_tokens=count(raw.get("total_tokens")),
            cached_input_tokens=count(inputs.get("cached_tokens")),
            cache_write_tokens=count(inputs.get("cache_write_tokens")),
            reasoning_tokens=count(outputs.get("reasoning_tokens")),
        ),
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "tool_calls": calls,
        "has_tool_calls": bool(calls),
    }


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if type(v) is dict] if type(value) is list else []


# -- the fold the driver runs ----------------------------------------------------------------


class ResponsesStreamFold(Fold):
    """OpenAI Responses: ``response.*`` events, ended by ``response.completed`` /
    ``.incomplete`` / ``.failed``."""

    name: ClassVar[str] = "responses"
    end_name: ClassVar[str] = "response.completed"
    truncated_message: ClassVar[str] = (
        "stream ended without response.completed, response.incomplete or response.failed"
    )
    __slots__ = ("state",)

    def __init__(self, settings: FoldSettings) -> None:
        super().__init__(settings)
        self.state = ResponsesFold()

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        found = schema_violation(value)
        if found is None:
            if value["type"] == "error":
                raise api_error(value, offset, index)
            try:
                self.state.locate(value)
            except SchemaViolation as violation:
                found = violation.path, violation.expected
        if found is not None:
            path, expected = found
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid event: expected {_describe(path)} to be {expected}",
                payload,
                value_position(payload, path),
                byte_offset=offset,
                event_index=index,
            )

    def apply(self, value: Any, events: list[Event] | None, offset: int, index: int) -> bool:
        state = self.state
        gap = state.sequence_problem(value)
        if gap is not None:
            self.settings.record(Problem("SequenceGap", "ignored", gap, offset, index))
        if not state.apply(value, events, self.settings.partial_arguments):
            self.settings.record(
                Problem(
                    "UnknownEvent",
                    "skipped",
                    f"unknown event type {value['type']!r} skipped",
                    offset,
                    index,
                )
            )
            return False
        return value["type"] in CLOSING

    def started(self) -> bool:
        return self.state.folded > 0

    def render(self) -> dict[str, Any]:
        return self.state.render()

    def done_events(self) -> list[Event]:
        return self.state.pending_done_events(self.settings.partial_arguments)

    def summary(self) -> dict[str, Any]:
        state = self.state
        part = summary_part(state.render(), state.closed is not None)
        closed = state.closed
        if state.status == "failed" and closed is not None:
            part["failed"] = True
            part["error"] = closed.get("error")
        return part
