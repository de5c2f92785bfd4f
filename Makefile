# Two commands set up everything on a fresh machine with Python 3.11+:
#   make demo   - create .venv, install, run the main job on embedded defaults
#   make test   - create .venv, install, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test browser wheelcheck lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cjgrade demo --out cjgrade-demo

test: $(STAMP) browser wheelcheck
	$(BIN)/python -m pytest -q

# What ships must run: build the wheel, install it without extras into a fresh environment and
# run the demo there (a missing runtime dependency or data file fails here, not for a user).
WHEELCHECK := .wheelcheck
wheelcheck: $(STAMP)
	rm -rf $(WHEELCHECK) && mkdir -p $(WHEELCHECK)
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(WHEELCHECK)/dist .
	$(PYTHON) -m venv $(WHEELCHECK)/venv
	$(WHEELCHECK)/venv/bin/python -m pip install --quiet $(WHEELCHECK)/dist/*.whl
	cd $(WHEELCHECK) && CJGRADE_HOME=$$PWD/home venv/bin/cjgrade demo --out demo > demo.log 2>&1 \
	  || (cat demo.log; echo "wheelcheck: the installed wheel could not run the demo"; exit 1)
	@echo "wheelcheck: the wheel installed without extras runs the demo"

# The HTML report is checked in a real browser (Debian's chromium). Installed here when missing
# and possible (root + apt-get); otherwise that one test skips with a message saying so.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian chromium for the HTML report browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: chromium could not be installed; the browser test will be skipped"; \
	else echo "note: chromium not found and not installable here (needs root and apt-get); the browser test will be skipped"; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src/cjgrade/stats src/cjgrade/scales src/cjgrade/domain.py src/cjgrade/errors.py \
	  src/cjgrade/judges/base.py src/cjgrade/judges/batch.py src/cjgrade/judges/clock.py \
	  src/cjgrade/engine/dispatch.py src/cjgrade/engine/inflight.py src/cjgrade/engine/progress.py \
	  src/cjgrade/engine/spec_codec.py \
	  src/cjgrade/bus/transport.py src/cjgrade/distributed/worker.py src/cjgrade/texts.py \
	  src/cjgrade/judges/pricing.py src/cjgrade/engine/results.py src/cjgrade/reports/sections.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_judges.py
	$(BIN)/python benchmarks/bench_store.py

clean:
	rm -rf $(VENV) $(WHEELCHECK) .pytest_cache .mypy_cache .ruff_cache
