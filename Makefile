# Dalgo: `make test` and `make demo` install what they need, uv included.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: help install test lint format uv clean demo

help:
	@echo "make test    install everything and run lint, type checks and the test suite"
	@echo "make demo    install everything and run the whole product once on this machine (ARGS=--serve keeps it up)"
	@echo "make lint    ruff and mypy only"
	@echo "make format  format the code with ruff"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

install: uv
	$(UV) sync --frozen --compile-bytecode

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy dalgo tests

format: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

test: lint
	$(UV) run pytest

demo: install
	$(UV) run dalgo demo $(ARGS)

clean:
	rm -rf .dalgo .pytest_cache .mypy_cache .ruff_cache
