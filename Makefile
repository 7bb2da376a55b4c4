# `make test` and `make book` each bootstrap .venv by themselves (idempotent: reinstall only when
# pyproject.toml or constraints.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= ci

.PHONY: test book unit check clean-build venv bench

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name xalign --display-name "Python (xalign)" >/dev/null
	touch $(STAMP)

# The README's test command: unit tests, then build the ci book and check its numbers.
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book"
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign build --preset $(PRESET)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m book
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign check --preset $(PRESET)

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book"

book: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign build --preset $(PRESET)

check: $(STAMP)
	$(VENV)/bin/xalign check --preset $(PRESET)

bench: $(STAMP)
	$(VENV)/bin/xalign bench

clean-build:
	rm -rf _build
