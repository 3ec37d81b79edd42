# Two commands a new user needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
STACKS ?= dev staging prod onprem

.PHONY: install demo plan policy test lint fmt bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and exactly pinned: a looser requirement resolves to a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## The main job: offline plan + policy check of every example stack, then the local ML lifecycle.
demo: install
	@for s in $(STACKS); do $(VENV)/bin/mlplatform plan --stack $$s || exit $$?; echo; done
	@for s in $(STACKS); do $(VENV)/bin/mlplatform policy --stack $$s || exit $$?; echo; done
	@$(VENV)/bin/mlplatform report --stack prod --out .mlplatform/prod/report || exit $$?
	@echo "compliance report: $(CURDIR)/.mlplatform/prod/report/report.html (and report.json, controls.csv)"
	@echo
	$(PY) -m workloads.lifecycle
	$(PY) -m workloads.dr drill

plan: install
	$(VENV)/bin/mlplatform plan --stack $(or $(STACK),dev)

policy: install
	$(VENV)/bin/mlplatform policy --stack $(or $(STACK),dev)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Each benchmark prints one JSON object as its last line.
bench: install
	@command -v wrk >/dev/null 2>&1 || echo "note: wrk not found; bench/serving.py falls back to its Python client (Debian: apt-get install wrk)"
	$(PY) bench/plan_scale.py
	$(PY) bench/policy_scale.py
	$(PY) bench/inference.py
	$(PY) bench/serving.py
	$(PY) bench/features.py
	$(PY) bench/drift.py
	$(PY) bench/ingestion.py

clean:
	rm -rf .mlplatform .pytest_cache .ruff_cache .mypy_cache
