"""``mypy --strict`` on a user's script: the options and sources of both twins are typed.

A wrong ``on_error`` value, an option of the wrong type or name, and a source that is not bytes
(or text, a file, an iterable of reads) are rejected; the right calls pass.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is a dev dependency (.[dev])")

# Each line marked `# E: code` must get exactly that error; every other line must get none.
SCRIPT = textwrap.dedent(
    """\
    import io
    from collections.abc import AsyncIterator

    import deltafold
    from deltafold import reference


    async def reads() -> AsyncIterator[bytes]:
        yield b""


    async def main() -> None:
        async for event in deltafold.aiter_events(reads(), on_error="repair"):
            print(event.type)
        async for completion in reference.aiter_completions(reads()):
            print(completion["id"])


    def ok() -> None:
        options: deltafold.Options = {"on_error": "skip", "max_depth": 3}
        deltafold.assemble(b"", **options)
        deltafold.assemble(b"", on_error="raise", allow_truncated=True, max_problems=0)
        deltafold.assemble("data: [DONE]\\n\\n")
        deltafold.assemble(bytearray(b""))
        deltafold.assemble(io.BytesIO(b""))
        deltafold.assemble(io.StringIO(""))
        deltafold.assemble([b"data:", "x"])
        deltafold.assemble(iter([memoryview(b"")]))
        reference.assemble(b"", on_error="repair", max_line_bytes=10)
        for event in deltafold.iter_events(b"", partial_arguments=True):
            print(event.type)
        for reference_event in reference.iter_events(open("f", "rb")):
            print(reference_event.arguments)
        for completion in deltafold.iter_completions(b"", max_tool_calls=1):
            print(completion)


    def wrong() -> None:
        deltafold.assemble(b"", on_error="ignore")  # E: arg-type
        reference.assemble(b"", on_error="ignore")  # E: arg-type
        deltafold.iter_events(b"", on_error="ignore")  # E: arg-type
        reference.iter_completions(b"", on_error="ignore")  # E: arg-type
        deltafold.assemble(42)  # E: arg-type
        reference.assemble(42)  # E: arg-type
        deltafold.iter_events([b"", 2])  # E: list-item
        deltafold.iter_completions(3.5)  # E: arg-type
        deltafold.assemble(b"", max_depth="3")  # E: arg-type
        deltafold.assemble(b"", events=True)  # E: call-arg
        deltafold.iter_events(b"", partial_arguments=1)  # E: arg-type
    """
)


def expected_errors(script: str) -> set[tuple[int, str]]:
    marks = (re.search(r"# E: ([\w-]+)$", line) for line in script.splitlines())
    return {(number, mark.group(1)) for number, mark in enumerate(marks, 1) if mark}


def test_mypy_strict_rejects_wrong_options_and_sources(tmp_path: Path) -> None:
    script = tmp_path / "user.py"
    script.write_text(SCRIPT)
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--python-version=3.10",
            "--no-error-summary",
            "--show-error-codes",
            f"--cache-dir={tmp_path / 'mypy-cache'}",
            str(script),
        ]
    )
    assert stderr == ""
    found = {
        (int(match.group(1)), match.group(2))
        for match in re.finditer(r"^[^\n]*user\.py:(\d+): error: .*\[([\w-]+)\]$", stdout, re.M)
    }
    assert found == expected_errors(SCRIPT), stdout
    # Every error line of mypy's output was parsed above: no other kind of error slipped by.
    errors = [line for line in stdout.splitlines() if ": error: " in line]
    assert len(errors) == len(found), stdout
    # The source is typed, not Any: the message names what a source may be.
    assert "Readable | Iterable[bytes | bytearray | memoryview[int] | str]" in stdout
    assert status == 1
