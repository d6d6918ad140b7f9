# One entry point for people and CI alike (.ci/run calls `make test`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_DIRS := $(wildcard src tests benchmarks examples scripts)

.PHONY: setup serve test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## Set up and run the auth server on http://127.0.0.1:8000
serve: setup
	$(BIN)/authgate serve

## Set up, lint, type-check and run the whole test suite
test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest --cov --cov-report=term --cov-fail-under=80 $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/tokens.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .coverage

.PHONY: bench-setup bench-http

## The baselines' own virtualenv (.venv-bench: python-jose, passlib, fastapi-users, ...)
bench-setup:
	$(PY) benchmarks/_load.py setup

## HTTP benchmarks: authgate vs the tutorial recipe and fastapi-users; scale-out
## (apt-get install wrk for closed-loop throughput; PostgreSQL for the scale-out)
bench-http: setup bench-setup
	$(PY) benchmarks/compare.py
	$(PY) benchmarks/scaleout.py
