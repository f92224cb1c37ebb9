# mediamon — every target installs what it needs first; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
PY := $(VENV)/bin/python
SEARCH_DIR ?= data/demo/search
SEARCH_PORT ?= 9200
KIBANA_URL ?= http://127.0.0.1:5601

.PHONY: help setup system-deps demo test test-fast lint format type bench search-up search-down services kibana-import generate clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet 'uv>=0.5'
	$(UV) sync --frozen --all-extras --compile-bytecode
	@touch $@

setup: $(VENV)/.synced ## Install Python and every dependency from the lock file (uv)

demo: setup ## Run the main job: local search server + sample outlets -> SQLite -> index, then a summary
	$(VENV)/bin/mediamon demo

test: setup system-deps services ## Run every test (SQLite and PostgreSQL, local search server, local HTTP servers)
	$(VENV)/bin/pytest -q

test-fast: setup ## The pure suite from the repository alone: sockets disabled but 127.0.0.1, no services
	$(VENV)/bin/pytest -q -m "not postgres and not slow and not services and not chromium and not root" \
	  --disable-socket --allow-unix-socket --allow-hosts=127.0.0.1

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## Apply ruff formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

type: setup ## mypy (strict on schemas/, transforms/, connectors/)
	$(VENV)/bin/mypy schemas transforms connectors mediamon

bench: setup ## Run the benchmarks under bench/ (ratios against a baseline measured in the same run)
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

services: ## Check PostgreSQL on 127.0.0.1:5432 and start it when it is installed but stopped
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { \
	  command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }

system-deps: ## Install the system packages the tests need (headless Chromium for the HTML report test)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

kibana-import: setup ## Import data views, Lens visualisations and dashboards into Kibana ($(KIBANA_URL))
	$(VENV)/bin/mediamon kibana-import --kibana-url $(KIBANA_URL) $(if $(KIBANA_SPACE),--space $(KIBANA_SPACE))

generate: setup ## Regenerate infra/elasticsearch/*.json and infra/kibana/* from schemas/index.py
	$(PY) -m mediamon.generated

search-up: setup ## Serve the demo's search data on 127.0.0.1:$(SEARCH_PORT) in the background
	$(VENV)/bin/noida-db up --data-dir $(SEARCH_DIR) --host 127.0.0.1 --only elasticsearch --elasticsearch-port $(SEARCH_PORT)

search-down: ## Stop the background search server
	$(VENV)/bin/noida-db down --data-dir $(SEARCH_DIR)

clean: ## Remove the demo data and caches
	rm -rf data/demo .pytest_cache .mypy_cache .ruff_cache
