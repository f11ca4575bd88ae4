# `make demo`: set up and run the sweep on the sample estate. `make test`: set up and run every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# checkov (the infra/ scan of the tests) pins packages that conflict with ours: its own venv.
TOOLS := .venv-tools
REQUIRE_PYTHON = command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }

.PHONY: demo test lint docs lock audit fuzz bench bench-sweep bench-bookkeeping bench-html bench-changes bench-function bench-fanout chromium clean

# The .txt files are locks (every package, pinned, with its hashes: pip refuses anything else); humans edit the
# .in files and run `make lock`.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(REQUIRE_PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	@$(REQUIRE_PYTHON)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements-tools.txt
	touch $@

# Recompiles the locks from the .in files (requirements.txt is what the Functions build installs), keeping
# every pin that still fits. From the package index alone: this machine's pip configuration (local wheel
# folders, extra indexes) stays out of the hashes.
PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null \
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: $(VENV)/.installed
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in
	$(PIP_COMPILE) --output-file requirements-tools.txt requirements-tools.in

# The locks against the package index's vulnerability database (pip-audit): fails, in one line per lock, on a
# known vulnerability and also when some package could not be checked (database unreachable).
audit: $(VENV)/.installed
	$(PY) -m tools.audit_lock requirements.txt requirements-dev.txt requirements-tools.txt

# Azurite (the storage emulator the Function app tests use), pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found; install Node.js 20 or later and npm (the tests run Azurite from node_modules)" >&2; exit 2; }
	npm ci --no-audit --no-fund
	touch $@

demo: $(VENV)/.installed
	$(PY) -m sweep --snapshot examples/estate; status=$$?; [ $$status -le 1 ] || exit $$status

# Headless Chromium (Debian's package) for the HTML report's browser tests; installed when missing (as root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] || { echo "error: chromium not found; install Debian's chromium package (apt-get install -y chromium chromium-driver)" >&2; exit 2; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: $(VENV)/.installed $(TOOLS)/.installed node_modules/.installed chromium
	@command -v jq >/dev/null 2>&1 || { echo "error: jq not found; install it (apt-get install jq): the export script's tests run it" >&2; exit 2; }
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# docs/settings.md, written from the settings' and thresholds' descriptions in the code (tests/test_settings.py
# fails when it is out of date)
docs: $(VENV)/.installed
	$(PY) -m tools.settings_doc

# The long property-based run (tests/test_fuzz.py, profile "fuzz": 3,000 random inputs per property; about
# 5 to 12 minutes on 2 shared cores); `make test` runs the same properties on a small fixed set. Prints its figures.
fuzz: $(VENV)/.installed
	$(PY) -m pytest tests/test_fuzz.py -q -s -p no:cacheprovider --hypothesis-profile=fuzz

bench: $(VENV)/.installed
	$(PY) -m bench.evaluate

# about 12 minutes on 2 cores: live sweeps of 100, 1,000 and 5,000 clusters against the local Azure emulator
bench-sweep: $(VENV)/.installed
	$(PY) -m bench.sweep --clusters 100 1000 5000

# a few minutes: a sweep's bookkeeping for 10,000 clusters on Azurite, next to a single counter row
bench-bookkeeping: $(VENV)/.installed
	$(PY) -m bench.bookkeeping --clusters 10000 --workers 16

# render and filter times of the HTML report in headless Chromium: 100, 1,000 and 5,000 clusters
bench-html: $(VENV)/.installed chromium
	$(PY) -m bench.html_report --clusters 100 1000 5000

# about 3 minutes: from a change event to the Teams cards of 1 and of 200 clusters on the emulators
bench-changes: $(VENV)/.installed
	$(PY) -m bench.changes --affected 1 200

bench-function: $(VENV)/.installed
	$(PY) -m bench.function_sweep --clusters 10000 --subscriptions 100 --workspaces 100 --instances 1 --own-core --sample 1500
	$(PY) -m bench.function_sweep --clusters 10000 --subscriptions 100 --workspaces 100 --instances 2

# about a minute: the Function timer alone discovers, records and enqueues 10,000 clusters (bound 60 s)
bench-fanout: $(VENV)/.installed
	$(PY) -m bench.fanout --clusters 10000 --subscriptions 100 --workspaces 100

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .pytest_cache .ruff_cache
