# LSC Lab — `make run` executes the collection, `make test` proves it. `make help` lists everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed
DATA ?= data/sample
CONFIG ?= configs/default.yaml
# implicit warns (and runs slower) when OpenBLAS spawns its own threads.
export OPENBLAS_NUM_THREADS := 1
# Public key for the embedded SYNTHETIC sample only, so committed notebook outputs (nbval) are stable.
# Real data uses your own key: LSC_PSEUDONYM_KEY or the generated ~/.config/lsc-lab/pseudonym.key.
DEMO_KEY := lsc-lab-demo-key-synthetic-sample-only

.DEFAULT_GOAL := help
.PHONY: help venv spark data run live-study demand-study multichannel test test-unit test-spark test-notebooks nbval notebooks lint benchmark clean

help: ## list the targets with one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python scripts/install_nodeps.py
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned dependencies (skipped when up to date)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

spark: $(SPARK_STAMP) ## add the optional Spark engine (PySpark; Java 17 must be installed) to .venv

$(DATA)/dataset.yaml: | $(STAMP)
	$(BIN)/python -m lsc_utils simulate --users 3000 --days 56 --seed 42 --campaign --out $(DATA) --quiet

data: $(DATA)/dataset.yaml ## make the embedded default dataset (simulated, seeded) if absent

run: venv data ## execute every notebook on the default data and write outputs/runs/default/report.html
	$(BIN)/python -m lsc_utils run --config $(CONFIG)

LIVE_DATA := data/live_study

$(LIVE_DATA)/dataset.yaml: | $(STAMP)
	$(BIN)/python -m lsc_utils simulate --users 300 --days 7 --seed 42 --showcase-rooms 40 --out $(LIVE_DATA) --quiet

live-study: venv $(LIVE_DATA)/dataset.yaml ## rooms with big guest audiences and planted drops: 01 + 06 with scored alerts
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m lsc_utils run --data $(LIVE_DATA) --only 01,06 --out outputs/runs/live_study

DEMAND_DATA := data/demand_study

$(DEMAND_DATA)/dataset.yaml: | $(STAMP)
	$(BIN)/python -m lsc_utils simulate --users 100 --days 84 --seed 42 --demand-study --out $(DEMAND_DATA) --quiet

demand-study: venv $(DEMAND_DATA)/dataset.yaml ## market orders with planted demand, a hot category and live-day lift: 01 + 07 scored
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m lsc_utils run --data $(DEMAND_DATA) --only 01,07 --out outputs/runs/demand_study

MULTI_DATA := data/multichannel
MULTI_SOURCES := app web live social crm

$(MULTI_DATA)/integrated/dataset.yaml: $(DATA)/dataset.yaml | $(STAMP)
	rm -rf $(MULTI_DATA)
	$(BIN)/python -m lsc_utils simulate-channels --base $(DATA) --out $(MULTI_DATA)/sources
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m lsc_utils integrate $(foreach s,$(MULTI_SOURCES),--source $(s)=$(MULTI_DATA)/sources/$(s)) \
		--out $(MULTI_DATA)/integrated --truth $(MULTI_DATA)/sources/truth

multichannel: venv $(MULTI_DATA)/integrated/dataset.yaml ## one person across 5 simulated sources: integrate (identity resolution), then 01 + 02
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m lsc_utils run --data $(MULTI_DATA)/integrated --only 01,02 --out outputs/runs/multichannel

test: venv spark data ## the whole test suite: unit tests (Spark engine included), notebook tests and nbval
	$(MAKE) --no-print-directory test-unit test-notebooks nbval

test-unit: venv ## unit tests of lsc_utils (real-data tests skip when ../shared/data is absent; Spark ones without PySpark)
	$(BIN)/python -m pytest tests/unit -q -n 2 --dist loadgroup

test-spark: spark data ## Spark engine = DuckDB on the whole default sample and every real sample (several minutes)
	LSC_SPARK_FULL=1 $(BIN)/python -m pytest tests/unit/test_spark_engine.py -q

test-notebooks: venv data ## execute each notebook with papermill on small parameters and check its results
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m pytest tests/notebooks -q -n 2 --dist loadfile

nbval: venv data ## re-execute the committed notebooks and compare with their stored outputs
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python -m pytest --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -q notebooks/[0-9][0-9]_*.ipynb

notebooks: venv data ## refresh the committed notebooks' outputs from a default run (strips volatile metadata)
	LSC_PSEUDONYM_KEY=$(DEMO_KEY) $(BIN)/python scripts/refresh_notebooks.py notebooks

lint: venv ## ruff over the package, tests and scripts
	$(BIN)/ruff check lsc_utils tests scripts benchmarks
	$(BIN)/ruff format --check lsc_utils tests scripts benchmarks

benchmark: venv ## speed and memory benchmarks (by hand; results go to benchmarks/RESULTS.md)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean: ## remove run outputs and the generated default dataset (keeps .venv)
	rm -rf outputs/runs $(DATA) $(LIVE_DATA)
