# The sandbox's commands. `make demo` and `make test` need only Python 3.11+ on the machine:
# the first run builds .venv from requirements.lock (pip + npm packages, no Docker, no apt).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lock demo test test-fast test-dates fuzz fuzz-schemas bench lint format test-compose up down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## Build .venv: Python packages, Spark's AWS jars, the Kinesis emulator

$(STAMP): pyproject.toml requirements.lock services/platform/local/kinesalite/package-lock.json services/platform/local/toolchain.py services/platform/spark/home.py
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed; found " + sys.version.split()[0] + " (set PYTHON=...)") if sys.version_info < (3, 11) else None'
	@echo "==> creating $(VENV) and installing pinned packages (first run: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m pip check
	$(BIN)/sandbox setup
	@touch $@

lock: ## Re-resolve pyproject.toml's dependencies into requirements.lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet .
	{ sed -n '1,2p' requirements.lock; .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^pipeline-sandbox'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .venv-lock

DEMO_ORDERS  ?= 100000
DEMO_STREAM  ?= 30

demo: install ## Start the local services and run the pipeline flow end to end (DEMO_ORDERS=100000, DEMO_STREAM=30 s)
	$(BIN)/sandbox up
	$(BIN)/sandbox deploy
	$(BIN)/sandbox run pipeline --param orders=$(DEMO_ORDERS) --param stream_seconds=$(DEMO_STREAM)

test: install ## Run the test suite against real local services (started and stopped by the tests)
	$(BIN)/python -m pytest

test-fast: install ## The tests that start no service (seconds): pure logic, parsing, configuration
	$(BIN)/python -m pytest -m "not services"

test-dates: install ## The suite three times, the clock moved to month end, 29 Feb and New Year's Eve (libfaketime)
	$(BIN)/python -m tests.dates

fuzz: install ## Many random sequences of change shapes through the whole pipeline (make test tries 3)
	$(BIN)/python -m pytest tests/flows/test_pipeline.py -k change_shapes --hypothesis-profile=fuzz

fuzz-schemas: install ## Many random tables from the whole Postgres type catalog through every hop (make test tries 3)
	$(BIN)/python -m pytest tests/flows/test_any_schema.py --hypothesis-profile=fuzz

bench: install .venv-dlt/.installed ## Run the benchmarks; JSON results land in bench-results/
	$(BIN)/python -m tests.benchmarks

# dlt, the replication benchmark's peer, lives in a venv of its own (its botocore pins differ).
.venv-dlt/.installed: tests/benchmarks/requirements-dlt.txt
	$(PYTHON) -m venv .venv-dlt
	.venv-dlt/bin/python -m pip install --quiet --disable-pip-version-check -r tests/benchmarks/requirements-dlt.txt
	@touch $@

lint: install ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-compose: ## compose profile: the pipeline in containers, reconciled, then removed (needs Docker + Compose v2)
	python3 -m tests.compose.end_to_end --json bench-results/compose-test.json

up: ## compose profile: start the stack with docker compose
	docker compose up --detach --wait

down: ## compose profile: stop the stack (named volumes keep the data)
	docker compose down

clean: ## Stop local services and delete .venv and .sandbox (all local data)
	-$(BIN)/sandbox reset --yes
	rm -rf $(VENV) .venv-dlt bench-results
