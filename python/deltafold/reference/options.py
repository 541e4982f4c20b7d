"""Option defaults and the checks of option values and of what ``feed`` takes."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Final, Literal

DEFAULT_MAX_LINE_BYTES: Final = 64 << 20
DEFAULT_MAX_BUFFER_BYTES: Final = 256 << 20
DEFAULT_MAX_CHOICE_INDEX: Final = 1024
DEFAULT_MAX_TOOL_CALLS: Final = 1024
DEFAULT_MAX_DEPTH: Final = 128
DEFAULT_MAX_PROBLEMS: Final = 1000
#: The default of every keyword option (read-only); ``tests/test_options.py`` checks that they are
#: the native core's ``deltafold.DEFAULTS``.
DEFAULTS: Final = MappingProxyType(
    {
        "format": "auto",
        "on_error": "raise",
        "events": False,
        "partial_arguments": False,
        "allow_truncated": False,
        "max_line_bytes": DEFAULT_MAX_LINE_BYTES,
        "max_buffer_bytes": DEFAULT_MAX_BUFFER_BYTES,
        "max_choice_index": DEFAULT_MAX_CHOICE_INDEX,
        "max_tool_calls": DEFAULT_MAX_TOOL_CALLS,
        "max_depth": DEFAULT_MAX_DEPTH,
        "max_problems": DEFAULT_MAX_PROBLEMS,
    }
)
# The deepest nesting max_depth may allow: the native core's DEPTH_CEILING (rust/limits.rs).
MAX_DEPTH_CEILING: Final = 254

def _check_limit(option: str, value: Any, lowest: int, highest: int | None = None) -> None:
    """A limit is an ``int`` (not a bool: ``True`` as a byte count is a mistake); any size is
    accepted, one beyond 64 bits meaning no limit in practice."""
    if type(value) is not int:
        raise TypeError(f"{option} must be an int, not {type(value).__name__}")
    if value < lowest:
        kind = "non-negative" if lowest == 0 else "positive"
        raise ValueError(f"{option} must be a {kind} integer, not {value}")
    if highest is not None and value > highest:
        raise ValueError(f"{option} must be at most {highest}, not {value}")


def _check_flag(option: str, value: Any) -> None:
    if type(value) is not bool:
        raise TypeError(f"{option} must be a bool, not {type(value).__name__}")


def _check_on_error(value: Any) -> None:
    if type(value) is not str:
        raise TypeError(f"on_error must be a str, not {type(value).__name__}")
    if value not in ("raise", "skip", "repair"):
        raise ValueError(f"on_error must be 'raise', 'skip' or 'repair', not {value!r}")


def _as_bytes(data: Any) -> bytes:
    """One read: ``bytes`` or ``bytearray``. A str would need an encoding the stream does not
    state, and a memoryview may change under the parser; both are refused."""
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise TypeError(f"feed() takes bytes or bytearray, not {type(data).__name__}")



#: The names ``format=`` may take once every format is built, in the order messages list them.
#: (Defined here until the native facade's ``deltafold._options`` has ``Format``.)
Format = Literal["auto", "chat", "anthropic", "responses", "gemini", "bedrock"]
FORMAT_ORDER: Final = ("auto", "chat", "anthropic", "responses", "gemini", "bedrock")


def _check_format(value: Any, accepted: tuple[str, ...]) -> None:
    """``format=``: a str naming a format that is built (``accepted``, in :data:`FORMAT_ORDER`)."""
    if type(value) is not str:
        raise TypeError(f"format must be a str, not {type(value).__name__}")
    if value not in accepted:
        names = ", ".join(repr(name) for name in accepted)
        raise ValueError(f"format must be one of {names}, not {value!r}")
