"""Real sockets: a local HTTP server streams recorded bytes in random write sizes.

httpx and the official openai client consume the stream over TCP while deltafold assembles it,
so chunked transfer decoding, TCP segmentation and the clients' own read sizes all get between
the recording and the parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from support import assert_same_completion, loopback_server, recorded_fixtures, sdk_comparable

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


def _stream_for(model: str) -> tuple[bytes, str] | None:
    path = STREAMED.get(model)
    # Seeded with the file name: a failure reproduces with the same write sizes.
    return None if path is None else (path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with loopback_server("/chat/completions", _stream_for) as base:
        yield base + "/v1"


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
