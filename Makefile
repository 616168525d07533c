# content-classifier: every target installs what it needs into a local virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install demo test unit integration reliability lint typecheck schemas model broker clean

help:
	@echo "make demo   - run the main job on the embedded broker and print a summary"
	@echo "make test   - run the whole test suite (installs everything it needs)"
	@echo "make lint | typecheck | schemas | model | broker | clean"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(STAMP)

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
	$(PY) -m mypy consumer

schemas: $(STAMP)
	$(PY) -m consumer schemas

# Retrain the shipped default model from ../shared/data (fixed seed: reproducible).
model: $(STAMP)
	$(PY) -m consumer train --recipe default --out models/malicious-content

broker: $(STAMP)
	$(PY) -m consumer broker --create-topics

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
