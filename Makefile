# Two commands do all the set-up from a fresh clone (see README.md):
#   make report   install into .venv and regenerate every regency forecast from data/
#   make test     install into .venv (with the test extra) and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= reports

.PHONY: report test test-all install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Every regency's report, the province overview, index.html and summary.csv in $(OUT)/
# (a rerun skips what is up to date; FORCE=1 reruns all).
report: install
	$(BIN)/ikdsim run --out $(OUT) $(if $(FORCE),--force,)

test: install-test
	$(BIN)/python -m pytest -m "not slow" -q

test-all: install-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
