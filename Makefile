# `make run`: a fresh clone to a running server on http://127.0.0.1:5000 (embedded defaults).
# `make test`: the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench

run: $(VENV)/installed
	CHATBOT_ENV=$${CHATBOT_ENV:-development} $(BIN)/flask --app wsgi run --host 127.0.0.1 --port 5000

test: $(VENV)/installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/installed-test
	$(BIN)/python bench/run.py $(BENCH_ARGS)

$(VENV)/installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/installed-test: $(VENV)/installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@
