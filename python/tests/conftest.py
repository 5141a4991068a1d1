"""Shared by the pytest suites: ``examples/`` on the import path (the notebook's numpy code lives
there, so the example and the tests run the same network), the catalogue counts the suites
record, printed at the end of the run, and :func:`require_adapter`, which skips the torch and jax
suites where those are not installed, unless ``GRADPROOF_REQUIRE_ADAPTERS=1`` (``make test`` sets
it) makes a missing one a failure."""

import importlib
import os
import pathlib
import sys
from types import ModuleType
from typing import Dict

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))

#: "what was counted" -> "n of m", filled by the suites, printed in the terminal summary.
COUNTS: Dict[str, str] = {}


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.section("gradproof catalogues")
        for what, count in COUNTS.items():
            terminalreporter.write_line(f"{what}: {count}")


def require_adapter(name: str) -> ModuleType:
    """The framework ``name`` (``"torch"``, ``"jax"``): imported, or the calling test module
    skipped when it is missing, unless ``GRADPROOF_REQUIRE_ADAPTERS=1``, where its absence fails
    the run (CI must test the adapters, not skip them)."""
    if os.environ.get("GRADPROOF_REQUIRE_ADAPTERS") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)
