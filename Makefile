# The two commands in the README: `make demo` and `make test`.
# Both work on a fresh Debian machine as root: they make a virtualenv, install the
# project into it, and install Debian's pebble and bind9 when a binary is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test test-portable test-fast lint demo demo-wildcard pebble-bin image-tools image bench reliability clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Debian's pebble, and BIND 9 (named) as the DNS-01 tests' authoritative server.
pebble-bin:
	@command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null \
	  && { command -v named >/dev/null || test -x /usr/sbin/named; } || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble bind9; }

# What `make image` and the image test (tests/e2e/test_image.py) need: Debian's buildah,
# podman and runc, and debootstrap for the offline base (deploy/image/build).
image-tools:
	@command -v buildah >/dev/null && command -v podman >/dev/null && command -v runc >/dev/null \
	  && command -v debootstrap >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah podman runc debootstrap; }

# The container image (controller + pod-mode solver); prints its size.
image: $(BIN)/.installed image-tools
	deploy/image/build

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite, then its portable part again against a simulator in another process
# (tests/against_server.sh), so the path a real API server takes is exercised in CI too.
test: lint pebble-bin image-tools
	$(BIN)/pytest
	bash tests/against_server.sh $(BIN)

test-portable: $(BIN)/.installed pebble-bin
	bash tests/against_server.sh $(BIN)

test-fast: lint
	$(BIN)/pytest -m 'not slow'

# The reliability suite alone (part of `make test` too), printing its figures.
reliability: $(BIN)/.installed pebble-bin
	$(BIN)/pytest tests/reliability -m reliability -s -p no:randomly

demo: $(BIN)/.installed pebble-bin
	$(BIN)/certmgr dev demo

# DNS-01: a wildcard certificate through a local BIND 9 (RFC 2136) and Pebble.
demo-wildcard: $(BIN)/.installed pebble-bin
	$(BIN)/certmgr dev demo --wildcard

# Printed figures, not tests (docs/benchmarks.md). bench/issuance_*.py are helpers.
bench: $(BIN)/.installed pebble-bin
	@command -v lego >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lego
	set -e; for b in $(filter-out bench/issuance_%,$(wildcard bench/*.py)); do \
	  echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
