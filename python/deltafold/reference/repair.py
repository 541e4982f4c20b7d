"""The structural repair ``on_error="repair"`` applies to a chunk's JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deltafold.reference.json import _WS

# Repair tokens: whitespace, complete string, unterminated string (only at the end of input),
# structural character, or a run of scalar characters (copied verbatim, never judged).
_REPAIR_TOKEN = re.compile(
    rb"(?P<ws>[ \t\n\r]+)"
    rb'|(?P<str>"[^"\\]*(?:\\.[^"\\]*)*")'
    rb'|(?P<open_str>"[^"\\]*(?:\\.[^"\\]*)*\\?\Z)'
    rb"|(?P<punct>[{}\[\],:])"
    rb'|(?P<scalar>[^ \t\n\r{}\[\],:"]+)',
    re.DOTALL,
)

_OBJECT, _ARRAY = 0, 1
# Phases of an open container: what it expects next.
_KEY, _COLON, _VALUE, _AFTER = 0, 1, 2, 3
_CLOSER = {_OBJECT: b"}", _ARRAY: b"]"}


def repair_chunk_json(payload: bytes) -> bytes | None:
    """Repair stray brackets and commas and missing closers; ``None`` if nothing was changed.

    Works on tokens outside strings, keeping a stack of open containers (see the behaviour
    contract, "Repair algorithm"). Strings and scalars are copied verbatim; whether the result
    is valid JSON is for the caller to find out.
    """
    out: list[bytes] = []
    # Each frame: [kind, phase].
    stack: list[list[int]] = []
    changed = False
    tokens = [(m.lastgroup, m.group()) for m in _REPAIR_TOKEN.finditer(payload)]
    for position, (kind, text) in enumerate(tokens):
        top = stack[-1] if stack else None
        if kind == "ws":
            out.append(text)
        elif kind == "str" or kind == "open_str":
            if top is not None and top[0] == _OBJECT and top[1] == _KEY:
                top[1] = _COLON
            elif top is not None:
                top[1] = _AFTER
            out.append(text)
        elif kind == "scalar":
            if top is not None:
                top[1] = _AFTER
            out.append(text)
        elif text in (b"{", b"["):
            if top is not None and top[0] == _OBJECT and top[1] == _KEY:
                changed = True  # rule 1: a container where an object key belongs
                continue
            if top is not None:
                top[1] = _AFTER
            stack.append([_OBJECT if text == b"{" else _ARRAY, _KEY if text == b"{" else _VALUE])
            out.append(text)
        elif text in (b"}", b"]"):
            if top is None or _CLOSER[top[0]] != text:
                changed = True  # rule 2: a closer that matches nothing open
                continue
            stack.pop()
            out.append(text)
        elif text == b",":
            following = _next_significant(tokens, position + 1)
            if following in (b"}", b"]", b","):
                changed = True  # rule 3: a comma before a closer or another comma
                continue
            if top is not None:
                top[1] = _KEY if top[0] == _OBJECT else _VALUE
            out.append(text)
        else:  # ":"
            if top is not None and top[0] == _OBJECT and top[1] == _COLON:
                top[1] = _VALUE
            out.append(text)

    # Rule 4: end of input.
    if tokens and tokens[-1][0] == "open_str":
        out.append(b'"')
        changed = True
    top = stack[-1] if stack else None
    if top is not None and top[0] == _OBJECT:
        if top[1] == _COLON:
            out.append(b":null")
            changed = True
            top[1] = _AFTER
        elif top[1] == _VALUE:
            out.append(b"null")
            changed = True
            top[1] = _AFTER
    last = len(out) - 1
    while last >= 0 and not out[last].strip(_WS):
        last -= 1
    if last >= 0 and out[last] == b",":
        del out[last]
        changed = True
    for frame in reversed(stack):
        out.append(_CLOSER[frame[0]])
        changed = True
    return b"".join(out) if changed else None


def _next_significant(tokens: Sequence[tuple[str | None, bytes]], start: int) -> bytes | None:
    # Whitespace runs are single tokens, so the next token or the one after it is significant.
    for position in range(start, min(start + 2, len(tokens))):
        kind, text = tokens[position]
        if kind != "ws":
            return text
    return None


