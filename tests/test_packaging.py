"""What a user sees of the installed package: metadata, README coverage, the console script.

Runs on every CPython in .ci/run (it is one of the smoke tests), against the installed wheel.
Expected values come from the repository's own files (LICENSE-*, README.md) and from the
running interpreter, never from the package under test.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import deltafold
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _mentioned(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}\b", text) is not None


def test_license_expression_and_files() -> None:
    meta = metadata.metadata("deltafold")
    assert meta["License-Expression"] == "MIT OR Apache-2.0"
    assert sorted(meta.get_all("License-File") or []) == ["LICENSE-APACHE", "LICENSE-MIT"]
    for name in ("LICENSE-MIT", "LICENSE-APACHE"):
        text = (REPO_ROOT / name).read_text(encoding="utf-8")
        assert "the deltafold authors" in text
    assert "Permission is hereby granted, free of charge" in (REPO_ROOT / "LICENSE-MIT").read_text(
        encoding="utf-8"
    )
    assert "Version 2.0, January 2004" in (REPO_ROOT / "LICENSE-APACHE").read_text(encoding="utf-8")


def test_extension_is_built_with_the_allocator_pyproject_names() -> None:
    # pyproject.toml turns on the `mimalloc` cargo feature for maturin (rust/heap.rs); a wheel
    # built without it still folds, only slower, so nothing else would notice its loss.
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    maturin = pyproject.split("[tool.maturin]", 1)[1].split("\n[", 1)[0]
    features = re.search(r"^features = \[(.*)\]$", maturin, re.MULTILINE)
    assert features is not None, "pyproject.toml: [tool.maturin] has no features line"
    expected = "mimalloc" if '"mimalloc"' in features.group(1) else "system"
    assert expected == "mimalloc", "the wheels are meant to ship with mimalloc (README 'Install')"
    assert deltafold._core.ALLOCATOR == expected


def test_classifiers_name_the_running_python() -> None:
    classifiers = metadata.metadata("deltafold").get_all("Classifier") or []
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Operating System ::") for c in classifiers)
    entries = metadata.metadata("deltafold").get_all("Project-URL") or []
    urls = dict(entry.split(", ", 1) for entry in entries)
    assert set(urls) >= {"Homepage", "Source", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())


def test_readme_names_every_public_name() -> None:
    missing = [name for name in deltafold.__all__ if not _mentioned(name, README)]
    assert missing == []


def test_readme_names_every_testing_strategy() -> None:
    import deltafold.testing

    # Named bare or as deltafold.testing.<name>.
    missing = [
        name
        for name in deltafold.testing.__all__
        if re.search(rf"(?<![\w.])(deltafold\.testing\.)?{re.escape(name)}\b", README) is None
    ]
    assert missing == []


@pytest.mark.parametrize(
    "cls", [deltafold.StreamParser, deltafold.Event, deltafold.SseDecoder, deltafold.SseEvent]
)
def test_readme_names_every_public_member(cls: type) -> None:
    members = [name for name in dir(cls) if not name.startswith("_")]
    assert members, cls
    missing = [name for name in members if not _mentioned(name, README)]
    assert missing == []


def test_readme_images_render_on_a_package_index() -> None:
    # A package index shows the README without the repository around it: a relative image
    # path is a broken image there.
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README) + re.findall(
        r"<img[^>]+src=\"([^\"]+)\"", README
    )
    assert images
    assert [src for src in images if not src.startswith("https://")] == []


def test_usage_line_names_the_command_typed() -> None:
    script = Path(sys.executable).parent / "deltafold"
    assert script.exists(), "the console script is installed beside the interpreter"
    for command, prog in (
        ([str(script)], "deltafold"),
        ([sys.executable, "-m", "deltafold"], "python -m deltafold"),
    ):
        result = subprocess.run([*command, "--help"], capture_output=True, check=True, timeout=60)
        assert result.stdout.decode().startswith(f"usage: {prog} ["), result.stdout[:80]


@pytest.mark.parametrize(
    "obj",
    [
        deltafold.StreamParser,
        deltafold.SseDecoder,
        deltafold._core.CaptureParser,
        deltafold._core.assemble,
    ],
    ids=lambda obj: obj.__name__,
)
def test_help_lists_each_option(obj: Any) -> None:
    # The options are the keyword-only parameters of the signature help() shows (the stub
    # states the same ones, checked by stubtest in CI); each needs its own line of doc.
    options = [
        p.name
        for p in inspect.signature(obj).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    assert options
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    undocumented = [name for name in options if f"- `{name}`: " not in text]
    assert undocumented == []


def test_help_documents_every_public_member() -> None:
    for cls in (deltafold.StreamParser, deltafold.Event, deltafold.SseDecoder):
        missing = [
            name
            for name in dir(cls)
            if not name.startswith("_") and not (getattr(cls, name).__doc__ or "").strip()
        ]
        assert missing == [], cls.__name__
