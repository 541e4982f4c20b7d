"""Deterministic corpus of chat-completions SSE streams shaped like the live OpenAI API sends them.

Every chunk carries ``id``, ``object``, ``created``, ``model``, ``service_tier``,
``system_fingerprint``, ``usage: null`` and an ``obfuscation`` padding string; the role comes
first; a usage-only chunk with ``choices: []`` and ``data: [DONE]`` end each stream.

The ground-truth completion of each stream is built here from the very values that were
serialised into the chunks, never by parsing the bytes, so it can judge every parser, including
deltafold's own. The mix is by chunk count: about 65 % text, 25 % parallel tool calls, 7 % legacy
``function_call``, 3 % text with logprobs.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, Literal

Size = Literal["small", "full"]
Kind = Literal["text", "tools", "legacy", "logprobs"]

KINDS: tuple[Kind, ...] = ("text", "tools", "legacy", "logprobs")
KIND_SHARE: dict[Kind, float] = {"text": 0.65, "tools": 0.25, "legacy": 0.07, "logprobs": 0.03}
TARGET_BYTES: dict[Size, int] = {"small": 300_000, "full": 30_000_000}
READ_MIN, READ_MAX = 1024, 4096


@dataclass(frozen=True)
class Stream:
    """One recorded-looking response body and what assembling it must give."""

    kind: Kind
    data: bytes
    read_sizes: tuple[int, ...]
    reads: tuple[bytes, ...]
    expected: dict[str, Any]
    chunks: int
    """Number of JSON chunk events (``[DONE]`` not counted)."""
    crlf: bool
    non_ascii: bool
    ascii_escaped: bool
    choices: int


@dataclass(frozen=True)
class _Limits:
    text_chunks: tuple[int, int]
    logprob_chunks: tuple[int, int]
    argument_chars: tuple[int, int]
    legacy_argument_chars: tuple[int, int]


_LIMITS: dict[Size, _Limits] = {
    "full": _Limits((20, 1500), (20, 400), (20, 900), (40, 1500)),
    "small": _Limits((20, 150), (20, 60), (20, 200), (40, 300)),
}

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_MODELS = ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14")


def _spaced(words: str) -> tuple[str, ...]:
    """Word tokens as a tokenizer emits them: with their leading space."""
    return tuple(" " + word for word in words.split())


_WORDS = (
    *_spaced(
        "the a of to and in is that for it with as on be this by are or can an stream model token"
        " response function value data request server client delta example number result between"
        " through however because each which would should first second finally also more than"
        " i un we you"
    ),
    *"ly ing ed s tion ment able 's n't".split(),
)
_PUNCTUATION = (".", ",", ":", ";", "?", "!", " -", "\n", "\n\n", "\n\n", " (", ")", "**", "`")
# Escaping work for every parser: quotes, backslashes, tabs, control characters in code blocks.
_AWKWARD = ('"', ' "', "\\", "\\n", "\t", "```", "```python\n", "    ", "\r\n", "/", "\u007f")
_ACCENTED = _spaced("café naïve Größe señor déjà vu façade Ærø Ångström crème brûlée Straße São")
_CJK = tuple("中文 的 我们 日本語 한국어 。 、 東京 数据 模型 は です 流".split())
_EMOJI = (" 😀", "👍🏽", " 🚀", "👨\u200d👩\u200d👧", "🇫🇷", " ✅", "🎉", " 🙂", "🧪")

_FUNCTION_NAMES = tuple(
    "get_weather search_documents create_calendar_event lookup_order send_email run_sql_query"
    " translate_text get_stock_price book_flight submit_leave_request".split()
)
_FIELD_NAMES = tuple(
    "location unit query limit start_date end_date title attendees order_id include_history body"
    " subject sql target_language symbol passengers notes filters tags priority".split()
)
_NON_ASCII_CITY_NAMES = ("Zürich", "東京", "São Paulo", "Kraków", "Reykjavík 🌋")
_CITY_NAMES = ("Paris, France", "New York, NY", "Oslo", *_NON_ASCII_CITY_NAMES)


class _Writer:
    """Serialises chunks the way one server session does: fixed envelope, compact JSON."""

    def __init__(self, rng: random.Random, *, crlf: bool, ascii_escaped: bool) -> None:
        self._rng = rng
        self._ascii = ascii_escaped
        self._terminator = "\r\n\r\n" if crlf else "\n\n"
        self.chunks = 0
        self.completion_id = "chatcmpl-" + _random_text(rng, _ALNUM, 29)
        self.created = 1_727_000_000 + rng.randrange(40_000_000)
        self.model = rng.choice(_MODELS)
        self.service_tier = "default"
        self.system_fingerprint: str | None = (
            None if rng.random() < 0.25 else "fp_" + _random_text(rng, "0123456789abcdef", 10)
        )
        self._head = (
            "data: {"
            f'"id":{self._dump(self.completion_id)},"object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{self._dump(self.model)},'
            f'"service_tier":{self._dump(self.service_tier)},'
            f'"system_fingerprint":{self._dump(self.system_fingerprint)},"choices":'
        )
        self._parts: list[str] = []

    def _dump(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=self._ascii, separators=(",", ":"))

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> None:
        obfuscation = _random_text(self._rng, _ALNUM, self._rng.randrange(17))
        self._parts.append(
            f"{self._head}{self._dump(choices)},"
            f'"usage":{self._dump(usage)},"obfuscation":"{obfuscation}"}}{self._terminator}'
        )
        self.chunks += 1

    def finish(self) -> bytes:
        self._parts.append(f"data: [DONE]{self._terminator}")
        return "".join(self._parts).encode("utf-8")

    def envelope(self, choices: list[dict[str, Any]], usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
            "service_tier": self.service_tier,
            "system_fingerprint": self.system_fingerprint,
        }


def _random_text(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _log_uniform(rng: random.Random, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return min(high, int(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))


def _usage(rng: random.Random, completion_tokens: int) -> dict[str, Any]:
    prompt_tokens = rng.randrange(12, 4000)
    cached = rng.choice((0, 0, 0, 1024, 2048)) if prompt_tokens > 2048 else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _text_fragment(rng: random.Random, non_ascii: bool) -> str:
    roll = rng.random()
    if non_ascii and roll < 0.25:
        pool = rng.choice((_ACCENTED, _ACCENTED, _CJK, _EMOJI))
        return rng.choice(pool)
    if roll < 0.80:
        return rng.choice(_WORDS)
    if roll < 0.95:
        return rng.choice(_PUNCTUATION)
    return rng.choice(_AWKWARD)


def _split_fragments(rng: random.Random, text: str) -> list[str]:
    """Cut text into 1-8 character pieces, as tool-call arguments arrive."""
    pieces = []
    position = 0
    while position < len(text):
        step = rng.randint(1, 8)
        pieces.append(text[position : position + step])
        position += step
    return pieces


def _arguments(rng: random.Random, char_bounds: tuple[int, int], non_ascii: bool) -> str:
    """A JSON object text of roughly the drawn length, as a model writes function arguments."""
    wanted = _log_uniform(rng, char_bounds)
    members: dict[str, Any] = {}
    if non_ascii:
        members["location"] = rng.choice(_NON_ASCII_CITY_NAMES)
    text = json.dumps(members, ensure_ascii=False)
    while len(text) < wanted:
        name = rng.choice(_FIELD_NAMES)
        if name in members:
            name = f"{name}_{len(members)}"
        roll = rng.random()
        value: Any
        if roll < 0.35:
            words = [rng.choice(_WORDS).strip() for _ in range(rng.randint(1, 12))]
            value = " ".join(w for w in words if w)
        elif roll < 0.5:
            value = rng.choice(_CITY_NAMES) if non_ascii else "Paris, France"
        elif roll < 0.65:
            value = rng.randrange(-1000, 100_000)
        elif roll < 0.72:
            value = rng.random() < 0.5
        elif roll < 0.77:
            value = None
        elif roll < 0.9:
            value = [rng.choice(_FIELD_NAMES) for _ in range(rng.randint(0, 5))]
        else:
            value = {"min": rng.randrange(100), "max": rng.randrange(100, 1000), "note": 'say "hi"'}
        members[name] = value
        text = json.dumps(members, ensure_ascii=False)
    return text


def _text_stream(
    rng: random.Random,
    writer: _Writer,
    limits: _Limits,
    non_ascii: bool,
    n_choices: int,
    logprobs: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    total = _log_uniform(rng, limits.logprob_chunks if logprobs else limits.text_chunks)
    finish = "length" if rng.random() < 0.05 else "stop"
    texts: list[list[str]] = [[] for _ in range(n_choices)]
    entries: list[list[dict[str, Any]]] = [[] for _ in range(n_choices)]
    empty_logprobs: dict[str, Any] | None = {"content": [], "refusal": None} if logprobs else None
    for index in range(n_choices):
        writer.chunk(
            [
                {
                    "index": index,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": empty_logprobs,
                    "finish_reason": None,
                }
            ]
        )
    for _ in range(total):
        index = rng.randrange(n_choices)
        fragment = _text_fragment(rng, non_ascii)
        texts[index].append(fragment)
        chunk_logprobs: dict[str, Any] | None = None
        if logprobs:
            entry = _logprob_entry(rng, fragment, rng.choice((0, 0, 2)))
            entries[index].append(entry)
            chunk_logprobs = {"content": [entry], "refusal": None}
        writer.chunk(
            [
                {
                    "index": index,
                    "delta": {"content": fragment},
                    "logprobs": chunk_logprobs,
                    "finish_reason": None,
                }
            ]
        )
    for index in range(n_choices):
        writer.chunk([{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}])
    choices = [
        {
            "index": index,
            "message": {"role": "assistant", "content": "".join(texts[index]), "refusal": None},
            "logprobs": {"content": entries[index], "refusal": None} if logprobs else None,
            "finish_reason": finish,
        }
        for index in range(n_choices)
    ]
    return choices, _usage(rng, total)


def _logprob_entry(rng: random.Random, token: str, alternatives: int) -> dict[str, Any]:
    def one(text: str) -> dict[str, Any]:
        return {
            "token": text,
            "logprob": -round(rng.uniform(0, 8), rng.randint(4, 10)),
            "bytes": list(text.encode("utf-8")),
        }

    entry = one(token)
    entry["top_logprobs"] = [one(rng.choice(_WORDS)) for _ in range(alternatives)]
    return entry


def _tool_stream(
    rng: random.Random, writer: _Writer, limits: _Limits, non_ascii: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    calls = []
    fragments = 0
    for call_index in range(rng.randint(1, 4)):
        call_id = "call_" + _random_text(rng, _ALNUM, 24)
        name = rng.choice(_FUNCTION_NAMES)
        arguments = _arguments(rng, limits.argument_chars, non_ascii)
        head = {
            "index": call_index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        delta: dict[str, Any] = {"tool_calls": [head]}
        if call_index == 0:
            delta = {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None}
        writer.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
        for piece in _split_fragments(rng, arguments):
            fragment = {"index": call_index, "function": {"arguments": piece}}
            writer.chunk(
                [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [fragment]},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ]
            )
            fragments += 1
        calls.append(
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    writer.chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}])
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": calls}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
    return [choice], _usage(rng, fragments // 3 + 10)


def _legacy_stream(
    rng: random.Random, writer: _Writer, limits: _Limits, non_ascii: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    name = rng.choice(_FUNCTION_NAMES)
    arguments = _arguments(rng, limits.legacy_argument_chars, non_ascii)
    first = {
        "role": "assistant",
        "content": None,
        "function_call": {"name": name, "arguments": ""},
        "refusal": None,
    }
    writer.chunk([{"index": 0, "delta": first, "logprobs": None, "finish_reason": None}])
    pieces = _split_fragments(rng, arguments)
    for piece in pieces:
        delta = {"function_call": {"arguments": piece}}
        writer.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
    writer.chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "function_call"}])
    message = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "function_call": {"name": name, "arguments": arguments},
    }
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "function_call"}
    return [choice], _usage(rng, len(pieces) // 3 + 5)


def _read_sizes(rng: random.Random, total: int) -> tuple[int, ...]:
    sizes = []
    remaining = total
    while remaining > 0:
        size = min(remaining, rng.randint(READ_MIN, READ_MAX))
        sizes.append(size)
        remaining -= size
    return tuple(sizes)


def _cut(data: bytes, sizes: tuple[int, ...]) -> tuple[bytes, ...]:
    reads = []
    offset = 0
    for read_size in sizes:
        reads.append(data[offset : offset + read_size])
        offset += read_size
    return tuple(reads)


def make_stream(
    rng: random.Random,
    kind: Kind,
    size: Size = "full",
    *,
    crlf: bool | None = None,
    non_ascii: bool | None = None,
    ascii_escaped: bool | None = None,
    two_choices: bool | None = None,
) -> Stream:
    """Generate one stream of the given kind from ``rng`` (deterministic for a given state).

    Features left ``None`` are drawn at random; the draws happen either way so that forcing a
    feature does not shift the rest of the corpus.
    """
    limits = _LIMITS[size]
    drawn_crlf = rng.random() < 0.12
    drawn_non_ascii = rng.random() < 0.35
    # Some OpenAI-compatible servers escape every non-ASCII character (surrogate pairs for emoji).
    drawn_escaped = rng.random() < 0.25
    drawn_two = rng.random() < 1 / 12
    crlf = drawn_crlf if crlf is None else crlf
    non_ascii = drawn_non_ascii if non_ascii is None else non_ascii
    ascii_escaped = non_ascii and (drawn_escaped if ascii_escaped is None else ascii_escaped)
    two_choices = kind == "text" and (drawn_two if two_choices is None else two_choices)
    writer = _Writer(rng, crlf=crlf, ascii_escaped=ascii_escaped)
    if kind in ("text", "logprobs"):
        n_choices = 2 if two_choices else 1
        choices, usage = _text_stream(rng, writer, limits, non_ascii, n_choices, kind == "logprobs")
    elif kind == "tools":
        choices, usage = _tool_stream(rng, writer, limits, non_ascii)
    else:
        choices, usage = _legacy_stream(rng, writer, limits, non_ascii)
    writer.chunk([], usage)
    data = writer.finish()
    sizes = _read_sizes(rng, len(data))
    return Stream(
        kind=kind,
        data=data,
        read_sizes=sizes,
        reads=_cut(data, sizes),
        expected=writer.envelope(choices, usage),
        chunks=writer.chunks,
        crlf=crlf,
        non_ascii=non_ascii,
        ascii_escaped=ascii_escaped,
        choices=len(choices),
    )


def generate(size: Size = "small", seed: int = 0) -> list[Stream]:
    """The corpus: ~30 MB (``"full"``) or ~300 KB (``"small"``), identical for a given seed.

    The kind of each next stream is the one whose share of chunks lags its target most, so the
    mix holds at any size; streams with every kind and feature come first so even the small
    corpus has all of them.
    """
    if size not in TARGET_BYTES:
        raise ValueError(f"size must be 'small' or 'full', not {size!r}")
    rng = random.Random(f"deltafold-bench-{seed}")
    target = TARGET_BYTES[size]
    streams: list[Stream] = []
    chunks_by_kind = dict.fromkeys(KINDS, 0)
    total_bytes = 0
    # The opening streams carry every feature so that the small corpus exercises all of them.
    opening: list[tuple[Kind, dict[str, bool]]] = [
        ("text", {"crlf": True, "non_ascii": True, "ascii_escaped": True, "two_choices": True}),
        ("tools", {"crlf": False, "non_ascii": True, "ascii_escaped": False}),
        ("legacy", {"crlf": True, "non_ascii": False}),
        ("logprobs", {"crlf": False, "non_ascii": True, "ascii_escaped": False}),
        ("text", {"crlf": False, "non_ascii": True, "ascii_escaped": False, "two_choices": False}),
    ]
    while total_bytes < target:
        features: dict[str, bool] = {}
        if len(streams) < len(opening):
            kind, features = opening[len(streams)]
        else:
            total_chunks = sum(chunks_by_kind.values())
            kind = max(KINDS, key=lambda k: KIND_SHARE[k] * total_chunks - chunks_by_kind[k])
        stream = make_stream(rng, kind, size, **features)
        streams.append(stream)
        chunks_by_kind[kind] += stream.chunks
        total_bytes += len(stream.data)
    return streams


def summary(streams: list[Stream]) -> dict[str, Any]:
    """Counts that describe a corpus (for reports and tests)."""
    total_chunks = sum(s.chunks for s in streams)
    return {
        "streams": len(streams),
        "bytes": sum(len(s.data) for s in streams),
        "chunks": total_chunks,
        "reads": sum(len(s.reads) for s in streams),
        "chunk_share": {
            k: sum(s.chunks for s in streams if s.kind == k) / max(total_chunks, 1) for k in KINDS
        },
        "streams_by_kind": {k: sum(1 for s in streams if s.kind == k) for k in KINDS},
        "crlf_streams": sum(s.crlf for s in streams),
        "non_ascii_streams": sum(s.non_ascii for s in streams),
        "ascii_escaped_streams": sum(s.ascii_escaped for s in streams),
        "multi_choice_streams": sum(s.choices > 1 for s in streams),
    }


def big_argument_stream(argument_bytes: int = 200_000, seed: int = 0) -> Stream:
    """One tool call whose JSON arguments (ASCII, ``argument_bytes`` long) arrive 1-8 bytes at a
    time: the partial-arguments benchmark, where re-parsing the whole buffer per fragment is
    quadratic.
    """
    rng = random.Random(f"deltafold-bench-arguments-{seed}")
    writer = _Writer(rng, crlf=False, ascii_escaped=True)
    rows: list[dict[str, Any]] = []
    document: dict[str, Any] = {"table": "events", "rows": rows, "complete": True}
    rendered = 0
    while rendered < argument_bytes:
        row = {
            "id": len(rows),
            "title": " ".join(rng.choice(_WORDS).strip() for _ in range(rng.randint(1, 6))),
            "city": rng.choice(_CITY_NAMES),
            "score": round(rng.uniform(-50, 50), rng.randint(0, 6)),
            "tags": [rng.choice(_FIELD_NAMES) for _ in range(rng.randint(0, 4))],
            "nested": {"ok": rng.random() < 0.5, "note": None, "quote": 'a "b" \\ c\n'},
        }
        rows.append(row)
        rendered += len(json.dumps(row)) + 2
    # Escaped to ASCII so that every character is one byte: fragments are 1-8 bytes.
    arguments = json.dumps(document)
    head = {
        "index": 0,
        "id": "call_" + _random_text(rng, _ALNUM, 24),
        "type": "function",
        "function": {"name": "store_rows", "arguments": ""},
    }
    first = {"role": "assistant", "content": None, "tool_calls": [head], "refusal": None}
    writer.chunk([{"index": 0, "delta": first, "logprobs": None, "finish_reason": None}])
    pieces = _split_fragments(rng, arguments)
    for piece in pieces:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        writer.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
    writer.chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}])
    usage = _usage(rng, len(pieces))
    writer.chunk([], usage)
    data = writer.finish()
    call = {"id": head["id"], "type": "function"}
    call["function"] = {"name": "store_rows", "arguments": arguments}
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
    sizes = _read_sizes(rng, len(data))
    return Stream(
        kind="tools",
        data=data,
        read_sizes=sizes,
        reads=_cut(data, sizes),
        expected=writer.envelope([choice], usage),
        chunks=writer.chunks,
        crlf=False,
        non_ascii=False,
        ascii_escaped=True,
        choices=1,
    )


# --- Responses API streams (issue 11) -----------------------------------------------------------
# Kept apart from the chat corpus above: its own generator, its own stream type. The bytes look
# like OpenAI's /v1/responses stream: `event:` + `data:` pairs, every delta with `item_id`,
# `sequence_number`, `logprobs: []` (text) and `obfuscation`, and the closing `response.completed`
# carrying the whole response, as real servers send it. The expected result is that closing
# response, built here from the values that were serialised.

ResponsesKind = Literal["text", "reasoning", "tools", "search"]
RESPONSES_KINDS: tuple[ResponsesKind, ...] = ("text", "reasoning", "tools", "search")
RESPONSES_SHARE: dict[ResponsesKind, float] = {
    "text": 0.55,
    "reasoning": 0.2,
    "tools": 0.15,
    "search": 0.1,
}


@dataclass(frozen=True)
class ResponsesStream:
    kind: ResponsesKind
    data: bytes
    reads: tuple[bytes, ...]
    expected: dict[str, Any]
    events: int
    crlf: bool


class _ResponsesWriter:
    def __init__(self, rng: random.Random, *, crlf: bool) -> None:
        self._rng = rng
        self._end = "\r\n" if crlf else "\n"
        self._parts: list[str] = []
        self.sequence = 0

    def event(self, kind: str, body: dict[str, Any]) -> None:
        payload = {"type": kind, "sequence_number": self.sequence, **body}
        if kind.endswith(".delta"):
            payload["obfuscation"] = _random_text(self._rng, _ALNUM, self._rng.randrange(3, 16))
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        self._parts.append(f"event: {kind}{self._end}data: {data}{self._end}{self._end}")
        self.sequence += 1

    def finish(self) -> bytes:
        return "".join(self._parts).encode("utf-8")


def _responses_envelope(rng: random.Random) -> dict[str, Any]:
    return {
        "id": "resp_" + _random_text(rng, "0123456789abcdef", 50),
        "object": "response",
        "created_at": 1_760_000_000 + rng.randrange(20_000_000),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": rng.choice(("gpt-5-2025-08-07", "gpt-5-mini-2025-08-07", "gpt-4.1-2025-04-14")),
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "prompt_cache_key": None,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "safety_identifier": None,
        "service_tier": "auto",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "user": None,
        "metadata": {},
    }


def _responses_text(rng: random.Random, pieces: int, non_ascii: bool) -> list[str]:
    return [_text_fragment(rng, non_ascii) for _ in range(pieces)]


def _responses_message(
    rng: random.Random, w: _ResponsesWriter, index: int, pieces: int, non_ascii: bool,
    annotations: list[dict[str, Any]],
) -> dict[str, Any]:
    item_id = "msg_" + _random_text(rng, "0123456789abcdef", 50)
    at = {"item_id": item_id, "output_index": index}
    item = {"id": item_id, "type": "message", "status": "in_progress", "content": [],
            "role": "assistant"}
    w.event("response.output_item.added", {"output_index": index, "item": item})
    empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    w.event("response.content_part.added", {**at, "content_index": 0, "part": empty})
    fragments = _responses_text(rng, pieces, non_ascii)
    for fragment in fragments:
        w.event(
            "response.output_text.delta",
            {**at, "content_index": 0, "delta": fragment, "logprobs": []},
        )
    text = "".join(fragments)
    for number, annotation in enumerate(annotations):
        w.event(
            "response.output_text.annotation.added",
            {**at, "content_index": 0, "annotation_index": number, "annotation": annotation},
        )
    w.event("response.output_text.done", {**at, "content_index": 0, "text": text, "logprobs": []})
    part = {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}
    w.event("response.content_part.done", {**at, "content_index": 0, "part": part})
    done = {**item, "status": "completed", "content": [part]}
    w.event("response.output_item.done", {"output_index": index, "item": done})
    return done


def _responses_reasoning(
    rng: random.Random, w: _ResponsesWriter, index: int, pieces: int
) -> dict[str, Any]:
    item_id = "rs_" + _random_text(rng, "0123456789abcdef", 50)
    at = {"item_id": item_id, "output_index": index}
    encrypted = _random_text(rng, _ALNUM, rng.randrange(200, 2000))
    item = {"id": item_id, "type": "reasoning", "encrypted_content": encrypted, "summary": []}
    w.event("response.output_item.added", {"output_index": index, "item": item})
    summary = []
    for si in range(rng.randint(1, 2)):
        w.event(
            "response.reasoning_summary_part.added",
            {**at, "summary_index": si, "part": {"type": "summary_text", "text": ""}},
        )
        fragments = _responses_text(rng, max(1, pieces // 2), False)
        for fragment in fragments:
            w.event("response.reasoning_summary_text.delta",
                    {**at, "summary_index": si, "delta": fragment})
        text = "".join(fragments)
        w.event("response.reasoning_summary_text.done", {**at, "summary_index": si, "text": text})
        part = {"type": "summary_text", "text": text}
        w.event("response.reasoning_summary_part.done", {**at, "summary_index": si, "part": part})
        summary.append(part)
    done = {**item, "summary": summary}
    w.event("response.output_item.done", {"output_index": index, "item": done})
    return done


def _responses_call(
    rng: random.Random, w: _ResponsesWriter, index: int, limits: _Limits, non_ascii: bool
) -> dict[str, Any]:
    item_id = "fc_" + _random_text(rng, "0123456789abcdef", 50)
    at = {"item_id": item_id, "output_index": index}
    item = {"id": item_id, "type": "function_call", "status": "in_progress", "arguments": "",
            "call_id": "call_" + _random_text(rng, _ALNUM, 24), "name": rng.choice(_FIELD_NAMES)}
    w.event("response.output_item.added", {"output_index": index, "item": item})
    arguments = _arguments(rng, limits.argument_chars, non_ascii)
    for fragment in _split_fragments(rng, arguments):
        w.event("response.function_call_arguments.delta", {**at, "delta": fragment})
    w.event("response.function_call_arguments.done", {**at, "arguments": arguments})
    done = {**item, "status": "completed", "arguments": arguments}
    w.event("response.output_item.done", {"output_index": index, "item": done})
    return done


def _responses_search(rng: random.Random, w: _ResponsesWriter, index: int) -> dict[str, Any]:
    item_id = "ws_" + _random_text(rng, "0123456789abcdef", 50)
    at = {"item_id": item_id, "output_index": index}
    item = {"id": item_id, "type": "web_search_call", "status": "in_progress"}
    w.event("response.output_item.added", {"output_index": index, "item": item})
    for step in ("in_progress", "searching", "completed"):
        w.event(f"response.web_search_call.{step}", at)
    done = {**item, "status": "completed",
            "action": {"type": "search", "query": "latest " + rng.choice(_FIELD_NAMES)}}
    w.event("response.output_item.done", {"output_index": index, "item": done})
    return done


def make_responses_stream(
    rng: random.Random, kind: ResponsesKind, size: Size = "full"
) -> ResponsesStream:
    limits = _LIMITS[size]
    crlf = rng.random() < 0.1
    non_ascii = rng.random() < 0.35
    w = _ResponsesWriter(rng, crlf=crlf)
    envelope = _responses_envelope(rng)
    if kind == "tools":
        envelope["tools"] = [{"type": "function", "name": name, "description": None,
                              "parameters": {"type": "object", "properties": {}},
                              "strict": True} for name in _FIELD_NAMES[:3]]
    w.event("response.created", {"response": envelope})
    w.event("response.in_progress", {"response": envelope})
    output: list[dict[str, Any]] = []
    pieces = _log_uniform(rng, limits.text_chunks)
    if kind == "reasoning":
        output.append(_responses_reasoning(rng, w, len(output), pieces))
    if kind == "tools":
        for _ in range(rng.randint(1, 3)):
            output.append(_responses_call(rng, w, len(output), limits, non_ascii))
    else:
        annotations: list[dict[str, Any]] = []
        if kind == "search":
            output.append(_responses_search(rng, w, len(output)))
            annotations = [
                {"type": "url_citation", "start_index": n * 10, "end_index": n * 10 + 9,
                 "title": "Source " + str(n), "url": f"https://example.com/{n}?utm_source=openai"}
                for n in range(rng.randint(1, 4))
            ]
        output.append(_responses_message(rng, w, len(output), pieces, non_ascii, annotations))
    output_tokens = pieces + 20
    input_tokens = rng.randrange(12, 4000)
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 64 if kind == "reasoning" else 0},
        "total_tokens": input_tokens + output_tokens,
    }
    closing = {**envelope, "status": "completed", "output": output, "usage": usage}
    w.event("response.completed", {"response": closing})
    data = w.finish()
    sizes = _read_sizes(rng, len(data))
    return ResponsesStream(kind, data, _cut(data, sizes), closing, w.sequence, crlf)


def generate_responses(size: Size = "small", seed: int = 0) -> list[ResponsesStream]:
    """The Responses corpus: about as many bytes as the chat corpus of the same size."""
    if size not in TARGET_BYTES:
        raise ValueError(f"size must be 'small' or 'full', not {size!r}")
    rng = random.Random(f"deltafold-bench-responses-{seed}")
    streams: list[ResponsesStream] = []
    events = dict.fromkeys(RESPONSES_KINDS, 0)
    total = 0
    while total < TARGET_BYTES[size]:
        if len(streams) < len(RESPONSES_KINDS):
            kind = RESPONSES_KINDS[len(streams)]
        else:
            all_events = sum(events.values())
            kind = max(
                RESPONSES_KINDS, key=lambda k: RESPONSES_SHARE[k] * all_events - events[k]
            )
        stream = make_responses_stream(rng, kind, size)
        streams.append(stream)
        events[kind] += stream.events
        total += len(stream.data)
    return streams



# --- Anthropic Messages streams (issue 10) -------------------------------------------------------

AnthropicKind = Literal["text", "thinking", "tools", "server"]
ANTHROPIC_KINDS: tuple[AnthropicKind, ...] = ("text", "thinking", "tools", "server")
ANTHROPIC_TARGET_BYTES: dict[Size, int] = {"small": 300_000, "full": 10_000_000}


@dataclass(frozen=True)
class AnthropicStream:
    """One Messages API stream body and the message it folds into."""

    kind: AnthropicKind
    data: bytes
    reads: tuple[bytes, ...]
    expected: dict[str, Any]
    chunks: int
    """Number of events (pings included)."""


def _anthropic_text(rng: random.Random, words: int) -> str:
    return "".join(_text_fragment(rng, rng.random() < 0.2) for _ in range(words))


def _anthropic_message(rng: random.Random, kind: AnthropicKind, size: Size) -> dict[str, Any]:
    scale = 1 if size == "small" else 4
    content: list[dict[str, Any]] = []
    if kind == "thinking":
        content.append(
            {
                "type": "thinking",
                "thinking": _anthropic_text(rng, rng.randint(50, 400) * scale),
                "signature": "Eq" + _random_text(rng, _ALNUM, 300) + "==",
            }
        )
    if kind == "server":
        tool_id = "srvtoolu_" + _random_text(rng, _ALNUM, 24)
        content.append(
            {
                "type": "server_tool_use",
                "id": tool_id,
                "name": "web_search",
                "input": {"query": _anthropic_text(rng, 6)},
            }
        )
        content.append(
            {
                "type": "web_search_tool_result",
                "tool_use_id": tool_id,
                "content": [
                    {
                        "type": "web_search_result",
                        "title": _anthropic_text(rng, 8),
                        "url": "https://example.com/" + _random_text(rng, _ALNUM, 12),
                        "encrypted_content": _random_text(rng, _ALNUM, rng.randint(500, 3000)),
                        "page_age": None,
                    }
                    for _ in range(rng.randint(2, 6))
                ],
            }
        )
    words = rng.randint(30, 300) * scale
    text: dict[str, Any] = {"type": "text", "text": _anthropic_text(rng, words)}
    if kind == "server":
        text["citations"] = [
            {
                "type": "web_search_result_location",
                "cited_text": _anthropic_text(rng, 20),
                "url": "https://example.com/" + _random_text(rng, _ALNUM, 12),
                "title": _anthropic_text(rng, 6),
                "encrypted_index": _random_text(rng, _ALNUM, 80),
            }
            for _ in range(rng.randint(1, 4))
        ]
    content.append(text)
    if kind == "tools":
        for _ in range(rng.randint(1, 3)):
            arguments = json.loads(_arguments(rng, (2_000, 20_000 * scale), rng.random() < 0.3))
            content.append(
                {
                    "type": "tool_use",
                    "id": "toolu_" + _random_text(rng, _ALNUM, 24),
                    "name": rng.choice(_FUNCTION_NAMES),
                    "input": arguments,
                }
            )
    return {
        "id": "msg_" + _random_text(rng, _ALNUM, 24),
        "type": "message",
        "role": "assistant",
        "model": rng.choice(("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")),
        "content": content,
        "stop_reason": "tool_use" if kind == "tools" else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": rng.randint(10, 5000),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": rng.choice((0, 0, rng.randint(100, 50_000))),
            "output_tokens": rng.randint(10, 20_000),
            "service_tier": "standard",
        },
        "stop_details": None,
    }


def make_anthropic_stream(rng: random.Random, kind: AnthropicKind, size: Size) -> AnthropicStream:
    """A message and its stream, rendered the way the API sends it: text in word-sized deltas,
    tool input JSON in 3-12 character fragments (the API sends small ones)."""
    import orjson
    from deltafold._render_anthropic import anthropic_events

    message = _anthropic_message(rng, kind, size)
    # Text and thinking deltas of 8-40 characters, JSON fragments of 3-12: render the text
    # blocks and the tool blocks with their own piece sizes.
    text_size, json_size = rng.randint(8, 40), rng.randint(3, 12)
    text_events = list(anthropic_events(message, text_size))
    json_events = list(anthropic_events(message, json_size))
    events = [
        e
        for e in text_events
        if not (e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta")
    ]
    # Put the finer JSON deltas in place of the coarse ones, block by block.
    fine: dict[int, list[dict[str, Any]]] = {}
    for e in json_events:
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            fine.setdefault(e["index"], []).append(e)
    merged: list[dict[str, Any]] = []
    for e in events:
        if e["type"] == "content_block_stop":
            merged.extend(fine.get(e["index"], ()))
        merged.append(e)
    data = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in merged
    )
    sizes = _read_sizes(rng, len(data))
    return AnthropicStream(kind, data, _cut(data, sizes), message, len(merged))


def generate_anthropic(size: Size = "small", seed: int = 0) -> list[AnthropicStream]:
    """Anthropic streams until the corpus holds about ``ANTHROPIC_TARGET_BYTES[size]``: a quarter
    of the streams of each kind (text, thinking, tool use with long JSON input, server tools)."""
    rng = random.Random(f"anthropic-{seed}")
    streams: list[AnthropicStream] = []
    total = 0
    while total < ANTHROPIC_TARGET_BYTES[size]:
        stream = make_anthropic_stream(rng, ANTHROPIC_KINDS[len(streams) % 4], size)
        streams.append(stream)
        total += len(stream.data)
    return streams
