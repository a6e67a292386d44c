# Threadline: the only entry point for humans and CI. `make help` lists targets.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/threadline_test

.DEFAULT_GOAL := help
.PHONY: help install serve fmt lint type test test-pg cov check bench bench-compare lock clean

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## Create .venv with pinned dependencies and the package

serve: $(STAMP) ## Start the service on the embedded SQLite default (port 8611)
	$(BIN)/threadline serve

fmt: $(STAMP) ## Format and auto-fix
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

lint: $(STAMP) ## Lint: format check, ruff, import contracts, module size and cycles
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/pytest -q tests/test_architecture.py

type: $(STAMP) ## mypy --strict
	$(BIN)/mypy

test: $(STAMP) ## Run the whole test suite (SQLite; no other server needed)
	$(BIN)/pytest -q

test-pg: $(STAMP) ## Store, service and API tests against PostgreSQL ($$PG_URL)
	THREADLINE_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q tests/store tests/service tests/api

.PHONY: test-sdk
test-sdk: $(STAMP) ## Tests through the Interactly SDK's client: make test-sdk SDK=/path/to/sdk/checkout
	@test -n "$(SDK)" || { echo "usage: make test-sdk SDK=/path/to/sdk/checkout"; exit 2; }
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --force-reinstall $(SDK)
	$(BIN)/pytest -q tests/sdk

.PHONY: test-security
test-security: $(STAMP) ## Security batteries: cross-team access, sandbox escapes, SSRF, secret leaks
	$(BIN)/pytest -q tests/security

# The fuzz run's seed and budget: fixed, so a failure replays with the same cases.
FUZZ_SEED ?= 20261206
FUZZ_SECONDS ?= 180

.PHONY: test-fuzz
test-fuzz: $(STAMP) ## schemathesis over every operation of a live server ($$FUZZ_SEED, $$FUZZ_SECONDS s)
	$(BIN)/python -m tests.fuzz.run --seed $(FUZZ_SEED) --max-time $(FUZZ_SECONDS)

.PHONY: test-crash
test-crash: $(STAMP) ## Crash test: two servers on PostgreSQL ($$PG_URL's server) SIGKILLed mid-conversation
	THREADLINE_CRASH_TEST=1 THREADLINE_CRASH_PG_URL=$(PG_URL) $(BIN)/pytest -q -s tests/crash

cov: $(STAMP) ## Tests with branch coverage
	$(BIN)/pytest -q --cov --cov-report=term

check: lint type cov ## What CI and pre-push run

bench: $(STAMP) ## Benchmarks (see docs/benchmarks.md)
	$(BIN)/python -m bench.run

bench-compare: $(STAMP) ## Threadline vs LangGraph (see docs/benchmarks.md)
	$(BIN)/python -m bench.compare

lock: ## Re-pin requirements.lock from pyproject.toml
	uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11

clean: ## Remove the environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
