"""Shared by the pytest suites: ``examples/`` on the import path (the notebook's numpy code lives
there, so the example and the tests run the same network), and the catalogue counts the suites
record, printed at the end of the run."""

import pathlib
import sys
from typing import Dict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "examples"))

#: "what was counted" -> "n of m", filled by the suites, printed in the terminal summary.
COUNTS: Dict[str, str] = {}


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.section("gradproof catalogues")
        for what, count in COUNTS.items():
            terminalreporter.write_line(f"{what}: {count}")
