# kea-etl entry points. `make test` is what CI (.ci/run) runs on a fresh Debian machine.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help deps demo test test-later lint commands-doc notebook clean soak

help:
	@echo "make demo          run kea-etl on the bundled sample data"
	@echo "make test          install what is missing (apt, .venv, Kea 2.6/3.0 rootfs, Kea 3.2 build), then the whole suite"
	@echo "make test-later    the whole suite as if today were two years ahead (servers under faketime)"
	@echo "make lint          ruff + mypy --strict on kea_etl/"
	@echo "make commands-doc  re-run the real-Kea command tests and regenerate docs/commands.md"
	@echo "make soak          long reliability run: 20 kill/resume trials of 100k leases, big fuzz, GB file"
	@echo "make notebook      re-run notebooks/audit.ipynb on the sample data (real Kea) and save its outputs"

deps:
	scripts/install-deps

demo: deps
	$(PY) scripts/demo

test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Two years ahead: tests generate their dates for that day, Kea and dhcpd run under
# libfaketime (+730d) preloaded, kea-etl's clock is moved by the same amount (tests/harness/clock.py).
# pytest itself is never run under libfaketime (it breaks Python's timed waits).
LATER_DAYS ?= 730
test-later: deps
	KEA_ETL_TEST_SHIFT_DAYS=$(LATER_DAYS) $(PY) -m pytest $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check kea_etl tests
	$(VENV)/bin/mypy kea_etl

# The command tests run twice (kea4/kea6 + kea3_* on Kea 2.2 + 3.0, then on 2.6 + 3.2) and the
# compatibility layer once per version: one column per Kea version in docs/commands.md.
commands-doc: deps
	KEA_ETL_COMMAND_LOG=build/kea-commands-doc.jsonl $(PY) -m pytest -q tests/kea/test_commands_real.py tests/kea/test_versions_real.py tests/kea/test_newer_commands_real.py
	KEA_ETL_KEA2=2.6 KEA_ETL_KEA3=3.2 KEA_ETL_COMMAND_LOG=build/kea-commands-doc-2.jsonl $(PY) -m pytest -q tests/kea/test_commands_real.py
	$(PY) scripts/gen-commands-doc build/kea-commands-doc.jsonl build/kea-commands-doc-2.jsonl -o docs/commands.md

notebook: deps
	$(PY) scripts/make-notebook-outputs

soak: deps
	scripts/soak $(PYTEST_ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
