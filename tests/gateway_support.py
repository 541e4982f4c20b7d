"""Real processes for the gateway tests: a replaying upstream and a gateway subprocess.

The upstream is a threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port) that replays a
recording chosen by the request: the API path picks the format's folder, the body's ``model``
the file, and it writes the bytes in random sizes. ``x-fault`` asks for a failure:

* ``cut``       - half the stream, then the connection is closed (no chunked terminator);
* ``slow``      - one event every 50 ms (for client disconnects);
* ``bytewise``  - one byte per write;
* ``malformed`` - a chunk of broken JSON after the second event;
* ``429`` / ``500`` - that status with an OpenAI-style JSON error body;
* ``gzip``      - (non-streamed) the JSON body gzip-compressed.

``"stream": false`` gets the non-streamed JSON body: the recording folded by the SDK's own
helper (the oracle), never by deltafold.
"""

from __future__ import annotations

import gzip
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from support import FIXTURES

FOLDERS = {
    "/chat/completions": ("chat", FIXTURES / "openai-recorded"),
    "/messages": ("anthropic", FIXTURES / "anthropic-recorded"),
    "/responses": ("responses", FIXTURES / "responses-recorded"),
}
ERROR_BODIES = {
    429: {
        "error": {
            "message": "Rate limit reached for gpt-4o in organization org-test on tokens per min.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    500: {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
}
MALFORMED = b'data: {"id":"chatcmpl-broken","choices":[{"index":0,"delta":{"content":\n\n'


def sdk_chat_completion(data: bytes) -> dict[str, Any]:
    """The non-streamed body for a chat recording, folded by the openai SDK's helper."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for line in data.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            state.handle_chunk(ChatCompletionChunk.construct(**json.loads(line[6:])))
    body: dict[str, Any] = state.current_completion_snapshot.to_dict()
    body["object"] = "chat.completion"
    return body


def with_malformed_chunk(data: bytes) -> bytes:
    """The recording with :data:`MALFORMED` inserted after its second event."""
    events = data.split(b"\n\n")
    return b"\n\n".join(events[:2]) + b"\n\n" + MALFORMED + b"\n\n".join(events[2:])


class Upstream(ThreadingHTTPServer):
    daemon_threads = True
    # 100 concurrent streams connect at once: the default backlog of 5 would refuse some.
    request_queue_size = 512
    # Every request's headers and path, by its x-test-id; and how its response ended.
    seen: dict[str, dict[str, Any]]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        test_id = self.headers.get("x-test-id", "")
        record: dict[str, Any] = {
            "path": self.path,
            "headers": [(k.lower(), v) for k, v in self.headers.items()],
            "body": raw,
            "outcome": None,
        }
        if test_id:
            self.server.seen[test_id] = record
        request = json.loads(raw)
        api = next((k for k in FOLDERS if self.path.split("?")[0].endswith(k)), None)
        fault = self.headers.get("x-fault", "")
        if api is None:
            self._json(404, {"error": {"message": f"unknown path {self.path}"}})
            return
        if fault in ("429", "500"):
            self._json(int(fault), ERROR_BODIES[int(fault)])
            return
        name, folder = FOLDERS[api]
        path = folder / f"{request.get('model', '')}.sse"
        if not path.is_file():
            self._json(404, {"error": {"message": f"no recording {path.name}"}})
            return
        data = path.read_bytes()
        if not request.get("stream", False):
            if name != "chat":
                self._json(501, {"error": {"message": "non-streamed bodies: chat only"}})
                return
            self._json(200, sdk_chat_completion(data), gzipped=fault == "gzip")
            return
        if fault == "malformed":
            data = with_malformed_chunk(data)
        record["outcome"] = self._stream(data, fault, random.Random(f"{path.name}{test_id}"))

    def _json(self, status: int, body: dict[str, Any], *, gzipped: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if gzipped:
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, data: bytes, fault: str, rng: random.Random) -> str:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-upstream", "replay")
        self.end_headers()
        if fault == "cut":
            data = data[: len(data) // 2]
        if fault == "slow":
            pieces = [event + b"\n\n" for event in data.split(b"\n\n") if event]
        else:
            pieces = []
            position = 0
            while position < len(data):
                if fault == "bytewise":
                    size = 1
                else:
                    size = rng.choice(
                        [rng.randint(1, 8), rng.randint(9, 300), rng.randint(300, 4000)]
                    )
                pieces.append(data[position : position + size])
                position += size
        try:
            for piece in pieces:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                if fault == "slow":
                    time.sleep(0.05)
            if fault == "cut":
                self.close_connection = True
                return "cut"
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return "aborted"
        return "complete"

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def upstream_server() -> Iterator[Upstream]:
    server = Upstream(("127.0.0.1", 0), _Handler)
    server.seen = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class GatewayProcess:
    """``python -m deltafold.gateway`` as a subprocess on an ephemeral port."""

    def __init__(self, upstreams: list[str], db: Path, *extra: str) -> None:
        command = [sys.executable, "-m", "deltafold.gateway", "--port", "0", "--db", str(db)]
        for upstream in upstreams:
            command += ["--upstream", upstream]
        self.db = db
        self.process = subprocess.Popen([*command, *extra], stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"the gateway did not start: {line}{self.process.stderr.read()}")
        self.url = line.split("listening on ")[1].split(",")[0]
        # Keep draining stderr so the gateway never blocks on a full pipe; keep it for asserts.
        self.log: list[str] = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        self._last_id = 0

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def rows(self, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        connection = sqlite3.connect(self.db)
        connection.row_factory = sqlite3.Row
        try:
            return [
                dict(row)
                for row in connection.execute(
                    f"SELECT * FROM requests WHERE {where} ORDER BY id", args
                )
            ]
        finally:
            connection.close()

    def new_rows(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The next ``count`` rows written since the last call (waits for them; fails on
        more or fewer)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows("id > ?", (self._last_id,))
            if len(rows) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        # A row too many would show up within the writer's linger time.
        time.sleep(0.1)
        rows = self.rows("id > ?", (self._last_id,))
        assert len(rows) == count, f"expected {count} new rows, found {len(rows)}: {rows}"
        self._last_id = rows[-1]["id"]
        return rows
