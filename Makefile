# billcycle: `make run` serves the demo, `make test` runs the whole suite.
# Both create the virtualenv and install everything on a fresh machine.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: install run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/billcycle db upgrade
	$(BIN)/billcycle demo load --port $(PORT)
	$(BIN)/billcycle serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

# The quick benchmark (bench/README.md has the full one): 100k accounts on SQLite, then
# on PostgreSQL when one is reachable; bill run + posting, each against raw writes.
BENCH_ACCOUNTS ?= 100000
BENCH_PG_URL   ?= postgresql://postgres@127.0.0.1:5432/billcycle_bench
BENCH_PG_ADMIN ?= postgresql://postgres@127.0.0.1:5432/postgres

bench: install
	$(BIN)/billcycle bench bill-run --accounts $(BENCH_ACCOUNTS) --json
	$(BIN)/billcycle bench post --accounts $(BENCH_ACCOUNTS) --json
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(BENCH_PG_ADMIN)', connect_timeout=3).close()" 2>/dev/null; then \
		$(BIN)/billcycle bench bill-run --accounts $(BENCH_ACCOUNTS) --database $(BENCH_PG_URL) --fresh-database --json && \
		$(BIN)/billcycle bench post --accounts $(BENCH_ACCOUNTS) --database $(BENCH_PG_URL) --fresh-database --json; \
	else \
		echo "PostgreSQL is not reachable at $(BENCH_PG_ADMIN): PostgreSQL benchmarks skipped"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
