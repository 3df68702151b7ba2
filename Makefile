# make run: a fresh machine with Python 3.11 and make is enough.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test

.PHONY: run test lint typecheck pytest bench daemon tui clean system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(TSTAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(STAMP)

## run: start aionisd on the default store and open the TUI (the daemon stops when the TUI exits)
run: $(STAMP)
	@$(BIN)/python -m aionisd.launch

## system-deps: tools the tests drive for real (bubblewrap for shadow runs, tmux for the TUI smoke test)
system-deps:
	@sh share/install-system-deps.sh

## test: lint, type-check and the whole suite
test: $(TSTAMP) system-deps lint typecheck pytest

lint: $(TSTAMP)
	$(BIN)/ruff check aionisd aionis_tui tests bench
	$(BIN)/ruff format --check aionisd aionis_tui tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(TSTAMP)
	$(BIN)/mypy

pytest: $(TSTAMP)
	$(BIN)/pytest -q

## bench: every benchmark, figures to bench/results.json
bench: $(TSTAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
