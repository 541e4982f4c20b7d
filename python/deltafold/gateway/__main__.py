"""``python -m deltafold.gateway``: run the logging reverse proxy under uvicorn."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence

_DESCRIPTION = """\
A transparent logging reverse proxy for LLM APIs.

Point a client's base URL at the gateway instead of the API (for example
OpenAI(base_url="http://127.0.0.1:8080/v1") with --upstream https://api.openai.com).
Every request goes to the upstream untouched (method, path, query, body, headers and
auth; only hop-by-hop headers and Host are not copied), and every response comes back
as it arrives, byte for byte, streams included.

Beside the byte path deltafold folds each streamed response (and reads each JSON
response body) into one summary: format, model, status, finish_reason, token usage,
text, tool calls, error. One row per response goes to the SQLite table `requests`
(WAL mode, so you can query it while the gateway runs):

  id, started_at, method, path, status_code, format, stream_status, model,
  finish_reason, input_tokens, output_tokens, total_tokens, cached_input_tokens,
  reasoning_tokens, bytes, duration_ms, summary_json

  sqlite3 deltafold-gateway.db "select model, stream_status, total_tokens from requests"

A stream the fold cannot read (a malformed chunk, an unknown format) is still
forwarded untouched; its row says how far the fold got.
"""

_EPILOG = """\
examples:
  python -m deltafold.gateway --upstream https://api.openai.com
  python -m deltafold.gateway --upstream /openai=https://api.openai.com \\
      --upstream /anthropic=https://api.anthropic.com --port 8080 --db usage.db
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deltafold.gateway",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--upstream",
        action="append",
        required=True,
        metavar="[PATH_PREFIX=]URL",
        help="where to forward: a URL for every path, or PATH_PREFIX=URL to forward the paths "
        "under PATH_PREFIX (with the prefix removed); repeat for several upstreams; the "
        "longest matching prefix wins, and a path no prefix matches gets a 404",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (8080; 0: any free port)"
    )
    parser.add_argument(
        "--db", default="deltafold-gateway.db", help="SQLite file for the rows (created if absent)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds an upstream may stay silent before the response is cut (600)",
    )
    parser.add_argument(
        "--no-fold",
        action="store_true",
        help="plain forwarding: rows carry status, size and time, no summary (for comparison)",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level (warning)")
    return parser


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from deltafold.gateway import Gateway, parse_upstreams
    except ImportError as error:
        print(
            f"deltafold.gateway needs the 'gateway' extra (pip install 'deltafold[gateway]'): "
            f"{error}",
            file=sys.stderr,
        )
        return 2
    try:
        routes = parse_upstreams(args.upstream)
    except ValueError as error:
        print(f"deltafold.gateway: {error}", file=sys.stderr)
        return 2
    app = Gateway(routes, args.db, timeout=args.timeout)
    if args.no_fold:
        app.fold = None
    # Bound here rather than by uvicorn so that --port 0 can say which port it got.
    try:
        listener = _listen(args.host, args.port)
    except OSError as error:
        print(
            f"deltafold.gateway: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 3
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"deltafold.gateway: listening on http://{shown}:{port}, rows in {args.db}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    uvicorn.Server(config).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
