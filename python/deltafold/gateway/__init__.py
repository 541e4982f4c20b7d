"""A transparent logging reverse proxy: ``python -m deltafold.gateway``.

Every request is forwarded to its upstream with method, path, query, body and headers (auth
included) untouched, except the hop-by-hop headers and ``Host``; the response comes back as it
arrives, byte for byte (still compressed if the upstream compressed it). Beside the byte path,
deltafold folds each streamed response (``text/event-stream``, AWS event-stream) and reads each
JSON body, and one row per response goes to the SQLite table ``requests``.

The app is a plain ASGI callable (:class:`Gateway`), served by uvicorn; the upstream client is
httpx. Building it on raw ASGI rather than a framework keeps the per-chunk path to one fold call
and one ``send``, and gives the proxy direct control of what a client disconnect or an upstream
failure does to the row and to the other side.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
import orjson

import deltafold
from deltafold._tee import SideFold
from deltafold.gateway._store import COLUMNS, RowWriter

if TYPE_CHECKING:
    from deltafold._options import Format

__all__ = ["COLUMNS", "Folder", "Gateway", "RowWriter", "parse_upstreams", "summarize_body"]

_log = logging.getLogger("deltafold.gateway")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# RFC 9110 7.6.1: meaningful for one connection only, never forwarded. Host is set for the
# upstream's own authority by the client.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_STREAM_TYPES = ("text/event-stream", "application/vnd.amazon.eventstream")
# A JSON body is kept (for its summary) up to this size; a larger one is forwarded unlogged.
_MAX_JSON_BODY = 64 * 1024 * 1024


class Folder(Protocol):
    """What the gateway folds a response with: ``feed`` never raises; ``close`` once."""

    def feed(self, chunk: bytes) -> None: ...

    def close(self, *, ended: bool) -> dict[str, Any] | None: ...


FolderFactory = Callable[[], Folder]


def parse_upstreams(specs: Sequence[str]) -> list[tuple[bytes, httpx.URL]]:
    """``URL`` or ``PATH_PREFIX=URL`` strings to (prefix, URL) routes, longest prefix first."""
    routes: list[tuple[bytes, httpx.URL]] = []
    for spec in specs:
        prefix, separator, url = spec.partition("=")
        if not separator:
            prefix, url = "", spec
        elif not prefix.startswith("/"):
            raise ValueError(f"a path prefix must start with '/': {spec!r}")
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        routes.append((prefix.rstrip("/").encode(), parsed))
    if len({prefix for prefix, _ in routes}) != len(routes):
        raise ValueError("two upstreams have the same path prefix")
    return sorted(routes, key=lambda route: len(route[0]), reverse=True)


def _media_type(headers: httpx.Headers) -> str:
    content_type: str = headers.get("content-type", "")
    return content_type.partition(";")[0].strip().lower()


def _body_format(body: dict[str, Any]) -> str | None:
    # The non-streamed result of each format, told apart by the keys only it has.
    if body.get("object") == "chat.completion":
        return "chat"
    if body.get("type") == "message" and "content" in body:
        return "anthropic"
    if body.get("object") == "response":
        return "responses"
    if "candidates" in body or "usageMetadata" in body or "promptFeedback" in body:
        return "gemini"
    if isinstance(body.get("output"), dict) and "stopReason" in body:
        return "bedrock"
    return None


def format_available(name: str) -> bool:
    """Whether this build folds format ``name`` (a name is accepted only once implemented)."""
    return name in deltafold._core.FORMATS


def _render(body: dict[str, Any], name: str) -> bytes | None:
    # The stream that folds into this body: its summary is then the streamed summary, by the
    # one definition that the fold implements, with no second copy of the rules here.
    if name == "chat":
        return deltafold.to_sse(body)
    try:
        if name == "bedrock":
            render: Callable[..., bytes] = getattr(deltafold, "to_event_stream")  # noqa: B009
            return render(body)
        render_sse: Callable[..., bytes] = deltafold.to_sse
        return render_sse(body, format=name)
    except (AttributeError, TypeError):
        return None  # this build folds the format but cannot render its result yet


def summarize_body(body: bytes) -> dict[str, Any] | None:
    """The summary of a non-streamed JSON response body, or ``None`` if it is none of the
    known results nor an error body.

    A result is rendered as the stream that folds into it and summarized as a stream; an error
    body (``{"error": ...}``) is summarized as the parser sees it when a stream is answered
    with it: ``status`` ``"failed"``, ``error`` set.
    """
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    if "error" in parsed:
        return deltafold.summarize(body)
    name = _body_format(parsed)
    if name is None or not format_available(name):
        return None
    stream = _render(parsed, name)
    if stream is None:
        return None
    return deltafold.summarize(stream, format=cast("Format", name))


class _JsonBody:
    """Keeps a JSON body (up to a cap) and summarizes it at the end."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] | None = []
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        if self._parts is None:
            return
        self._size += len(chunk)
        if self._size > _MAX_JSON_BODY:
            self._parts = None
        else:
            self._parts.append(chunk)

    def close(self, *, ended: bool) -> dict[str, Any] | None:
        if not ended or self._parts is None:
            return None
        return summarize_body(b"".join(self._parts))


class _Decoded:
    """Feeds the decompressed bytes of a ``gzip``/``deflate`` body to a folder (the client
    still gets the compressed bytes)."""

    __slots__ = ("_decompressor", "_folder", "_ok")

    def __init__(self, folder: Folder, encoding: str) -> None:
        self._folder = folder
        # wbits 47 reads gzip or zlib headers; deflate without header is tried on failure.
        self._decompressor = zlib.decompressobj(47 if encoding == "gzip" else zlib.MAX_WBITS)
        self._ok = True

    def feed(self, chunk: bytes) -> None:
        if not self._ok:
            return
        try:
            self._folder.feed(self._decompressor.decompress(chunk))
        except zlib.error:
            self._ok = False

    def close(self, *, ended: bool) -> dict[str, Any] | None:
        return self._folder.close(ended=ended and self._ok)


def _stream_folder() -> Folder:
    return SideFold()


class UpstreamFailed(Exception):
    """The upstream broke off a response already started: the client's connection is
    dropped the same way, so the client sees a cut stream, not a clean end."""


class Gateway:
    """The ASGI app. ``routes`` from :func:`parse_upstreams`; ``db`` a SQLite path.

    ``fold``: the folder for streamed responses (default: deltafold's :class:`SideFold`), or
    ``None`` for plain forwarding (rows then carry only status, size and time).
    """

    def __init__(
        self,
        routes: Sequence[tuple[bytes, httpx.URL]],
        db: str,
        *,
        fold: FolderFactory | None = _stream_folder,
        timeout: float | None = 600.0,
    ) -> None:
        self.routes = list(routes)
        self.db = db
        self.fold = fold
        self.timeout = timeout
        self.writer: RowWriter | None = None
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._proxy(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as error:
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Open the database and the upstream client (uvicorn's lifespan startup)."""
        self.writer = RowWriter(self.db)
        # No cookie is kept between different clients' requests.
        cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=30.0),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=200),
            follow_redirects=False,
            trust_env=False,
            cookies=cookies,
        )

    async def stop(self) -> None:
        """Close the upstream client; write every queued row."""
        if self.client is not None:
            await self.client.aclose()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)

    def _route(self, raw_path: bytes) -> httpx.URL | None:
        for prefix, base in self.routes:
            if raw_path.startswith(prefix) and raw_path[len(prefix) : len(prefix) + 1] in (
                b"",
                b"/",
                b"?",
            ):
                rest = raw_path[len(prefix) :] or b"/"
                return base.copy_with(raw_path=base.raw_path.rstrip(b"/") + rest)
        return None

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        start = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        raw_path: bytes = scope.get("raw_path") or path.encode()
        query: bytes = scope.get("query_string", b"")
        target = self._route(raw_path + (b"?" + query if query else b""))
        client = self.client
        writer = self.writer
        assert client is not None and writer is not None, "the lifespan startup did not run"

        def log(status: int, size: int, summary: dict[str, Any] | None) -> None:
            duration_ms = (time.perf_counter() - start) * 1000.0
            usage = (summary or {}).get("usage") or {}
            writer.put(
                (
                    started_at,
                    method,
                    path,
                    status,
                    summary and summary.get("format"),
                    summary and summary.get("status"),
                    summary and summary.get("model"),
                    summary and summary.get("finish_reason"),
                    usage.get("input_tokens"),
                    usage.get("output_tokens"),
                    usage.get("total_tokens"),
                    usage.get("cached_input_tokens"),
                    usage.get("reasoning_tokens"),
                    size,
                    duration_ms,
                    orjson.dumps(summary).decode() if summary is not None else None,
                )
            )

        if target is None:
            log(404, await _reply_error(send, 404, f"no upstream for path {path!r}"), None)
            return

        connection_listed = _connection_listed(scope["headers"])
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in _HOP_BY_HOP and name != b"host" and name not in connection_listed
        ]
        first = await receive()
        body_read = not first.get("more_body", False)
        content: bytes | AsyncIterator[bytes]
        if body_read:
            content = first.get("body", b"")
        else:

            async def request_body() -> AsyncIterator[bytes]:
                nonlocal body_read
                yield first.get("body", b"")
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        raise UpstreamFailed("the client went away while sending the body")
                    yield message.get("body", b"")
                    if not message.get("more_body", False):
                        body_read = True
                        return

            content = request_body()

        request = httpx.Request(method, target, headers=headers, content=content)
        try:
            response = await client.send(request, stream=True)
        except (httpx.HTTPError, UpstreamFailed) as error:
            # Unreachable, refused, timed out, or the client left while sending its body.
            message = f"upstream unreachable: {type(error).__name__}: {error}"
            log(502, await _reply_error(send, 502, message), None)
            return

        status = response.status_code
        folder = self._folder_for(response)
        size = 0
        ended = False
        client_gone = False
        upstream_error: BaseException | None = None
        # uvicorn's send() returns silently once the client is gone; receive() is what says
        # so, and it only returns then (the request body is read by now).
        disconnect = asyncio.ensure_future(receive()) if body_read else None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": _response_headers(response.headers.raw),
                }
            )
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if folder is not None:
                    folder.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if disconnect is not None and disconnect.done():
                    client_gone = True
                    break
            else:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError as error:
            upstream_error = error
        finally:
            # The row first: under a cancel scope every later await may be cancelled too.
            summary = None
            if folder is not None:
                try:
                    summary = folder.close(ended=ended)
                except Exception:
                    # Never lose the row: it still bills status, size and time.
                    _log.exception("deltafold.gateway: the fold failed on %s %s", method, path)
            log(status, size, summary)
            if disconnect is not None:
                disconnect.cancel()
            await response.aclose()
        if upstream_error is not None and not client_gone:
            raise UpstreamFailed(
                f"upstream broke off the response after {size} bytes: {upstream_error!r}"
            ) from upstream_error

    def _folder_for(self, response: httpx.Response) -> Folder | None:
        media_type = _media_type(response.headers)
        folder: Folder
        if media_type in _STREAM_TYPES:
            if self.fold is None:
                return None
            folder = self.fold()
        elif media_type == "application/json" or media_type.endswith("+json"):
            if self.fold is None:
                return None
            folder = _JsonBody()
        else:
            return None
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            return _Decoded(folder, "gzip" if encoding != "deflate" else "deflate")
        if encoding != "identity":
            return None  # br, zstd, ...: forwarded, not folded
        return folder


def _connection_listed(headers: Sequence[tuple[bytes, bytes]]) -> frozenset[bytes]:
    # Headers named in Connection are hop-by-hop too (RFC 9110 7.6.1).
    listed: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            listed.update(token.strip().lower() for token in value.split(b","))
    return frozenset(listed)


def _response_headers(raw: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    listed = _connection_listed(raw)
    return [
        (name, value)
        for name, value in raw
        if (lowered := name.lower()) not in _HOP_BY_HOP and lowered not in listed
    ]


async def _reply_error(send: Send, status: int, message: str) -> int:
    body = orjson.dumps({"error": {"message": message, "type": "gateway_error"}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return len(body)
