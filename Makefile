# Gesso: `make run` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test bench install clean-venv browser postgres

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

run: $(STAMP)
	$(BIN)/gesso generate --prompts-file configs/demo-prompts.jsonl --out out
	$(BIN)/gesso serve

test: $(STAMP) browser postgres
	$(BIN)/python -m pytest

bench: $(STAMP)
	@test -f corpus/base/metadata.jsonl || $(BIN)/gesso data build-emoji --out corpus/base
	@test -f corpus/fluent3d/metadata.jsonl || $(BIN)/gesso data build-emoji --styles fluent3d --out corpus/fluent3d
	$(BIN)/python -m benchmarks.run_all

clean-venv:
	rm -rf $(VENV)

# The web console's end-to-end tests drive Debian's chromium (no browser download); without it
# they skip with the reason.
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the web console's browser tests will be skipped"

# The suite starts a throwaway PostgreSQL cluster of its own (tests/real_servers.py) from Debian's
# package; SeaweedFS, the S3 server, comes from PyPI with the rest of requirements.lock.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
		|| echo "postgresql could not be installed: the PostgreSQL tests will fail"
