# content-classifier: every target installs what it needs into a local virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" -c constraints.txt

.PHONY: help install lock audit demo test unit integration reliability lint typecheck schemas model broker clean

help:
	@echo "make demo   - run the main job on the embedded broker and print a summary"
	@echo "make test   - run the whole test suite (installs everything it needs)"
	@echo "make lint | typecheck | audit | lock | schemas | model | broker | clean"

# Every package comes from the lock file, each checked against its sha256 (pip itself
# included: the lock upgrades the venv's pip); the project is installed on top, without
# dependencies and with the locked setuptools.
$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

install: $(STAMP)

# Recompile the lock files after changing pyproject.toml or constraints.txt (needs PyPI and
# an installed .venv, whose uv compiles them).
lock:
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	$(UV_COMPILE) pyproject.toml build-requirements.in --extra dev -o requirements-dev.lock

# Known vulnerabilities in the locked packages (pip-audit; needs PyPI's or OSV's API).
audit: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" scripts/audit.sh requirements-dev.lock

demo: $(STAMP)
	$(PY) -m consumer demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

# The fault and hostile-input scenarios, with their figures (docs/reliability.md).
reliability: $(STAMP)
	$(PY) -m pytest tests/integration/test_reliability.py -s -q | grep -oE "RELIABILITY .*|[0-9]+ (passed|failed).*"

lint: $(STAMP)
	$(PY) -m ruff check consumer tests bench
	$(PY) -m ruff format --check consumer tests bench

typecheck: $(STAMP)
	$(PY) -m mypy consumer bench tests

schemas: $(STAMP)
	$(PY) -m consumer schemas

# Retrain the shipped default model from ../shared/data (fixed seed: reproducible).
model: $(STAMP)
	$(PY) -m consumer train --recipe default --out models/malicious-content

broker: $(STAMP)
	$(PY) -m consumer broker --create-topics

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
