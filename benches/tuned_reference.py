"""The pure-Python baseline the speed targets are measured against (``reference.*`` competitors).

``deltafold.reference`` is the readable oracle the tests compare the native core with: one framing
loop for every line end, and every chunk checked in full before it is folded in. When it was also
the speed baseline it had two shortcuts, kept here so the targets (docs/design.md) are measured
against the same baseline as before:

- a framing loop for reads without a CR, where lines are what ``split(b"\\n")`` gives, with the
  ``data:`` line handled inline and the line-length check skipped when no line can be too long;
- ``apply_if_plain``: one pass that checks and folds in a chunk when nothing about it is unusual,
  falling back to the careful path (which finds and reports the precise problem) otherwise.

Both give the reference's results: ``run.py --check-only`` checks every competitor against the
corpus's ground truth.
"""

from __future__ import annotations

from typing import Any

from deltafold._source import iter_reads
from deltafold.reference.chat import (
    _ABSENT,
    _Assembly,
    _delta_violation,
    _logprobs_violation,
)
from deltafold.reference.driver import StreamParser as ReferenceParser
from deltafold.reference.events import Event


class StreamParser(ReferenceParser):  # type: ignore[misc]  # final for users, not for the baseline
    """:class:`deltafold.reference.StreamParser` with the two shortcuts."""

    __slots__ = ()

    def _frame_lines(self, data: bytes) -> None:
        if b"\r" in data:
            super()._frame_lines(data)
        else:
            self._frame_lf(data)

    def _frame_lf(self, data: bytes) -> None:
        """The common case: no CR in this read, so lines are what ``split(b"\\n")`` gives."""
        lines = data.split(b"\n")
        tail = lines.pop()
        partial = self._partial
        start = self._pos - len(partial)
        if lines:
            if partial:
                lines[0] = bytes(partial) + lines[0]
                partial.clear()
            max_line = self._max_line
            # No line can be longer than the read plus what was held, so most reads skip the
            # per-line length check.
            check_length = len(data) + len(lines[0]) > max_line
            data_start = self._pos
            values = self._data
            line = b""
            try:
                for line in lines:
                    if not line:
                        self._end_event()
                        start += 1
                        continue
                    if check_length and len(line) > max_line:
                        self._line_too_long(start)
                    elif line.startswith(b"data:"):
                        # _data_value, inlined: this is the line of almost every event.
                        value = line[6:] if line[5:6] == b" " else line[5:]
                        if values or self._poisoned:
                            self._more_data(value, start)
                        else:
                            self._payload_start = start + len(line) - len(value)
                            self._data_length = len(value)
                            values.append(value)
                    else:
                        self._field(line, start)
                    start += len(line) + 1
            except BaseException:
                start += len(line) + 1
                self._stash = data[start - data_start :]
                self._pos = start
                raise
        self._hold(tail, start)

    def _apply_chunk(self, chunk: Any, payload: bytes, offset: int, index: int) -> None:
        events = self._events if self._events_on else None
        if apply_if_plain(
            self._assembly,
            chunk,
            events,
            self._partial_arguments,
            self._max_choice_index,
            self._max_tool_calls,
        ):
            return
        super()._apply_chunk(chunk, payload, offset, index)


def apply_if_plain(
    assembly: _Assembly,
    chunk: Any,
    events: list[Event] | None,
    partial_arguments: bool,
    max_choice_index: int,
    max_tool_calls: int,
) -> bool:
    """Check and fold in one chunk in a single pass, if nothing about it is unusual.

    Returns ``False``, having changed nothing, for anything this quick check is not sure
    of (a wrong type, an in-band error, a limit, a tool call that may start a new call);
    the caller then takes the careful path, which finds and reports the precise problem.
    """
    if type(chunk) is not dict:
        return False
    get = chunk.get
    chunk_id = get("id")
    model = get("model")
    created = get("created")
    usage = get("usage")
    if (
        (chunk_id is not None and type(chunk_id) is not str)
        or (model is not None and type(model) is not str)
        or (created is not None and type(created) is not int)
        or (usage is not None and type(usage) is not dict)
        or get("error") is not None
        or get("object") == "error"
    ):
        return False
    fingerprint = get("system_fingerprint", _ABSENT)
    if fingerprint is not None and type(fingerprint) is not str and fingerprint is not _ABSENT:
        return False
    tier = get("service_tier", _ABSENT)
    if tier is not None and type(tier) is not str and tier is not _ABSENT:
        return False
    choices = get("choices")
    if choices:
        if type(choices) is not list:
            return False
        for item in choices:
            if type(item) is not dict:
                return False
            item_get = item.get
            index = item_get("index", 0)
            if type(index) is not int or index < 0 or index > max_choice_index:
                return False
            delta = item_get("delta")
            if delta:
                if type(delta) is not dict:
                    return False
                if len(delta) != 1 or type(delta.get("content")) is not str:
                    if _delta_violation(delta) is not None:
                        return False
                    fragments = delta.get("tool_calls")
                    if fragments:
                        state = assembly.choices.get(index)
                        if state is None or not assembly._only_known_calls(
                            state, fragments, max_tool_calls
                        ):
                            return False
            elif delta is not None and type(delta) is not dict:
                return False
            finish_reason = item_get("finish_reason")
            if finish_reason is not None and type(finish_reason) is not str:
                return False
            logprobs = item_get("logprobs")
            if logprobs is not None and _logprobs_violation(logprobs) is not None:
                return False
    elif choices is not None and type(choices) is not list:
        return False
    assembly._commit(
        chunk, chunk_id, model, created, usage, tier, fingerprint, events, partial_arguments
    )
    return True


def assemble(source: Any, **options: Any) -> dict[str, Any]:
    """:func:`deltafold.reference.assemble` on the tuned parser."""
    parser = StreamParser(**options)
    for block in iter_reads(source):
        parser.feed(block)
    result: dict[str, Any] = parser.finish()
    return result
