"""Render a Responses API ``response`` dict as the ``response.*`` event stream that produces it
(``to_sse(response, format="responses")``). Pure Python, shared by both twins.

The stream has the live API's shape: ``response.created`` and ``response.in_progress`` with
the response's top-level fields (status ``in_progress``, empty output, usage null), then per
output item ``response.output_item.added`` (the item with its streamed fields emptied), its
parts and deltas, their ``*.done`` events and ``response.output_item.done`` (the whole item),
and last the closing event (``response.completed``, ``.incomplete`` or ``.failed`` by the
response's status) carrying the whole response. Every event has a ``sequence_number``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

__all__ = ["render_responses"]

_CLOSING = {"completed": "response.completed", "incomplete": "response.incomplete"}


def render_responses(
    response: Mapping[str, Any],
    *,
    chunk_size: int = 8,
    line_ending: str = "\n",
    close: bool = True,
) -> bytes:
    """The event stream for ``response``; without ``close``, it stops before the closing
    event (what a stream cut short looks like)."""
    if type(chunk_size) is not int or chunk_size < 1:
        raise ValueError("chunk_size must be an int >= 1")
    if line_ending not in ("\n", "\r\n", "\r"):
        raise ValueError(r"line_ending must be '\n', '\r\n' or '\r'")
    out: list[bytes] = []
    end = line_ending.encode()
    for number, event in enumerate(_events(response, chunk_size, close)):
        event["sequence_number"] = number
        out.append(
            b"event: "
            + event["type"].encode()
            + end
            + b"data: "
            + orjson.dumps(event)
            + end
            + end
        )
    return b"".join(out)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _events(response: Mapping[str, Any], size: int, close: bool) -> Iterator[dict[str, Any]]:
    opening = {k: v for k, v in response.items() if k != "output"}
    opening["status"] = "in_progress"
    opening["output"] = []
    if "usage" in opening:
        opening["usage"] = None
    yield {"type": "response.created", "response": opening}
    yield {"type": "response.in_progress", "response": opening}
    output = response.get("output")
    for index, item in enumerate(output if type(output) is list else []):
        yield from _item_events(index, item, size)
    if close:
        kind = _CLOSING.get(response.get("status"), "response.failed")  # type: ignore[arg-type]
        yield {"type": kind, "response": dict(response)}


def _item_events(index: int, item: dict[str, Any], size: int) -> Iterator[dict[str, Any]]:
    kind = item.get("type")
    at = {"output_index": index}
    item_id = item.get("id")
    if item_id is not None:
        at["item_id"] = item_id
    if kind == "message":
        yield {"type": "response.output_item.added", **at, "item": {**item, "content": []}}
        for ci, part in enumerate(item.get("content") or []):
            yield from _part_events(at, ci, part, size)
    elif kind == "reasoning":
        opened = {**item, "summary": []}
        if "content" in item:
            opened["content"] = []
        yield {"type": "response.output_item.added", **at, "item": opened}
        for si, part in enumerate(item.get("summary") or []):
            where = {**at, "summary_index": si}
            yield {
                "type": "response.reasoning_summary_part.added",
                **where,
                "part": {**part, "text": ""},
            }
            for piece in _pieces(part.get("text", ""), size):
                yield {"type": "response.reasoning_summary_text.delta", **where, "delta": piece}
            yield {"type": "response.reasoning_summary_text.done", **where, "text": part["text"]}
            yield {"type": "response.reasoning_summary_part.done", **where, "part": part}
        for ci, part in enumerate(item.get("content") or []):
            yield from _part_events(at, ci, part, size)
    elif kind in ("function_call", "custom_tool_call"):
        field = "arguments" if kind == "function_call" else "input"
        family = "function_call_arguments" if kind == "function_call" else "custom_tool_call_input"
        yield {"type": "response.output_item.added", **at, "item": {**item, field: ""}}
        for piece in _pieces(item.get(field, ""), size):
            yield {"type": f"response.{family}.delta", **at, "delta": piece}
        yield {"type": f"response.{family}.done", **at, field: item.get(field, "")}
    else:
        yield {"type": "response.output_item.added", **at, "item": item}
    yield {"type": "response.output_item.done", **at, "item": item}


def _part_events(
    at: dict[str, Any], ci: int, part: dict[str, Any], size: int
) -> Iterator[dict[str, Any]]:
    where = {**at, "content_index": ci}
    kind = part.get("type")
    if kind == "output_text":
        opened = {**part, "text": "", "annotations": []}
        if "logprobs" in part:
            opened["logprobs"] = []
        yield {"type": "response.content_part.added", **where, "part": opened}
        logprobs = part.get("logprobs") or []
        for n, piece in enumerate(_pieces(part.get("text", ""), size)):
            delta: dict[str, Any] = {"type": "response.output_text.delta", **where, "delta": piece}
            if "logprobs" in part:
                delta["logprobs"] = logprobs if n == 0 else []
            yield delta
        for ai, annotation in enumerate(part.get("annotations") or []):
            yield {
                "type": "response.output_text.annotation.added",
                **where,
                "annotation_index": ai,
                "annotation": annotation,
            }
        yield {"type": "response.output_text.done", **where, "text": part.get("text", "")}
    elif kind in ("refusal", "reasoning_text"):
        field = "refusal" if kind == "refusal" else "text"
        family = "refusal" if kind == "refusal" else "reasoning_text"
        yield {"type": "response.content_part.added", **where, "part": {**part, field: ""}}
        for piece in _pieces(part.get(field, ""), size):
            yield {"type": f"response.{family}.delta", **where, "delta": piece}
        yield {"type": f"response.{family}.done", **where, field: part.get(field, "")}
    else:
        yield {"type": "response.content_part.added", **where, "part": part}
    yield {"type": "response.content_part.done", **where, "part": part}
