# `make run`: a fresh clone to a running server on http://127.0.0.1:5000 (embedded defaults;
# PORT=8080 make run for another port): gunicorn with gevent workers, as in production.
# `make test`: the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lock

run: $(VENV)/installed
	CHATBOT_ENV=$${CHATBOT_ENV:-development} $(BIN)/chatbot serve --port $${PORT:-5000}

test: $(VENV)/installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/installed-test
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Dependencies come from the locks (exact versions, with their hashes); the ranges in
# setup.cfg are for installing the package into an environment of one's own.
PIP := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off

$(VENV)/installed: setup.cfg pyproject.toml requirements/runtime.lock
	@echo "Installing the server into $(VENV) (about a minute the first time)..."
	$(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r requirements/runtime.lock
	$(PIP) --no-deps -e .
	test -x $(BIN)/chatbot
	touch $@

$(VENV)/installed-test: $(VENV)/installed requirements/test.lock
	@echo "Installing the test tools into $(VENV)..."
	$(PIP) --require-hashes -r requirements/test.lock
	touch $@

# Bring the locks in step with setup.cfg (pip-tools), keeping the versions they hold;
# `make lock LOCK_ARGS=--upgrade` takes the newest versions within the ranges.
LOCK := .cache/pip-tools/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock:
	test -x .cache/pip-tools/bin/pip-compile || ($(PYTHON) -m venv .cache/pip-tools && \
	  .cache/pip-tools/bin/python -m pip install --quiet 'pip-tools>=7.6,<8')
	$(LOCK) --output-file requirements/runtime.lock setup.cfg
	$(LOCK) --extra test --output-file requirements/test.lock setup.cfg
