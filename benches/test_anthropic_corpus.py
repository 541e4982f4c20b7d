"""The Anthropic corpus of the benchmarks and its pure-Python competitor."""

from __future__ import annotations

import competitors
import corpus
import deltafold.reference as reference
import orjson


def test_anthropic_corpus_kinds_reads_and_fragments() -> None:
    streams = corpus.generate_anthropic("small", 0)
    assert {s.kind for s in streams} == set(corpus.ANTHROPIC_KINDS)
    assert sum(len(s.data) for s in streams) >= corpus.ANTHROPIC_TARGET_BYTES["small"]
    assert corpus.generate_anthropic("small", 0)[0].data == streams[0].data
    for stream in streams:
        assert b"".join(stream.reads) == stream.data
        assert all(1024 <= len(r) <= 4096 for r in stream.reads[:-1])
        payloads = [
            orjson.loads(line[6:]) for line in stream.data.split(b"\n") if line[:6] == b"data: "
        ]
        assert len(payloads) == stream.chunks
        fragments = [
            p["delta"]["partial_json"]
            for p in payloads
            if p["type"] == "content_block_delta" and p["delta"]["type"] == "input_json_delta"
        ]
        # Long tool input in small fragments (after the API's empty first one).
        assert all(len(f) <= 12 for f in fragments)
        if stream.kind == "tools":
            assert len(fragments) > 100


def test_tuned_python_and_the_reference_fold_to_the_ground_truth() -> None:
    for stream in corpus.generate_anthropic("small", 1):
        assert competitors.tuned_anthropic(stream.data, stream.reads) == stream.expected
        assert reference.assemble(stream.data) == stream.expected
