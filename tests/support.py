"""Helpers shared by the test modules: data locations, stream builders, comparisons."""

from __future__ import annotations

import importlib
import json
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_file(*parts: str) -> Path:
    """A path under ``tests/fixtures``, failing loudly when it is not there."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test data not found: {path} (see tests/fixtures/README.md)")
    return path


def recorded_fixtures() -> list[Path]:
    """The recorded OpenAI streams (``fixtures/openai-recorded/*.sse``)."""
    paths = sorted(fixture_file("openai-recorded").glob("*.sse"))
    if not paths:
        raise FileNotFoundError(
            "no *.sse files in " + str(fixture_file("openai-recorded"))
        )
    return paths


def sse(*payloads: Any, done: bool = True, line_ending: str = "\n") -> bytes:
    """A stream of ``data:`` events: dicts are JSON-encoded, str/bytes sent as they are."""
    out = []
    for payload in payloads:
        if isinstance(payload, bytes):
            text = payload
        elif isinstance(payload, str):
            text = payload.encode()
        else:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        out.append(b"data: " + text + (line_ending * 2).encode())
    if done:
        out.append(b"data: [DONE]" + (line_ending * 2).encode())
    return b"".join(out)


def key_orders(value: Any, path: str = "$") -> list[tuple[str, list[str]]]:
    """Every dict's key order, by path: equality of completions ignores order, this does not."""
    found: list[tuple[str, list[str]]] = []
    if isinstance(value, dict):
        found.append((path, list(value)))
        for key, item in value.items():
            found.extend(key_orders(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found.extend(key_orders(item, f"{path}[{position}]"))
    return found


def assert_same_completion(actual: Any, expected: Any) -> None:
    """Equal values and the same key order everywhere (the contract fixes the order)."""
    assert actual == expected
    assert key_orders(actual) == key_orders(expected)


def feed_pieces(impl: ModuleType, pieces: list[bytes], **options: Any) -> dict[str, Any]:
    """Feed ``pieces`` as separate reads to a fresh StreamParser and return ``finish()``."""
    parser = impl.StreamParser(**options)
    for piece in pieces:
        parser.feed(piece)
    result: dict[str, Any] = parser.finish()
    return result


def problem_tuples(problems: list[Any]) -> list[tuple[str, str, int | None, int | None]]:
    """The Problem fields both implementations must agree on (messages may differ)."""
    return [(p.kind, p.action, p.byte_offset, p.event_index) for p in problems]


def sdk_completion(data: bytes) -> dict[str, Any]:
    """What the official openai SDK assembles from ``data``: its own SSE decoder and ``Stream``
    feeding ``ChatCompletionStreamState.handle_chunk``, as a plain dict (set fields only)."""
    import openai
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    http = _sdk_http_module()
    url = "http://127.0.0.1:9/v1/chat/completions"
    response = http.Response(200, content=data, request=http.Request("POST", url))
    client = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1")
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in openai.Stream(cast_to=ChatCompletionChunk, response=response, client=client):
        state.handle_chunk(chunk)
    snapshot: dict[str, Any] = state.current_completion_snapshot.to_dict()
    return snapshot


def _sdk_http_module() -> ModuleType:
    """The HTTP library the installed SDK is built on (recent releases use the httpx2 fork)."""
    import openai._streaming

    name = "httpx2" if hasattr(openai._streaming, "httpx2") else "httpx"
    return importlib.import_module(name)


def sdk_comparable(completion: dict[str, Any]) -> dict[str, Any]:
    """The fields where the SDK's assembly is right (INDEX.md lists its faults), in one shape
    for both an SDK snapshot dict and a deltafold result."""

    def tool_call(call: dict[str, Any]) -> dict[str, Any]:
        function = call.get("function") or {}
        return {
            "id": call.get("id"),
            "type": call.get("type"),
            "name": function.get("name"),
            "arguments": function.get("arguments"),
        }

    def choice(item: dict[str, Any]) -> dict[str, Any]:
        message = item.get("message") or {}
        function_call = message.get("function_call")
        return {
            "index": item.get("index"),
            "role": message.get("role"),
            "content": message.get("content"),
            "refusal": message.get("refusal"),
            "tool_calls": [tool_call(c) for c in message.get("tool_calls") or []],
            "function_call": (
                {"name": function_call.get("name"), "arguments": function_call.get("arguments")}
                if function_call
                else None
            ),
            "logprobs": item.get("logprobs"),
            "finish_reason": item.get("finish_reason"),
        }

    return {
        "id": completion.get("id"),
        "model": completion.get("model"),
        "created": completion.get("created"),
        "object": completion.get("object"),
        "choices": [choice(c) for c in completion.get("choices") or []],
        "usage": completion.get("usage"),
    }


def chunk(*choices: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A chat.completion.chunk with fixed identity fields; ``top`` adds or overrides keys."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": list(choices),
        **top,
    }


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    """A streamed choice: ``fields`` form the delta."""
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def completion(*choices: dict[str, Any], usage: Any = None, **top: Any) -> dict[str, Any]:
    """The assembled completion for chunks made by :func:`chunk` (contract key order)."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": list(choices),
        "usage": usage,
        **top,
    }


def choice(
    index: int = 0,
    finish: str | None = "stop",
    logprobs: Any = None,
    extra: dict[str, Any] | None = None,
    **message: Any,
) -> dict[str, Any]:
    """An assembled choice; ``message`` overrides role/content/refusal or adds keys in order."""
    return {
        "index": index,
        "message": {"role": "assistant", "content": None, "refusal": None, **message},
        "logprobs": logprobs,
        "finish_reason": finish,
        **(extra or {}),
    }


@contextmanager
def loopback_server(
    route: str, stream_for: Callable[[str], tuple[bytes, str] | None]
) -> Iterator[str]:
    """A local HTTP server (127.0.0.1, an ephemeral port) for the official clients; yields its
    ``http://host:port``.

    A POST to a path ending in ``route`` streams ``stream_for(model)``'s bytes (``model`` from
    the JSON request body) with chunked transfer encoding in random write sizes, so TCP
    segmentation and the client's read sizes get between the recording and the parser. The
    write sizes come from a generator seeded with the second item, so a failure reproduces.
    Anything else is a 404.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            found = stream_for(body.get("model", ""))
            if found is None or not self.path.endswith(route):
                self.send_error(404)
                return
            data, seed = found
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            rng = random.Random(seed)
            position = 0
            self.close_connection = True
            try:
                while position < len(data):
                    size = rng.choice(
                        [rng.randint(1, 8), rng.randint(9, 300), rng.randint(300, 5000)]
                    )
                    piece = data[position : position + size]
                    position += size
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                # The client stopped reading (its test already failed); that test reports it.
                return

        def log_message(self, format: str, *args: Any) -> None:
            # Keep the test output clean; failures show up as assertion errors.
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
