"""The Anthropic Messages format: ``message_start`` ... ``message_stop`` events folded into the
Messages API ``message`` dict (docs/formats.md "Anthropic").

The oracle is the ``anthropic`` SDK's ``accumulate_event`` (``lib/streaming``) followed by
``to_dict(mode="json")``. Its beta twin (``_beta_messages``) knows more of the wire than the
plain one, and these rules follow the wire where the two differ: ``input_json_delta`` fills the
``input`` of every block that has one (``mcp_tool_use`` too), ``compaction_delta`` sets the
block's ``content`` and ``encrypted_content``, and every non-null key of a ``message_delta``
reaches the message (``usage.iterations``, ``context_management``), where the plain SDK drops
them. Keys keep the order the server sent them in (``message_start``'s message, each block's
``content_block_start``); keys a later event adds come after them, in arrival order. (The SDK's
own order is that of its pydantic models, which no wire has.)

Rules, event by event:

- ``message_start``: its ``message`` is the result so far. A repeated one with the same ``id``
  is ignored; one with another ``id`` while the message is open is a splice of two
  generations: :class:`~deltafold.StreamDecodeError` (``.partial``: the first message); in skip
  mode it and every later event are dropped, one problem each. Any other event before
  ``message_start`` is a :class:`~deltafold.StreamDecodeError`.
- ``content_block_start``: its ``content_block``, as given, becomes block ``index``, which must
  be the next one (``len(content)``); else a :class:`~deltafold.ChunkDecodeError`.
- ``content_block_delta`` on block ``index`` (which must exist): ``text_delta`` appends to a
  text block's ``text``, ``thinking_delta`` to a thinking block's ``thinking``,
  ``signature_delta`` sets its ``signature`` (last wins), ``citations_delta`` appends its
  ``citation`` to a text block's ``citations``, ``compaction_delta`` sets a compaction block's
  ``content`` and ``encrypted_content``, ``input_json_delta`` appends ``partial_json`` to the
  JSON text of a block that has an ``input``. A delta whose type does not fit the block, and a
  delta of an unknown type, are recorded as problems and ignored (in every mode).
- The JSON text must stay the start of a JSON document: the fragment that breaks that is a
  :class:`~deltafold.ChunkDecodeError` (skip mode: the fragment is dropped). ``input`` is the
  value of the text: whole once it is complete, else what jiter's ``partial_mode=True`` gives
  (unfinished strings and literals dropped, containers closed), as the SDK leaves a tool input
  that a ``max_tokens`` stop cut. No JSON text at all (or only ``""``) leaves ``input`` as given
  (``{}``).
- ``content_block_stop``: the block is complete (a tool call's ``.done`` event).
- ``message_delta``: ``stop_reason``, ``stop_sequence`` and ``stop_details`` last non-null (the
  three keys are present, null, once a ``message_delta`` arrived); any other ``delta`` key and
  any other top-level key (``context_management``) set when non-null; ``usage.output_tokens``
  replaced when present (it is cumulative), every other usage key replaced when non-null.
- ``message_stop`` ends the message (and the stream: in a capture, the next ``message_start``
  begins the next message). ``ping`` is skipped. ``error`` (a payload ``type``, with or without
  ``event: error``) is a :class:`~deltafold.StreamAPIError` whose body is the payload. Any other
  type is recorded as a problem and skipped.

Events: ``content.delta`` (text; ``snapshot`` is all text so far), ``reasoning.delta``
(thinking, ``field="thinking"``), ``tool_calls.function.arguments.delta`` for ``tool_use``
blocks (``index``: position among the message's ``tool_use`` blocks), its ``.done`` at the
block's ``content_block_stop``, ``usage`` on ``message_start`` and ``message_delta``; the other
``*.done`` when a ``message_delta`` brings a ``stop_reason``, or at the end.

Limits: ``max_tool_calls`` bounds the ``tool_use`` blocks, ``max_depth`` the JSON of each
payload and of each tool input.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from deltafold.errors import (
    ChunkDecodeError,
    LimitExceededError,
    Problem,
    StreamAPIError,
    StreamDecodeError,
)
from deltafold.reference.chat import _api_message
from deltafold.reference.events import Event, _PartialSoFar, _TextSoFar, call_done, texts_done
from deltafold.reference.fold import Fold, FoldSettings
from deltafold.reference.json import first_too_deep, value_position
from deltafold.reference.partial import _NOTHING, parse_prefix
from deltafold.reference.summary import count, usage
from deltafold.reference.values import _copy

_MESSAGE_DELTA_STOP_KEYS: Final = ("stop_reason", "stop_sequence", "stop_details")
# Blocks whose calls the client must answer (summary tool_calls, tool events); server-side
# tools (server_tool_use, mcp_tool_use) are not.
_CLIENT_TOOL: Final = "tool_use"
_KNOWN_TYPES: Final = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)
# The delta types and the block type and string key each one needs.
_TEXT_DELTAS: Final = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
}


class _Block:
    """One content block: the dict as given, plus what its deltas built."""

    __slots__ = ("block", "done", "json", "tool_position", "type")

    def __init__(self, block: dict[str, Any], tool_position: int | None) -> None:
        self.block = block  # a copy of content_block, updated in place but for text and input
        self.type = block.get("type")
        self.json: list[str] | None = [] if "input" in block else None  # tool input text
        # Position among the message's tool_use blocks (None for other blocks).
        self.tool_position = tool_position
        self.done = False  # its content_block_stop arrived (tool calls: .done emitted)

    def input(self) -> Any:
        """The ``input``: the value of the JSON text (partial while incomplete), or as given."""
        text = "".join(self.json or ())
        if not text.strip(" \t\n\r"):
            return self.block.get("input")
        _, value = parse_prefix(text, trailing_strings=False)
        return self.block.get("input") if value is _NOTHING else value

    def arguments(self) -> str:
        """The tool input as text: the JSON text that arrived, else the given input as JSON."""
        text = "".join(self.json or ())
        if text:
            return text
        return orjson.dumps(self.block.get("input")).decode()

    def render(self) -> dict[str, Any]:
        block = _copy(self.block)
        if self.json is not None and self.json:
            block["input"] = self.input()
        return block  # type: ignore[no-any-return]


class AnthropicFold(Fold):
    """Anthropic Messages: ``message_start`` ... ``message_stop``."""

    name: ClassVar[str] = "anthropic"
    end_name: ClassVar[str] = "message_stop"
    truncated_message: ClassVar[str] = "stream ended without message_stop"

    __slots__ = (
        "blocks",
        "message",
        "message_id",
        "payloads",
        "spliced",
        "text_trail",
        "texts_done",
        "thinking_trail",
        "tool_blocks",
    )

    def __init__(self, settings: FoldSettings) -> None:
        super().__init__(settings)
        self.message: dict[str, Any] | None = None  # message_start's message, updated
        self.message_id: Any = None
        self.blocks: list[_Block] = []
        self.tool_blocks: list[_Block] = []
        # Every piece of answer / thinking text in order (event snapshots and the summary).
        self.text_trail: list[str] = []
        self.thinking_trail: list[str] = []
        self.payloads = 0
        self.spliced = False  # a second generation's message_start arrived (skip mode)
        self.texts_done = False  # content.done / reasoning.done fired

    # -- checks --

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        def invalid(path: tuple[str | int, ...], expected: str) -> ChunkDecodeError:
            described = "".join(f"[{step}]" if type(step) is int else f".{step}" for step in path)
            return ChunkDecodeError.from_payload_bytes(
                f"invalid event: expected {described or 'payload'} to be {expected}",
                payload,
                value_position(payload, path),
                byte_offset=offset,
                event_index=index,
            )

        if type(value) is not dict:
            raise invalid((), "a JSON object")
        kind = value.get("type")
        if type(kind) is not str:
            raise invalid(("type",), "a string")
        if kind == "error":
            raise StreamAPIError(
                f"stream reported an error: {_api_message(value.get('error', value))}",
                body=value,
                byte_offset=offset,
                event_index=index,
            )
        if kind not in _KNOWN_TYPES or kind == "ping":
            return
        if self.spliced:
            raise StreamDecodeError(
                f"{kind} of a spliced second message dropped",
                byte_offset=offset,
                event_index=index,
            )
        if kind == "message_start":
            message = value.get("message")
            if type(message) is not dict:
                raise invalid(("message",), "an object")
            content = message.get("content")
            if content is not None and type(content) is not list:
                raise invalid(("message", "content"), "an array or null")
            for position, block in enumerate(content or ()):
                if type(block) is not dict:
                    raise invalid(("message", "content", position), "an object")
            message_usage = message.get("usage")
            if message_usage is not None and type(message_usage) is not dict:
                raise invalid(("message", "usage"), "an object or null")
            if self.message is not None and message.get("id") != self.message_id:
                self.spliced = True
                raise StreamDecodeError(
                    f"message_start of another message ({message.get('id')!r}) while message "
                    f"{self.message_id!r} is open: two generations spliced",
                    byte_offset=offset,
                    event_index=index,
                )
            return
        if self.message is None:
            raise StreamDecodeError(
                f"{kind} before message_start", byte_offset=offset, event_index=index
            )
        if kind == "message_stop":
            return
        if kind == "message_delta":
            for key in ("delta", "usage"):
                found = value.get(key)
                if found is not None and type(found) is not dict:
                    raise invalid((key,), "an object or null")
            return
        block_index = value.get("index")
        if type(block_index) is not int or block_index < 0:
            raise invalid(("index",), "a non-negative integer")
        if kind == "content_block_start":
            block = value.get("content_block")
            if type(block) is not dict or type(block.get("type")) is not str:
                raise invalid(("content_block",), "an object with a string type")
            if block_index != len(self.blocks):
                raise invalid(("index",), f"the next block index ({len(self.blocks)})")
            maximum = self.settings.max_tool_calls
            if block["type"] == _CLIENT_TOOL and len(self.tool_blocks) >= maximum:
                raise LimitExceededError(
                    f"{len(self.tool_blocks) + 1} tool calls exceeds max_tool_calls ({maximum})",
                    limit="max_tool_calls",
                    maximum=maximum,
                    byte_offset=offset,
                    event_index=index,
                )
            return
        if block_index >= len(self.blocks):
            raise invalid(("index",), f"the index of a started block (below {len(self.blocks)})")
        if kind == "content_block_delta":
            delta = value.get("delta")
            if type(delta) is not dict or type(delta.get("type")) is not str:
                raise invalid(("delta",), "an object with a string type")
            self._check_delta(self.blocks[block_index], delta, invalid, offset, index)

    def _check_delta(
        self, block: _Block, delta: dict[str, Any], invalid: Any, offset: int, index: int
    ) -> None:
        kind = delta["type"]
        field = {
            "text_delta": "text",
            "thinking_delta": "thinking",
            "signature_delta": "signature",
            "input_json_delta": "partial_json",
        }.get(kind)
        if field is not None and type(delta.get(field)) is not str:
            raise invalid(("delta", field), "a string")
        if kind == "citations_delta" and type(delta.get("citation")) is not dict:
            raise invalid(("delta", "citation"), "an object")
        if kind != "input_json_delta" or block.json is None:
            return
        fragment: str = delta["partial_json"]
        if not fragment:
            return
        text = "".join(block.json) + fragment
        maximum = self.settings.max_depth
        encoded = text.encode("utf-8", "surrogatepass")
        if encoded.count(b"{") + encoded.count(b"[") > maximum and (
            first_too_deep(encoded, maximum) is not None
        ):
            raise LimitExceededError(
                f"tool input JSON nested deeper than max_depth ({maximum})",
                limit="max_depth",
                maximum=maximum,
                byte_offset=offset,
                event_index=index,
            )
        is_prefix, _ = parse_prefix(text)
        if not is_prefix:
            raise invalid(
                ("delta", "partial_json"),
                "text that keeps the tool input the start of a JSON document",
            )

    # -- folding --

    def apply(self, value: Any, events: list[Event] | None, offset: int, index: int) -> bool:
        kind = value["type"]
        if kind == "ping":
            return False
        if kind not in _KNOWN_TYPES:
            self._ignore(f"unknown event type {kind!r} ignored", offset, index)
            return False
        self.payloads += 1
        if kind == "message_start":
            if self.message is None:
                self._start(value["message"], events)
        elif kind == "content_block_start":
            self._start_block(value["content_block"])
        elif kind == "content_block_delta":
            self._delta(self.blocks[value["index"]], value["delta"], events, offset, index)
        elif kind == "content_block_stop":
            block = self.blocks[value["index"]]
            if not block.done:
                block.done = True
                if events is not None and block.tool_position is not None:
                    events.append(self._call_done_event(block))
        elif kind == "message_delta":
            self._message_delta(value, events)
        elif kind == "message_stop":
            return True
        return False

    def _ignore(self, message: str, offset: int, index: int) -> None:
        self.settings.record(Problem("UnknownEvent", "ignored", message, offset, index))

    def _start(self, message: dict[str, Any], events: list[Event] | None) -> None:
        self.message = _copy(message)
        self.message_id = message.get("id")
        for block in self.message.get("content") or ():
            if type(block) is dict:
                self._start_block(block)
        if events is not None and type(message.get("usage")) is dict:
            events.append(Event("usage", usage=_copy(message["usage"])))

    def _start_block(self, given: dict[str, Any]) -> None:
        block = _copy(given)
        kind = block.get("type")
        tool_position = len(self.tool_blocks) if kind == _CLIENT_TOOL else None
        state = _Block(block, tool_position)
        self.blocks.append(state)
        if tool_position is not None:
            self.tool_blocks.append(state)
        if kind == "text" and type(block.get("text")) is str and block["text"]:
            self.text_trail.append(block["text"])
        if kind == "thinking" and type(block.get("thinking")) is str and block["thinking"]:
            self.thinking_trail.append(block["thinking"])

    def _delta(
        self,
        block: _Block,
        delta: dict[str, Any],
        events: list[Event] | None,
        offset: int,
        index: int,
    ) -> None:
        kind = delta["type"]
        target = block.block
        if kind in _TEXT_DELTAS:
            block_type, key = _TEXT_DELTAS[kind]
            if block.type != block_type:
                self._ignore(f"{kind} on a {block.type} block ignored", offset, index)
                return
            added: str = delta[key]
            current = target.get(key)
            target[key] = (current if type(current) is str else "") + added
            if not added:
                return
            trail = self.text_trail if key == "text" else self.thinking_trail
            trail.append(added)
            if events is not None:
                snapshot = _TextSoFar(trail, len(trail))
                if key == "text":
                    events.append(
                        Event("content.delta", choice_index=0, delta=added, snapshot=snapshot)
                    )
                else:
                    events.append(
                        Event(
                            "reasoning.delta",
                            choice_index=0,
                            field="thinking",
                            delta=added,
                            snapshot=snapshot,
                        )
                    )
        elif kind == "signature_delta":
            if block.type != "thinking":
                self._ignore(f"{kind} on a {block.type} block ignored", offset, index)
                return
            target["signature"] = delta["signature"]
        elif kind == "citations_delta":
            if block.type != "text":
                self._ignore(f"{kind} on a {block.type} block ignored", offset, index)
                return
            citations = target.get("citations")
            if type(citations) is list and citations:
                citations.append(_copy(delta["citation"]))
            else:
                target["citations"] = [_copy(delta["citation"])]
        elif kind == "compaction_delta":
            if block.type != "compaction":
                self._ignore(f"{kind} on a {block.type} block ignored", offset, index)
                return
            target["content"] = _copy(delta.get("content"))
            target["encrypted_content"] = _copy(delta.get("encrypted_content"))
        elif kind == "input_json_delta":
            if block.json is None:
                self._ignore(f"{kind} on a {block.type} block ignored", offset, index)
                return
            fragment: str = delta["partial_json"]
            if fragment:
                block.json.append(fragment)
            if events is not None and block.tool_position is not None:
                events.append(self._call_delta_event(block, fragment))
        else:
            self._ignore(f"unknown delta type {kind!r} ignored", offset, index)

    def _message_delta(self, value: dict[str, Any], events: list[Event] | None) -> None:
        message = self.message
        assert message is not None  # checked: message_delta before message_start is refused
        delta = value.get("delta") or {}
        for key in _MESSAGE_DELTA_STOP_KEYS:
            found = delta.get(key)
            if found is not None or key not in message:
                message[key] = _copy(found)
        for key, found in delta.items():
            if key not in _MESSAGE_DELTA_STOP_KEYS and found is not None:
                message[key] = _copy(found)
        for key, found in value.items():
            if key not in ("type", "delta", "usage") and found is not None:
                message[key] = _copy(found)
        new_usage = value.get("usage")
        if new_usage is not None:
            current = message.get("usage")
            if type(current) is not dict:
                current = message["usage"] = {}
            for key, found in new_usage.items():
                if found is not None or (key == "output_tokens"):
                    current[key] = _copy(found)
        if events is not None:
            if message.get("stop_reason") is not None:
                events.extend(self.done_events())
            if new_usage is not None:
                events.append(Event("usage", usage=_copy(message["usage"])))

    # -- events --

    def _call_delta_event(self, block: _Block, fragment: str) -> Event:
        parts = block.json or []
        so_far = _TextSoFar(parts, len(parts))
        return Event(
            "tool_calls.function.arguments.delta",
            choice_index=0,
            index=block.tool_position,
            id=block.block.get("id"),
            name=block.block.get("name"),
            delta=fragment,
            arguments_delta=fragment,
            snapshot=so_far,
            arguments=so_far,
            parsed_arguments=(
                _PartialSoFar(parts, len(parts)) if self.settings.partial_arguments else None
            ),
        )

    def _call_done_event(self, block: _Block) -> Event:
        block.done = True
        return call_done(
            block.tool_position,
            block.block.get("id"),
            block.block.get("name"),
            block.arguments(),
            self.settings.partial_arguments,
        )

    def done_events(self) -> list[Event]:
        """``content.done`` (if the message has a text block) and ``reasoning.done`` (a thinking
        block), each once; the ``.done`` of every tool call not stopped yet."""
        events: list[Event] = []
        if not self.texts_done:
            self.texts_done = True
            types = {block.type for block in self.blocks}
            events += texts_done(
                "".join(self.text_trail) if "text" in types else None,
                "thinking",
                "".join(self.thinking_trail) if "thinking" in types else None,
            )
        for block in self.tool_blocks:
            if not block.done:
                events.append(self._call_done_event(block))
        return events

    # -- results --

    def started(self) -> bool:
        return self.message is not None

    def render(self) -> dict[str, Any]:
        if self.message is None:
            return {}
        message = _copy(self.message)
        message["content"] = [block.render() for block in self.blocks]
        return message  # type: ignore[no-any-return]

    def summary(self) -> dict[str, Any]:
        message = self.message or {}
        raw = message.get("usage")
        if type(raw) is not dict:
            raw = {}
        input_tokens = count(raw.get("input_tokens"))
        cached = count(raw.get("cache_read_input_tokens"))
        written = count(raw.get("cache_creation_input_tokens"))
        if input_tokens is not None:
            input_tokens += (cached or 0) + (written or 0)
        calls = [
            {
                "id": block.block.get("id"),
                "name": block.block.get("name"),
                "arguments": block.arguments(),
            }
            for block in self.tool_blocks
        ]
        return {
            "id": message.get("id"),
            "model": message.get("model"),
            "stop_reason": message.get("stop_reason"),
            "usage": usage(
                input_tokens=input_tokens,
                output_tokens=count(raw.get("output_tokens")),
                cached_input_tokens=cached,
                cache_write_tokens=written,
            ),
            "text": "".join(self.text_trail),
            "reasoning": "".join(self.thinking_trail),
            "tool_calls": calls,
            "has_tool_calls": bool(calls),
        }
