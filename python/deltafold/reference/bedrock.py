"""Bedrock ``ConverseStream`` (AWS event-stream framing, :mod:`.eventstream`): the events fold into
the ``Converse`` response (docs/formats.md "Bedrock ConverseStream"; native: rust/formats/bedrock/).

- ``messageStart``: the role (default ``"assistant"``).
- ``contentBlockStart`` / ``contentBlockDelta`` / ``contentBlockStop`` by ``contentBlockIndex``
  (blocks sorted by index): ``text`` appended; ``toolUse`` id and name from the start, ``input``
  text fragments appended and parsed when rendered (``""`` alone is ``{}``; text that is not JSON
  stays a string); ``reasoningContent`` ``text`` appended, ``signature`` last wins,
  ``redactedContent`` appended. Other delta or start keys: last non-null on the block.
- ``messageStop``: ``stopReason`` and its other keys (``additionalModelResponseFields``), last
  non-null at the top level; it ends the stream (a ``metadata`` event after it is still folded;
  in a capture the stream ends at that ``metadata``, or before the next other event).
- ``metadata``: ``usage``, ``metrics`` and its other keys (``trace``, ...) last non-null.
- The ``p`` padding field is dropped; unknown event types are skipped.

Events (choice_index 0): ``content.delta`` per ``text`` delta (``snapshot``: all text of the
message so far), ``reasoning.delta`` per ``reasoningContent.text`` (``field="reasoningContent"``),
``tool_calls.function.arguments.delta`` per ``toolUse.input`` fragment (``index``: the call's
position among the message's ``toolUse`` blocks in arrival order; ``id``/``name`` from its
``contentBlockStart``), the call's ``.done`` at its ``contentBlockStop``; ``content.done`` and
``reasoning.done`` (whole message text, as the Anthropic fold) and any call ``.done`` not yet
sent at ``messageStop`` or at the end; ``usage`` (the whole ``usage``) for each ``metadata``
that carries one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Final

import orjson

from deltafold.errors import ChunkDecodeError, LimitExceededError
from deltafold.reference.anthropic import AnthropicFold
from deltafold.reference.chat import first_decode_error
from deltafold.reference.events import Event, _PartialSoFar, _TextSoFar, call_done, texts_done
from deltafold.reference.fold import EndBefore, Fold, FoldSettings
from deltafold.reference.json import first_too_deep, value_position
from deltafold.reference.summary import count, usage
from deltafold.reference.values import _copy

_U64: Final = 2**64
# `messageStop` ends the content; the usage comes after it, in `metadata`.
METADATA_AFTER: Final = EndBefore(b"metadata")


def _merge(into: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        into.setdefault(key, None)
    else:
        into[key] = value


class _Block:
    __slots__ = (
        "done",
        "input",
        "other",
        "reasoning",
        "redacted",
        "signature",
        "text",
        "tool",
        "tool_position",
    )

    def __init__(self) -> None:
        self.tool_position: int | None = None  # position among the message's toolUse blocks
        self.done = False  # the call's .done event was sent
        self.text: list[str] | None = None
        self.tool: dict[str, Any] | None = None  # the start's toolUse keys
        self.input: list[str] = []
        self.reasoning: list[str] | None = None  # None: no reasoningContent yet
        self.signature: str | None = None
        self.redacted: list[str] | None = None
        self.other: dict[str, Any] = {}

    def has_reasoning(self) -> bool:
        return self.reasoning is not None

    def render(self, max_depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text is not None:
            out["text"] = "".join(self.text)
        if self.tool is not None:
            out["toolUse"] = {**self.tool, "input": _parse_input("".join(self.input), max_depth)}
        if self.reasoning is not None:
            content: dict[str, Any] = {}
            if self.reasoning or self.signature is not None:
                text: dict[str, Any] = {"text": "".join(self.reasoning)}
                if self.signature is not None:
                    text["signature"] = self.signature
                content["reasoningText"] = text
            if self.redacted is not None:
                content["redactedContent"] = "".join(self.redacted)
            out["reasoningContent"] = content
        out.update(self.other)
        return out


def _parse_input(text: str, max_depth: int) -> Any:
    """A tool's ``input``: the parsed JSON, ``{}`` for no text, the text itself if not JSON."""
    if not text:
        return {}
    raw = text.encode()
    if first_too_deep(raw, max_depth) is not None:
        return text
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return text


class _Violation(Exception):
    def __init__(self, field: str, expected: str, path: list[str]) -> None:
        super().__init__(field)
        self.field = field
        self.expected = expected
        self.path = path


def _index_ok(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value < _U64)


def _delta_violation(value: dict[str, Any]) -> _Violation | None:
    """``contentBlockDelta``, in document order (as the native key-by-key reader meets it)."""
    for key, item in value.items():
        if key == "contentBlockIndex" and not _index_ok(item):
            return _Violation("contentBlockIndex", "a non-negative integer", [key])
        if key != "delta" or item is None:
            continue
        if type(item) is not dict:
            return _Violation("delta", "an object", [key])
        for name, part in item.items():
            if part is None:
                continue
            here = [key, name]
            if name == "text" and type(part) is not str:
                return _Violation("delta.text", "a string", here)
            if name == "toolUse":
                if type(part) is not dict:
                    return _Violation("delta.toolUse", "an object", here)
                field = part.get("input")
                if field is not None and type(field) is not str:
                    return _Violation("delta.toolUse.input", "a string", [*here, "input"])
            if name == "reasoningContent":
                if type(part) is not dict:
                    return _Violation("delta.reasoningContent", "an object", here)
                for sub, text in part.items():
                    if sub in ("text", "signature", "redactedContent") and text is not None:
                        if type(text) is not str:
                            return _Violation(
                                f"delta.reasoningContent.{sub}", "a string", [*here, sub]
                            )
    return None


def _block_violation(event_type: bytes | None, value: dict[str, Any]) -> _Violation | None:
    """``contentBlockStart`` / ``contentBlockStop``: the native parses these whole, then checks
    the index, then ``start``, then ``start.toolUse``."""
    if event_type not in (b"contentBlockStart", b"contentBlockStop"):
        return None
    if not _index_ok(value.get("contentBlockIndex")):
        return _Violation("contentBlockIndex", "a non-negative integer", ["contentBlockIndex"])
    if event_type == b"contentBlockStart":
        start = value.get("start")
        if start is not None and type(start) is not dict:
            return _Violation("start", "an object", ["start"])
        tool = start.get("toolUse") if start is not None else None
        if tool is not None and type(tool) is not dict:
            return _Violation("start.toolUse", "an object", ["start", "toolUse"])
    return None


class BedrockFold(Fold):
    """Bedrock ConverseStream: event-stream messages whose ``:event-type`` names the event."""

    name: ClassVar[str] = "bedrock"
    __slots__ = (
        "_blocks",
        "_event_type",
        "_inner_value",
        "_invoke",
        "_metrics",
        "_other",
        "_reasoning_trail",
        "_role",
        "_stop_reason",
        "_stopped",
        "_text_trail",
        "_texts_done",
        "_tool_blocks",
        "_usage",
        "folded",
    )

    def __init__(self, settings: FoldSettings) -> None:
        super().__init__(settings)
        self._role: Any = None
        self._blocks: dict[int, _Block] = {}
        # Events: all text and all reasoning text of the message, in arrival order; the
        # toolUse blocks in arrival order (their positions).
        self._text_trail: list[str] = []
        self._reasoning_trail: list[str] = []
        self._tool_blocks: list[_Block] = []
        self._texts_done = False
        self._stop_reason: Any = None
        self._stopped = False
        self._usage: Any = None
        self._metrics: Any = None
        self._other: dict[str, Any] = {}
        # The driver checks a payload right before applying it: the event type is kept from
        # the check for the apply.
        self._event_type: bytes | None = None
        # InvokeModelWithResponseStream: decided by a first event of type `chunk`; each chunk
        # carries, base64-encoded, one event of the model's native (Anthropic) stream.
        self._invoke: AnthropicFold | None = None
        self._inner_value: Any = None
        self.folded = 0

    @property
    def end_name(self) -> str:  # type: ignore[override]
        return "message_stop" if self._invoke is not None else "messageStop"

    @property
    def truncated_message(self) -> str:  # type: ignore[override]
        if self._invoke is not None:
            return self._invoke.truncated_message
        return "stream ended without messageStop"

    def _check_chunk(
        self, invoke: AnthropicFold, value: Any, payload: bytes, offset: int, index: int
    ) -> None:
        raw = value.get("bytes") if type(value) is dict else None
        inner: bytes | None = None
        if type(raw) is str:
            try:
                inner = base64.b64decode(raw.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError, ValueError):
                inner = None
        if inner is None:
            if type(value) is not dict:
                raise ChunkDecodeError.from_payload_bytes(
                    "invalid chunk: expected payload to be an object",
                    payload,
                    value_position(payload, []),
                    byte_offset=offset,
                    event_index=index,
                )
            raise ChunkDecodeError.from_payload_bytes(
                "invalid chunk: expected bytes to be a base64 string",
                payload,
                value_position(payload, ["bytes"]),
                byte_offset=offset,
                event_index=index,
            )
        depth = self.settings.max_depth
        if first_too_deep(inner, depth) is not None:
            raise LimitExceededError(
                f"limit exceeded: max_depth is {depth}",
                limit="max_depth",
                maximum=depth,
                byte_offset=offset,
                event_index=index,
            )
        try:
            inner_value = orjson.loads(inner)
        except orjson.JSONDecodeError as error:
            message, position = first_decode_error(inner, error)
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid event JSON: {message}",
                inner,
                position,
                byte_offset=offset,
                event_index=index,
            ) from None
        invoke.check(inner_value, inner, None, offset, index)
        self._inner_value = inner_value

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        self._event_type = event_type
        if self.folded == 0 and self._invoke is None and event_type == b"chunk":
            self._invoke = AnthropicFold(self.settings)
        if self._invoke is not None:
            if event_type == b"chunk":
                self._check_chunk(self._invoke, value, payload, offset, index)
            return
        if type(value) is not dict:
            raise ChunkDecodeError.from_payload_bytes(
                "invalid chunk: expected payload to be an object",
                payload,
                value_position(payload, []),
                byte_offset=offset,
                event_index=index,
            )
        if event_type == b"contentBlockDelta":
            violation = _delta_violation(value)
        else:
            violation = _block_violation(event_type, value)
        if violation is not None:
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk: expected {violation.field} to be {violation.expected}",
                payload,
                value_position(payload, violation.path),
                byte_offset=offset,
                event_index=index,
            )
        if event_type in (b"contentBlockDelta", b"contentBlockStart", b"contentBlockStop"):
            at = value.get("contentBlockIndex")
            limit = self.settings.max_choice_index
            if at is not None and at > limit:
                raise LimitExceededError(
                    f"limit exceeded: max_choice_index is {limit}",
                    limit="max_choice_index",
                    maximum=limit,
                    byte_offset=offset,
                    event_index=index,
                )

    def _block(self, value: dict[str, Any]) -> _Block:
        at = value.get("contentBlockIndex")
        at = 0 if at is None else at
        block = self._blocks.get(at)
        if block is None:
            block = self._blocks[at] = _Block()
        return block

    def apply(
        self, value: Any, events: list[Event] | None, offset: int, index: int
    ) -> bool | EndBefore:
        event_type = self._event_type
        self.folded += 1
        if self._invoke is not None:
            if event_type != b"chunk":
                return False
            ended = self._invoke.apply(self._inner_value, events, offset, index)
            # A single stream's `metadata` after the end is folded (as nothing) here too.
            return METADATA_AFTER if ended is True and not self.settings.capture else ended
        if event_type == b"contentBlockDelta":
            block = self._block(value)
            delta = value.get("delta") or {}
            for key, item in delta.items():
                if key == "text":
                    if item is not None:
                        if block.text is None:
                            block.text = []
                        block.text.append(item)
                        if item:
                            self._text_trail.append(item)
                            if events is not None:
                                trail = self._text_trail
                                snapshot = _TextSoFar(trail, len(trail))
                                events.append(
                                    Event(
                                        "content.delta",
                                        choice_index=0,
                                        delta=item,
                                        snapshot=snapshot,
                                    )
                                )
                elif key == "toolUse":
                    if item is None:
                        continue
                    self._tool(block)
                    fragment = item.get("input")
                    if fragment is not None:
                        if fragment:
                            block.input.append(fragment)
                        if events is not None:
                            events.append(self._call_delta_event(block, fragment))
                elif key == "reasoningContent":
                    if item is None:
                        continue
                    if block.reasoning is None:
                        block.reasoning = []
                    for sub, text in item.items():
                        if text is None:
                            continue
                        if sub == "text":
                            block.reasoning.append(text)
                            if text:
                                self._reasoning_trail.append(text)
                                if events is not None:
                                    trail = self._reasoning_trail
                                    events.append(
                                        Event(
                                            "reasoning.delta",
                                            choice_index=0,
                                            field="reasoningContent",
                                            delta=text,
                                            snapshot=_TextSoFar(trail, len(trail)),
                                        )
                                    )
                        elif sub == "signature":
                            block.signature = text
                        elif sub == "redactedContent":
                            if block.redacted is None:
                                block.redacted = []
                            block.redacted.append(text)
                else:
                    _merge(block.other, key, item)
        elif event_type == b"messageStart":
            if value.get("role") is not None:
                self._role = value["role"]
        elif event_type == b"contentBlockStart":
            block = self._block(value)
            for key, item in (value.get("start") or {}).items():
                if key == "toolUse":
                    if item is None:
                        continue
                    self._tool(block)
                    assert block.tool is not None
                    for name, field in item.items():
                        _merge(block.tool, name, field)
                else:
                    _merge(block.other, key, item)
        elif event_type == b"contentBlockStop":
            block = self._block(value)
            if events is not None and block.tool_position is not None and not block.done:
                events.append(self._call_done_event(block))
        elif event_type == b"messageStop":
            for key, item in value.items():
                if key == "stopReason":
                    if item is not None or self._stop_reason is None:
                        self._stop_reason = item
                elif key != "p":
                    _merge(self._other, key, item)
            if events is not None:
                events.extend(self.done_events())
            self._stopped = True
            # The content ends here; AWS sends the `metadata` after it, and it belongs to the
            # stream. In a capture the stream ends at that `metadata`, or the driver ends it
            # before any other event (the next stream's `messageStart`), or at end of input.
            return METADATA_AFTER
        elif event_type == b"metadata":
            for key, item in value.items():
                if key == "usage":
                    if item is not None or self._usage is None:
                        self._usage = item
                    if events is not None and type(item) is dict:
                        events.append(Event("usage", usage=_copy(item)))
                elif key == "metrics":
                    if item is not None or self._metrics is None:
                        self._metrics = item
                elif key != "p":
                    _merge(self._other, key, item)
            return self._stopped and self.settings.capture
        return False

    def started(self) -> bool:
        return self.folded > 0

    def finished(self) -> bool:
        """After messageStop: a capture's last stream needs no metadata to be complete."""
        return self._stopped

    def render(self) -> dict[str, Any]:
        if self._invoke is not None:
            return self._invoke.render()
        depth = self.settings.max_depth
        out: dict[str, Any] = {
            "output": {
                "message": {
                    "role": "assistant" if self._role is None else self._role,
                    "content": [self._blocks[at].render(depth) for at in sorted(self._blocks)],
                }
            },
            "stopReason": self._stop_reason,
            "usage": self._usage,
            "metrics": self._metrics,
        }
        out.update(self._other)
        return out

    # -- events --

    def _tool(self, block: _Block) -> None:
        """Makes ``block`` a tool call (once), at the next position."""
        if block.tool is None:
            block.tool = {}
        if block.tool_position is None:
            block.tool_position = len(self._tool_blocks)
            self._tool_blocks.append(block)

    def _call_delta_event(self, block: _Block, fragment: str) -> Event:
        tool = block.tool or {}
        parts = block.input
        so_far = _TextSoFar(parts, len(parts))
        return Event(
            "tool_calls.function.arguments.delta",
            choice_index=0,
            index=block.tool_position,
            id=_string(tool.get("toolUseId")),
            name=_string(tool.get("name")),
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
        tool = block.tool or {}
        return call_done(
            block.tool_position,
            _string(tool.get("toolUseId")),
            _string(tool.get("name")),
            "".join(block.input),
            self.settings.partial_arguments,
        )

    def done_events(self) -> list[Event]:
        """``content.done`` (if a block has text) and ``reasoning.done`` (reasoning), each once;
        the ``.done`` of every call whose ``contentBlockStop`` has not come."""
        if self._invoke is not None:
            return self._invoke.done_events()
        events: list[Event] = []
        blocks = [self._blocks[at] for at in sorted(self._blocks)]
        if not self._texts_done:
            self._texts_done = True
            has_text = any(block.text is not None for block in blocks)
            has_reasoning = any(block.reasoning is not None for block in blocks)
            events += texts_done(
                "".join(self._text_trail) if has_text else None,
                "reasoningContent",
                "".join(self._reasoning_trail) if has_reasoning else None,
            )
        for block in self._tool_blocks:
            if not block.done:
                events.append(self._call_done_event(block))
        return events

    def summary(self) -> dict[str, Any]:
        if self._invoke is not None:
            return self._invoke.summary()
        blocks = [self._blocks[at] for at in sorted(self._blocks)]
        calls = [
            {
                "id": _string(block.tool.get("toolUseId")),
                "name": _string(block.tool.get("name")),
                "arguments": "".join(block.input),
            }
            for block in blocks
            if block.tool is not None
        ]
        raw = self._usage if type(self._usage) is dict else {}
        return {
            "id": None,
            "model": None,
            "stop_reason": self._stop_reason,
            "usage": usage(
                input_tokens=count(raw.get("inputTokens")),
                output_tokens=count(raw.get("outputTokens")),
                total_tokens=count(raw.get("totalTokens")),
                cached_input_tokens=count(raw.get("cacheReadInputTokens")),
                cache_write_tokens=count(raw.get("cacheWriteInputTokens")),
            ),
            "text": "".join("".join(b.text) for b in blocks if b.text is not None),
            "reasoning": "".join("".join(b.reasoning) for b in blocks if b.reasoning is not None),
            "tool_calls": calls,
            "has_tool_calls": bool(calls),
        }


def _string(value: Any) -> str | None:
    return value if type(value) is str else None
