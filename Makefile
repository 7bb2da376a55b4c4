# `make test` and `make book` each bootstrap .venv by themselves (idempotent: reinstall only when
# pyproject.toml or constraints.txt changed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PRESET ?= ci
# Processes for the unit tests (pytest-xdist, one test file per worker) and notebooks at once (xalign build).
JOBS ?= $(shell $(PYTHON) -c "import os; print(max(1, min(4, os.cpu_count() or 1)))")

.PHONY: test book unit test-kernels check clean-build venv bench

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name xalign --display-name "Python (xalign)" >/dev/null
	touch $(STAMP)

# The README's test command: unit tests, then build the ci book and check its numbers.
# Then the measure and degenerate-input tests once more under torch's portable kernels (results must
# not depend on the CPU). Prints the seconds of each stage at the end.
MEASURE_TESTS := tests/test_metrics.py tests/test_transfer.py::test_both_heads_score_exactly_chance_on_features_that_differ_only_by_rounding \
	tests/test_harness.py::test_a_collapsed_model_scores_chance_on_every_measure \
	tests/test_harness.py::test_a_model_that_differs_only_by_rounding_scores_bit_identically

test: $(STAMP)
	@set -e; t0=$$(date +%s); \
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book" -n $(JOBS) --dist loadfile; t1=$$(date +%s); \
	ATEN_CPU_CAPABILITY=default HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book" $(MEASURE_TESTS); t2=$$(date +%s); \
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign build --preset $(PRESET); t3=$$(date +%s); \
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m book --durations=8; t4=$$(date +%s); \
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign check --preset $(PRESET); t5=$$(date +%s); \
	echo "make test stages (s): unit $$((t1 - t0)), measures under default kernels $$((t2 - t1)), build $$((t3 - t2)), book tests $$((t4 - t3)), check $$((t5 - t4)); total $$((t5 - t0))"

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book" -n $(JOBS) --dist loadfile

# The unit tests under torch's portable kernels and under this machine's own (AVX2, AVX-512, ...):
# results must not depend on the CPU (ties within a stated tolerance are ties), so both must be green.
test-kernels: $(STAMP)
	ATEN_CPU_CAPABILITY=default HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book" -n $(JOBS) --dist loadfile
	env -u ATEN_CPU_CAPABILITY HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not book" -n $(JOBS) --dist loadfile

# `make book` renders the committed book-preset runs and executes nothing (seconds); `make book BOOK=ci`
# executes the ci preset's notebooks (what changed) and renders them.
BOOK ?= book
book: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/xalign build --preset $(BOOK) $(if $(filter book,$(BOOK)),--stored-only,)

check: $(STAMP)
	$(VENV)/bin/xalign check --preset $(PRESET)

bench: $(STAMP)
	$(VENV)/bin/xalign bench

clean-build:
	rm -rf _build
