# Two commands on a fresh machine (README): `make demo` and `make test`.
# Both create .venv and install the pinned dependencies in one resolve when needed.

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PYTHON ?= python3
export PATH := $(BIN):$(PATH)
# Great Expectations phones home unless told not to; there is no network here.
export GX_ANALYTICS_ENABLED := false
# The UI's instance (run history); tests and `soe run` use ephemeral instances.
UI_DAGSTER_HOME ?= $(abspath .soe/dagster_home)

.PHONY: install demo test ui bench lint brief

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/soe demo

# The brief's test renders it in headless Chromium, the Spark tests run local Spark on Java 17
# (Debian's packages; installed if missing).
# Two pytest-xdist workers, each test file on one worker (its module fixtures built once):
# 12 minutes instead of 20 on 2 cores. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
test: install
	bash scripts/install_chromium.sh
	bash scripts/install_java.sh
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The Dagster UI on the same definitions, bound to localhost, on the demo data.
ui: install
	mkdir -p $(UI_DAGSTER_HOME)
	cp assets/dagster/dagster.yaml $(UI_DAGSTER_HOME)/dagster.yaml
	DAGSTER_HOME=$(UI_DAGSTER_HOME) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Scale benchmark (benchmarks/README.md): TIER=demo|medium|large.
TIER ?= demo
bench: install
	$(BIN)/python benchmarks/run_benchmark.py --tier $(TIER)

# A screenshot of the latest demo brief (after `make demo`).
brief: install
	bash scripts/install_chromium.sh
	$(BIN)/soe brief --exports .soe/demo/exports --screenshot .soe/demo/brief.png

lint: install
	$(BIN)/ruff check soe_pipeline tests
