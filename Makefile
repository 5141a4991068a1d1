# The README's test command: `make test` runs the Rust suites and the Python suites, the latter in
# a virtual environment of its own (.venv: maturin, numpy, pytest, and torch and jax[cpu] for the
# adapters' suites) with the package built from this checkout by `pip install .` (maturin,
# release profile).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test test-rust test-python install

test: test-rust test-python

test-rust:
	cargo test --workspace

# torch from PyPI is the CUDA build (~5.6 GB installed, ~2 min here); it runs on the CPU.
# pandas, pyarrow and pyspark (the fraud and Spark suites; Spark runs on the machine's Java 17):
# ~750 MB installed (pyspark 490, pyarrow 170, pandas 85), ~45 s to install here.
# mypy checks the package's annotations (--strict).
REQUIREMENTS := "maturin>=1.9.4,<2" numpy pytest torch "jax[cpu]" pandas "pyarrow>=14" pyspark mypy

# The stamp is remade (pip installs what is missing) when this file changes.
$(VENV)/installed: Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(REQUIREMENTS)
	touch $@

# Builds with the environment's maturin (no isolated build environment to download each time);
# the build backend runs `maturin` from PATH.
install: $(VENV)/installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install --quiet --no-build-isolation .

# GRADPROOF_REQUIRE_ADAPTERS=1: a missing torch, jax, pandas, pyarrow or pyspark fails their
# suites instead of skipping them (plain pytest elsewhere skips them). The fraud suites make their
# files with this checkout's CLI (`cargo build -p gradproof-cli`, or GRADPROOF_CLI).
test-python: install
	$(BIN)/python -m mypy --strict python/gradproof
	GRADPROOF_REQUIRE_ADAPTERS=1 $(BIN)/python -m pytest -q python/tests --doctest-modules --pyargs gradproof
	cd examples && ../$(BIN)/python seed.py > /dev/null
	# The --exec tests again, now that a python with numpy exists: numpy and cc required, not skipped.
	GRADPROOF_TEST_PYTHON=$(abspath $(BIN))/python GRADPROOF_REQUIRE_EXEC_TOOLS=1 cargo test -p gradproof-cli --test exec
