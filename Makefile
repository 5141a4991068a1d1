# The README's test command: `make test` runs the Rust suites and the Python suites, the latter in
# a virtual environment of its own (.venv: maturin, numpy, pytest) with the package built from
# this checkout by `pip install .` (maturin, release profile).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test test-rust test-python install

test: test-rust test-python

test-rust:
	cargo test --workspace

$(BIN)/pytest:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "maturin>=1.9.4,<2" numpy pytest

# Builds with the environment's maturin (no isolated build environment to download each time);
# the build backend runs `maturin` from PATH.
install: $(BIN)/pytest
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install --quiet --no-build-isolation .

test-python: install
	$(BIN)/python -m pytest -q python/tests --doctest-modules --pyargs gradproof
	cd examples && ../$(BIN)/python seed.py > /dev/null
