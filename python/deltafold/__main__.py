"""``python -m deltafold [FILE|-] [--events | --all | --summary] [--format F] [--on-error M]``

Prints the assembled completion as JSON (with ``--events``, one JSON line per event; with
``--all``, one JSON line per completion of a capture holding many streams; with ``--summary``,
the cross-format summary, printed even when the stream ended in an error). Without FILE it
assembles the bundled example: a streamed text answer.

What went wrong goes to stderr, one line each: the error that stopped the run, and every
problem that ``--on-error skip``/``repair`` (or data after ``[DONE]``) recorded, with its
position. The exit status says which (see ``EXIT_STATUS``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from importlib import resources
from typing import IO, Any

import deltafold
from deltafold import _core
from deltafold._source import iter_reads

EXAMPLE = "text_stream.sse"

OK = 0
BAD_INPUT = 1
USAGE = 2  # what argparse exits with on bad arguments
IO_ERROR = 3
RECOVERED = 4

EXIT_STATUS = """\
exit status:
  0  the input was a clean stream: no error and no problem
  1  bad input: an error stopped the run (one line on stderr; what came before it
     was printed)
  2  usage: bad arguments
  3  I/O: the input could not be read or the output could not be written
  4  bad input, recovered: --on-error skip/repair skipped or repaired something,
     or data followed [DONE]; the result was printed and each problem is one line
     on stderr
"""


def _open(path: str | None) -> IO[bytes]:
    if path is None:
        return resources.files("deltafold").joinpath("examples").joinpath(EXAMPLE).open("rb")
    if path == "-":
        return sys.stdin.buffer
    return open(path, "rb")


def _jsonable(event: Any) -> dict[str, Any]:
    d: dict[str, Any] = event.as_dict()
    return d


def _print_json_line(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def _where(problem: deltafold.Problem) -> str:
    where = f"at byte {problem.byte_offset}"
    if problem.event_index is not None:
        where += f" (event {problem.event_index})"
    return where


class _ProblemReporter:
    """Prints each problem a parser records, once, as it is recorded."""

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._printed = 0
        self._cap_reached = False

    def flush(self) -> None:
        if self._cap_reached:
            return  # the kept list no longer changes; only the dropped count grows
        problems = self._parser.problems
        for problem in problems[self._printed :]:
            print(
                f"deltafold: {problem.kind} {problem.action} {_where(problem)}: {problem.message}",
                file=sys.stderr,
            )
        self._printed = len(problems)
        self._cap_reached = self._parser.problems_dropped > 0

    def finish(self) -> int:
        """Prints what is left; returns how many problems there were in all."""
        self.flush()
        dropped: int = self._parser.problems_dropped
        if dropped:
            print(f"deltafold: {dropped} more problems not listed (max_problems)", file=sys.stderr)
        return self._printed + dropped


def _fold(
    stream: IO[bytes], parser: Any, on_output: Callable[[Any], None], finish: Callable[[], Any]
) -> int:
    reporter = _ProblemReporter(parser)
    try:
        for piece in iter_reads(stream):
            for item in parser.feed(piece):
                on_output(item)
            reporter.flush()
        finish()
    finally:
        problems = reporter.finish()
    return problems


def _run(stream: IO[bytes], args: argparse.Namespace) -> int:
    """Folds the input and prints the result; returns how many problems were recorded."""
    if args.all:
        capture = _core.CaptureParser(format=args.format, on_error=args.on_error)

        def finish_capture() -> None:
            for completion in capture.finish():
                _print_json_line(completion)

        return _fold(stream, capture, _print_json_line, finish_capture)
    parser = deltafold.StreamParser(format=args.format, on_error=args.on_error, events=args.events)
    if args.summary:

        def print_summary() -> None:
            print(json.dumps(parser.summary(), indent=2, ensure_ascii=False))

        try:
            return _fold(stream, parser, lambda _: None, parser.finish)
        finally:
            # The summary is what a gateway bills on: printed however the stream ended.
            print_summary()
    if args.events:

        def finish_events() -> None:
            for event in parser.finish_events():
                _print_json_line(_jsonable(event))

        return _fold(stream, parser, lambda e: _print_json_line(_jsonable(e)), finish_events)

    def finish_completion() -> None:
        print(json.dumps(parser.finish(), indent=2, ensure_ascii=False))

    return _fold(stream, parser, lambda _: None, finish_completion)


def _replay(args: argparse.Namespace) -> int:
    """``--summary --all``: one JSON line per stream of every capture file."""
    for row in deltafold.replay(args.files or [], format=args.format, on_error=args.on_error):
        _print_json_line(row)
    return 0


def _prog() -> str:
    """The name the user typed: ``deltafold`` (console script) or ``python -m deltafold``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name in ("", "__main__.py", "-c", "-m") or name.startswith("python"):
        return "python -m deltafold"
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Assemble a streamed LLM response (OpenAI Chat Completions, Anthropic "
        "Messages) into the whole result (printed as JSON).",
        epilog=EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="the raw SSE bytes; '-' for stdin; none: the bundled example. Several files only "
        "with --summary --all",
    )
    parser.add_argument("--events", action="store_true", help="print one JSON line per event")
    parser.add_argument(
        "--all",
        action="store_true",
        help="the input is a capture of many streams, each ended by its end marker: print "
        "every completion, one JSON line each (with --summary: every stream's summary, with "
        "its file and position, for each FILE)",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print the cross-format summary (status, usage, text, tool calls, ...)",
    )
    parser.add_argument(
        "--format",
        choices=("auto", *_core.FORMATS),
        default="auto",
        help="the wire format (default: auto, decided from the first event)",
    )
    parser.add_argument(
        "--on-error",
        choices=("raise", "skip", "repair"),
        default="raise",
        help="what to do with a bad chunk (default: raise)",
    )
    args = parser.parse_args(argv)
    if args.events and (args.all or args.summary):
        parser.error("--events goes with neither --all nor --summary")
    replay = args.summary and args.all
    if replay and (not args.files or "-" in args.files):
        parser.error("--summary --all reads capture files: name at least one (not '-')")
    if not replay and len(args.files) > 1:
        parser.error("several files only with --summary --all")
    args.file = args.files[0] if args.files else None
    try:
        if replay:
            return _replay(args)
        with _open(args.file) as stream:
            problems = _run(stream, args)
        sys.stdout.flush()
    except deltafold.DeltafoldError as e:
        print(f"deltafold: {type(e).__name__}: {e}", file=sys.stderr)
        return BAD_INPUT
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            # The reader went away: nothing more can be written, and the interpreter must not
            # fail again flushing stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"deltafold: {e}", file=sys.stderr)
        return IO_ERROR
    return RECOVERED if problems else OK


if __name__ == "__main__":
    sys.exit(main())
