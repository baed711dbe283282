# Two entry points for a fresh machine: `make demo` (train -> export -> serve -> predict)
# and `make test` (every test, what CI runs). Both create .venv and install the pinned stack on
# first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= cifar10
WEIGHTS ?= imagenet
OUT ?= demo
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: tools install demo test test-quick test-all test-reliability lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# The third-party programs tests drive: Chromium (the web page), wrk, h2load, perf_analyzer.
# In CI (CI=true) a failure stops the run; elsewhere tests needing a missing tool skip.
tools:
	bash scripts/install_test_deps.sh || [ -z "$$CI" ]
	bash scripts/install_tools.sh || [ -z "$$CI" ]

demo: $(STAMP)
	DATA='$(DATA)' WEIGHTS='$(WEIGHTS)' OUT='$(OUT)' PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Every test, the guarantees' reliability and slow integration tests included (what CI runs).
test: $(STAMP) lint tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: test

# The fast inner loop while developing: leaves out the slow and reliability marks.
test-quick: $(STAMP) lint
	$(BIN)/python -m pytest -m "not slow and not reliability" $(PYTEST_ARGS)

test-reliability: $(STAMP)
	$(BIN)/python -m pytest -m reliability $(PYTEST_ARGS)

bench: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache build
