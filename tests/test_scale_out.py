"""docs/scale-out.md, run as written: 1,000 captured streams in 10 capture files, folded on a
``dask.distributed.LocalCluster`` with 2 worker processes into Parquet, equal to the rows the
same recipe gives in this one process (and to ``deltafold.replay``)."""

from __future__ import annotations

import re
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import deltafold
import pytest
from support import fixture_file

dask = pytest.importorskip("dask", reason="the scale extra (dask[distributed]) is not installed")
distributed = pytest.importorskip("dask.distributed", reason="the scale extra is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="the scale extra (pyarrow) is not installed")

DOC = Path(__file__).resolve().parents[1] / "docs" / "scale-out.md"
STREAMS = 1000
FILES = 10


def _recipe() -> dict[str, Any]:
    """The first Python block of the doc, executed: its functions, as a user would paste them."""
    block = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block is not None
    # A module name that does not import makes cloudpickle send the functions by value.
    namespace: dict[str, Any] = {"__name__": "scale_out_recipe"}
    exec(compile(block.group(1), str(DOC), "exec"), namespace)
    return namespace


def _stream(path: Path) -> bytes:
    return path.read_bytes().rstrip(b"\r\n") + b"\n\n"


def _one_whole_stream(data: bytes) -> bool:
    """A recording that is one stream ended by its end marker, so that in a capture the next
    stream starts after it (some recordings hold several messages, or a spliced one)."""
    last = data.rstrip().rsplit(b"\n\n", 1)[-1]
    if last == b"data: [DONE]":
        return data.count(b"data: [DONE]") == 1
    return (
        last == b'event: message_stop\ndata: {"type":"message_stop"}'
        and data.count(b"event: message_start") == 1
        and data.count(b"event: message_stop") == 1
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    recorded = sorted(fixture_file("anthropic-recorded").glob("*.sse")) + sorted(
        fixture_file("openai-recorded").glob("*.sse")
    )
    whole = [data for data in map(_stream, recorded) if _one_whole_stream(data)]
    assert len(whole) > 20
    streams = list(islice(cycle(whole), STREAMS))
    folder = tmp_path_factory.mktemp("captures")
    per_file = STREAMS // FILES
    paths = []
    for n in range(FILES):
        path = folder / f"capture-{n:02}.sse"
        path.write_bytes(b"".join(streams[n * per_file : (n + 1) * per_file]))
        paths.append(path)
    return paths


def test_recipe_on_a_local_cluster_equals_the_local_result(
    archive: list[Path], tmp_path: Path
) -> None:
    recipe = _recipe()
    local = [row for path in sorted(map(str, archive)) for row in recipe["flat_rows"](path)]
    assert len(local) == STREAMS
    replayed = list(deltafold.replay(sorted(map(str, archive))))
    assert [(r["file"], r["stream"], r["id"], r["status"]) for r in replayed] == [
        (r["file"], r["stream"], r["id"], r["status"]) for r in local
    ]
    assert {r["format"] for r in local} == {"anthropic", "chat"}

    out = tmp_path / "rows.parquet"
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        written_rows = recipe["archive_to_parquet"](archive, str(out))
    assert written_rows == STREAMS

    written = pq.read_table(out).to_pylist()
    written.sort(key=lambda r: (r["file"], r["stream"]))
    assert written == local
