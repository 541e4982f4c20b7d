"""Real sockets: a local HTTP server streams recorded bytes in random write sizes.

httpx and the official openai client consume the stream over TCP while deltafold assembles it,
so chunked transfer decoding, TCP segmentation and the clients' own read sizes all get between
the recording and the parser.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from support import assert_same_completion, recorded_fixtures, sdk_comparable

# One recording per kind of stream: text, n=3, parallel tool calls, refusal with logprobs,
# content logprobs, finish_reason=length, the long escaped-JSON one.
STREAMED = {
    path.stem: path
    for path in recorded_fixtures()
    if path.stem
    in {
        "parse_nothing",
        "parse_pydantic_model_multiple_choices__v20240807",
        "parse_multiple_pydantic_tools",
        "refusal_logprobs_events",
        "content_logprobs_events",
        "parse_max_tokens_reached",
        "non_pydantic_response_format",
    }
}
NAMES = sorted(STREAMED)
MESSAGES = [{"role": "user", "content": "hi"}]


class _StreamingHandler(BaseHTTPRequestHandler):
    """POST .../chat/completions: streams the recording named by the request's ``model``."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        path = STREAMED.get(body.get("model", ""))
        if path is None or not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        # A fixed seed per recording: a failure reproduces with the same write sizes.
        rng = random.Random(path.name)
        position = 0
        self.close_connection = True
        try:
            while position < len(data):
                size = rng.choice([rng.randint(1, 8), rng.randint(9, 300), rng.randint(300, 5000)])
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


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StreamingHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _client(server_url: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server_url, max_retries=0, timeout=30)


def _httpx_assemble(impl: ModuleType, server_url: str, name: str) -> tuple[dict[str, Any], bytes]:
    parser = impl.StreamParser()
    received = bytearray()
    request = {"model": name, "messages": MESSAGES, "stream": True}
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", server_url + "/chat/completions", json=request) as response:
            assert response.status_code == 200
            for read in response.iter_bytes():
                received += read
                parser.feed(read)
    return parser.finish(), bytes(received)


@pytest.mark.parametrize("name", NAMES)
def test_httpx_reads_fed_to_stream_parser(impl: ModuleType, server_url: str, name: str) -> None:
    result, received = _httpx_assemble(impl, server_url, name)
    recorded = STREAMED[name].read_bytes()
    assert received == recorded
    assert_same_completion(result, impl.assemble(recorded))


@pytest.mark.parametrize("name", NAMES)
def test_openai_client_agrees_with_stream_parser(
    impl: ModuleType, server_url: str, name: str
) -> None:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    stream = _client(server_url).chat.completions.create(model=name, messages=MESSAGES, stream=True)
    for chunk in stream:
        state.handle_chunk(chunk)
    sdk = state.current_completion_snapshot.to_dict()
    result, _ = _httpx_assemble(impl, server_url, name)
    assert sdk_comparable(result) == sdk_comparable(sdk)


@pytest.mark.parametrize("name", NAMES)
def test_openai_raw_streaming_response_to_assemble(
    impl: ModuleType, server_url: str, name: str
) -> None:
    client = _client(server_url)
    with client.chat.completions.with_streaming_response.create(
        model=name, messages=MESSAGES, stream=True
    ) as response:
        result = impl.assemble(response.iter_bytes())
    assert_same_completion(result, impl.assemble(STREAMED[name].read_bytes()))


async def test_async_httpx_reads_to_aiter_events(impl: ModuleType, server_url: str) -> None:
    name = "parse_multiple_pydantic_tools"
    request = {"model": name, "messages": MESSAGES, "stream": True}
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream(
            "POST", server_url + "/chat/completions", json=request
        ) as response:
            events = [event async for event in impl.aiter_events(response.aiter_bytes())]
    assert events[-1].type == "done"
    assert_same_completion(events[-1].completion, impl.assemble(STREAMED[name].read_bytes()))
    done_calls = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    names = [(e.index, e.name) for e in done_calls]
    assert names == [(0, "GetWeatherArgs"), (1, "get_stock_price")]


def test_every_chosen_recording_exists() -> None:
    assert len(STREAMED) == 7
    assert all(isinstance(path, Path) for path in STREAMED.values())
