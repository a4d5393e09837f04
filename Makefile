# Dalgo: `make test` and `make demo` install what they need, uv included.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: help install test lint format uv bwrap chromium clean demo bench web web-client web-screenshots

help:
	@echo "make test    install everything and run lint, type checks and the test suite"
	@echo "make demo    install everything and run the whole product once on this machine (ARGS=--serve keeps it up)"
	@echo "make lint    ruff and mypy only"
	@echo "make format  format the code with ruff"
	@echo "make web     build the dashboard (web/) from its lockfile and run its unit tests"
	@echo "make web-client       regenerate the dashboard's API client from the API's OpenAPI document"
	@echo "make web-screenshots  run the browser tests and keep their screenshots in docs/images/"
	@echo "make bench   benchmarks against the same work done directly (ARGS=\"--scenario runs-list --quick\")"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

# Tenant code (dbt, connectors, git) runs under bubblewrap; install it where it is missing and we can.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null)) && \
			echo "installed bubblewrap (bwrap) for the tenant sandbox"; \
		else \
			echo "bubblewrap (bwrap) is missing: install the 'bubblewrap' package, or tenant code will be refused"; \
		fi; }

# The browser tests (web dashboard, Prefect UI screenshots) drive Debian's Chromium.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get install -y -qq chromium >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null)) && \
			echo "installed Debian's chromium for the browser tests"; \
		else \
			echo "chromium is missing: install Debian's 'chromium' package for the browser tests"; \
		fi; }

install: uv bwrap
	$(UV) sync --frozen --compile-bytecode

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy dalgo tests bench

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

# The suite runs in TEST_WORKERS processes (pytest-xdist), each with its own Prefect server, worker
# and databases; TEST_WORKERS=0 runs it in one. Three use the time runs keep two of them waiting.
TEST_WORKERS ?= 3

test: lint chromium web
	$(UV) run pytest -n $(TEST_WORKERS) --durations=15

demo: install web
	$(UV) run dalgo demo $(ARGS)

# Benchmarks, not part of `make test` (bench/README.md): JSON lines on stdout, progress on stderr.
bench: install
	@$(UV) run python -m bench $(ARGS)

# The dashboard: Node.js 20 and npm build it from package-lock.json into web/dist, served by the API at /.
web:
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 20 and npm to build the dashboard"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test

# The typed client in web/src/client is generated from create_app().openapi() (kept as web/openapi.json);
# tests/web/test_client_current.py fails when either is out of date.
web-client: install
	$(UV) run python web/scripts/dump_openapi.py web/openapi.json
	cd web && npx openapi-ts

web-screenshots: install web chromium
	DALGO_WEB_SCREENSHOTS=1 $(UV) run pytest tests/web -q

clean:
	rm -rf .dalgo .pytest_cache .mypy_cache .ruff_cache
