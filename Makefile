# dihr-graph — the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= $(or $(DIHR_DATA_DIR),data)

.PHONY: run test install install-test chromium wrk bench clean lock screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata or the lock changes; versions from the lock.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . -c requirements.lock
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements.lock $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]' -c requirements.lock
	touch $@

# The lock, from a fresh resolution of pyproject.toml's dependencies and test extras.
lock: | $(BIN)/python
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet -e '.[test]'
	{ sed -n '/^#/p' requirements.lock; $(VENV)-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf $(VENV)-lock

# Node packages: current INSEE populations (@etalab/decoupage-administratif)
# and Neo4j's Cypher linter.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's Chromium (no browser can be downloaded here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The benchmark's HTTP load generator (8 concurrent clients), from Debian.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the benchmark…"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }

install: $(VENV)/.installed node_modules/.installed
install-test: $(VENV)/.installed-test node_modules/.installed chromium

run: install
	DIHR_DATA_DIR=$(DATA) $(BIN)/dihr init --if-needed
	DIHR_DATA_DIR=$(DATA) $(BIN)/dihr demo --if-needed
	DIHR_DATA_DIR=$(DATA) $(BIN)/dihr keys demo
	DIHR_DATA_DIR=$(DATA) $(BIN)/dihr serve

# Lint and types first (seconds), then the whole suite.
test: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The user guide's screenshots (docs/screenshots), taken by the browser tests on the demo network.
screenshots: install-test
	DIHR_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/api/test_pages_browser.py -k guide

# National-scale benchmark (several minutes): results in benchmarks/results/, table copied into docs/benchmarks.md.
bench: install-test wrk
	$(BIN)/python -m benchmarks.run --readme

clean:
	rm -rf $(VENV) node_modules .pytest_cache
