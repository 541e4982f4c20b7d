"""``python -m deltafold [FILE|-] [--events] [--on-error raise|skip|repair]``

Prints the assembled completion as JSON (or, with ``--events``, one JSON line per event).
Without FILE it assembles the bundled example: a streamed text answer.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from typing import IO, Any

import deltafold

EXAMPLE = "text_stream.sse"


def _open(path: str | None) -> IO[bytes]:
    if path is None:
        return resources.files("deltafold").joinpath("examples").joinpath(EXAMPLE).open("rb")
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def _jsonable(event: Any) -> dict[str, Any]:
    d: dict[str, Any] = event.as_dict()
    return d


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deltafold",
        description="Assemble an OpenAI-style chat-completions SSE stream into the whole "
        "chat.completion (printed as JSON).",
    )
    parser.add_argument(
        "file", nargs="?", help="the raw SSE bytes; '-' for stdin; none: the bundled example"
    )
    parser.add_argument("--events", action="store_true", help="print one JSON line per event")
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip", "repair"),
        default="raise",
        help="what to do with a bad chunk (default: raise)",
    )
    args = parser.parse_args(argv)
    try:
        with _open(args.file) as stream:
            if args.events:
                for event in deltafold.iter_events(stream, on_error=args.on_error):
                    print(json.dumps(_jsonable(event), ensure_ascii=False))
            else:
                completion = deltafold.assemble(stream, on_error=args.on_error)
                print(json.dumps(completion, indent=2, ensure_ascii=False))
    except deltafold.DeltafoldError as e:
        print(f"deltafold: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"deltafold: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
