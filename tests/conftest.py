"""Pytest fixtures: the two implementations under test, the shared data, comparison helpers.

Every behaviour test takes the ``impl`` fixture and so runs twice: against the native package
(``deltafold``) and against the pure-Python twin (``deltafold.reference``). A name the native
facade does not provide yet makes its runs fail with AttributeError; they are never skipped.

Test data (the seed, the SSE conformance cases, the recorded streams) lives in ``tests/fixtures``
(origins and licences in its README).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

try:
    import deltafold.errors  # noqa: F401 - only probing whether the package is importable
except ImportError:
    # Not installed (no `maturin develop` / `pip install -e .` yet): use the source tree, so
    # the reference implementation is testable on its own.
    sys.path.insert(0, str(REPO_ROOT / "python"))

# CI has 2 cores shared with other jobs: moderate example counts, no per-example deadline
# (timings on a loaded machine are noise). `HYPOTHESIS_PROFILE=thorough` for a longer run.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IMPLEMENTATIONS = ("native", "reference")


def load_implementation(name: str) -> ModuleType:
    """``deltafold`` (native core + facade) or ``deltafold.reference``."""
    return importlib.import_module("deltafold" if name == "native" else "deltafold.reference")


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation under test; every test using it runs once per implementation."""
    return load_implementation(request.param)


@pytest.fixture(scope="session")
def native() -> ModuleType:
    return load_implementation("native")


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return load_implementation("reference")
