# Two set-up commands on a fresh machine:  `make demo` (the local pipeline) and `make test`.
# Both create .venv and install the pinned CPU environment on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean help

help:
	@echo "make demo   run the whole pipeline locally on generated data (tiny model, no cluster)"
	@echo "make test   run the CPU test suite"
	@echo "make lint   ruff"
	@echo "make bench  print the benchmarks' figures"

$(STAMP): pyproject.toml constraints/cpu.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24"
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install -q -c constraints/cpu.txt torch
	$(BIN)/pip install -q -c constraints/cpu.txt -e ".[all]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vrt pipeline run --local

test: $(STAMP)
	bash scripts/get-helm.sh || echo "helm could not be obtained: the chart tests will skip with the reason" >&2
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .vrt out
