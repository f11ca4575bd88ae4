# `make demo`: set up and run the sweep on the sample estate. `make test`: set up and run every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench bench-sweep clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	$(PY) -m sweep --snapshot examples/estate; status=$$?; [ $$status -le 1 ] || exit $$status

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.installed
	$(PY) -m bench.evaluate

# about 12 minutes on 2 cores: live sweeps of 100, 1,000 and 5,000 clusters against the local Azure emulator
bench-sweep: $(VENV)/.installed
	$(PY) -m bench.sweep --clusters 100 1000 5000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
