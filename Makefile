# The README's two commands: `make demo` and `make test`. Each creates .venv and installs the
# project into it first (once; again when pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test lint ui report bench install chromium screenshots soak clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/cursor-analytics demo --days 30 --users 40

# --dist loadfile: all tests of a file on one worker, so a module's fixture (a demo, a running
# `dagster dev`, materialized days) is built once, not once per worker.
test: install lint
	bash .ci/install-chromium || echo "Chromium could not be installed: test_ui.py will fail and say so."
	$(BIN)/pytest -n 2 --dist loadfile -q -p no:cacheprovider

# Style and architecture: ruff (lint, format) and import-linter's layers contract (pyproject).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The tests that depend on timing, crashes and concurrency (pacing, SIGKILL at fault points,
# parallel runs and readers), N times in a row; stops at the first failure (docs/claims.md).
N ?= 10
SOAK_FILES := cursor_analytics_tests/test_crash.py cursor_analytics_tests/test_governance_crash.py \
	cursor_analytics_tests/test_concurrency.py cursor_analytics_tests/test_client.py \
	cursor_analytics_tests/test_simulator.py
SOAK_TESTS := test_crash or test_governance_crash or test_concurrency or pacing or paced or \
	rate_limit or burst or limiter or sliding or refund or 429
soak: install
	for i in $$(seq 1 $(N)); do \
		echo "== run $$i of $(N)"; \
		$(BIN)/pytest -n 2 --dist loadfile -q -p no:cacheprovider $(SOAK_FILES) -k "$(SOAK_TESTS)" || exit 1; \
	done

# The UI test's browser: Debian's chromium package, installed by apt-get when missing.
chromium:
	bash .ci/install-chromium

# The README's screenshots: the UI test, saving its pictures into docs/screenshots/.
screenshots: install chromium
	CURSOR_ANALYTICS_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:cacheprovider cursor_analytics_tests/test_ui.py

# Benchmarks against the API's rate-limit floor, memory and metric scale: writes bench/RESULTS.md
# (about 80 minutes on 2 cores; `$(BIN)/python -m bench --help` for subsets).
bench: install
	$(BIN)/python -m bench

# The Dagster UI on the demo's instance, http://127.0.0.1:$(PORT): against the real API when
# CURSOR_API_KEY is set, else against the bundled simulator (started alongside, stopped with it).
PORT ?= 3000
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/cursor-analytics ui --port $(PORT)

# The downstream example's weekly report, materialized into the same instance the UI shows.
report: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster asset materialize -f examples/downstream/leadership_reports/definitions.py \
		-d examples/downstream --select leadership/weekly_cursor_report

clean:
	rm -rf $(VENV) .dagster_home data
