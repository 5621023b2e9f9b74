# Two entry points for a fresh machine with only Python 3.11+:
#   make run    set up .venv, then train configs/earlystop.yaml (offline)
#   make test   set up .venv, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[cpu,jax,dev,sweep,mlflow]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cbrun train configs/earlystop.yaml

lint: $(STAMP)
	$(BIN)/ruff check cbrun tests scripts bench
	$(BIN)/ruff format --check cbrun tests scripts bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_cli.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
