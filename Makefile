# Dev commands in one place. `make demo` and `make test` are the README's two commands:
# each installs what it needs first (a locked virtual environment in .venv/).
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed
# Tests use up to this many processes (pytest-xdist); the machine has 2 cores.
TEST_WORKERS ?= 2

.PHONY: setup assets browser pgbouncer demo test test-embedded test-pg lint bench load chaos fuzz migrate docs clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $(STAMP)

# The web app's browser assets (htmx, uPlot) come from the npm registry, pinned by
# package-lock.json, and are copied into the package's static/dist/ (not committed).
ASSETS_DIR := src/metricx/web/static/dist
ASSETS := $(ASSETS_DIR)/.installed
$(ASSETS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(ASSETS_DIR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js \
	  node_modules/uplot/dist/uPlot.min.css $(ASSETS_DIR)/
	touch $(ASSETS)

assets: $(ASSETS)  ## install the web app's browser assets (npm ci, then copy into static/dist)

setup: $(STAMP) $(ASSETS)  ## install metricx, its locked dependencies and the web assets

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Chromium for the browser tests (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# The PgBouncer tests start Debian's pgbouncer in front of the test database.
PGBOUNCER ?= /usr/sbin/pgbouncer
pgbouncer:
	@if [ ! -x $(PGBOUNCER) ]; then \
	  echo "installing PgBouncer for the pooling tests (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pgbouncer >/dev/null; \
	fi

demo: setup  ## run metricx demo (embedded database, sandbox, web app, worker)
	$(VENV)/bin/metricx demo

# The whole suite, twice: on the embedded PostgreSQL, and on the machine's PostgreSQL
# (METRICX_TEST_PG_URL, default 127.0.0.1:5432) when that server answers.
test: setup browser pgbouncer lint test-embedded test-pg

test-embedded: setup
	env -u METRICX_TEST_DATABASE_URL $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile

METRICX_TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
test-pg: setup
	@if $(VENV)/bin/python -c "import psycopg,sys; psycopg.connect('$(METRICX_TEST_PG_URL)', connect_timeout=3).close()" 2>/dev/null; then \
	  METRICX_TEST_DATABASE_URL=$(METRICX_TEST_PG_URL) $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile; \
	elif [ -n "$$METRICX_REQUIRE_TEST_PG" ]; then echo "no PostgreSQL at $(METRICX_TEST_PG_URL)"; exit 1; \
	else echo "no PostgreSQL at $(METRICX_TEST_PG_URL): suite ran on the embedded server only"; fi

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# The README's configuration table is generated from src/metricx/config.py.
docs: $(STAMP)  ## regenerate the README's configuration reference
	$(VENV)/bin/metricx config-reference --write README.md

migrate: setup
	$(VENV)/bin/metricx db upgrade

# The long runs of issue 10, bigger than the bounded versions the suite runs (tests/reliability,
# tests/fuzz at CHAOS_SCALE=1 and the default example counts): chaos and scale-out with more
# accounts, days and kills, more fuzzing examples, then a bounded loopback load test.
CHAOS_SCALE ?= 3
FUZZ_EXAMPLES ?= 200
LOAD_SECONDS ?= 120
chaos: setup
	METRICX_CHAOS_SCALE=$(CHAOS_SCALE) METRICX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(VENV)/bin/pytest -q tests/reliability tests/fuzz tests/security
	$(VENV)/bin/python bench/load.py --seconds $(LOAD_SECONDS)

load: setup
	$(VENV)/bin/python bench/load.py --seconds $(LOAD_SECONDS)

# The long Schemathesis campaign (the suite runs a bounded one): every phase and check over
# every operation, FUZZ_CAMPAIGN_EXAMPLES examples each in the fuzzing phase, in one shard
# per test process (each its own seed, FUZZ_SEED + shard). Prints each shard's requests and
# failures (and, every 30 s and at each new failure, its counts so far and that failure to
# fuzz-progress.txt.N); set METRICX_TEST_DATABASE_URL to run it on a PostgreSQL server.
FUZZ_CAMPAIGN_EXAMPLES ?= 1100
FUZZ_SEED ?= 20260
fuzz: setup
	METRICX_FUZZ_CAMPAIGN=1 METRICX_FUZZ_EXAMPLES=$(FUZZ_CAMPAIGN_EXAMPLES) \
	  METRICX_FUZZ_SEED=$(FUZZ_SEED) METRICX_FUZZ_SHARDS=$(TEST_WORKERS) \
	  METRICX_FUZZ_PROGRESS=$${METRICX_FUZZ_PROGRESS:-fuzz-progress.txt} \
	  $(VENV)/bin/pytest -q -n $(TEST_WORKERS) -rP tests/fuzz/test_fuzz_campaign.py

bench: setup
	@for b in bench/*.py; do [ $$b = bench/rss.py ] && continue; echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
