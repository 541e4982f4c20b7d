"""Hypothesis strategies for Responses API streams (exported by :mod:`deltafold.testing`)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from deltafold._render_responses import render_responses

__all__ = ["responses", "responses_streams"]

_TEXT = st.text(max_size=40)
_ID = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)
_ARGUMENTS = st.one_of(
    st.just(""),
    st.dictionaries(
        st.text(max_size=6),
        st.one_of(st.integers(-(10**9), 10**9), st.text(max_size=10)),
        max_size=3,
    ).map(lambda d: orjson.dumps(d).decode()),
    _TEXT,
)

_ANNOTATION = st.fixed_dictionaries(
    {
        "type": st.just("url_citation"),
        "start_index": st.integers(0, 100),
        "end_index": st.integers(0, 100),
        "url": st.text(max_size=20),
        "title": _TEXT,
    }
)

_LOGPROB = st.fixed_dictionaries(
    {
        "token": st.text(max_size=4),
        "logprob": st.floats(-20, 0, allow_nan=False),
        "bytes": st.lists(st.integers(0, 255), max_size=4),
        "top_logprobs": st.just([]),
    }
)


@st.composite
def _output_text(draw: st.DrawFn) -> dict[str, Any]:
    part: dict[str, Any] = {
        "type": "output_text",
        "text": draw(_TEXT),
        "annotations": draw(st.lists(_ANNOTATION, max_size=2)),
    }
    if draw(st.booleans()):
        part["logprobs"] = draw(st.lists(_LOGPROB, max_size=3))
    return part


_PART = st.one_of(
    _output_text(),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": _TEXT}),
)


def _message(item_id: str) -> Any:
    return st.fixed_dictionaries(
        {
            "id": st.just(item_id),
            "type": st.just("message"),
            "status": st.just("completed"),
            "role": st.just("assistant"),
            "content": st.lists(_PART, max_size=3),
        }
    )


def _call(item_id: str) -> Any:
    return st.fixed_dictionaries(
        {
            "id": st.just(item_id),
            "type": st.just("function_call"),
            "status": st.just("completed"),
            "call_id": _ID,
            "name": _ID,
            "arguments": _ARGUMENTS,
        }
    )


def _custom(item_id: str) -> Any:
    return st.fixed_dictionaries(
        {
            "id": st.just(item_id),
            "type": st.just("custom_tool_call"),
            "call_id": _ID,
            "name": _ID,
            "input": _TEXT,
        }
    )


def _reasoning(item_id: str) -> Any:
    summary = st.lists(
        st.fixed_dictionaries({"type": st.just("summary_text"), "text": _TEXT}), max_size=2
    )
    return st.fixed_dictionaries(
        {"id": st.just(item_id), "type": st.just("reasoning"), "summary": summary}
    )


def _other(item_id: str) -> Any:
    return st.fixed_dictionaries(
        {
            "id": st.just(item_id),
            "type": st.just("web_search_call"),
            "status": st.just("completed"),
            "action": st.fixed_dictionaries({"type": st.just("search"), "query": _TEXT}),
        }
    )


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    """A Responses API ``response``: messages (text with annotations and logprobs, refusals),
    function and custom tool calls, reasoning summaries and server tool items, with usage."""
    count = draw(st.integers(0, 4))
    output = [
        draw(
            st.one_of(
                _message(f"item_{n}"),
                _call(f"item_{n}"),
                _custom(f"item_{n}"),
                _reasoning(f"item_{n}"),
                _other(f"item_{n}"),
            )
        )
        for n in range(count)
    ]
    status = draw(st.sampled_from(["completed", "completed", "incomplete", "failed"]))
    usage = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "input_tokens": st.integers(0, 10**6),
                    "input_tokens_details": st.fixed_dictionaries(
                        {"cached_tokens": st.integers(0, 1000)}
                    ),
                    "output_tokens": st.integers(0, 10**6),
                    "output_tokens_details": st.fixed_dictionaries(
                        {"reasoning_tokens": st.integers(0, 1000)}
                    ),
                    "total_tokens": st.integers(0, 2 * 10**6),
                }
            ),
        )
    )
    return {
        "id": "resp_" + draw(_ID),
        "object": "response",
        "created_at": draw(st.integers(0, 2**31)),
        "status": status,
        "error": {"code": "server_error", "message": draw(_TEXT)} if status == "failed" else None,
        "incomplete_details": (
            {"reason": draw(st.sampled_from(["max_output_tokens", "content_filter"]))}
            if status == "incomplete"
            else None
        ),
        "model": draw(_ID),
        "output": output,
        "usage": usage,
    }


@st.composite
def responses_streams(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    """``(response, sse_bytes)``: a response and the stream ``to_sse(format="responses")``
    renders for it."""
    response = draw(responses())
    chunk_size = draw(st.integers(1, 12))
    line_ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return response, render_responses(response, chunk_size=chunk_size, line_ending=line_ending)
