"""Gemini ``streamGenerateContent?alt=sse``: each event is a whole ``GenerateContentResponse``;
the fold merges them into one (docs/formats.md "Gemini"; the native fold is rust/formats/gemini/).

- Candidates by ``index`` (default 0), output sorted by index.
- Parts: a text part merges into the previous part when both are text parts with the same
  ``thought`` flag (the merged part keeps the last ``thoughtSignature``); an empty text part
  carrying only a ``thoughtSignature`` sets it on the previous part, of any type; an empty text
  part carrying nothing else adds nothing; other parts are appended.
- A ``functionCall`` without a ``name`` continues the previous part's call while that call said
  ``willContinue``; its ``partialArgs`` build the call's ``args`` (a ``stringValue`` whose
  previous fragment at the same path said ``willContinue`` is appended, any other value set).
- Every other top-level, candidate and content key: last non-null (a key sent only as null
  appears, null). Complete once some candidate has a ``finishReason``.

Events (``choice_index``: the candidate's index): ``content.delta`` per non-empty text part
(``snapshot``: the candidate's text so far), ``reasoning.delta`` for ``thought`` text
(``field="thought"``); ``tool_calls.function.arguments.delta`` (``index``: the call's position
among the candidate's calls; ``id`` and ``name`` from the call) with the arguments as JSON text
that only grows: a whole ``args`` is one delta, its compact JSON; each ``partialArgs`` entry
appends its piece of the JSON document (keys, an open string's new characters, closing
brackets), and the call's end appends what closes it, so the deltas joined are the compact JSON
of the final ``args`` (``{}`` for none) -- unless an entry goes back into a part already
written (a key seen before, an earlier array index), which a growing text cannot express: the
call then sends no more deltas and only its ``.done`` has the final arguments. When a candidate's
``finishReason`` arrives (else at the end): ``content.done`` / ``reasoning.done`` if it has such
text, then for each call the closing delta and its ``.done``. ``usage`` (the whole
``usageMetadata``) when a chunk's ``usageMetadata`` differs from the one before (Gemini repeats
it on every chunk).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

import orjson

from deltafold.errors import ChunkDecodeError, LimitExceededError
from deltafold.reference.chat import api_error
from deltafold.reference.events import Event, _PartialSoFar, _TextSoFar
from deltafold.reference.fold import Fold, FoldSettings
from deltafold.reference.json import value_position
from deltafold.reference.summary import count, usage
from deltafold.reference.values import _copy

Path = list[str | int]
Step = str | int

# Array indexes above this are refused as paths: padding up to a hostile index would allocate
# without bound.
MAX_PATH_INDEX: Final = 65_535
_KEY_STEP: Final = re.compile(r"\.([^.\[]+)")
_QUOTED_STEP: Final = re.compile(r"\[(['\"])(.*?)\1\]", re.DOTALL)
_INDEX_STEP: Final = re.compile(r"\[([0-9]+)\]")
_U64: Final = 2**64
_NONE: Final[Any] = object()


def parse_path(path: str) -> list[Step] | None:
    """The steps of a ``jsonPath`` (``$`` then ``.key``, ``['key']``, ``[index]``), or None."""
    if not path.startswith("$"):
        return None
    steps: list[Step] = []
    at = 1
    while at < len(path):
        match = _KEY_STEP.match(path, at) or _QUOTED_STEP.match(path, at)
        if match is not None:
            steps.append(match.group(match.lastindex or 1))
        else:
            match = _INDEX_STEP.match(path, at)
            if match is None or int(match.group(1)) > MAX_PATH_INDEX:
                return None
            steps.append(int(match.group(1)))
        at = match.end()
    return steps


def set_path(root: Any, steps: list[Step], value: Any, append: bool) -> Any:
    """``root`` with ``value`` set at ``steps`` (objects and arrays created on the way, arrays
    padded with None, a value of the wrong type replaced); with ``append`` a string is appended
    to a string already there. Returns the new root."""
    if not steps:
        if append and type(root) is str and type(value) is str:
            return root + value
        return value
    step = steps[0]
    if type(step) is str:
        if type(root) is not dict:
            root = {}
        root[step] = set_path(root.get(step), steps[1:], value, append)
    else:
        assert type(step) is int
        if type(root) is not list:
            root = []
        if len(root) <= step:
            root.extend([None] * (step + 1 - len(root)))
        root[step] = set_path(root[step], steps[1:], value, append)
    return root


def _merge(into: dict[str, Any], pairs: Any) -> None:
    """Last non-null per key; a key first sent as null appears, null."""
    for key, value in pairs:
        if value is None:
            into.setdefault(key, None)
        else:
            into[key] = value


class _Violation(Exception):
    def __init__(self, field: str, expected: str, path: Path) -> None:
        super().__init__(field)
        self.field = field
        self.expected = expected
        self.path = path


def _violation(chunk: Any) -> _Violation | None:
    """The first schema problem, in document order (as the native scanner meets it)."""
    if type(chunk) is not dict:
        return _Violation("payload", "an object", [])
    for key, value in chunk.items():
        if key == "candidates" and value is not None:
            if type(value) is not list:
                return _Violation("candidates", "an array", ["candidates"])
            for i, candidate in enumerate(value):
                found = _candidate_violation(candidate, ["candidates", i])
                if found is not None:
                    return found
    return None


def _candidate_violation(candidate: Any, path: Path) -> _Violation | None:
    if type(candidate) is not dict:
        return _Violation("candidates[]", "an object", path)
    for key, value in candidate.items():
        if key == "index":
            if value is not None and not (type(value) is int and 0 <= value < _U64):
                return _Violation("candidates[].index", "a non-negative integer", [*path, key])
        elif key == "content" and value is not None:
            if type(value) is not dict:
                return _Violation("candidates[].content", "an object", [*path, key])
            parts = value.get("parts")
            if parts is not None:
                if type(parts) is not list:
                    return _Violation(
                        "candidates[].content.parts", "an array", [*path, key, "parts"]
                    )
                for j, part in enumerate(parts):
                    found = _part_violation(part, [*path, key, "parts", j])
                    if found is not None:
                        return found
    return None


def _part_violation(part: Any, path: Path) -> _Violation | None:
    field = "candidates[].content.parts[]"
    if type(part) is not dict:
        return _Violation(field, "an object", path)
    for key, value in part.items():
        if value is None:
            continue
        if key in ("text", "thoughtSignature") and type(value) is not str:
            return _Violation(f"{field}.{key}", "a string", [*path, key])
        if key == "functionCall":
            if type(value) is not dict:
                return _Violation(f"{field}.functionCall", "an object", [*path, key])
            found = _call_violation(value, [*path, key])
            if found is not None:
                return found
    return None


def _call_violation(call: dict[str, Any], path: Path) -> _Violation | None:
    field = "candidates[].content.parts[].functionCall"
    for key, value in call.items():
        if value is None:
            continue
        if key == "name" and type(value) is not str:
            return _Violation(f"{field}.name", "a string", [*path, key])
        if key == "partialArgs":
            if type(value) is not list:
                return _Violation(f"{field}.partialArgs", "an array", [*path, key])
            for i, arg in enumerate(value):
                here = [*path, key, i]
                if type(arg) is not dict:
                    return _Violation(f"{field}.partialArgs[]", "an object", here)
                for name, item in arg.items():
                    if name in ("jsonPath", "stringValue") and item is not None:
                        if type(item) is not str:
                            return _Violation(
                                f"{field}.partialArgs[].{name}", "a string", [*here, name]
                            )
                json_path = arg.get("jsonPath")
                if type(json_path) is str and parse_path(json_path) is None:
                    return _Violation(
                        f"{field}.partialArgs[].jsonPath",
                        "a JSON path ($.a.b[0])",
                        [*here, "jsonPath"],
                    )
    return None


class _PartialArg:
    __slots__ = ("path", "string", "value", "will_continue")

    def __init__(self, path: list[Step], value: Any, string: bool, will_continue: bool) -> None:
        self.path = path
        self.value = value
        self.string = string
        self.will_continue = will_continue


def _partial_args(call: dict[str, Any]) -> list[_PartialArg]:
    out = []
    for arg in call.get("partialArgs") or ():
        value: Any = _NONE
        string = False
        for name, item in arg.items():
            if name == "stringValue":
                if item is not None:
                    value, string = item, True
            elif name == "nullValue":
                value, string = None, False
            elif name in ("numberValue", "boolValue", "structValue", "listValue"):
                if item is not None:
                    value, string = item, False
        json_path = arg.get("jsonPath")
        if type(json_path) is not str or value is _NONE:
            continue
        steps = parse_path(json_path)
        if steps is None:
            continue
        out.append(_PartialArg(steps, value, string, arg.get("willContinue") is True))
    return out


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class _ArgsText:
    """A call's arguments as JSON text that only grows, written as ``partialArgs`` arrive.

    ``frames`` are the open containers from the root: ``[is_object, children, keys]``;
    ``steps[i]`` is the step from ``frames[i]`` to ``frames[i + 1]``.
    """

    __slots__ = ("broken", "frames", "open_string", "parts", "steps", "whole")

    def __init__(self) -> None:
        self.parts: list[str] = []  # the deltas sent
        self.frames: list[list[Any]] = []
        self.steps: list[Step] = []
        self.open_string = False
        self.whole = False  # a whole ``args`` was written
        self.broken = False

    def args(self, value: Any) -> str | None:
        """A whole ``args``: its compact JSON, if nothing was written yet."""
        if self.whole or self.frames or self.broken:
            self.broken = True
            return None
        self.whole = True
        return _json(value)

    def add(self, arg: _PartialArg, append: bool) -> str | None:
        """The text that writes ``arg``; None once the text cannot follow the arguments."""
        if self.broken:
            return None
        if append:
            piece = _json(arg.value)[1:-1]
            if not arg.will_continue:
                piece += '"'
                self.open_string = False
            return piece
        path = arg.path
        if self.whole or not path or type(path[0]) is not str:
            self.broken = True
            return None
        out: list[str] = []
        if self.open_string:
            out.append('"')
            self.open_string = False
        if not self.frames:
            out.append("{")
            self.frames.append([True, 0, set()])
        shared = 0
        steps = self.steps
        while shared < len(steps) and shared < len(path) - 1 and steps[shared] == path[shared]:
            shared += 1
        while len(self.frames) > shared + 1:
            out.append("}" if self.frames.pop()[0] else "]")
            steps.pop()
        for at in range(shared, len(path)):
            step = path[at]
            frame = self.frames[-1]
            if frame[0]:
                if type(step) is not str or step in frame[2]:
                    self.broken = True
                    return None
                frame[2].add(step)
                out.append(("," if frame[1] else "") + _json(step) + ":")
                frame[1] += 1
            else:
                if type(step) is not int or step < frame[1]:
                    self.broken = True
                    return None
                while frame[1] < step:
                    out.append(",null" if frame[1] else "null")
                    frame[1] += 1
                out.append("," if frame[1] else "")
                frame[1] += 1
            if at + 1 < len(path):
                is_object = type(path[at + 1]) is str
                out.append("{" if is_object else "[")
                self.frames.append([is_object, 0, set()])
                steps.append(step)
        if arg.string:
            out.append(_json(arg.value)[:-1])
            if arg.will_continue:
                self.open_string = True
            else:
                out.append('"')
        else:
            out.append(_json(arg.value))
        return "".join(out)

    def close(self) -> str | None:
        """What ends the text: an open string's quote, the open containers' brackets."""
        if self.broken:
            return None
        if self.whole:
            return ""
        if not self.frames:
            return "{}"
        out = ['"'] if self.open_string else []
        out.extend("}" if frame[0] else "]" for frame in reversed(self.frames))
        self.frames.clear()
        self.open_string = False
        return "".join(out)


class _Part:
    """A part of the merged response: ``kind`` is "text", "call" or "other"."""

    __slots__ = (
        "args",
        "call_extra",
        "continuing",
        "done",
        "extra",
        "kind",
        "name",
        "open_string",
        "position",
        "signature",
        "text",
        "thought",
        "written",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.text: list[str] = []
        self.thought = False
        self.signature: str | None = None
        self.extra: dict[str, Any] = {}
        self.name: str | None = None
        self.args: Any = _NONE
        self.continuing = False
        self.open_string: list[Step] | None = None
        self.call_extra: dict[str, Any] = {}
        # Calls in event mode: position among the candidate's calls, the arguments text.
        self.position = 0
        self.written: _ArgsText | None = None
        self.done = False

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.kind == "text":
            out["text"] = "".join(self.text)
            out.update(self.extra)
        elif self.kind == "call":
            call: dict[str, Any] = {}
            if self.name is not None:
                call["name"] = self.name
            if self.args is not _NONE:
                call["args"] = self.args
            call.update(self.call_extra)
            out["functionCall"] = call
            out.update(self.extra)
        else:
            out.update(self.extra)
        if self.signature is not None:
            out["thoughtSignature"] = self.signature
        return out


class _Candidate:
    __slots__ = (
        "content_extra",
        "content_seen",
        "events",
        "finished",
        "has_parts",
        "index",
        "keys",
        "partial_arguments",
        "parts",
        "text_trail",
        "texts_done",
        "thought_trail",
    )

    def __init__(self, index: int, partial_arguments: bool) -> None:
        self.index = index
        self.partial_arguments = partial_arguments
        # Events: where this chunk's events go (None: events off), the text and thought text
        # so far, and whether the candidate's .done events were sent.
        self.events: list[Event] | None = None
        self.text_trail: list[str] = []
        self.thought_trail: list[str] = []
        self.texts_done = False
        self.keys: dict[str, Any] = {}
        self.content_seen = False
        self.has_parts = False
        self.content_extra: dict[str, Any] = {}
        self.parts: list[_Part] = []
        self.finished = False

    def calls(self) -> int:
        return sum(1 for part in self.parts if part.kind == "call")

    def apply(self, delta: dict[str, Any], events: list[Event] | None) -> None:
        self.events = events
        for key, value in delta.items():
            if key != "content":
                _merge(self.keys, ((key, value),))
                continue
            self.keys.setdefault("content", None)
            if type(value) is not dict:
                continue
            self.content_seen = True
            parts = value.get("parts")
            if type(parts) is list:
                self.has_parts = True
            _merge(self.content_extra, ((k, v) for k, v in value.items() if k != "parts"))
            for part in parts or ():
                if type(part) is dict:
                    self._add_part(part)
        if self.keys.get("finishReason") is not None:
            self.finished = True
            if events is not None:
                events.extend(self.done_events())
        self.events = None

    def _add_part(self, part: dict[str, Any]) -> None:
        text = part.get("text")
        signature = part.get("thoughtSignature")
        call = part.get("functionCall")
        if type(call) is not dict:
            call = None
        extra = [
            (k, v) for k, v in part.items() if k not in ("text", "thoughtSignature", "functionCall")
        ]
        if text is None:
            if call is not None:
                self._add_call(call, signature, extra)
                return
            other = _Part("other")
            _merge(other.extra, extra)
            other.signature = signature
            self.parts.append(other)
            return
        if call is not None:
            extra.append(("functionCall", call))
        thought = part.get("thought") is True
        if text:
            trail = self.thought_trail if thought else self.text_trail
            trail.append(text)
            if self.events is not None:
                self.events.append(
                    Event(
                        "reasoning.delta" if thought else "content.delta",
                        choice_index=self.index,
                        field="thought" if thought else None,
                        delta=text,
                        snapshot=_TextSoFar(trail, len(trail)),
                    )
                )
        parts = self.parts
        if text == "" and not extra:
            if signature is None:
                return
            if parts:
                parts[-1].signature = signature
                return
        elif parts and parts[-1].kind == "text" and parts[-1].thought == thought:
            last = parts[-1]
            last.text.append(text)
            if signature is not None:
                last.signature = signature
            _merge(last.extra, extra)
            return
        new = _Part("text")
        new.text.append(text)
        new.thought = thought
        new.signature = signature
        _merge(new.extra, extra)
        parts.append(new)

    def _add_call(self, call: dict[str, Any], signature: str | None, part_keys: list[Any]) -> None:
        name = call.get("name")
        parts = self.parts
        if not (name is None and parts and parts[-1].kind == "call" and parts[-1].continuing):
            new = _Part("call")
            new.position = self.calls()
            if self.events is not None:
                new.written = _ArgsText()
            parts.append(new)
        last = parts[-1]
        written = last.written if self.events is not None else None
        if name is not None:
            last.name = name
        # Before the arguments: their events carry the call's id.
        _merge(
            last.call_extra,
            (
                (k, v)
                for k, v in call.items()
                if k not in ("name", "args", "willContinue", "partialArgs")
            ),
        )
        if call.get("args") is not None:
            last.args = call["args"]
            if written is not None:
                self._call_delta(last, written.args(call["args"]))
        for arg in _partial_args(call):
            if last.args is _NONE:
                last.args = {}
            append = arg.string and last.open_string == arg.path
            last.args = set_path(last.args, arg.path, arg.value, append)
            last.open_string = arg.path if arg.string and arg.will_continue else None
            if written is not None:
                self._call_delta(last, written.add(arg, append))
        last.continuing = call.get("willContinue") is True
        if signature is not None:
            last.signature = signature
        _merge(last.extra, part_keys)

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.keys.items():
            out[key] = self._render_content() if key == "content" else value
        return out

    # -- events --

    def _call_delta(self, part: _Part, piece: str | None) -> None:
        if not piece or self.events is None or part.written is None:
            return
        sent = part.written.parts
        sent.append(piece)
        so_far = _TextSoFar(sent, len(sent))
        self.events.append(
            Event(
                "tool_calls.function.arguments.delta",
                choice_index=self.index,
                index=part.position,
                id=_string(part.call_extra.get("id")),
                name=part.name,
                delta=piece,
                arguments_delta=piece,
                snapshot=so_far,
                arguments=so_far,
                parsed_arguments=(
                    _PartialSoFar(sent, len(sent)) if self.partial_arguments else None
                ),
            )
        )

    def done_events(self) -> list[Event]:
        """Once: ``content.done`` / ``reasoning.done`` if the candidate has such text, then each
        call's closing delta and ``.done``."""
        if self.texts_done:
            return []
        self.texts_done = True
        events: list[Event] = []
        texts = [part for part in self.parts if part.kind == "text"]
        if any(not part.thought for part in texts):
            text = "".join(self.text_trail)
            events.append(
                Event("content.done", choice_index=self.index, content=text, snapshot=text)
            )
        if any(part.thought for part in texts):
            events.append(
                Event(
                    "reasoning.done",
                    choice_index=self.index,
                    field="thought",
                    snapshot="".join(self.thought_trail),
                )
            )
        self.events = events
        for part in self.parts:
            if part.kind != "call" or part.written is None:
                continue
            self._call_delta(part, part.written.close())
            arguments = _json({} if part.args is _NONE else part.args)
            events.append(
                Event(
                    "tool_calls.function.arguments.done",
                    choice_index=self.index,
                    index=part.position,
                    id=_string(part.call_extra.get("id")),
                    name=part.name,
                    snapshot=arguments,
                    arguments=arguments,
                    parsed_arguments=(
                        _PartialSoFar([arguments], 1) if self.partial_arguments else None
                    ),
                )
            )
        self.events = None
        return events

    def _render_content(self) -> dict[str, Any] | None:
        if not self.content_seen:
            return None
        content: dict[str, Any] = {}
        if self.has_parts or self.parts:
            content["parts"] = [part.render() for part in self.parts]
        content.update(self.content_extra)
        return content


class GeminiFold(Fold):
    """Gemini: whole ``GenerateContentResponse`` payloads; ends once every candidate seen has a
    ``finishReason`` (with one candidate: when it has one)."""

    name: ClassVar[str] = "gemini"
    end_name: ClassVar[str] = "finishReason"
    truncated_message: ClassVar[str] = "stream ended without a finishReason"
    __slots__ = ("_candidates", "_keys", "folded")

    def __init__(self, settings: FoldSettings) -> None:
        super().__init__(settings)
        self._keys: dict[str, Any] = {}
        self._candidates: dict[int, _Candidate] = {}
        self.folded = 0

    def check(
        self, value: Any, payload: bytes, event_type: bytes | None, offset: int, index: int
    ) -> None:
        """An in-band error first, then the first schema problem, then a limit."""
        if type(value) is dict and value.get("error") is not None:
            raise api_error(value["error"], offset, index)
        violation = _violation(value)
        if violation is not None:
            raise ChunkDecodeError.from_payload_bytes(
                f"invalid chunk: expected {violation.field} to be {violation.expected}",
                payload,
                value_position(payload, violation.path),
                byte_offset=offset,
                event_index=index,
            )
        settings = self.settings
        for candidate in value.get("candidates") or ():
            if type(candidate) is not dict:
                continue
            at = candidate.get("index")
            at = 0 if at is None else at
            if at > settings.max_choice_index:
                raise _limit("max_choice_index", settings.max_choice_index, offset, index)
            content = candidate.get("content")
            parts = content.get("parts") if type(content) is dict else None
            new_calls = sum(
                1
                for part in parts or ()
                if type(part) is dict
                and part.get("text") is None
                and type(part.get("functionCall")) is dict
            )
            known = self._candidates[at].calls() if at in self._candidates else 0
            if known + new_calls > settings.max_tool_calls:
                raise _limit("max_tool_calls", settings.max_tool_calls, offset, index)

    def apply(self, value: Any, events: list[Event] | None, offset: int, index: int) -> bool:
        usage_before = self._keys.get("usageMetadata")
        for key, item in value.items():
            if key == "error":
                continue
            if key != "candidates":
                _merge(self._keys, ((key, item),))
                continue
            self._keys.setdefault("candidates", None)
            for delta in item or ():
                if type(delta) is not dict:
                    continue
                at = delta.get("index")
                at = 0 if at is None else at
                candidate = self._candidates.get(at)
                if candidate is None:
                    candidate = self._candidates[at] = _Candidate(
                        at, self.settings.partial_arguments
                    )
                candidate.apply(delta, events)
        if events is not None:
            usage_now = self._keys.get("usageMetadata")
            if type(usage_now) is dict and usage_now != usage_before:
                events.append(Event("usage", usage=_copy(usage_now)))
        self.folded += 1
        candidates = self._candidates.values()
        return bool(candidates) and all(c.finished for c in candidates)

    def started(self) -> bool:
        return self.folded > 0

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self._keys.items():
            if key == "candidates":
                out[key] = [self._candidates[at].render() for at in sorted(self._candidates)]
            else:
                out[key] = value
        return out

    def done_events(self) -> list[Event]:
        """The .done events of every candidate whose ``finishReason`` has not come."""
        events: list[Event] = []
        for at in sorted(self._candidates):
            events.extend(self._candidates[at].done_events())
        return events

    def summary(self) -> dict[str, Any]:
        """Candidate 0: its text, thought text, function calls and finishReason; the usage."""
        candidate = self._candidates.get(0)
        parts = candidate.parts if candidate is not None else []
        text = "".join("".join(p.text) for p in parts if p.kind == "text" and not p.thought)
        reasoning = "".join("".join(p.text) for p in parts if p.kind == "text" and p.thought)
        calls = [
            {
                "id": _string(p.call_extra.get("id")),
                "name": p.name,
                "arguments": orjson.dumps({} if p.args is _NONE else p.args).decode(),
            }
            for p in parts
            if p.kind == "call"
        ]
        raw = self._keys.get("usageMetadata")
        if type(raw) is not dict:
            raw = {}
        candidates_tokens = count(raw.get("candidatesTokenCount"))
        thoughts = count(raw.get("thoughtsTokenCount"))
        output = (
            None
            if candidates_tokens is None and thoughts is None
            else (candidates_tokens or 0) + (thoughts or 0)
        )
        return {
            "id": _string(self._keys.get("responseId")),
            "model": _string(self._keys.get("modelVersion")),
            "stop_reason": candidate.keys.get("finishReason") if candidate is not None else None,
            "usage": usage(
                input_tokens=count(raw.get("promptTokenCount")),
                output_tokens=output,
                total_tokens=count(raw.get("totalTokenCount")),
                cached_input_tokens=count(raw.get("cachedContentTokenCount")),
                reasoning_tokens=thoughts,
            ),
            "text": text,
            "reasoning": reasoning,
            "tool_calls": calls,
            "has_tool_calls": bool(calls),
        }


def _string(value: Any) -> str | None:
    return value if type(value) is str else None


def _limit(name: str, maximum: int, offset: int, index: int) -> LimitExceededError:
    return LimitExceededError(
        f"limit exceeded: {name} is {maximum}",
        limit=name,
        maximum=maximum,
        byte_offset=offset,
        event_index=index,
    )
