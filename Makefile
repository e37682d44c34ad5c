# Two commands do all set-up on a fresh machine with Python 3.11 and make:
#   make run    creates .venv, installs the project, runs the main job on the synthetic café
#   make test   creates .venv if needed, runs the whole test suite (slow tests included)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast chromium lint bench params repro clean help

help:
	@echo "make run | make test | make test-fast | make lint | make bench | make params | make repro | make clean"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/irm run $(ARGS)

# One pytest-xdist worker per core, each test file on one worker (module fixtures are built once);
# PYTEST_ARGS="-n 0" runs in one process.
XDIST ?= -n auto --dist loadfile --durations=25

test: $(STAMP) chromium
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP) chromium
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

# The browser tests need a Chromium: Playwright's own or the system's, else `playwright install
# chromium`, else (Debian, root) `apt-get install chromium`; otherwise one line says how to get one.
chromium: $(STAMP)
	@$(BIN)/python tests/chromium.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/cafe_context.py
	$(BIN)/python bench/worlds.py
	$(BIN)/python bench/defaults.py --name defaults-r4 --candidate "model.params.num_leaves=127" \
	    --candidate "model.params.bagging_fraction=1.0 model.params.bagging_freq=0"
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/score.py
	$(BIN)/python bench/completejourney.py
	$(BIN)/python bench/completejourney.py --protocol next_basket
	$(BIN)/python bench/completejourney.py --item-level product_id
	$(BIN)/python bench/completejourney.py --item-level product_id --protocol next_basket
	$(BIN)/python bench/report.py --screenshot docs/report.png

# params.yaml is generated from conf/ (never edit it): the stages in dvc.yaml read it, and
# `dvc exp run` recomposes it with its -S overrides. `make repro` refreshes it, then runs the DAG.
params: $(STAMP)
	$(BIN)/python -c 'from pathlib import Path; from irm_models.config import params_yaml; Path("params.yaml").write_text(params_yaml(Path("conf")))'

repro: params
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
