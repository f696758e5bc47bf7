# The two commands a fresh machine needs (see README):
#   make run    set everything up, then run the whole pipeline locally on the offline dataset
#   make test   set everything up, then run the test suite
# Every environment installs from its lock in requirements/ (exact versions, by hash) and
# nothing else; `make lock` refreshes the locks on purpose.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Linters for tests/manifests and tests/containers, in their own virtualenv: checkov pins
# older packaging/termcolor/tabulate than .venv has, so it cannot share it.
TOOLS_VENV ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# Only what a user needs to see: no progress bars, no "already satisfied" lines.
PIP_QUIET := --quiet --progress-bar off --disable-pip-version-check --no-input

.PHONY: run test install bench compile lock clean mutation images images-cpu images-slim images-gpu

# The lock is complete (transitive dependencies and the build backend): --no-deps makes
# pip refuse to add anything it does not name, and distml itself builds without isolation
# so no unlocked setuptools is fetched.
$(STAMP): pyproject.toml setup.py requirements/dev.lock
	@echo "setting up $(VENV) from requirements/dev.lock (first run: a few minutes)"
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install $(PIP_QUIET) --require-hashes --no-deps -r requirements/dev.lock
	@$(BIN)/pip install $(PIP_QUIET) --no-deps --no-build-isolation -e .
	@touch $(STAMP)

MUTATION_VENV ?= .venv-mutation
MUTATION_STAMP := $(MUTATION_VENV)/.installed

$(MUTATION_STAMP): requirements/mutation.lock
	@echo "setting up $(MUTATION_VENV) from requirements/mutation.lock"
	@rm -rf $(MUTATION_VENV)
	@$(PYTHON) -m venv $(MUTATION_VENV)
	@$(MUTATION_VENV)/bin/pip install $(PIP_QUIET) --require-hashes --no-deps -r requirements/mutation.lock
	@touch $(MUTATION_STAMP)

$(TOOLS_STAMP): requirements/tools.lock
	@echo "setting up $(TOOLS_VENV) from requirements/tools.lock"
	@rm -rf $(TOOLS_VENV)
	@$(PYTHON) -m venv $(TOOLS_VENV)
	@$(TOOLS_VENV)/bin/pip install $(PIP_QUIET) --require-hashes --no-deps -r requirements/tools.lock
	@touch $(TOOLS_STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/distml run

test: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/python -m pytest

compile: $(STAMP)
	$(BIN)/distml compile

# Refresh every lock from pyproject's ranges (today's releases), reinstall, regenerate the
# generated files; review and commit the result with the test run that passed on it.
lock: $(TOOLS_STAMP)
	sh requirements/lock.sh

# Mutation testing of the pure-Python cores (tens of minutes; not part of `make test`):
# kill rate per target, survivors in .mutation/; results in docs/testing.md. Run it niced on a
# shared machine (nice -n 15 make mutation). ARGS="--sample 16" runs a random sample per
# target; ARGS="--recheck" re-tries the survivors; ARGS="--cold" starts a new interpreter per
# mutant instead of forking a warm one; ARGS="tf_config rollout" runs only those targets.
mutation: $(STAMP) $(MUTATION_STAMP)
	$(MUTATION_VENV)/bin/python tests/mutation/run.py $(ARGS)

# Container images (docs/containers.md): each from a wheelhouse of its lock prepared here, so
# `docker build` needs no index. The base is the digest-pinned python image, or where no
# registry answers, an equivalent built from Debian packages (containers/debian-base.sh).
# Set BASE_IMAGE to choose it, IMAGE to retag. The GPU image is large: not part of `images`.
images: images-cpu images-slim

images-cpu images-slim images-gpu: images-%: $(STAMP)
	sh containers/build-image.sh $*

bench: $(STAMP)
	sh benchmarks/setup_bench_venv.sh
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(MUTATION_VENV) .mutation .venv-bench .pytest_cache build *.egg-info
