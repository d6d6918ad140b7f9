# One entry point for people and CI alike (.ci/run calls `make test`).
# Both environments install from hashed lock files (requirements/*.txt, made by `make lock`),
# so the suite a newcomer runs is the one CI ran.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
LINT_DIRS := $(wildcard src tests benchmarks examples scripts)
# uv only makes the lock files; installing them needs nothing but pip.
UV_VERSION := 0.13.9

.PHONY: setup setup-serve serve test lint typecheck pytest bench clean lock matrix-newest matrix-lowest

$(BIN)/python:
	$(PY) -m venv $(VENV)

# The server's own set: no test tools (make serve).
$(VENV)/.serve: requirements/serve.txt pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/serve.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

# The development set, a superset of the server's (make test).
$(VENV)/.dev: requirements/dev.txt pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@ $(VENV)/.serve

setup: $(VENV)/.dev
setup-serve: $(VENV)/.serve

## Set up (server dependencies only) and run the auth server on http://127.0.0.1:8000
## (SERVE_ARGS="--port 8001" passes options to `authgate serve`)
SERVE_ARGS ?=
serve: setup-serve
	$(BIN)/authgate serve $(SERVE_ARGS)

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

## Re-resolve the lock files from pyproject.toml (newest versions it allows)
lock:
	test -x .venv-tools/bin/uv || ($(PY) -m venv .venv-tools && .venv-tools/bin/python -m pip install --quiet uv==$(UV_VERSION))
	.venv-tools/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.11 --no-header --quiet -o requirements/dev.txt
	grep -E '^[A-Za-z]' requirements/dev.txt | sed 's/ \\$$//; s/ ;.*//' > .venv-tools/pins.txt
	.venv-tools/bin/uv pip compile pyproject.toml --extra server --generate-hashes \
	  --python-version 3.11 --no-header --no-annotate --quiet -c .venv-tools/pins.txt \
	  -o requirements/serve.txt

## The suite against what `pip install` gives a user today, and against the declared floors
matrix-newest:
	scripts/matrix newest
matrix-lowest:
	scripts/matrix lowest

clean:
	rm -rf $(VENV) .venv-newest .venv-lowest .venv-tools .mypy_cache .pytest_cache .ruff_cache .coverage

.PHONY: bench-setup bench-http

## The baselines' own virtualenv (.venv-bench: python-jose, passlib, fastapi-users, ...)
bench-setup:
	$(PY) benchmarks/_load.py setup

## HTTP benchmarks: authgate vs the tutorial recipe and fastapi-users; scale-out
## (apt-get install wrk for closed-loop throughput; PostgreSQL for the scale-out)
bench-http: setup bench-setup
	$(PY) benchmarks/compare.py
	$(PY) benchmarks/scaleout.py
