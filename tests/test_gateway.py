"""``python -m deltafold.gateway`` end to end, with real processes and the official clients.

A replaying upstream (tests/gateway_support.py) serves recordings at random write sizes; the
gateway runs as a uvicorn subprocess in front of it. The official ``openai`` and ``anthropic``
clients are pointed once at the upstream directly and once at the gateway: the bytes they
receive must be identical, and what the SDK folds (the oracle) must equal the row's
``summary_json`` and columns. Every test checks every row it caused.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from deltafold.gateway import format_available
from gateway_support import (
    ERROR_BODIES,
    FOLDERS,
    MALFORMED,
    GatewayProcess,
    Upstream,
    upstream_server,
    with_malformed_chunk,
)
from openai.lib.streaming.chat import ChatCompletionStreamState

CHAT = [
    "parse_nothing",
    "parse_multiple_pydantic_tools",
    "parse_max_tokens_reached",
    "content_logprobs_events",
    "parse_pydantic_model_multiple_choices__v20240807",
]
ANTHROPIC = [
    "anthropic__anthropic-text",
    "anthropic__anthropic-json-tool.1",
    "anthropic__anthropic-clear-thinking.1",
    "anthropic__anthropic-web-search-tool.1",
]
RESPONSES = ["openai__openai-phase.1", "azure__azure-tool-call.1"]
MESSAGES = [{"role": "user", "content": "hi"}]
HEADERS = (
    "id",
    "started_at",
    "method",
    "path",
    "status_code",
    "format",
    "stream_status",
    "model",
    "finish_reason",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "bytes",
    "duration_ms",
    "summary_json",
)


def need_format(name: str) -> None:
    # Formats land on other branches; a test that needs one this build lacks says so.
    if not format_available(name):
        pytest.skip(reason=f"format {name} not in this build")


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with upstream_server() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    db = tmp_path_factory.mktemp("gateway") / "rows.db"
    process = GatewayProcess([upstream.url, f"/anthropic={upstream.url}"], db)
    try:
        yield process
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit status -15).
        assert process.stop() in (0, -15), "".join(process.log)


def openai_client(base: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=base + "/v1", max_retries=0, timeout=30)


def anthropic_client(base: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=base, max_retries=0, timeout=30)


# -- the oracle: the summary of a final SDK object, computed here from docs/formats.md's rules --

_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}


def _finish(raw: str | None, has_tools: bool) -> str | None:
    normalised = _FINISH.get(raw) if raw is not None else None
    return "tool_calls" if normalised == "stop" and has_tools else normalised


def chat_summary(completion: dict[str, Any]) -> dict[str, Any]:
    choice = next(c for c in completion["choices"] if c["index"] == 0)
    message = choice["message"]
    calls = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in message.get("tool_calls") or []
    ]
    usage = completion.get("usage") or {}
    raw = choice.get("finish_reason")
    return {
        "format": "chat",
        "id": completion["id"],
        "model": completion["model"],
        "status": "complete",
        "finish_reason": _finish(raw, bool(calls)),
        "stop_reason": raw,
        "usage": {
            "input_tokens": usage.get("prompt_tokens"),
            "output_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cached_input_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
            "cache_write_tokens": None,
            "reasoning_tokens": (usage.get("completion_tokens_details") or {}).get(
                "reasoning_tokens"
            ),
        },
        "text": message.get("content") or "",
        "reasoning": "",
        "tool_calls": calls,
        "error": None,
    }


def anthropic_summary(message: dict[str, Any]) -> dict[str, Any]:
    usage = message["usage"]
    cache_read = usage.get("cache_read_input_tokens")
    cache_write = usage.get("cache_creation_input_tokens")
    input_tokens = usage["input_tokens"] + (cache_read or 0) + (cache_write or 0)
    calls = [
        {"id": b["id"], "name": b["name"], "arguments": b["input"]}
        for b in message["content"]
        if b["type"] == "tool_use"
    ]
    return {
        "format": "anthropic",
        "id": message["id"],
        "model": message["model"],
        "status": "complete",
        "finish_reason": _finish(message["stop_reason"], bool(calls)),
        "stop_reason": message["stop_reason"],
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": usage["output_tokens"],
            "total_tokens": input_tokens + usage["output_tokens"],
            "cached_input_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "reasoning_tokens": None,
        },
        "text": "".join(b["text"] for b in message["content"] if b["type"] == "text"),
        "reasoning": "".join(b["thinking"] for b in message["content"] if b["type"] == "thinking"),
        "tool_calls": calls,
        "error": None,
    }


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    # Tool arguments are a JSON text in the summary; the Anthropic SDK gives the parsed input.
    out = dict(summary)
    out["tool_calls"] = [
        {
            **c,
            "arguments": json.loads(c["arguments"])
            if isinstance(c["arguments"], str) and c["arguments"].strip()
            else c["arguments"],
        }
        for c in summary["tool_calls"]
    ]
    return out


def check_row(
    row: dict[str, Any],
    *,
    path: str,
    status_code: int,
    size: int,
    summary: dict[str, Any] | None,
    method: str = "POST",
) -> None:
    """Every column of a row against what the test knows independently."""
    assert tuple(row) == HEADERS
    assert row["method"] == method
    assert row["path"] == path
    assert row["status_code"] == status_code
    assert row["bytes"] == size
    assert row["duration_ms"] > 0
    assert row["started_at"].endswith("+00:00")
    if summary is None:
        assert row["summary_json"] is None
        assert row["format"] is None and row["stream_status"] is None
        return
    logged = json.loads(row["summary_json"])
    assert comparable(logged) == comparable(summary)
    assert list(logged) == list(summary), "summary keys in docs/formats.md order"
    usage = summary["usage"]
    assert (row["format"], row["stream_status"], row["model"], row["finish_reason"]) == (
        summary["format"],
        summary["status"],
        summary["model"],
        summary["finish_reason"],
    )
    assert (
        row["input_tokens"],
        row["output_tokens"],
        row["total_tokens"],
        row["cached_input_tokens"],
        row["reasoning_tokens"],
    ) == (
        usage["input_tokens"],
        usage["output_tokens"],
        usage["total_tokens"],
        usage["cached_input_tokens"],
        usage["reasoning_tokens"],
    )


def raw_chat_bytes(base: str, model: str, **headers: str) -> bytes:
    client = openai_client(base)
    with client.chat.completions.with_streaming_response.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        extra_headers=headers,  # type: ignore[arg-type]
    ) as response:
        return b"".join(response.iter_bytes())


def sdk_chat(base: str, model: str, **headers: str) -> dict[str, Any]:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    stream = openai_client(base).chat.completions.create(
        model=model,
        messages=MESSAGES,
        stream=True,
        extra_headers=headers,  # type: ignore[arg-type]
    )
    for chunk in stream:
        state.handle_chunk(chunk)
    return state.current_completion_snapshot.to_dict()


# -- chat through the official openai client --


@pytest.mark.parametrize("model", CHAT)
def test_openai_chat_stream_identical_and_logged(
    upstream: Upstream, gateway: GatewayProcess, model: str
) -> None:
    recording = (FOLDERS["/chat/completions"][1] / f"{model}.sse").read_bytes()
    direct = raw_chat_bytes(upstream.url, model)
    proxied = raw_chat_bytes(gateway.url, model)
    assert proxied == direct == recording
    completion = sdk_chat(gateway.url, model)
    assert completion == sdk_chat(upstream.url, model)
    rows = gateway.new_rows(2)
    for row in rows:
        check_row(
            row,
            path="/v1/chat/completions",
            status_code=200,
            size=len(recording),
            summary=chat_summary(completion),
        )


def test_openai_chat_non_streamed_json_is_logged(
    upstream: Upstream, gateway: GatewayProcess
) -> None:
    model = "parse_multiple_pydantic_tools"
    client = openai_client(gateway.url)
    response = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
    completion = response.parse().to_dict()
    direct = openai_client(upstream.url).chat.completions.create(model=model, messages=MESSAGES)
    assert completion == direct.to_dict()
    (row,) = gateway.new_rows(1)
    check_row(
        row,
        path="/v1/chat/completions",
        status_code=200,
        size=len(response.http_response.content),
        summary=chat_summary(completion),
    )


def test_gzip_json_body_forwarded_compressed_and_logged(
    upstream: Upstream, gateway: GatewayProcess
) -> None:
    model = "parse_pydantic_model_multiple_choices__v20240807"
    body = json.dumps({"model": model, "messages": MESSAGES}).encode()
    headers = {"x-fault": "gzip", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
    with httpx.Client() as client:
        with client.stream(
            "POST", gateway.url + "/v1/chat/completions", content=body, headers=headers
        ) as response:
            raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    completion = json.loads(gzip.decompress(raw))
    assert completion["object"] == "chat.completion" and len(completion["choices"]) == 3
    (row,) = gateway.new_rows(1)
    check_row(
        row,
        path="/v1/chat/completions",
        status_code=200,
        size=len(raw),
        summary=chat_summary(completion),
    )


def test_headers_auth_and_query_forwarded_hop_by_hop_dropped(
    upstream: Upstream, gateway: GatewayProcess
) -> None:
    body = json.dumps({"model": "parse_nothing", "messages": MESSAGES, "stream": True}).encode()
    headers = {
        "Authorization": "Bearer sk-secret-123",
        "x-test-id": "headers",
        "OpenAI-Organization": "org-1",
        "Keep-Alive": "timeout=5",
        "Connection": "keep-alive, x-drop-me",
        "x-drop-me": "1",
        "Content-Type": "application/json",
    }
    with httpx.Client() as client:
        response = client.post(
            gateway.url + "/v1/chat/completions?api-version=2024-06-01",
            content=body,
            headers=headers,
        )
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "replay"
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    seen = upstream.seen["headers"]
    assert seen["path"] == "/v1/chat/completions?api-version=2024-06-01"
    assert seen["body"] == body
    received = dict(seen["headers"])
    assert received["authorization"] == "Bearer sk-secret-123"
    assert received["openai-organization"] == "org-1"
    assert received["host"] == upstream.url.removeprefix("http://")
    for hop in ("keep-alive", "x-drop-me", "connection"):
        assert hop not in received or (hop == "connection" and "x-drop-me" not in received[hop])
    (row,) = gateway.new_rows(1)
    assert row["path"] == "/v1/chat/completions" and row["stream_status"] == "complete"


def test_path_outside_prefixes_goes_to_default_route(gateway: GatewayProcess) -> None:
    with httpx.Client() as client:
        response = client.get(gateway.url + "/anthropicx/v1/models")
    # Prefixes end at a path segment, so /anthropicx is the default route's: the replaying
    # upstream has no GET (BaseHTTPRequestHandler answers 501 with an HTML page).
    assert response.status_code == 501
    (row,) = gateway.new_rows(1)
    check_row(
        row,
        path="/anthropicx/v1/models",
        status_code=501,
        size=len(response.content),
        summary=None,
        method="GET",
    )


# -- anthropic through the official anthropic client (prefix route /anthropic) --


@pytest.mark.parametrize("model", ANTHROPIC)
def test_anthropic_stream_identical_and_logged(
    upstream: Upstream, gateway: GatewayProcess, model: str
) -> None:
    need_format("anthropic")
    recording = (FOLDERS["/messages"][1] / f"{model}.sse").read_bytes()
    received = []
    for base in (upstream.url, gateway.url + "/anthropic"):
        with anthropic_client(base).messages.with_streaming_response.create(
            model=model,
            max_tokens=100,
            messages=MESSAGES,
            stream=True,  # type: ignore[arg-type]
        ) as response:
            received.append(b"".join(response.iter_bytes()))
    assert received[0] == received[1] == recording
    with anthropic_client(gateway.url + "/anthropic").messages.stream(
        model=model,
        max_tokens=100,
        messages=MESSAGES,  # type: ignore[arg-type]
    ) as stream:
        message = stream.get_final_message().to_dict()
    rows = gateway.new_rows(2)
    for row in rows:
        check_row(
            row,
            path="/anthropic/v1/messages",
            status_code=200,
            size=len(recording),
            summary=anthropic_summary(message),
        )


# -- responses through the official openai client --


@pytest.mark.parametrize("model", RESPONSES)
def test_openai_responses_stream_identical_and_logged(
    upstream: Upstream, gateway: GatewayProcess, model: str
) -> None:
    need_format("responses")
    recording = (FOLDERS["/responses"][1] / f"{model}.sse").read_bytes()
    received = []
    for base in (upstream.url, gateway.url):
        with openai_client(base).responses.with_streaming_response.create(
            model=model, input="hi", stream=True
        ) as response:
            received.append(b"".join(response.iter_bytes()))
    assert received[0] == received[1] == recording
    final = None
    for event in openai_client(gateway.url).responses.create(model=model, input="hi", stream=True):
        if event.type in ("response.completed", "response.incomplete", "response.failed"):
            final = event.response
    assert final is not None
    rows = gateway.new_rows(2)
    for row in rows:
        logged = json.loads(row["summary_json"])
        usage = final.usage
        assert row["status_code"] == 200 and row["bytes"] == len(recording)
        assert row["format"] == "responses"
        assert (logged["id"], logged["model"]) == (final.id, final.model)
        assert logged["text"] == final.output_text
        assert logged["status"] == "complete"
        assert usage is not None
        assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (
            usage.input_tokens,
            usage.output_tokens,
            usage.total_tokens,
        )
        calls = [
            (o.call_id, o.name, o.arguments) for o in final.output if o.type == "function_call"
        ]
        assert [(c["id"], c["name"], c["arguments"]) for c in logged["tool_calls"]] == calls


# -- faults: each checks the client's view (against a direct connection) and the row --


def _httpx_stream(
    base: str, model: str, fault: str, *, stop_after: int | None = None, test_id: str = ""
) -> tuple[bytes, str | None]:
    """Bytes a plain client receives, and the name of the error that ended the read."""
    received = bytearray()
    body = {"model": model, "messages": MESSAGES, "stream": True}
    headers = {"x-fault": fault, "x-test-id": test_id}
    try:
        with (
            httpx.Client(timeout=30) as client,
            client.stream(
                "POST", base + "/v1/chat/completions", json=body, headers=headers
            ) as response,
        ):
            for reads, data in enumerate(response.iter_bytes(), 1):
                received += data
                if stop_after is not None and reads >= stop_after:
                    break
    except httpx.HTTPError as error:
        return bytes(received), type(error).__name__
    return bytes(received), None


def test_fault_upstream_closes_mid_stream(upstream: Upstream, gateway: GatewayProcess) -> None:
    model = "parse_multiple_pydantic_tools"
    recording = (FOLDERS["/chat/completions"][1] / f"{model}.sse").read_bytes()
    direct = _httpx_stream(upstream.url, model, "cut")
    proxied = _httpx_stream(gateway.url, model, "cut")
    assert direct == proxied == (recording[: len(recording) // 2], "RemoteProtocolError")
    # The openai client fails the same way both ways.
    errors = []
    for base in (upstream.url, gateway.url):
        with pytest.raises(openai.APIError) as caught:
            for _ in openai_client(base).chat.completions.create(
                model=model, messages=MESSAGES, stream=True, extra_headers={"x-fault": "cut"}
            ):
                pass
        errors.append(type(caught.value))
    assert errors[0] is errors[1]
    rows = gateway.new_rows(2)
    for row in rows:
        assert row["status_code"] == 200 and row["bytes"] == len(recording) // 2
        assert row["stream_status"] == "incomplete" and row["finish_reason"] is None
        logged = json.loads(row["summary_json"])
        assert logged["status"] == "incomplete" and logged["usage"]["total_tokens"] is None
        # The id and model of the chunks that did arrive are kept.
        assert logged["id"] == json.loads(recording.split(b"\n")[0][6:])["id"]


def test_fault_client_disconnects_mid_stream(upstream: Upstream, gateway: GatewayProcess) -> None:
    model = "parse_multiple_pydantic_tools"
    recording = (FOLDERS["/chat/completions"][1] / f"{model}.sse").read_bytes()
    events = recording.count(b"\n\n")
    start = time.monotonic()
    received, error = _httpx_stream(gateway.url, model, "slow", stop_after=3, test_id="gone")
    assert error is None and 0 < len(received) < len(recording)
    assert recording.startswith(received)
    (row,) = gateway.new_rows(1)
    # The gateway noticed within a few events, long before the upstream's last one.
    assert row["duration_ms"] < events * 50 / 2
    assert row["stream_status"] == "incomplete" and row["status_code"] == 200
    assert len(received) <= row["bytes"] < len(recording)
    assert recording.startswith(b"")
    # And it hung up on the upstream, which stops generating (and billing).
    deadline = time.monotonic() + 10
    while upstream.seen["gone"]["outcome"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert upstream.seen["gone"]["outcome"] == "aborted"
    assert time.monotonic() - start < events * 0.05


def test_fault_malformed_chunk_forwarded_and_folded_around(
    upstream: Upstream, gateway: GatewayProcess
) -> None:
    model = "parse_nothing"
    recording = (FOLDERS["/chat/completions"][1] / f"{model}.sse").read_bytes()
    sent = with_malformed_chunk(recording)
    assert MALFORMED in sent
    direct = _httpx_stream(upstream.url, model, "malformed")
    proxied = _httpx_stream(gateway.url, model, "malformed")
    assert direct == proxied == (sent, None)
    # The openai client itself chokes on the broken chunk, the same way both ways.
    errors = []
    for base in (upstream.url, gateway.url):
        with pytest.raises(ValueError) as caught:
            for _ in openai_client(base).chat.completions.create(
                model=model, messages=MESSAGES, stream=True, extra_headers={"x-fault": "malformed"}
            ):
                pass
        errors.append(type(caught.value))
    assert errors[0] is errors[1]
    # The row holds the whole stream's summary: the broken chunk was skipped.
    expected = chat_summary(sdk_chat(upstream.url, model))
    httpx_row, client_row = gateway.new_rows(2)
    check_row(
        httpx_row, path="/v1/chat/completions", status_code=200, size=len(sent), summary=expected
    )
    # The openai client hangs up at the broken chunk. Whether the gateway forwarded the rest
    # before it noticed depends on timing (it checks between upstream chunks): a whole row, or
    # one cut after the broken chunk and marked incomplete.
    if client_row["bytes"] == len(sent):
        check_row(
            client_row,
            path="/v1/chat/completions",
            status_code=200,
            size=len(sent),
            summary=expected,
        )
    else:
        assert sent.index(MALFORMED) + len(MALFORMED) <= client_row["bytes"] < len(sent)
        assert client_row["status_code"] == 200
        assert client_row["stream_status"] == "incomplete"
        assert json.loads(client_row["summary_json"])["id"] == expected["id"]


@pytest.mark.parametrize("status", [429, 500])
def test_fault_upstream_error_status_with_json_body(
    upstream: Upstream, gateway: GatewayProcess, status: int
) -> None:
    caught = []
    for base in (upstream.url, gateway.url):
        with pytest.raises(openai.APIStatusError) as error:
            openai_client(base).chat.completions.create(
                model="parse_nothing",
                messages=MESSAGES,
                stream=True,
                extra_headers={"x-fault": str(status)},
            )
        caught.append((type(error.value), error.value.status_code, error.value.body))
    assert caught[0] == caught[1]
    assert caught[1][1] == status and caught[1][2] == ERROR_BODIES[status]["error"]
    (row,) = gateway.new_rows(1)
    body = json.dumps(ERROR_BODIES[status]).encode()
    assert row["status_code"] == status and row["bytes"] == len(body)
    assert row["stream_status"] == "failed" and row["finish_reason"] == "error"
    logged = json.loads(row["summary_json"])
    assert logged["status"] == "failed"
    assert logged["error"] in (ERROR_BODIES[status], ERROR_BODIES[status]["error"])
    assert logged["usage"]["total_tokens"] is None


def test_fault_upstream_writes_one_byte_at_a_time(
    upstream: Upstream, gateway: GatewayProcess
) -> None:
    model = "parse_strict_tools"
    recording = (FOLDERS["/chat/completions"][1] / f"{model}.sse").read_bytes()
    assert raw_chat_bytes(gateway.url, model, **{"x-fault": "bytewise"}) == recording
    completion = sdk_chat(gateway.url, model, **{"x-fault": "bytewise"})
    assert completion == sdk_chat(upstream.url, model)
    rows = gateway.new_rows(2)
    for row in rows:
        check_row(
            row,
            path="/v1/chat/completions",
            status_code=200,
            size=len(recording),
            summary=chat_summary(completion),
        )


def test_100_concurrent_streams_every_row(upstream: Upstream, gateway: GatewayProcess) -> None:
    models = [CHAT[i % len(CHAT)] for i in range(100)]

    async def one(client: openai.AsyncOpenAI, model: str) -> dict[str, Any]:
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
        async for chunk in stream:
            state.handle_chunk(chunk)
        return state.current_completion_snapshot.to_dict()

    async def run() -> list[dict[str, Any]]:
        client = openai.AsyncOpenAI(
            api_key="sk-test",
            base_url=gateway.url + "/v1",
            max_retries=0,
            timeout=60,
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
            ),
        )
        async with client:
            return await asyncio.gather(*(one(client, model) for model in models))

    completions = asyncio.run(run())
    rows = gateway.new_rows(100)
    sizes = {m: len((FOLDERS["/chat/completions"][1] / f"{m}.sse").read_bytes()) for m in CHAT}
    expected = sorted(json.dumps(comparable(chat_summary(c)), sort_keys=True) for c in completions)
    logged = sorted(
        json.dumps(comparable(json.loads(r["summary_json"])), sort_keys=True) for r in rows
    )
    assert logged == expected
    for row in rows:
        assert row["status_code"] == 200 and row["stream_status"] == "complete"
    assert sorted(r["bytes"] for r in rows) == sorted(sizes[m] for m in models)


def test_prefix_route_404_shutdown_flush_and_help(tmp_path: Path, upstream: Upstream) -> None:
    import subprocess
    import sys

    help_text = subprocess.run(
        [sys.executable, "-m", "deltafold.gateway", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for word in (
        "--upstream",
        "PATH_PREFIX=URL",
        "--db",
        "--host",
        "--port",
        "requests",
        "summary_json",
        "base_url",
    ):
        assert word in help_text
    # A port nothing listens on: bind one, note it, close it.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    process = GatewayProcess(
        [f"/openai={upstream.url}", f"/dead=http://127.0.0.1:{dead}"], tmp_path / "rows.db"
    )
    try:
        assert (
            raw_chat_bytes(process.url + "/openai", "parse_nothing")
            == (FOLDERS["/chat/completions"][1] / "parse_nothing.sse").read_bytes()
        )
        with httpx.Client() as client:
            missing = client.post(process.url + "/other/v1/chat/completions", json={})
            unreachable = client.post(process.url + "/dead/v1/chat/completions", json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "gateway_error"
        assert unreachable.status_code == 502
        assert unreachable.json()["error"]["message"].startswith("upstream unreachable")
    finally:
        assert process.stop() in (0, -15)
    # The shutdown wrote the queued rows; the database is in WAL mode.
    first, second, third = process.rows()
    assert first["path"] == "/openai/v1/chat/completions"
    assert first["stream_status"] == "complete" and first["model"] == "gpt-4o-2024-08-06"
    check_row(
        second,
        path="/other/v1/chat/completions",
        status_code=404,
        size=len(missing.content),
        summary=None,
    )
    check_row(
        third,
        path="/dead/v1/chat/completions",
        status_code=502,
        size=len(unreachable.content),
        summary=None,
    )
    import sqlite3

    assert sqlite3.connect(tmp_path / "rows.db").execute("PRAGMA journal_mode").fetchone() == (
        "wal",
    )
