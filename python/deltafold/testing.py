"""Hypothesis strategies for the streams of every format deltafold folds.

A test-only module: it imports :mod:`hypothesis` at import time, so import it from tests (or
install ``hypothesis``); the rest of deltafold never imports it.

* :func:`completions` - ``chat.completion`` dicts in exactly the shape ``deltafold.assemble``
  returns (key order included): text, refusals, reasoning text, parallel tool calls, legacy
  ``function_call``, ``n > 1`` choices with sparse indices, logprobs, usage with ``*_details``,
  and text full of the characters that break hand-written parsers (astral characters,
  U+2028/U+2029, quotes, backslashes, control characters, SSE and JSON syntax).
* :func:`streams` - ``(completion, sse_bytes)`` pairs: a completion rendered by
  :func:`deltafold.to_sse` with a random piece size and LF, CRLF or CR line endings.
  ``assemble(sse_bytes) == completion`` is the round-trip property.
* :func:`splits` - ways to cut bytes into network reads, from single bytes to one read.
* :func:`anthropic_messages` / :func:`anthropic_streams` - the same for Anthropic Messages
  streams (``to_sse(message, format="anthropic")``): text with citations, thinking with
  signatures, client and server tool calls with JSON input streamed in small fragments.
* :func:`responses` / :func:`responses_streams` - Responses API ``response`` objects and their
  ``response.*`` event streams.
* :func:`gemini_responses` / :func:`gemini_streams` - Gemini ``GenerateContentResponse`` dicts
  and their ``alt=sse`` streams (``to_sse(response, format="gemini")``).
* :func:`bedrock_responses` / :func:`bedrock_streams` - Bedrock ``Converse`` responses and their
  ``ConverseStream`` event-stream frames (``to_event_stream``).

Example::

    from hypothesis import given
    import deltafold
    from deltafold.testing import streams

    @given(streams())
    def test_round_trip(pair):
        completion, data = pair
        assert deltafold.assemble(data) == completion
"""

from __future__ import annotations

import base64
from itertools import pairwise
from typing import Any

import orjson
from hypothesis import strategies as st

from deltafold._render import to_sse
from deltafold._render_formats import to_event_stream
from deltafold._testing_responses import responses, responses_streams

__all__ = [
    "anthropic_messages",
    "anthropic_streams",
    "bedrock_responses",
    "bedrock_streams",
    "completions",
    "gemini_responses",
    "gemini_streams",
    "responses",
    "responses_streams",
    "splits",
    "streams",
]

# Characters that have broken stream parsers: JSON escapes, separators that some line splitters
# treat as line ends (U+2028/U+2029, NEL), a BOM, astral characters (UTF-16 surrogate pairs in
# JSON escapes), and CR/LF which must stay escaped inside a data line.
_NASTY_CHARACTERS = (
    '"',
    "\\",
    "/",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x1f",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffd",
    "é",
    "中",
    "😀",
    "𝄞",
    "\U0010ffff",
)
# Substrings that look like stream syntax when they end up next to a line start.
_NASTY_SNIPPETS = ("data: ", "[DONE]", "\n\ndata: [DONE]\n\n", ": comment", '"}', "{", "]", "\\u")

_characters = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(_NASTY_CHARACTERS),
)


def _text(*, min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    plain = st.text(alphabet=_characters, min_size=min_size, max_size=max_size)
    snippets = st.lists(
        st.one_of(plain, st.sampled_from(_NASTY_SNIPPETS)), min_size=1, max_size=4
    ).map("".join)
    return st.one_of(plain, snippets.filter(lambda s: len(s) >= min_size))


_identifier = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    min_size=1,
    max_size=24,
)
_token_count = st.integers(min_value=0, max_value=2**31)
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    _text(max_size=12),
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def _arguments() -> st.SearchStrategy[str]:
    """Tool-call arguments: mostly JSON objects as models send them, sometimes any text."""
    as_json = st.dictionaries(_identifier, _json_value, max_size=5).map(
        lambda value: orjson.dumps(value).decode()
    )
    return st.one_of(as_json, as_json, _text(max_size=60))


def _in_order(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """``fixed_dictionaries`` with the keys in the given order, which it does not always keep:
    key order is part of the assembled shape."""
    keys = list(fields)
    return st.fixed_dictionaries(fields).map(lambda value: {key: value[key] for key in keys})


def _logprob_entry(with_top: bool) -> st.SearchStrategy[dict[str, Any]]:
    token = _text(max_size=6)
    fields: dict[str, st.SearchStrategy[Any]] = {
        "token": token,
        "logprob": st.floats(min_value=-100.0, max_value=0.0, allow_nan=False),
        "bytes": st.one_of(st.none(), st.lists(st.integers(0, 255), max_size=6)),
    }
    if with_top:
        fields["top_logprobs"] = st.lists(_logprob_entry(False), max_size=2)
    return _in_order(fields)


_logprob_list = st.one_of(st.none(), st.lists(_logprob_entry(True), max_size=6))
_logprobs = st.one_of(st.none(), _in_order({"content": _logprob_list, "refusal": _logprob_list}))


def _tool_call() -> st.SearchStrategy[dict[str, Any]]:
    return _in_order(
        {
            # A call that never got an id keeps "id": null (the contract's default).
            "id": st.one_of(_identifier.map(lambda s: "call_" + s), st.none()),
            "type": st.just("function"),
            "function": _in_order({"name": _identifier, "arguments": _arguments()}),
        }
    )


@st.composite
def _message(draw: st.DrawFn, max_tool_calls: int) -> dict[str, Any]:
    # Key order is the assembled order: role, content, refusal, then the other keys in the
    # order of their first appearance in the stream (which to_sse follows).
    message: dict[str, Any] = {
        "role": "assistant",
        "content": draw(st.one_of(st.none(), _text())),
        "refusal": draw(st.one_of(st.none(), st.none(), _text())),
    }
    if draw(st.integers(0, 4)) == 0:
        message["reasoning_content"] = draw(_text())
    kind = draw(st.sampled_from(["text", "text", "tool_calls", "function_call"]))
    if kind == "tool_calls" and max_tool_calls > 0:
        message["tool_calls"] = draw(st.lists(_tool_call(), min_size=1, max_size=max_tool_calls))
    elif kind == "function_call":
        message["function_call"] = {"name": draw(_identifier), "arguments": draw(_arguments())}
    return message


def _finish_reason(message: dict[str, Any]) -> st.SearchStrategy[str]:
    if "tool_calls" in message:
        return st.sampled_from(["tool_calls", "stop", "length"])
    if "function_call" in message:
        return st.sampled_from(["function_call", "length"])
    # Any non-empty string is kept raw; other providers send their own values.
    return st.one_of(
        st.sampled_from(["stop", "length", "content_filter"]),
        _identifier,
    )


@st.composite
def _choice(draw: st.DrawFn, index: int, max_tool_calls: int) -> dict[str, Any]:
    message = draw(_message(max_tool_calls))
    return {
        "index": index,
        "message": message,
        "logprobs": draw(_logprobs),
        "finish_reason": draw(_finish_reason(message)),
    }


@st.composite
def _usage(draw: st.DrawFn) -> dict[str, Any]:
    prompt = draw(_token_count)
    completion = draw(_token_count)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {
            "cached_tokens": draw(_token_count),
            "audio_tokens": draw(_token_count),
        }
    if draw(st.booleans()):
        usage["completion_tokens_details"] = {
            "reasoning_tokens": draw(_token_count),
            "audio_tokens": draw(_token_count),
            "accepted_prediction_tokens": draw(_token_count),
            "rejected_prediction_tokens": draw(_token_count),
        }
    return usage


@st.composite
def completions(
    draw: st.DrawFn, *, max_choices: int = 3, max_tool_calls: int = 3
) -> dict[str, Any]:
    """A ``chat.completion`` dict as ``assemble`` returns it, key order included.

    ``id``/``model`` are mostly realistic strings (sometimes ``""`` or ``null``), ``created`` a
    non-negative integer; between 1 and ``max_choices`` choices with sorted, possibly sparse
    indices; each message has ``role``, ``content``, ``refusal`` (text or ``null``), sometimes
    ``reasoning_content``, and either nothing more, 1 to ``max_tool_calls`` parallel tool calls
    or a legacy ``function_call``; logprobs ``null`` or ``{"content", "refusal"}`` lists with
    ``top_logprobs``; ``usage`` ``null`` or token counts with optional ``*_details``; optional
    ``service_tier`` and ``system_fingerprint`` (possibly ``null``).
    """
    indices = sorted(
        draw(
            st.lists(st.integers(0, 2 * max_choices), min_size=1, max_size=max_choices, unique=True)
        )
    )
    completion: dict[str, Any] = {
        "id": draw(st.one_of(_identifier.map(lambda s: "chatcmpl-" + s), st.just(""), st.none())),
        "object": "chat.completion",
        "created": draw(
            st.one_of(st.integers(1_600_000_000, 1_900_000_000), st.integers(0, 2**40))
        ),
        "model": draw(st.one_of(st.sampled_from(["gpt-4o-2024-08-06", "gpt-4-0613"]), _text())),
        "choices": [draw(_choice(index, max_tool_calls)) for index in indices],
        "usage": draw(st.one_of(st.none(), _usage())),
    }
    for key, values in (
        ("service_tier", st.one_of(st.none(), st.sampled_from(["default", "flex", "scale"]))),
        ("system_fingerprint", st.one_of(st.none(), _identifier.map(lambda s: "fp_" + s))),
    ):
        if draw(st.booleans()):
            completion[key] = draw(values)
    return completion


@st.composite
def streams(
    draw: st.DrawFn,
    completion_strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    *,
    line_endings: tuple[str, ...] = ("\n", "\r\n", "\r"),
    max_chunk_size: int = 16,
) -> tuple[dict[str, Any], bytes]:
    """``(completion, sse_bytes)``: a completion and the stream ``to_sse`` renders for it.

    ``completion_strategy`` defaults to :func:`completions`; the piece size is drawn from
    ``1..max_chunk_size`` characters and the line ending from ``line_endings``. The stream ends
    with ``data: [DONE]`` and carries the usage chunk, so it assembles back to ``completion``.
    """
    completion = draw(completion_strategy if completion_strategy is not None else completions())
    chunk_size = draw(st.integers(1, max_chunk_size))
    line_ending = draw(st.sampled_from(line_endings))
    return completion, to_sse(completion, chunk_size=chunk_size, line_ending=line_ending)


def splits(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Ways to cut ``data`` into reads: lists of non-empty pieces whose concatenation is ``data``.

    Mixes arbitrary cut points (any piece size from 1 byte to the whole input, so a cut lands
    between CR and LF, inside a UTF-8 sequence, inside ``data:``) with fixed-size reads down to
    one byte at a time.
    """
    if len(data) <= 1:
        return st.just([data] if data else [])

    def cut_at(points: list[int]) -> list[bytes]:
        bounds = [0, *sorted(points), len(data)]
        return [data[a:b] for a, b in pairwise(bounds)]

    def fixed(size: int) -> list[bytes]:
        return [data[i : i + size] for i in range(0, len(data), size)]

    arbitrary = st.lists(st.integers(1, len(data) - 1), unique=True, max_size=64).map(cut_at)
    return st.one_of(arbitrary, st.integers(1, min(len(data), 4096)).map(fixed))


# -- Anthropic Messages ---------------------------------------------------------------------------

_anthropic_id = _identifier.map(lambda s: "msg_" + s)
_tool_input = st.dictionaries(_identifier, _json_value, max_size=5)


def _citation() -> st.SearchStrategy[dict[str, Any]]:
    return _in_order(
        {
            "type": st.just("char_location"),
            "cited_text": _text(max_size=20),
            "document_index": st.integers(0, 3),
            "document_title": st.one_of(st.none(), _text(max_size=10)),
            "start_char_index": st.integers(0, 100),
            "end_char_index": st.integers(100, 200),
        }
    )


def _text_block() -> st.SearchStrategy[dict[str, Any]]:
    plain = _in_order({"type": st.just("text"), "text": _text()})
    cited = _in_order(
        {
            "type": st.just("text"),
            "text": _text(),
            "citations": st.lists(_citation(), min_size=1, max_size=3),
        }
    )
    return st.one_of(plain, plain, cited)


def _thinking_block() -> st.SearchStrategy[dict[str, Any]]:
    return _in_order(
        {
            "type": st.just("thinking"),
            "thinking": _text(),
            "signature": _identifier.map(lambda s: "Eq" + s + "=="),
        }
    )


def _redacted_thinking_block() -> st.SearchStrategy[dict[str, Any]]:
    return _in_order({"type": st.just("redacted_thinking"), "data": _identifier})


def _tool_use_block(kind: str, prefix: str) -> st.SearchStrategy[dict[str, Any]]:
    return _in_order(
        {
            "type": st.just(kind),
            "id": _identifier.map(lambda s: prefix + s),
            "name": _identifier,
            "input": _tool_input,
        }
    )


def _web_search_result_block() -> st.SearchStrategy[dict[str, Any]]:
    result = _in_order(
        {
            "type": st.just("web_search_result"),
            "title": _text(max_size=20),
            "url": _identifier.map(lambda s: "https://example.com/" + s),
            "encrypted_content": _identifier,
            "page_age": st.one_of(st.none(), _text(max_size=10)),
        }
    )
    return _in_order(
        {
            "type": st.just("web_search_tool_result"),
            "tool_use_id": _identifier.map(lambda s: "srvtoolu_" + s),
            "content": st.lists(result, max_size=3),
        }
    )


def _anthropic_block() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _text_block(),
        _text_block(),
        _thinking_block(),
        _redacted_thinking_block(),
        _tool_use_block("tool_use", "toolu_"),
        _tool_use_block("tool_use", "toolu_"),
        _tool_use_block("server_tool_use", "srvtoolu_"),
        _web_search_result_block(),
    )


@st.composite
def _anthropic_usage(draw: st.DrawFn) -> dict[str, Any]:
    usage: dict[str, Any] = {"input_tokens": draw(_token_count)}
    if draw(st.booleans()):
        usage["cache_creation_input_tokens"] = draw(_token_count)
        usage["cache_read_input_tokens"] = draw(_token_count)
    usage["output_tokens"] = draw(_token_count)
    if draw(st.booleans()):
        usage["service_tier"] = "standard"
    return usage


@st.composite
def anthropic_messages(draw: st.DrawFn, *, max_blocks: int = 5) -> dict[str, Any]:
    """An Anthropic Messages ``message`` dict as the Anthropic fold returns it, key order
    included: ``id``, ``type``, ``role``, ``model``, ``content``, ``stop_reason``,
    ``stop_sequence``, ``usage``, ``stop_details``.

    Up to ``max_blocks`` content blocks: text (sometimes with citations), thinking with a
    signature, redacted thinking, client ``tool_use`` with a JSON object ``input``,
    ``server_tool_use`` and a ``web_search_tool_result``; text full of the characters that
    break hand-written parsers. ``stop_reason`` fits the content (``tool_use`` when the last
    block is a client tool call).
    """
    content = draw(st.lists(_anthropic_block(), max_size=max_blocks))
    if content and content[-1]["type"] == "tool_use":
        stop_reason: Any = draw(st.sampled_from(["tool_use", "max_tokens"]))
    else:
        stop_reason = draw(
            st.one_of(
                st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "refusal"]),
                st.none(),
            )
        )
    return {
        "id": draw(_anthropic_id),
        "type": "message",
        "role": "assistant",
        "model": draw(st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-haiku"])),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": draw(st.one_of(st.none(), _identifier))
        if stop_reason == "stop_sequence"
        else None,
        "usage": draw(_anthropic_usage()),
        "stop_details": None,
    }


@st.composite
def anthropic_streams(
    draw: st.DrawFn,
    message_strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    *,
    line_endings: tuple[str, ...] = ("\n", "\r\n", "\r"),
    max_chunk_size: int = 16,
) -> tuple[dict[str, Any], bytes]:
    """``(message, sse_bytes)``: a message and the stream ``to_sse(..., format="anthropic")``
    renders for it (text, thinking and tool input JSON in pieces of ``1..max_chunk_size``);
    ``assemble(sse_bytes) == message`` is the round-trip property."""
    message = draw(message_strategy if message_strategy is not None else anthropic_messages())
    chunk_size = draw(st.integers(1, max_chunk_size))
    line_ending = draw(st.sampled_from(line_endings))
    data = to_sse(message, format="anthropic", chunk_size=chunk_size, line_ending=line_ending)
    return message, data


# -- Gemini and Bedrock ---------------------------------------------------------------------------

_gemini_args = st.dictionaries(_identifier, _json_value, max_size=4)
# Signatures are opaque base64 bytes (the SDK models decode them).
_signature = st.binary(min_size=1, max_size=24).map(lambda raw: base64.b64encode(raw).decode())


def _gemini_part(thought: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A text part (a thought when ``thought``; non-empty, as the fold keeps text parts),
    sometimes with a ``thoughtSignature``."""
    fields: dict[str, st.SearchStrategy[Any]] = {"text": _text(min_size=1)}
    if thought:
        fields["thought"] = st.just(True)
    return _in_order(fields).flatmap(
        lambda part: st.one_of(
            st.just(part),
            _signature.map(lambda signature: {**part, "thoughtSignature": signature}),
        )
    )


def _gemini_call() -> st.SearchStrategy[dict[str, Any]]:
    """A ``functionCall`` part, sometimes with the ``thoughtSignature`` Gemini 3 puts on it."""
    call = _in_order({"name": _identifier, "args": _gemini_args}).map(
        lambda fc: {"functionCall": fc}
    )
    return call.flatmap(
        lambda part: st.one_of(
            st.just(part),
            _signature.map(lambda signature: {**part, "thoughtSignature": signature}),
        )
    )


@st.composite
def _gemini_parts(draw: st.DrawFn, max_parts: int) -> list[dict[str, Any]]:
    """Parts as the fold leaves them: two adjacent text parts never share the ``thought``
    flag (the fold would merge them into one)."""
    parts: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, max_parts))):
        kind = draw(st.sampled_from(["text", "thought", "call", "data"]))
        if kind == "call":
            parts.append(draw(_gemini_call()))
            continue
        if kind == "data":
            data = draw(_signature)
            parts.append({"inlineData": {"mimeType": "image/png", "data": data}})
            continue
        last = parts[-1] if parts else None
        thought = kind == "thought"
        if last is not None and "text" in last and bool(last.get("thought")) == thought:
            thought = not thought
        parts.append(draw(_gemini_part(thought)))
    return parts


@st.composite
def gemini_responses(
    draw: st.DrawFn, *, max_candidates: int = 2, max_parts: int = 5
) -> dict[str, Any]:
    """A Gemini ``GenerateContentResponse`` dict as the Gemini fold returns it: ``candidates``
    (indices ``0..n-1``, each with ``content`` of text parts, thought parts, ``functionCall``
    parts, any of them with a ``thoughtSignature``, and ``inlineData`` parts; role ``model``;
    a ``finishReason``),
    ``usageMetadata``, ``modelVersion`` and ``responseId``; text full of the characters that
    break hand-written parsers."""
    count = draw(st.integers(1, max_candidates))
    candidates = [
        {
            "content": {"parts": draw(_gemini_parts(max_parts)), "role": "model"},
            "finishReason": draw(
                st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "MALFORMED_FUNCTION_CALL"])
            ),
            "index": index,
        }
        for index in range(count)
    ]
    usage = draw(
        _in_order(
            {
                "promptTokenCount": _token_count,
                "candidatesTokenCount": _token_count,
                "totalTokenCount": _token_count,
            }
        )
    )
    if draw(st.booleans()):
        usage["thoughtsTokenCount"] = draw(_token_count)
    return {
        "candidates": candidates,
        "usageMetadata": usage,
        "modelVersion": draw(st.sampled_from(["gemini-2.5-flash", "gemini-2.5-pro", "gemini-3"])),
        "responseId": draw(_identifier),
    }


@st.composite
def gemini_streams(
    draw: st.DrawFn, response_strategy: st.SearchStrategy[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], bytes]:
    """``(response, sse_bytes)``: a response (default :func:`gemini_responses`) and the stream
    ``to_sse(response, format="gemini")`` renders for it; ``assemble(sse_bytes) == response``
    is the round-trip property."""
    response = draw(response_strategy if response_strategy is not None else gemini_responses())
    return response, to_sse(response, format="gemini")


def _bedrock_block() -> st.SearchStrategy[dict[str, Any]]:
    text = _text().map(lambda t: {"text": t})
    tool = _in_order(
        {"toolUseId": _identifier.map(lambda s: "tooluse_" + s), "name": _identifier}
    ).flatmap(
        lambda start: _gemini_args.map(lambda args: {"toolUse": {**start, "input": args}})
    )
    reasoning_text = _in_order({"text": _text()}).flatmap(
        lambda r: st.one_of(
            st.just(r), _signature.map(lambda signature: {**r, "signature": signature})
        )
    )
    reasoning = st.one_of(
        reasoning_text.map(lambda r: {"reasoningContent": {"reasoningText": r}}),
        _signature.map(lambda red: {"reasoningContent": {"redactedContent": red}}),
    )
    return st.one_of(text, tool, reasoning)


@st.composite
def bedrock_responses(draw: st.DrawFn, *, max_blocks: int = 5) -> dict[str, Any]:
    """A Bedrock ``Converse`` response dict as the Bedrock fold returns it: ``output.message``
    (role ``assistant``, up to ``max_blocks`` content blocks: ``text``, ``toolUse`` with a JSON
    object ``input``, ``reasoningContent`` with ``reasoningText`` text and signature or
    ``redactedContent``), ``stopReason`` (``tool_use`` or ``max_tokens`` when the last block
    is a tool call), ``usage`` and ``metrics``."""
    content = draw(st.lists(_bedrock_block(), max_size=max_blocks))
    if content and "toolUse" in content[-1]:
        stop_reason = draw(st.sampled_from(["tool_use", "max_tokens"]))
    else:
        stop_reason = draw(
            st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "guardrail_intervened"])
        )
    usage = draw(
        _in_order(
            {
                "inputTokens": _token_count,
                "outputTokens": _token_count,
                "totalTokens": _token_count,
            }
        )
    )
    if draw(st.booleans()):
        usage["cacheReadInputTokens"] = draw(_token_count)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": usage,
        "metrics": {"latencyMs": draw(st.integers(0, 10**6))},
    }


@st.composite
def bedrock_streams(
    draw: st.DrawFn,
    response_strategy: st.SearchStrategy[dict[str, Any]] | None = None,
    *,
    max_chunk_size: int = 16,
) -> tuple[dict[str, Any], bytes]:
    """``(response, event_stream_bytes)``: a response (default :func:`bedrock_responses`) and
    the ``ConverseStream`` frames ``to_event_stream`` renders for it (text, tool input and
    reasoning in pieces of ``1..max_chunk_size``); ``assemble(data) == response`` is the
    round-trip property."""
    response = draw(response_strategy if response_strategy is not None else bedrock_responses())
    chunk_size = draw(st.integers(1, max_chunk_size))
    return response, to_event_stream(response, chunk_size=chunk_size)
