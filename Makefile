# The two commands of the README. Both set up .venv on first use (tools/install.sh).
VENV ?= .venv
CORES ?= all
SNAKEMAKE = $(VENV)/bin/snakemake

.PHONY: demo test lint rulegraph clean

$(VENV)/.installed: pyproject.toml tools/install.sh
	tools/install.sh $(VENV)
	touch $@

## demo: run the whole workflow on the embedded synthetic demo cohort
demo: $(VENV)/.installed
	$(SNAKEMAKE) --cores $(CORES) --workflow-profile workflow/profiles/default

## test: the test suite (unit tests, workflow tests on the tests config)
test: $(VENV)/.installed
	$(VENV)/bin/pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(SNAKEMAKE) --lint

rulegraph: $(VENV)/.installed
	$(VENV)/bin/python tools/rulegraph.py

clean:
	rm -rf results results-tests .snakemake
