# chainsleuth developer front door: CI calls `make test` unchanged.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean web web-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark,report,api]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/chainsleuth demo --workdir demo-case
	@echo "report: $(CURDIR)/demo-case/case/report.html and report.pdf"

# lint + types + tests; the slow end-to-end tests and the explorer's unit tests (npm) run when
# CI is set (.ci/run sets it)
test: install lint
	$(if $(CI),$(MAKE) web-test)
	$(BIN)/python -m pytest $(if $(CI),,-m "not slow")

# the web explorer: sources in web/, built into src/chainsleuth/web/dist (shipped in the package;
# tests/web/test_build_reproducible.py checks a clean build reproduces it byte for byte)
web:
	cd web && npm ci && npm run build

web-test:
	cd web && npm ci && npm test

lint: install
	$(BIN)/ruff check src tests bench scripts conftest.py
	$(BIN)/ruff format --check src tests bench scripts conftest.py
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/explorer.py

clean:
	rm -rf $(VENV) demo-case .pytest_cache .mypy_cache .ruff_cache web/node_modules
