# Two commands set up everything on a fresh machine with Python 3.11+:
#   make demo   - create .venv, install, run the main job on embedded defaults
#   make test   - create .venv, install, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cjgrade demo --out cjgrade-demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/cjgrade/stats src/cjgrade/scales src/cjgrade/domain.py src/cjgrade/errors.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_judges.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
