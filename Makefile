# Two commands do all the set-up on a fresh machine (Python 3.11+ and make):
#   make demo   process a synthetic survey end to end and print where the orthophoto is
#   make test   run the test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test serve lint bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/odmflow demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

serve: $(STAMP)
	$(BIN)/odmflow serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy -p nodeodm_api

bench: $(STAMP)
	$(BIN)/python bench/api.py
