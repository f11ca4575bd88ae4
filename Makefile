# `make demo`: set up and run the sweep on the sample estate. `make test`: set up and run every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Azurite (the storage emulator the Function app tests use), pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js 20 and npm (the tests run Azurite from node_modules)" >&2; exit 2; }
	npm ci --no-audit --no-fund
	touch $@

demo: $(VENV)/.installed
	$(PY) -m sweep --snapshot examples/estate; status=$$?; [ $$status -le 1 ] || exit $$status

test: $(VENV)/.installed node_modules/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.installed
	$(PY) -m bench.evaluate

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
