# The few commands people type. `make demo` and `make test` work on a fresh machine
# with Python 3.11: they create .venv and install the pinned dependencies first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test pass: DATABASE_URL if set, else the local server.
PG_TEST_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/notifications)

.PHONY: setup demo test test-fast test-sqlite test-postgres lint format bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/python bin/demo.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint test-sqlite test-postgres

# The unit tests alone, in seconds: no subprocesses, servers or browser (see the slow marker).
test-fast: setup
	env -u DATABASE_URL $(BIN)/pytest -q -m 'not slow'

test-sqlite: setup
	env -u DATABASE_URL $(BIN)/pytest

test-postgres: setup
	@if $(BIN)/python bin/postgres_ready.py "$(PG_TEST_URL)"; then \
		DATABASE_URL="$(PG_TEST_URL)" $(BIN)/pytest; \
	else \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! PostgreSQL is not reachable: the suite ran on SQLite ONLY."; \
		echo "!!! Start PostgreSQL on 127.0.0.1:5432 or set DATABASE_URL."; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

bench: setup
	$(BIN)/python bench/load_users.py
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/deliver.py
	$(BIN)/python bench/admin.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/purge.py

clean:
	rm -rf $(VENV) .test-db .pytest_cache .ruff_cache .demo
