# `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench chaos mutation setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.base-installed: $(BIN)/python requirements/base.txt
	$(BIN)/pip install --quiet -r requirements/base.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.base-installed requirements/dev.txt tests/e2e/package-lock.json
	$(BIN)/pip install --quiet -r requirements/dev.txt
	npm ci --prefix tests/e2e --no-audit --no-fund --silent
	touch $@

setup: $(VENV)/.base-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ensure_admin

## The app on http://127.0.0.1:8000 with its worker and scheduler; Ctrl-C stops all three (running
## jobs get 2 s to finish, then go back to the queue: deploy/run_worker.py).
run: setup
	$(BIN)/honcho start -f Procfile

## The whole test suite on SQLite with the ORM broker, then again (all but the browser tests) on a
## throwaway PostgreSQL with a throwaway Redis as broker and cache (tests/on_postgresql.py).
test: $(VENV)/.dev-installed
	$(BIN)/pytest
	$(BIN)/python -m tests.on_postgresql -q

## Pyflakes and import order.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

## Benchmarks: figures go to docs/benchmarks.json and their tables into docs/benchmarks.md.
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

## The chaos run: two schedulers, two worker clusters and gunicorn on PostgreSQL + Redis, then on SQLite with
## the ORM broker; processes SIGKILLed at random, Redis restarted once; then every window, job and run is
## checked (chaos/driver.py). About 5 minutes per setup; CHAOS_ARGS="--seed N" repeats a run's choices.
chaos: $(VENV)/.dev-installed
	$(BIN)/python -m chaos $(CHAOS_ARGS)

## Mutation score of the core modules (mutmut, one module at a time; a measurement, not part of
## `make test`): scores go to docs/mutation.md. `make mutation MODULES=scheduling/tick.py` runs only those.
mutation: $(VENV)/.dev-installed
	$(BIN)/python -m tests.mutation $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/e2e/node_modules
