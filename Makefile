# DevFlow Analytics task runner. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install lock test-latest web run test check lint format types bench loadtest schemas clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Python packages come from requirements.lock (every package of the tree, pinned, with hashes),
# so a new release upstream cannot change what `make install` installs; `make lock` refreshes it.
# LOCKED=0 installs the newest releases the lower bounds in pyproject.toml allow instead.
LOCKED ?= 1
LOCK := requirements.lock
# Installers and build backend, locked with the rest (the project builds without isolation).
LOCK_EXTRA := 'pip>=24' 'setuptools>=77'

$(STAMP): $(LOCK) pyproject.toml sdk/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(LOCKED),1)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e './sdk/python' -e .
	$(BIN)/python -m pip check
else
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet --upgrade --upgrade-strategy eager -e './sdk/python' -e '.[dev]'
endif
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools from requirements.lock

lock: ## Re-resolve requirements.lock after a dependency change (pins kept); UPGRADE=1 takes the newest releases
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet 'uv>=0.5'
	printf '%s\n' $(LOCK_EXTRA) | $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
		--generate-hashes --no-header --extra dev $(if $(filter 1,$(UPGRADE)),--upgrade) \
		pyproject.toml sdk/python/pyproject.toml - -o $(LOCK)
	# The image's subset (no dev tools), pinned to the same versions as the full lock.
	printf '%s\n' $(LOCK_EXTRA) | $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
		--generate-hashes --no-header --constraint $(LOCK) \
		pyproject.toml sdk/python/pyproject.toml - -o requirements-image.lock

# Browser code: npm packages from the committed lock files, the SDK bundle built by esbuild.
JS_BUNDLE := sdk/js/dist/devflow.js
PLAYER_STAMP := services/replay/web/node_modules/.installed
E2E_STAMP := tests/e2e/node_modules/.installed

$(JS_BUNDLE): sdk/js/package-lock.json sdk/js/scripts/build.mjs $(wildcard sdk/js/src/*.ts)
	cd sdk/js && npm ci --no-audit --no-fund --loglevel=error && npm run build

$(PLAYER_STAMP): services/replay/web/package-lock.json
	cd services/replay/web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(E2E_STAMP): tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web: $(JS_BUNDLE) $(PLAYER_STAMP) $(E2E_STAMP) ## Install the npm packages and build the browser SDK bundle

run: $(STAMP) $(JS_BUNDLE) $(PLAYER_STAMP) ## Start the whole platform on embedded PostgreSQL and NATS (http://127.0.0.1:8000)
	$(BIN)/devflow up --port $(PORT)

test: $(STAMP) web ## Install what is needed (npm packages, Debian's chromium for the browser tests) and run every test: the browser SDK's in Node, then the Python suite
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	cd sdk/js && npm test
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-latest: ## The whole suite on the newest releases (a separate .venv-latest, no lock): is an upgrade safe?
	rm -rf .venv-latest
	$(MAKE) test VENV=.venv-latest LOCKED=0

lint: $(STAMP) ## ruff lint and format check, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

types: $(STAMP) $(JS_BUNDLE) ## mypy --strict on services, schemas and the Python SDK; tsc --strict on the browser SDK
	$(BIN)/mypy --strict services schemas
	cd sdk/python && ../../$(BIN)/mypy --strict devflow_sdk
	cd sdk/js && npm run typecheck

check: lint types test ## Lint, types and tests

bench: $(STAMP) $(JS_BUNDLE) $(PLAYER_STAMP) ## Run the benchmarks in bench/ (ingest, flags, sdk, experiments, replay, billing; ingest also writes bench/results/)
	@status=0; for b in ingest flags sdk experiments replay billing; do \
		$(BIN)/python bench/$$b.py || status=1; done; exit $$status

loadtest: $(STAMP) ## Headless locust run against a platform it starts; report in loadtests/reports/
	$(BIN)/python loadtests/run.py

schemas: $(STAMP) ## Re-export the JSON Schemas of the wire contracts
	$(BIN)/devflow schemas export

clean: ## Remove the virtualenv, npm packages, built bundles and local data
	rm -rf $(VENV) .venv-latest .devflow sdk/js/node_modules sdk/js/dist services/replay/web/node_modules tests/e2e/node_modules
