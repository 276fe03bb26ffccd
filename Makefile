# Offline by default: `make eval` and `make test` replay LLM calls from evals/cassettes/.
# Only `make record` calls an endpoint: the local server (`extractor local-server`) unless
# RECORD_URL says otherwise.

VENV       ?= .venv
PYTHON     ?= $(VENV)/bin/python
EVAL       ?= $(PYTHON) -m extractor eval
BACKENDS   ?= rules,llm,hybrid
REPORTS    ?= evals/reports
RECORD_URL ?= http://127.0.0.1:8012/v1
# --record: only requests not in the cassettes yet; --record=all: rewrite every fixture's cassette
RECORD     ?= --record
# More endpoint options for record and eval alike (e.g. --model NAME, --mode tools)
LLM_ARGS   ?=
# Seconds per request while recording: a request takes 10-60 s on a 2-core CPU, but one that
# writes a long answer, or waits behind another, can pass the default 300 s (and be sent again).
RECORD_TIMEOUT ?= 1800
# `make mutate`: which mutants (mutmut's name globs: module.function), and how many at once
MUTATE     ?=
MUTATE_JOBS ?= 2

.PHONY: help install test lint eval reports record mutate

## help: list the targets (what a bare `make` does; it changes nothing)
help:
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## /  make /' -e 's/: /\t/'

## install: a virtual environment in .venv with the project and its dev tools
install:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[dev]'

## record: call the endpoint for every LLM request not yet in evals/cassettes/, then rewrite the reports
record:
	$(EVAL) --backend llm,hybrid $(RECORD) --base-url $(RECORD_URL) --timeout $(RECORD_TIMEOUT) $(LLM_ARGS)
	$(MAKE) reports

## reports: rewrite evals/reports/<backend>.json (the baselines) by replaying the cassettes
reports:
	$(EVAL) --backend rules --report $(REPORTS)/rules.json
	$(EVAL) --backend llm --report $(REPORTS)/llm.json $(LLM_ARGS)
	$(EVAL) --backend hybrid --report $(REPORTS)/hybrid.json $(LLM_ARGS)

## eval: score every backend offline; fails when a field got worse than in its committed report
eval:
	$(EVAL) --backend $(BACKENDS) $(LLM_ARGS) $(foreach r,$(wildcard $(REPORTS)/*.json),--baseline $(r))

## test: the test suite, offline (cassettes replay with --record-mode=none)
test:
	$(PYTHON) -m pytest -q -p no:cacheprovider

## lint: ruff and mypy
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## mutate: mutation testing of the modules that decide correctness (slow: not part of `make test`)
# The modules and the tests run against each mutant are [tool.mutmut] in pyproject.toml; narrow
# a run with e.g. MUTATE='extractor.grounding*'. Survivors: `mutmut results`, `mutmut show NAME`.
mutate:
	rm -rf mutants
	IMR_DOCUMENTS=$${IMR_DOCUMENTS:-$(CURDIR)/../shared} $(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS) $(MUTATE)
	$(VENV)/bin/mutmut results
