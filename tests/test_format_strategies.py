"""The public Gemini and Bedrock strategies of ``deltafold.testing``, both twins: a generated
response rendered by ``to_sse(format="gemini")`` / ``to_event_stream`` and fed in reads cut
anywhere (``deltafold.testing.splits``) folds back to the response; the generated shapes are
checked against the SDK models where there is one."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from deltafold.testing import (
    bedrock_responses,
    bedrock_streams,
    gemini_responses,
    gemini_streams,
    splits,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def _with_reads(pair: tuple[dict[str, Any], bytes]) -> Any:
    response, data = pair
    return splits(data).map(lambda reads: (response, data, reads))


def _fold(impl: ModuleType, reads: list[bytes]) -> tuple[Any, Any]:
    parser = impl.StreamParser()
    for read in reads:
        parser.feed(read)
    return parser.finish(), parser


@settings(max_examples=40)
@given(case=gemini_streams().flatmap(_with_reads))
def test_gemini_streams_fold_back_split_anywhere(
    impl: ModuleType, case: tuple[dict[str, Any], bytes, list[bytes]]
) -> None:
    response, data, reads = case
    assert b"".join(reads) == data
    result, parser = _fold(impl, reads)
    assert result == response
    assert parser.format == "gemini"
    summary = parser.summary()
    assert summary["status"] == "complete"
    first = response["candidates"][0]["content"]["parts"]
    expected_text = "".join(p["text"] for p in first if "text" in p and not p.get("thought"))
    assert summary["text"] == expected_text


@settings(max_examples=40)
@given(case=bedrock_streams().flatmap(_with_reads))
def test_bedrock_streams_fold_back_split_anywhere(
    impl: ModuleType, case: tuple[dict[str, Any], bytes, list[bytes]]
) -> None:
    response, data, reads = case
    assert b"".join(reads) == data
    result, parser = _fold(impl, reads)
    assert result == response
    assert parser.format == "bedrock"
    summary = parser.summary()
    assert summary["status"] == "complete"
    blocks = response["output"]["message"]["content"]
    assert summary["text"] == "".join(b["text"] for b in blocks if "text" in b)
    assert [c["name"] for c in summary["tool_calls"]] == [
        b["toolUse"]["name"] for b in blocks if "toolUse" in b
    ]
    assert summary["usage"]["input_tokens"] == response["usage"]["inputTokens"]


@settings(max_examples=40)
@given(response=gemini_responses())
def test_gemini_responses_validate_as_the_sdk_model(response: dict[str, Any]) -> None:
    from google.genai import types

    model = types.GenerateContentResponse.model_validate(response)
    assert model.response_id == response["responseId"]
    assert len(model.candidates or []) == len(response["candidates"])


@settings(max_examples=40)
@given(response=bedrock_responses(), chunk_size=st.integers(1, 5))
def test_bedrock_responses_decode_with_botocore(response: dict[str, Any], chunk_size: int) -> None:
    """The rendered frames are ones botocore's own decoder accepts (an independent framer)."""
    import deltafold
    from botocore.eventstream import EventStreamBuffer

    data = deltafold.to_event_stream(response, chunk_size=chunk_size)
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    types = [m.headers[":event-type"] for m in buffer]
    assert types[0] == "messageStart"
    assert types[-2:] == ["messageStop", "metadata"]
