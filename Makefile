# chainsleuth developer front door: CI calls `make test` unchanged.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark,report]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/chainsleuth demo --workdir demo-case
	@echo "report: $(CURDIR)/demo-case/case/report.html and report.pdf"

# lint + types + tests; the slow end-to-end tests run when CI is set (.ci/run sets it)
test: install lint
	$(BIN)/python -m pytest $(if $(CI),,-m "not slow")

lint: install
	$(BIN)/ruff check src tests bench scripts conftest.py
	$(BIN)/ruff format --check src tests bench scripts conftest.py
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) demo-case .pytest_cache .mypy_cache .ruff_cache
