# make demo: set up and run the demo.  make test: set up and run every check and test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# The browser tests drive Debian's chromium; Playwright must never download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup demo local test lint typecheck validate unit integration browser chromium bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make setup needs Python 3.11 or newer with venv ('$(PYTHON)' is not): on Debian or Ubuntu" \
	       "'sudo apt-get install python3-venv', or name another one: make PYTHON=python3.12 ..." >&2; exit 1; }
	@echo "Setting up (once): a Python virtual environment in $(VENV) and the project's packages, a minute or two ..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "make setup needs Node.js and npm (for asl-validator):" \
	  "on Debian or Ubuntu 'sudo apt-get install nodejs npm'" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	@echo "Running canary demo: the local runtime (an AWS emulator in this process), sample functions, a canary."
	$(BIN)/canary demo

local: setup
	$(BIN)/canary local

test: setup lint typecheck validate unit integration browser

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

validate:
	$(BIN)/sam validate --lint
	npx --no-install asl-validator --json-path statemachine/canary.asl.json

unit:
	$(BIN)/pytest tests/unit -n 2

# Three workers on two cores: many tests wait on timers (reminders, sweeps, update states) rather than compute
integration:
	$(BIN)/pytest tests/integration -n 3

browser: chromium
	$(BIN)/pytest tests/browser

# Debian's chromium, installed once (skipped when it is there already)
chromium: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# Speed against Lambda's control-plane quota, and what a deployment costs (a few minutes)
bench: setup
	$(BIN)/python bench/rollback.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache test-artifacts
