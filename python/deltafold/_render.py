"""Render a ``chat.completion`` dict as the ``chat.completion.chunk`` SSE stream that produces it.

Pure Python, shared by the native facade and :mod:`deltafold.reference` (both export it as
``to_sse``). It is the inverse of assembling: ``assemble(to_sse(c)) == c`` for every completion
:func:`deltafold.testing.completions` generates, which makes it the generator of the round-trip
property tests and a handy way to build test streams by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson

__all__ = ["to_sse"]

# Keys of a completion that are rendered specially; every other top-level key is repeated
# verbatim on every chunk, the way the live API repeats system_fingerprint and service_tier.
_TOP_LEVEL_FIXED = ("id", "object", "created", "model", "choices", "usage")
# Choice keys every delta carries anyway; any other choice key is sent once.
_CHOICE_FIXED = ("index", "message", "logprobs", "finish_reason")
_LINE_ENDINGS = ("\n", "\r\n", "\r")


#: The formats :func:`to_sse` renders (Bedrock is binary: :func:`deltafold.to_event_stream`).
_FORMATS = ("chat", "anthropic", "responses", "gemini")


def to_sse(
    completion: Mapping[str, Any],
    *,
    format: str = "chat",
    chunk_size: int = 8,
    include_usage: bool = True,
    line_ending: str = "\n",
    with_done: bool = True,
) -> bytes:
    """Render ``completion`` as a realistic ``text/event-stream`` body of chunk events.

    ``format="responses"`` renders a Responses API ``response`` as its ``response.*`` event
    stream instead (:func:`deltafold._render_responses.render_responses`; ``chunk_size`` and
    ``line_ending`` apply, ``with_done=False`` leaves out the closing event).
    ``format="gemini"`` renders a ``GenerateContentResponse`` as its ``alt=sse`` stream (one
    event per part, then the finishing keys; CRLF line ends as Gemini sends them; the other
    options do not apply).

    The stream looks like the live OpenAI API's: every chunk repeats ``id``, ``object``
    (``"chat.completion.chunk"``), ``created``, ``model`` and the completion's other top-level
    keys (``service_tier``, ``system_fingerprint``, ...). Per choice it sends, in order:

    * a first delta with the role, ``content: ""`` (or ``null`` when the content is ``null``)
      and ``refusal: null``, plus an empty ``logprobs`` object when the choice has logprobs;
    * the content, then the refusal, then any other string message key (e.g.
      ``reasoning_content``) in deltas of ``chunk_size`` characters (code points, so astral
      characters are never split), with the ``logprobs`` ``content``/``refusal`` entries spread
      over the content/refusal deltas;
    * each tool call as a first fragment carrying ``index``, ``id``, ``type``, ``name`` and
      ``arguments: ""``, then its arguments in ``chunk_size`` pieces (calls one after another,
      each addressed by its position in ``tool_calls``);
    * a legacy ``function_call`` the same way (name first, then argument pieces);
    * a last delta ``{}`` carrying the ``finish_reason``.

    Choices with several entries are interleaved round-robin, as ``n > 1`` streams are. When
    ``include_usage`` is true every chunk carries ``"usage": null`` and, if the completion's
    usage is not null, a final usage-only chunk with ``"choices": []`` follows. Then
    ``data: [DONE]`` unless ``with_done`` is false.

    With ``format="anthropic"``, ``completion`` is an Anthropic Messages ``message`` dict and the
    stream is the Messages API's (``message_start`` ... ``message_stop``, with ``event:`` lines;
    text, thinking and tool input JSON in ``chunk_size`` pieces; see
    :mod:`deltafold._render_anthropic`); ``include_usage`` and ``with_done`` do not apply.

    Args:
        completion: a ``chat.completion`` dict (the shape ``assemble`` returns), or with
            ``format="anthropic"`` a ``message`` dict.
        format: ``"chat"`` (the default), ``"anthropic"``, ``"responses"`` or ``"gemini"``.
        chunk_size: characters per text or arguments delta (at least 1).
        include_usage: send ``usage`` as ``stream_options.include_usage`` does; when false,
            no chunk mentions usage, so a non-null usage does not survive the round trip.
        line_ending: ``"\\n"``, ``"\\r\\n"`` or ``"\\r"``; used for every line end.
        with_done: end with ``data: [DONE]``.

    Returns:
        The stream as UTF-8 bytes.

    Raises:
        ValueError: ``chunk_size`` below 1, an unsupported ``line_ending`` or ``format``.
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS!r}, got {format!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if line_ending not in _LINE_ENDINGS:
        raise ValueError(f"line_ending must be one of {_LINE_ENDINGS!r}, got {line_ending!r}")
    if format == "responses":
        from deltafold._render_responses import render_responses

        return render_responses(
            completion, chunk_size=chunk_size, line_ending=line_ending, close=with_done
        )
    if format == "gemini":
        from deltafold._render_formats import gemini_sse

        return gemini_sse(completion)
    if format == "anthropic":
        from deltafold._render_anthropic import to_anthropic_sse

        return to_anthropic_sse(completion, chunk_size, line_ending)

    header: dict[str, Any] = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
    }
    extras = {k: v for k, v in completion.items() if k not in _TOP_LEVEL_FIXED}

    def chunk(choices: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        payload = {**header, **extras, "choices": choices}
        if include_usage:
            payload["usage"] = usage
        return payload

    per_choice = [
        list(_choice_deltas(choice, chunk_size)) for choice in completion.get("choices") or []
    ]
    payloads = [chunk([delta], None) for delta in _round_robin(per_choice)]
    usage = completion.get("usage")
    if include_usage and usage is not None:
        payloads.append(chunk([], usage))

    end = line_ending.encode()
    out = bytearray()
    for payload in payloads:
        out += b"data: " + orjson.dumps(payload) + end + end
    if with_done:
        out += b"data: [DONE]" + end + end
    return bytes(out)


def _round_robin(sequences: Sequence[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    longest = max((len(s) for s in sequences), default=0)
    for position in range(longest):
        for sequence in sequences:
            if position < len(sequence):
                yield sequence[position]


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _spread(entries: list[Any], slots: int) -> list[list[Any]]:
    """Cut ``entries`` into ``slots`` consecutive groups of near-equal size (some may be empty)."""
    base, extra = divmod(len(entries), slots)
    groups = []
    start = 0
    for slot in range(slots):
        end = start + base + (1 if slot < extra else 0)
        groups.append(entries[start:end])
        start = end
    return groups


def _choice_deltas(choice: Mapping[str, Any], chunk_size: int) -> Iterator[dict[str, Any]]:
    """Yield the streamed choice objects (``index``, ``delta``, ``logprobs``, ...) of one choice."""
    index = choice["index"]
    message: Mapping[str, Any] = choice.get("message") or {}
    logprobs: Mapping[str, Any] | None = choice.get("logprobs")

    def piece(
        delta: dict[str, Any], logprob_lists: Mapping[str, list[Any]] | None = None
    ) -> dict[str, Any]:
        streamed_logprobs = None
        if logprobs is not None:
            # A list key that the completion has as null must never be sent as a list, or the
            # assembled value would become [] instead of null.
            lists = logprob_lists or {}
            streamed_logprobs = {
                key: lists.get(key, []) if isinstance(logprobs.get(key), list) else None
                for key in ("content", "refusal")
            }
        return {
            "index": index,
            "delta": delta,
            "logprobs": streamed_logprobs,
            "finish_reason": None,
        }

    content = message.get("content")
    first = piece(
        {
            "role": message.get("role", "assistant"),
            "content": "" if content is not None else None,
            "refusal": None,
        }
    )
    # Choice-level keys beyond the standard ones are sent once, on the first delta.
    first.update((k, v) for k, v in choice.items() if k not in _CHOICE_FIXED)
    yield first

    for key, value in message.items():
        if key in ("content", "refusal"):
            # Even a null text may have logprobs entries to deliver.
            yield from _text_deltas(piece, key, value, logprobs, chunk_size)
        elif key == "role" or value is None:
            continue
        elif key == "tool_calls":
            for position, call in enumerate(value):
                yield piece({"tool_calls": [_first_tool_fragment(position, call)]})
                arguments = (call.get("function") or {}).get("arguments") or ""
                for text in _pieces(arguments, chunk_size):
                    fragment = {"index": position, "function": {"arguments": text}}
                    yield piece({"tool_calls": [fragment]})
        elif key == "function_call":
            yield piece({"function_call": {"name": value.get("name"), "arguments": ""}})
            for text in _pieces(value.get("arguments") or "", chunk_size):
                yield piece({"function_call": {"arguments": text}})
        elif isinstance(value, str):
            # Other string keys (reasoning_content, ...) are increments, like content.
            for text in _pieces(value, chunk_size) or [""]:
                yield piece({key: text})
        else:
            yield piece({key: value})

    last = piece({})
    last["logprobs"] = None
    last["finish_reason"] = choice.get("finish_reason")
    yield last


def _text_deltas(
    piece: Callable[[dict[str, Any], Mapping[str, list[Any]]], dict[str, Any]],
    key: str,
    text: str | None,
    logprobs: Mapping[str, Any] | None,
    chunk_size: int,
) -> Iterator[dict[str, Any]]:
    """Deltas of ``content`` or ``refusal``, carrying the matching logprobs entries."""
    pieces = _pieces(text, chunk_size) if text is not None else []
    if text == "" and key == "refusal":
        # An empty refusal must still arrive once; an empty content already came first.
        pieces = [""]
    entries = list(logprobs.get(key) or []) if logprobs is not None else []
    if not pieces:
        # Logprobs without text to ride on (unusual but representable): empty deltas.
        for start in range(0, len(entries), chunk_size):
            yield piece({}, {key: entries[start : start + chunk_size]})
        return
    for text_piece, group in zip(pieces, _spread(entries, len(pieces)), strict=True):
        yield piece({key: text_piece}, {key: group})


def _first_tool_fragment(position: int, call: Mapping[str, Any]) -> dict[str, Any]:
    """The fragment that opens a tool call: index, id, type, name and empty arguments."""
    function = call.get("function") or {}
    fragment: dict[str, Any] = {"index": position}
    if call.get("id") is not None:
        fragment["id"] = call["id"]
    fragment["type"] = call.get("type", "function")
    fragment["function"] = {"name": function.get("name"), "arguments": ""}
    fragment["function"].update(
        (k, v) for k, v in function.items() if k not in ("name", "arguments")
    )
    fragment.update((k, v) for k, v in call.items() if k not in ("index", "id", "type", "function"))
    return fragment
