"""The keyword options every entry point takes, as types ``mypy --strict`` checks.

The defaults live in the native core (``deltafold._core.DEFAULTS``); the pure-Python reference
spells them out again, and ``tests/test_options.py`` checks the two agree.
"""

from __future__ import annotations

from typing import Literal, TypedDict

#: What to do with a bad chunk: raise it, drop it, or repair it (when it can be repaired).
OnError = Literal["raise", "skip", "repair"]

#: The wire format: ``"auto"`` (the default) decides from the first event; the names accepted
#: are those of the formats implemented (an unknown name is a ``ValueError`` listing them).
Format = Literal["auto", "chat", "anthropic", "responses", "gemini", "bedrock"]


class Options(TypedDict, total=False):
    """The options of :func:`~deltafold.assemble` and :func:`~deltafold.iter_completions`."""

    format: Format
    on_error: OnError
    allow_truncated: bool
    max_line_bytes: int
    max_buffer_bytes: int
    max_choice_index: int
    max_tool_calls: int
    max_depth: int
    max_problems: int


class EventOptions(Options, total=False):
    """The options of :func:`~deltafold.iter_events` (events are always on there)."""

    partial_arguments: bool
