# `make run`: a fresh clone to a running server on http://127.0.0.1:5000 (embedded defaults;
# PORT=8080 make run for another port): gunicorn with gevent workers, as in production.
# `make test`: the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench

run: $(VENV)/installed
	CHATBOT_ENV=$${CHATBOT_ENV:-development} $(BIN)/chatbot serve --port $${PORT:-5000}

test: $(VENV)/installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/installed-test
	$(BIN)/python bench/run.py $(BENCH_ARGS)

$(VENV)/installed: setup.cfg pyproject.toml
	@echo "Installing the server into $(VENV) (about a minute the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e .
	test -x $(BIN)/chatbot
	touch $@

$(VENV)/installed-test: $(VENV)/installed
	@echo "Installing the test tools into $(VENV)..."
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[test]'
	touch $@
