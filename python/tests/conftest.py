"""Shared by the pytest suites: ``examples/`` on the import path (the notebook's numpy code lives
there, so the example and the tests run the same network), the catalogue counts the suites
record, printed at the end of the run, :func:`require_adapter`, which skips the torch, jax, pyarrow,
pandas and pyspark suites where those are not installed, unless ``GRADPROOF_REQUIRE_ADAPTERS=1``
(``make test`` sets it) makes a missing one a failure, and the fraud suites' files."""

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
    """The framework ``name`` (``"torch"``, ``"jax"``, ``"pyspark"``): imported, or the calling test module
    skipped when it is missing, unless ``GRADPROOF_REQUIRE_ADAPTERS=1``, where its absence fails
    the run (CI must test the adapters, not skip them)."""
    if os.environ.get("GRADPROOF_REQUIRE_ADAPTERS") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(scope="session")
def fraud_files(tmp_path_factory):
    """A Parquet dataset of generated payments (``payments/part-0.parquet``, 3000 rows, and
    ``part-1.parquet``, 2000), a small model trained on it and ``gradproof score`` of each part
    (``scores-0.parquet``, ``scores-1.parquet``), made with the CLI: ``GRADPROOF_CLI``, else this
    checkout's ``target/debug/gradproof`` (built by cargo when missing)."""
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    cli = os.environ.get("GRADPROOF_CLI")
    if cli is None:
        subprocess.run(["cargo", "build", "-q", "-p", "gradproof-cli"], cwd=root, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", str(root / "target"))
        cli = str(pathlib.Path(target) / "debug" / "gradproof")
    folder = tmp_path_factory.mktemp("fraud")
    (folder / "payments").mkdir()

    def run(*args: str) -> None:
        subprocess.run([cli, *args], cwd=folder, check=True, capture_output=True)

    for part, (rows, seed) in enumerate([(3000, 1), (2000, 2)]):
        run("generate", "--rows", str(rows), "--seed", str(seed), "-o", f"payments/part-{part}.parquet")
    run("train", "--data", "payments/part-0.parquet", "--hidden", "8", "--epochs", "1", "--out", "model.json")
    for part in range(2):
        run("score", "--model", "model.json", "--data", f"payments/part-{part}.parquet", "-o", f"scores-{part}.parquet")
    return folder
