"""The parsers the benchmark races, each behind one signature.

An adapter takes the whole stream body and the same body cut into network reads, and returns
the assembled ``chat.completion`` dict (``None`` for the floors, which assemble nothing). Each one
uses whichever of the two inputs its library is built for: ``assemble`` the whole body, every
incremental parser the reads, one by one.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Completion = dict[str, Any]
Adapter = Callable[[bytes, Sequence[bytes]], "Completion | None"]
# JSON-out competitors return the completion as JSON bytes (checked after orjson.loads).
JsonAdapter = Callable[[bytes, Sequence[bytes]], bytes]

PYTHON_SOURCE = Path(__file__).resolve().parent.parent / "python"


@dataclass(frozen=True)
class Competitor:
    name: str
    """Name on the command line (``--only``) and in JSON output."""
    label: str
    """Row label in the tables."""
    run: Adapter | JsonAdapter
    floor: bool = False
    """Assembles nothing: a lower bound on the cost of reading the bytes at all."""
    sampled: bool = False
    """Too slow to time on the whole corpus: timed on a subset, scaled per MB."""
    events: bool = False


@dataclass
class Loaded:
    competitors: list[Competitor]
    unavailable: dict[str, str]
    """Competitor name -> why it cannot run here."""
    notes: list[str]


# --- deltafold (native and reference) --------------------------------------------------------


def _import_deltafold(notes: list[str]) -> tuple[types.ModuleType | None, str]:
    """The deltafold package, or ``None`` and the reason it does not import."""
    if importlib.util.find_spec("deltafold") is None and str(PYTHON_SOURCE) not in sys.path:
        sys.path.insert(0, str(PYTHON_SOURCE))
        notes.append(f"deltafold not installed: imported from {PYTHON_SOURCE}")
    try:
        return importlib.import_module("deltafold"), ""
    except ImportError as exc:
        return None, f"import deltafold failed: {exc}"


def _import_reference(
    package: types.ModuleType | None, notes: list[str]
) -> tuple[types.ModuleType | None, str]:
    if package is None:
        # The package __init__ may need the native module; the reference and the errors it
        # raises are plain Python files, so load them under a bare package shell instead.
        shell = types.ModuleType("deltafold")
        shell.__path__ = [str(PYTHON_SOURCE / "deltafold")]
        sys.modules["deltafold"] = shell
        notes.append("deltafold/__init__.py did not import: reference.py loaded from its file")
    try:
        importlib.import_module("deltafold.reference")
    except ImportError as exc:
        return None, f"import deltafold.reference failed: {exc}"
    return _tuned_reference(), ""


def _tuned_reference() -> types.ModuleType:
    """benches/tuned_reference.py: the reference with the shortcuts the speed targets were set
    against (the reference itself is kept plain; see that module)."""
    path = Path(__file__).resolve().parent / "tuned_reference.py"
    spec = importlib.util.spec_from_file_location("deltafold_tuned_reference", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _has_parser_api(module: types.ModuleType) -> str:
    missing = [n for n in ("assemble", "StreamParser") if not hasattr(module, n)]
    return f"{module.__name__} has no {', '.join(missing)}" if missing else ""


def _assemble_adapter(module: types.ModuleType) -> Adapter:
    assemble = module.assemble

    def run(data: bytes, reads: Sequence[bytes]) -> Completion:
        result: Completion = assemble(data)
        return result

    return run


def _feed_adapter(module: types.ModuleType) -> Adapter:
    parser_class = module.StreamParser

    def run(data: bytes, reads: Sequence[bytes]) -> Completion:
        parser = parser_class()
        feed = parser.feed
        for read in reads:
            feed(read)
        result: Completion = parser.finish()
        return result

    return run


def _assemble_json_adapter(module: types.ModuleType) -> JsonAdapter:
    assemble_json = module.assemble_json

    def run(data: bytes, reads: Sequence[bytes]) -> bytes:
        result: bytes = assemble_json(data)
        return result

    return run


def _feed_json_adapter(module: types.ModuleType) -> JsonAdapter:
    parser_class = module.StreamParser

    def run(data: bytes, reads: Sequence[bytes]) -> bytes:
        parser = parser_class()
        feed = parser.feed
        for read in reads:
            feed(read)
        result: bytes = parser.finish_json()
        return result

    return run


def _feed_events_adapter(module: types.ModuleType) -> Adapter:
    parser_class = module.StreamParser

    def run(data: bytes, reads: Sequence[bytes]) -> Completion | None:
        parser = parser_class(events=True)
        feed = parser.feed
        seen = 0
        for read in reads:
            # A renderer looks at every event; reading .type is the least it does.
            for event in feed(read):
                seen += len(event.type)
        final = parser.finish_events()
        if not final or final[-1].type != "done" or seen == 0:
            return None
        result: Completion | None = final[-1].completion
        return result

    return run


# --- httpx-sse + json + a dict merge ------------------------------------------------------------


def _first_non_empty(target: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, "", 0) and target.get(key) in (None, "", 0):
        target[key] = value


class _PlainChoice:
    """One choice's accumulators, as a careful user writes them: lists joined at the end."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, Any] | None = None
        self.logprobs: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        if delta.get("role") and self.role is None:
            self.role = delta["role"]
        content = delta.get("content")
        if isinstance(content, str):
            if self.content is None:
                self.content = []
            self.content.append(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str):
            if self.refusal is None:
                self.refusal = []
            self.refusal.append(refusal)
        for fragment in delta.get("tool_calls") or ():
            call = self.tool_calls.get(fragment["index"])
            if call is None:
                call = {"id": None, "type": None, "name": None, "arguments": []}
                self.tool_calls[fragment["index"]] = call
            _first_non_empty(call, "id", fragment.get("id"))
            _first_non_empty(call, "type", fragment.get("type"))
            function = fragment.get("function") or {}
            _first_non_empty(call, "name", function.get("name"))
            if function.get("arguments"):
                call["arguments"].append(function["arguments"])
        legacy = delta.get("function_call")
        if legacy is not None:
            if self.function_call is None:
                self.function_call = {"name": None, "arguments": []}
            _first_non_empty(self.function_call, "name", legacy.get("name"))
            if legacy.get("arguments"):
                self.function_call["arguments"].append(legacy["arguments"])
        logprobs = choice.get("logprobs")
        if logprobs is not None:
            if self.logprobs is None:
                self.logprobs = {"content": None, "refusal": None}
            for key in ("content", "refusal"):
                entries = logprobs.get(key)
                if entries is not None:
                    if self.logprobs[key] is None:
                        self.logprobs[key] = []
                    self.logprobs[key].extend(entries)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    def result(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": None if self.content is None else "".join(self.content),
            "refusal": None if self.refusal is None else "".join(self.refusal),
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": call["type"] or "function",
                    "function": {"name": call["name"], "arguments": "".join(call["arguments"])},
                }
                for _, call in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = {
                "name": self.function_call["name"],
                "arguments": "".join(self.function_call["arguments"]),
            }
        return {
            "index": self.index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


def _merge_usage(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old or {})
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_usage(merged[key], value)
        elif value is not None and not (value == 0 and merged.get(key)):
            merged[key] = value
    return merged


class PlainMerger:
    """Folds decoded chunk dicts into a completion: the dict merge a careful user writes."""

    def __init__(self) -> None:
        self.top: dict[str, Any] = {"id": None, "created": None, "model": None}
        self.extra: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None
        self.choices: dict[int, _PlainChoice] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        for key in ("id", "created", "model"):
            _first_non_empty(self.top, key, chunk.get(key))
        for key in ("service_tier", "system_fingerprint"):
            if key in chunk and (chunk[key] is not None or key not in self.extra):
                self.extra[key] = chunk[key]
        if chunk.get("usage") is not None:
            self.usage = _merge_usage(self.usage, chunk["usage"])
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            state = self.choices.get(index)
            if state is None:
                state = self.choices[index] = _PlainChoice(index)
            state.add(choice)

    def result(self) -> Completion:
        return {
            "id": self.top["id"],
            "object": "chat.completion",
            "created": self.top["created"],
            "model": self.top["model"],
            "choices": [state.result() for _, state in sorted(self.choices.items())],
            "usage": self.usage,
            **self.extra,
        }


def httpx_sse_merge(data: bytes, reads: Sequence[bytes]) -> Completion:
    """httpx-sse's EventSource over an httpx response, ``json.loads``, :class:`PlainMerger`."""
    import httpx
    from httpx_sse import EventSource

    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter(reads)
    )
    merger = PlainMerger()
    for event in EventSource(response).iter_sse():
        if event.data.strip() == "[DONE]":
            break
        if event.data:
            merger.add(json.loads(event.data))
    return merger.result()


# --- the official openai SDK stream helper ------------------------------------------------------


def _openai_sdk_adapter() -> Adapter:
    import httpx2
    from openai import ContentFilterFinishReasonError, LengthFinishReasonError, OpenAI
    from openai._streaming import Stream
    from openai._types import omit
    from openai.lib.streaming.chat import ChatCompletionStream
    from openai.types.chat import ChatCompletionChunk

    # Never contacted: the SDK needs a client object to decode stream chunks with.
    client = OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")

    def run(data: bytes, reads: Sequence[bytes]) -> Completion:
        response = httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=iter(reads),
            request=request,
        )
        raw = Stream(cast_to=ChatCompletionChunk, response=response, client=client)
        stream = ChatCompletionStream(raw_stream=raw, response_format=omit, input_tools=omit)
        try:
            return normalise_sdk(stream.get_final_completion().to_dict())
        except (LengthFinishReasonError, ContentFilterFinishReasonError):
            # A known SDK fault: a cut-off answer raises; its snapshot still holds the result.
            return normalise_sdk(stream.current_completion_snapshot.to_dict())

    return run


def normalise_sdk(raw: dict[str, Any]) -> Completion:
    """The SDK's ChatCompletion as a dict in deltafold's key set.

    The SDK reports every message field of its model (``None`` when never sent) and adds its own
    ``parsed``/``parsed_arguments``; deltafold keeps only what the stream carried.
    """
    choices = []
    for choice in raw.get("choices", []):
        message = dict(choice.get("message") or {})
        message.pop("parsed", None)
        for key in [k for k, v in message.items() if v is None]:
            if key not in ("role", "content", "refusal"):
                del message[key]
        for call in message.get("tool_calls") or ():
            # The non-streaming response has no per-call index; the SDK keeps the stream's one.
            call.pop("index", None)
            call.get("function", {}).pop("parsed_arguments", None)
        choices.append(
            {
                "index": choice.get("index"),
                "message": message,
                "logprobs": choice.get("logprobs"),
                "finish_reason": choice.get("finish_reason"),
            }
        )
    result = {key: raw.get(key) for key in ("id", "object", "created", "model")}
    result["choices"] = choices
    result["usage"] = raw.get("usage")
    for key in ("service_tier", "system_fingerprint"):
        if key in raw:
            result[key] = raw[key]
    return result


# --- floors -------------------------------------------------------------------------------------


def orjson_lines(data: bytes, reads: Sequence[bytes]) -> None:
    """``orjson.loads`` of every ``data:`` JSON line, nothing assembled."""
    loads = orjson.loads
    pending = b""
    for read in reads:
        lines = (pending + read if pending else read).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(b"data: {"):
                # orjson takes the CR of a CRLF line as trailing JSON whitespace.
                loads(line[6:])


def split_lines(data: bytes, reads: Sequence[bytes]) -> None:
    """Cutting the reads into lines and nothing else."""
    pending = b""
    for read in reads:
        lines = (pending + read if pending else read).split(b"\n")
        pending = lines.pop()


# --- registry -----------------------------------------------------------------------------------

ALL_NAMES = (
    "deltafold.assemble",
    "deltafold.feed",
    "reference.assemble",
    "reference.feed",
    "openai-sdk",
    "httpx-sse",
    "orjson-lines",
    "split-lines",
    "deltafold.feed+events",
    "reference.feed+events",
    "deltafold.assemble_json",
    "deltafold.feed_json",
)


def deltafold_modules(notes: list[str]) -> dict[str, tuple[types.ModuleType | None, str]]:
    """``{"deltafold": (module, why_not), "reference": (module, why_not)}``.

    A module is ``None`` when it cannot run here; ``why_not`` says why. The native package counts
    only once it exposes the public parser API, not while ``__init__`` holds just the errors.
    """
    package, why = _import_deltafold(notes)
    native_why = why or (_has_parser_api(package) if package is not None else "")
    reference, why = _import_reference(package, notes)
    reference_why = why or (_has_parser_api(reference) if reference is not None else "")
    return {
        "deltafold": (None if native_why else package, native_why),
        "reference": (None if reference_why else reference, reference_why),
    }


def load() -> Loaded:
    """Every competitor that can run in this interpreter, and why the others cannot."""
    notes: list[str] = []
    found: list[Competitor] = []
    unavailable: dict[str, str] = {}

    for prefix, (module, why) in deltafold_modules(notes).items():
        label = "deltafold" if prefix == "deltafold" else "reference (tuned)"
        if module is None:
            for suffix in (".assemble", ".feed", ".feed+events", ".assemble_json", ".feed_json"):
                if prefix + suffix in ALL_NAMES:
                    unavailable[prefix + suffix] = why
            continue
        found += [
            Competitor(f"{prefix}.assemble", f"{label} assemble", _assemble_adapter(module)),
            Competitor(f"{prefix}.feed", f"{label} feed/finish", _feed_adapter(module)),
            Competitor(
                f"{prefix}.feed+events",
                f"{label} feed/finish, events",
                _feed_events_adapter(module),
                events=True,
            ),
        ]
        if prefix == "deltafold":
            found += [
                Competitor(
                    "deltafold.assemble_json",
                    "deltafold assemble_json (bytes)",
                    _assemble_json_adapter(module),
                ),
                Competitor(
                    "deltafold.feed_json",
                    "deltafold feed/finish_json (bytes)",
                    _feed_json_adapter(module),
                ),
            ]

    try:
        sdk = _openai_sdk_adapter()
    except ImportError as exc:
        unavailable["openai-sdk"] = f"openai SDK not importable: {exc}"
    else:
        found.append(Competitor("openai-sdk", "openai SDK stream helper", sdk, sampled=True))
    try:
        importlib.import_module("httpx_sse")
    except ImportError as exc:
        unavailable["httpx-sse"] = f"httpx-sse not importable: {exc}"
    else:
        found.append(Competitor("httpx-sse", "httpx-sse + json + dict merge", httpx_sse_merge))
    found += [
        Competitor("orjson-lines", "floor: orjson.loads per data line", orjson_lines, floor=True),
        Competitor("split-lines", "floor: split into lines", split_lines, floor=True),
    ]
    order = {name: i for i, name in enumerate(ALL_NAMES)}
    found.sort(key=lambda c: order[c.name])
    return Loaded(found, unavailable, notes)


# --- Responses API competitors (issue 11) -------------------------------------------------------
# Kept apart from the chat competitors above. Each takes (data, reads) of one Responses stream
# and returns the response dict (floors return None).

_RESPONSES_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
_RESPONSES_CLOSING = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_tuned_fold(data: bytes, reads: Sequence[bytes]) -> dict[str, Any] | None:
    """A tuned pure-Python Responses fold: bytes split + orjson + dict updates, with text
    fields kept as piece lists so long answers stay linear. It folds every event (the state
    must be right when a stream is cut short) and returns the closing response."""
    loads = orjson.loads
    pending = b""
    base: dict[str, Any] | None = None
    items: dict[int, dict[str, Any]] = {}
    texts: dict[tuple[int, str, int, str], list[str]] = {}
    closed: dict[str, Any] | None = None
    for read in reads:
        lines = (pending + read if pending else read).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if not line.startswith(b"data: "):
                continue
            event = loads(line[6:])
            kind = event["type"]
            if kind == "response.output_text.delta":
                key = (event["output_index"], "content", event["content_index"], "text")
                pieces = texts.get(key)
                if pieces is None:
                    pieces = texts[key] = []
                pieces.append(event["delta"])
                if event.get("logprobs"):
                    part = items[event["output_index"]]["content"][event["content_index"]]
                    part.setdefault("logprobs", []).extend(event["logprobs"])
            elif kind == "response.function_call_arguments.delta":
                key = (event["output_index"], "", 0, "arguments")
                texts.setdefault(key, []).append(event["delta"])
            elif kind == "response.reasoning_summary_text.delta":
                key = (event["output_index"], "summary", event["summary_index"], "text")
                texts.setdefault(key, []).append(event["delta"])
            elif kind == "response.output_item.added" or kind == "response.output_item.done":
                index = event["output_index"]
                items[index] = event["item"]
                for key in [k for k in texts if k[0] == index]:
                    del texts[key]
            elif kind in ("response.content_part.added", "response.content_part.done"):
                parts = items[event["output_index"]].setdefault("content", [])
                index = event["content_index"]
                texts.pop((event["output_index"], "content", index, "text"), None)
                if index < len(parts):
                    parts[index] = event["part"]
                else:
                    parts.append(event["part"])
            elif kind in (
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_part.done",
            ):
                parts = items[event["output_index"]].setdefault("summary", [])
                index = event["summary_index"]
                texts.pop((event["output_index"], "summary", index, "text"), None)
                if index < len(parts):
                    parts[index] = event["part"]
                else:
                    parts.append(event["part"])
            elif kind == "response.output_text.annotation.added":
                part = items[event["output_index"]]["content"][event["content_index"]]
                part.setdefault("annotations", []).append(event["annotation"])
            elif kind in _RESPONSES_LIFECYCLE:
                response = event["response"]
                if base is None:
                    base = {k: v for k, v in response.items() if k != "output"}
                else:
                    base.update((k, v) for k, v in response.items() if k != "output")
            elif kind in _RESPONSES_CLOSING:
                closed = event["response"]
    if closed is not None:
        return closed
    for (index, where, position, field), pieces in texts.items():
        item = items[index]
        target = item[where][position] if where else item
        target[field] = target.get(field, "") + "".join(pieces)
    response = dict(base or {})
    response["status"] = "incomplete"
    response["output"] = [items[i] for i in sorted(items)]
    return response


def responses_sdk_adapter() -> Callable[[bytes, Sequence[bytes]], dict[str, Any] | None]:
    """The openai SDK's own path: its SSE decoder and Stream of ``ResponseStreamEvent`` objects,
    folded by ``ResponseStreamState`` (what ``client.responses.stream(...)`` runs)."""
    import httpx2
    from openai import OpenAI
    from openai._streaming import Stream
    from openai._types import omit
    from openai.lib.streaming.responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent

    client = OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/responses")

    def run(data: bytes, reads: Sequence[bytes]) -> dict[str, Any] | None:
        response = httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=iter(reads),
            request=request,
        )
        raw = Stream(cast_to=ResponseStreamEvent, response=response, client=client)
        state: Any = ResponseStreamState(input_tools=omit, text_format=omit)
        for event in raw:
            state.handle_event(event)
        final = state._completed_response
        return None if final is None else final.to_dict()

    return run


def responses_normalise_sdk(raw: dict[str, Any]) -> dict[str, Any]:
    """The SDK's ParsedResponse as a dict of what the stream carried: it adds ``parsed`` to
    output_text parts and ``parsed_arguments`` to function calls."""
    out = dict(raw)
    items = []
    for item in raw.get("output") or []:
        item = dict(item)
        item.pop("parsed_arguments", None)
        if type(item.get("content")) is list:
            item["content"] = [
                {k: v for k, v in part.items() if k != "parsed"} for part in item["content"]
            ]
        items.append(item)
    out["output"] = items
    return out



# --- Anthropic Messages (issue 10) ----------------------------------------------------------------


def tuned_anthropic(data: bytes, reads: Sequence[bytes]) -> Completion:
    """Tuned pure Python for Anthropic streams: bytes split into lines, ``orjson.loads`` per
    ``data:`` line, text/thinking/tool JSON kept as lists of parts joined once, dict merge."""
    from orjson import loads

    message: dict[str, Any] = {}
    blocks: list[dict[str, Any]] = []
    parts: list[list[str]] = []  # per block: text, thinking or input JSON pieces
    pending = b""
    for read in reads:
        lines = (pending + read if pending else read).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line[:6] != b"data: ":
                continue
            event = loads(line[6:])
            kind = event["type"]
            if kind == "content_block_delta":
                delta = event["delta"]
                dtype = delta["type"]
                if dtype == "text_delta":
                    parts[event["index"]].append(delta["text"])
                elif dtype == "input_json_delta":
                    parts[event["index"]].append(delta["partial_json"])
                elif dtype == "thinking_delta":
                    parts[event["index"]].append(delta["thinking"])
                elif dtype == "signature_delta":
                    blocks[event["index"]]["signature"] = delta["signature"]
                elif dtype == "citations_delta":
                    block = blocks[event["index"]]
                    if block.get("citations"):
                        block["citations"].append(delta["citation"])
                    else:
                        block["citations"] = [delta["citation"]]
            elif kind == "content_block_start":
                blocks.append(event["content_block"])
                parts.append([])
            elif kind == "message_start":
                message = event["message"]
            elif kind == "message_delta":
                for key, value in event["delta"].items():
                    if value is not None or key not in message:
                        message[key] = value
                message.setdefault("stop_details", None)
                usage = message.setdefault("usage", {})
                for key, value in (event.get("usage") or {}).items():
                    if value is not None or key == "output_tokens":
                        usage[key] = value
    for block, pieces in zip(blocks, parts, strict=True):
        kind = block["type"]
        if kind == "text":
            block["text"] += "".join(pieces)
        elif kind == "thinking":
            block["thinking"] += "".join(pieces)
        elif "input" in block and pieces and "".join(pieces):
            block["input"] = loads("".join(pieces))
    message["content"] = blocks
    return message


def _anthropic_sdk_adapter() -> Adapter:
    """The official anthropic SDK: its ``Stream`` of events and ``MessageStream`` accumulation
    over an httpx response fed the same reads, ``get_final_message().to_dict()``."""
    import httpx2
    from anthropic import Anthropic
    from anthropic._streaming import Stream
    from anthropic.lib.streaming import MessageStream
    from anthropic.types import RawMessageStreamEvent

    client = Anthropic(api_key="unused", base_url="http://127.0.0.1:9")
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/messages")

    def run(data: bytes, reads: Sequence[bytes]) -> Completion:
        response = httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=iter(reads),
            request=request,
        )
        raw = Stream(cast_to=RawMessageStreamEvent, response=response, client=client)
        stream: Any = MessageStream(raw, output_format=_not_given())
        result: Completion = stream.get_final_message().to_dict(mode="json")
        return result

    return run


def _not_given() -> Any:
    from anthropic import NOT_GIVEN

    return NOT_GIVEN


ANTHROPIC_NAMES = (
    "deltafold.assemble",
    "deltafold.feed",
    "reference.assemble",
    "tuned-python",
    "orjson-lines",
    "anthropic-sdk",
)


def load_anthropic() -> Loaded:
    """The competitors of the Anthropic bench that can run here."""
    notes: list[str] = []
    found: list[Competitor] = []
    unavailable: dict[str, str] = {}
    native, why = _import_deltafold(notes)
    why = why or (_has_parser_api(native) if native is not None else "")
    if native is None or why:
        unavailable["deltafold.assemble"] = unavailable["deltafold.feed"] = why
    else:
        found += [
            Competitor("deltafold.assemble", "deltafold assemble", _assemble_adapter(native)),
            Competitor("deltafold.feed", "deltafold feed/finish", _feed_adapter(native)),
        ]
    # The plain reference (benches/tuned_reference.py tunes its chat path only). It is an
    # oracle, not a contender: it re-checks a tool input's whole JSON text on every fragment
    # (quadratic in the input), so it is checked and timed on a sample only.
    try:
        reference: types.ModuleType | None = importlib.import_module("deltafold.reference")
    except ImportError as exc:
        reference, why = None, f"import deltafold.reference failed: {exc}"
    if reference is None:
        unavailable["reference.assemble"] = why
    else:
        found.append(
            Competitor(
                "reference.assemble",
                "reference assemble",
                _assemble_adapter(reference),
                sampled=True,
            )
        )
    found += [
        Competitor("tuned-python", "tuned pure Python (split + orjson + merge)", tuned_anthropic),
        Competitor("orjson-lines", "floor: orjson.loads per data line", orjson_lines, floor=True),
    ]
    try:
        sdk = _anthropic_sdk_adapter()
    except ImportError as exc:
        unavailable["anthropic-sdk"] = f"anthropic SDK not importable: {exc}"
    else:
        found.append(
            Competitor("anthropic-sdk", "anthropic SDK MessageStream", sdk, sampled=True)
        )
    return Loaded(found, unavailable, notes)
