# Airlock: two set-up commands on a fresh machine, `make demo` and `make test`.
# Every target installs what it needs (system packages, the virtualenv) first.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests and the demo drive as real parts.
SYSTEM_PACKAGES := docker-registry skopeo umoci softhsm2 opensc tmux zstd apache2-utils podman
# One command each proves the package is there.
SYSTEM_COMMANDS := docker-registry skopeo umoci softhsm2-util pkcs11-tool tmux zstd htpasswd podman

.PHONY: all demo test test-fast lint fmt bench build sealed sysdeps venv js-oracle clean

all: test

sysdeps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing system packages (missing:$$missing)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# sigstore-js, the independent verifier of the bundles the appliance writes
# (test-only; pinned by package-lock.json, installed from the npm registry).
JS_ORACLE := tests/oracle-js/node_modules/.installed
$(JS_ORACLE): tests/oracle-js/package.json tests/oracle-js/package-lock.json
	@command -v npm >/dev/null || { echo "make: installing nodejs and npm"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
	cd tests/oracle-js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

js-oracle: $(JS_ORACLE)

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every check: format, lint, types, import contracts, then the test suite
# (slow tests included) on every core: one worker process per usable CPU,
# each test file whole in one worker so its module fixtures start once.
# Serial, the suite took 31 minutes on CI's 2-CPU machine; on two, about 20.
test: sysdeps venv js-oracle lint
	$(BIN)/pytest -m "" -q -n auto --dist loadfile

# The suite without the slow tests, for a quick local loop.
test-fast: sysdeps venv js-oracle
	$(BIN)/pytest -q -n auto --dist loadfile

demo: sysdeps venv
	$(BIN)/python -m demo

# The sealed appliance, reproducibly, outside the source tree (build/build.sh
# says where: $$AIRLOCK_SEALED, default ~/.cache/airlock-sealed).
sealed: venv
	bash build/build.sh

build: sealed

# `make bench ONLY="verify scale"` runs the named sections (`python -m benchmarks
# --help` lists them). Bytecode is compiled first, as a wheel install does (and as pip did for the
# peer): this environment sets PYTHONDONTWRITEBYTECODE, which would otherwise
# make every start recompile the source tree and skew start-up figures.
bench: sysdeps venv build
	$(BIN)/python -m compileall -q appliance airlock_io airlock_registry bundle-tools/bundle_tools trustroot
	$(BIN)/python -m benchmarks $(ONLY)

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
