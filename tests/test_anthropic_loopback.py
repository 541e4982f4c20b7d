"""Real sockets for Anthropic streams: a local HTTP server (127.0.0.1, an ephemeral port, started
and stopped here) streams recordings in random write sizes to the official ``anthropic`` client
(``base_url=``) and to httpx, while deltafold folds the same bytes.

Oracle: the client's own ``stream.get_final_message()`` (its ``MessageStream`` accumulation),
with the documented places where the plain accumulator drops wire data taken from the beta one
(tests/test_anthropic.py).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import anthropic
import httpx
import pytest
from support import fixture_file, loopback_server
from test_anthropic import _accumulate, expected_message, sdk_events, wire

# Single-message recordings of every kind: text, thinking with signature, client tool use,
# server tools with results and citations, MCP, a tool input cut by max_tokens, compaction.
CHOSEN = [
    "anthropic__anthropic-text",
    "anthropic__anthropic-clear-thinking.1",
    "anthropic-sdk__tool_use_response",
    "anthropic__anthropic-web-search-tool.1",
    "anthropic__anthropic-mcp.1",
    "anthropic-sdk__incomplete_partial_json_response",
    "anthropic__anthropic-code-execution-20250825.1",
    "anthropic__anthropic-compaction.1",
]
STREAMED = {name: wire(fixture_file("anthropic-recorded", name + ".sse")) for name in CHOSEN}
MESSAGES = [{"role": "user", "content": "hi"}]


def _stream_for(model: str) -> tuple[bytes, str] | None:
    data = STREAMED.get(model)
    return None if data is None else (data, model)  # reproducible write sizes per recording


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with loopback_server("/v1/messages", _stream_for) as base:
        yield base


def _client(server_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=server_url, max_retries=0, timeout=30)


def _beta(name: str) -> dict[str, Any]:
    return _accumulate(sdk_events(STREAMED[name]), beta=True)


@pytest.mark.parametrize("name", CHOSEN)
def test_fold_of_the_raw_bytes_equals_get_final_message(
    impl: ModuleType, server_url: str, name: str
) -> None:
    # The SDK's own stream over the socket, and the raw bytes over another request.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns on block types its union lacks
        with _client(server_url).messages.stream(
            model=name, max_tokens=1024, messages=MESSAGES
        ) as stream:
            final = stream.get_final_message().to_dict(mode="json")
    parser = impl.StreamParser()
    received = bytearray()
    request = {"model": name, "max_tokens": 1024, "messages": MESSAGES, "stream": True}
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", server_url + "/v1/messages", json=request) as response:
            assert response.status_code == 200
            for read in response.iter_bytes():
                received += read
                parser.feed(read)
    result = parser.finish()
    assert bytes(received) == STREAMED[name]
    assert result == expected_message(final, _beta(name))
    assert parser.summary()["status"] == "complete"
    assert parser.summary()["id"] == final["id"]


@pytest.mark.parametrize("name", CHOSEN)
def test_raw_streaming_response_to_assemble(impl: ModuleType, server_url: str, name: str) -> None:
    client = _client(server_url)
    with client.messages.with_streaming_response.create(
        model=name, max_tokens=1024, messages=MESSAGES, stream=True
    ) as response:
        result = impl.assemble(response.iter_bytes())
    assert result == impl.assemble(STREAMED[name])


async def test_async_httpx_reads_to_aiter_events(impl: ModuleType, server_url: str) -> None:
    name = "anthropic-sdk__tool_use_response"
    request = {"model": name, "max_tokens": 1024, "messages": MESSAGES, "stream": True}
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", server_url + "/v1/messages", json=request) as response:
            events = [event async for event in impl.aiter_events(response.aiter_bytes())]
    assert events[-1].type == "done"
    assert events[-1].completion == impl.assemble(STREAMED[name])
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [(e.index, e.name, json.loads(e.arguments)) for e in done] == [
        (0, "get_weather", {"location": "Paris"})
    ]
    text = "".join(e.delta for e in events if e.type == "content.delta")
    assert text == "I'll check the current weather in Paris for you."
