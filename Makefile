# DevFlow Analytics task runner. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run test check lint format types bench loadtest schemas clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e './sdk/python' -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

run: $(STAMP) ## Start the whole platform on embedded PostgreSQL and NATS (http://127.0.0.1:8000)
	$(BIN)/devflow up --port $(PORT)

test: $(STAMP) ## Install what is needed (Debian's chromium for the browser tests) and run the whole test suite
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP) ## ruff lint and format check, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

types: $(STAMP) ## mypy --strict on services, schemas and the SDK
	$(BIN)/mypy --strict services schemas
	cd sdk/python && ../../$(BIN)/mypy --strict devflow_sdk

check: lint types test ## Lint, types and tests

bench: $(STAMP) ## Run the benchmarks in bench/ (ingest, flags, sdk, experiments; ingest also writes bench/results/)
	@status=0; for b in ingest flags sdk experiments; do \
		$(BIN)/python bench/$$b.py || status=1; done; exit $$status

loadtest: $(STAMP) ## Headless locust run against a platform it starts; report in loadtests/reports/
	$(BIN)/python loadtests/run.py

schemas: $(STAMP) ## Re-export the JSON Schemas of the wire contracts
	$(BIN)/devflow schemas export

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .devflow
