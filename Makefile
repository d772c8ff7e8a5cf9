# Kinkyu — every install step lives here, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test check lint typecheck imports unit integration browser bench fuzz fmt clean

$(STAMP): pyproject.toml scripts/system-deps.sh
	sh scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv with Kinkyu and its tools

run: $(STAMP) ## embedded broker + worker + bundled sample; prints incidents as they open (Ctrl-C stops)
	$(BIN)/kinkyu run

test: check ## lint, type-check, then every test tier (pure, agents, integration on a real broker, browser)
	$(BIN)/pytest -q

check: lint typecheck imports ## static checks only

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP) ## the layers in pyproject.toml's [tool.importlinter]: the core imports no edge, edges no sideways
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

browser: $(STAMP) ## the console in Debian's chromium (Playwright), against a live broker, worker and console
	$(BIN)/pytest -q tests/browser

bench: $(STAMP) ## throughput and latency against a bare-consumer baseline, same run
	$(BIN)/python bench/bench.py

fuzz: $(STAMP) ## 100,000 mutated events through a real worker: dead letters counted, a planted breach found, no error log
	$(BIN)/python bench/fuzz.py

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
