"""The corpus generator and the benchmark harness: what the benchmark's verdicts rest on."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import competitors
import corpus
import pytest
import run

SMALL = corpus.generate("small")
JSON_LINE = re.compile(rb"^data: (\{.*\})\r?$", re.MULTILINE)


def chunks_of(stream: corpus.Stream) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = [json.loads(m) for m in JSON_LINE.findall(stream.data)]
    return parsed


def test_same_seed_same_corpus_other_seed_other_corpus() -> None:
    again = corpus.generate("small")
    assert [s.data for s in again] == [s.data for s in SMALL]
    assert [s.expected for s in again] == [s.expected for s in SMALL]
    assert [s.read_sizes for s in again] == [s.read_sizes for s in SMALL]
    other = corpus.generate("small", seed=1)
    assert [s.data for s in other] != [s.data for s in SMALL]


def test_small_corpus_size_and_every_kind_and_feature() -> None:
    info = corpus.summary(SMALL)
    assert 280_000 <= info["bytes"] <= 400_000
    assert all(info["streams_by_kind"][kind] >= 1 for kind in corpus.KINDS)
    assert info["crlf_streams"] >= 1
    assert info["ascii_escaped_streams"] >= 1
    assert info["multi_choice_streams"] >= 1
    assert info["non_ascii_streams"] > info["ascii_escaped_streams"]


def test_full_corpus_size_and_mix_by_chunks() -> None:
    info = corpus.summary(corpus.generate("full"))
    assert 29_000_000 <= info["bytes"] <= 31_000_000
    for kind, share in corpus.KIND_SHARE.items():
        assert abs(info["chunk_share"][kind] - share) < 0.01, kind
    assert info["crlf_streams"] >= 20
    assert info["multi_choice_streams"] >= 5


def test_every_chunk_has_the_live_api_envelope() -> None:
    for stream in SMALL:
        chunks = chunks_of(stream)
        assert len(chunks) == stream.chunks
        for chunk in chunks:
            assert list(chunk)[:6] == [
                "id",
                "object",
                "created",
                "model",
                "service_tier",
                "system_fingerprint",
            ]
            assert chunk["object"] == "chat.completion.chunk"
            assert isinstance(chunk["obfuscation"], str)
            assert "usage" in chunk
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["total_tokens"] > 0
        assert all(c["usage"] is None for c in chunks[:-1])
        ending = b"\r\n" if stream.crlf else b"\n"
        assert stream.data.endswith(b"data: [DONE]" + ending * 2)
        assert (b"\r\n" in stream.data) == stream.crlf


def test_non_ascii_is_raw_utf8_or_escaped_as_flagged() -> None:
    for stream in SMALL:
        has_raw = any(byte >= 0x80 for byte in stream.data)
        has_escape = b"\\u" in stream.data
        if not stream.non_ascii:
            assert not has_raw
        elif stream.ascii_escaped:
            assert has_escape and not has_raw
        else:
            assert has_raw


def test_reads_are_1_to_4_kib_and_rebuild_the_stream() -> None:
    for stream in SMALL:
        assert b"".join(stream.reads) == stream.data
        assert [len(r) for r in stream.reads] == list(stream.read_sizes)
        assert all(1024 <= size <= 4096 for size in stream.read_sizes[:-1])
        assert 1 <= stream.read_sizes[-1] <= 4096


def test_tool_and_legacy_fragments_are_1_to_8_characters() -> None:
    seen = 0
    for stream in SMALL:
        for chunk in chunks_of(stream):
            for choice in chunk["choices"]:
                delta = choice["delta"]
                fragments = [(c, "id") for c in delta.get("tool_calls") or ()]
                fragments += [(c["function"], "name") for c, _ in fragments]
                fragments = [(f, key) for f, key in fragments if "arguments" in f]
                if "function_call" in delta:
                    fragments.append((delta["function_call"], "name"))
                for fragment, opening_key in fragments:
                    arguments = fragment["arguments"]
                    seen += 1
                    # A call's opening chunk names it and carries empty arguments.
                    if opening_key in fragment:
                        assert arguments == ""
                    else:
                        assert 1 <= len(arguments) <= 8
    assert seen > 100


def test_ground_truth_arguments_are_the_json_text_the_fragments_spell() -> None:
    for stream in SMALL:
        for choice in stream.expected["choices"]:
            message = choice["message"]
            calls = [c["function"] for c in message.get("tool_calls", [])]
            calls += [message["function_call"]] if "function_call" in message else []
            for function in calls:
                assert isinstance(json.loads(function["arguments"]), dict)


def test_ground_truth_agrees_with_two_independent_assemblers() -> None:
    # The generator's truth is built without parsing; the SDK and a plain merge parse the bytes.
    loaded = competitors.load()
    by_name = {c.name: c for c in loaded.competitors}
    for name in ("openai-sdk", "httpx-sse"):
        assert run.check(by_name[name], SMALL) == [], name


def test_big_argument_stream() -> None:
    stream = corpus.big_argument_stream(20_000)
    call = stream.expected["choices"][0]["message"]["tool_calls"][0]
    assert 20_000 <= len(call["function"]["arguments"]) < 21_000
    assert call["function"]["arguments"].isascii()
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks_of(stream)[1:-2]
    ]
    assert all(1 <= len(p) <= 8 for p in pieces)
    assert "".join(pieces) == call["function"]["arguments"]
    assert competitors.httpx_sse_merge(stream.data, stream.reads) == stream.expected


def test_first_difference_finds_what_differs() -> None:
    want = {"a": [1, {"b": "x"}], "c": None}
    assert run.first_difference({"a": [1, {"b": "x"}], "c": None}, want) is None
    assert run.first_difference({"a": [1, {"b": "y"}], "c": None}, want) == (
        "$.a[1].b: got 'y', want 'x'"
    )
    assert run.first_difference({"a": [1, {"b": "x"}]}, want) == "$.c: missing"
    assert run.first_difference({"a": [1], "c": None}, want) == "$.a: 1 items, want 2"
    assert run.first_difference({"a": [True, {"b": "x"}], "c": None}, want) is not None
    extra = {"a": [1, {"b": "x"}], "c": None, "d": 0}
    assert run.first_difference(extra, want) == "$: unexpected keys ['d']"


def test_check_reports_a_wrong_or_crashing_competitor() -> None:
    def drops_last_choice(data: bytes, reads: Sequence[bytes]) -> dict[str, Any]:
        result = competitors.httpx_sse_merge(data, reads)
        result["choices"] = result["choices"][:-1]
        return result

    def crashes(data: bytes, reads: Sequence[bytes]) -> None:
        raise ValueError("boom")

    wrong = run.check(competitors.Competitor("x", "x", drops_last_choice), SMALL)
    assert [number for number, _ in wrong] == list(range(len(SMALL)))
    crashed = run.check(competitors.Competitor("y", "y", crashes), SMALL[:2])
    assert crashed == [(0, "raised ValueError: boom"), (1, "raised ValueError: boom")]


def test_floors_run_clean_and_parse_every_line() -> None:
    stream = SMALL[0]
    for floor in (competitors.orjson_lines, competitors.split_lines):
        assert run.check(competitors.Competitor("floor", "floor", floor, floor=True), SMALL) == []
    broken = stream.data.replace(b'"object"', b'"object', 1)
    with pytest.raises(ValueError):
        competitors.orjson_lines(broken, [broken[:1000], broken[1000:]])


def test_sdk_subset_covers_every_kind_within_budget() -> None:
    streams = corpus.generate("small")
    chosen = run.sdk_subset(streams, 100_000)
    assert {streams[i].kind for i in chosen} == set(corpus.KINDS)
    assert len(chosen) < len(streams)


def test_unavailable_competitor_needs_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = competitors.load()
    missing = competitors.Loaded(
        [c for c in real.competitors if c.name != "deltafold.feed"],
        {**real.unavailable, "deltafold.feed": "not built"},
        real.notes,
    )
    monkeypatch.setattr(competitors, "load", lambda: missing)
    assert run.main(["--size", "small", "--check-only"]) == 2
    err = capsys.readouterr().err
    assert "unavailable: deltafold.feed: not built" in err
    assert "--only" in err
    code = run.main(["--size", "small", "--check-only", "--only", "httpx-sse,split-lines"])
    assert code == 0


def test_check_only_run_exits_zero_when_all_agree(capsys: pytest.CaptureFixture[str]) -> None:
    available = [c.name for c in competitors.load().competitors if c.name != "openai-sdk"]
    code = run.main(["--size", "small", "--check-only", "--only", ",".join(available)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "WRONG" not in out
