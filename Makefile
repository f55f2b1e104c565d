# pmt: a thin wrapper over uv. Every target bootstraps uv when it is missing, so a machine
# with only Python 3.11 and pip can run any of them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
UV := python3 -m uv
RUN := $(UV) run --frozen

.PHONY: help uv sync system demo test lint format typecheck pytest bench ui clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

uv:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv

sync: uv ## Install the workspace (all four packages and dev tools) from uv.lock
	@$(UV) sync --all-packages --locked --quiet

system: ## Install the Debian tools that tests and benchmarks drive (nginx, chromium, wrk...)
	@bash scripts/system-deps.sh

demo: sync ## The whole stack, offline, against the local exchange
	$(RUN) python scripts/demo.py

test: sync system lint typecheck pytest ## ruff, mypy and pytest for all four packages

lint: sync
	$(RUN) ruff format --check .
	$(RUN) ruff check .

format: sync ## Rewrite the code in the house format
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: sync
	$(RUN) mypy

pytest: sync
	$(RUN) pytest

bench: sync system ## Benchmarks, printed as tables with ratios to a baseline
	$(RUN) python benchmarks/run.py

ui: sync ## The dashboard against the local exchange
	$(RUN) python scripts/ui.py

clean:
	rm -rf .venv .mypy_cache .pytest_cache .ruff_cache build dist */dist
